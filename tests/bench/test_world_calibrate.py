"""bench/world_calibrate.py: the caption settings ``--eval`` accepts, and what it refuses."""

import argparse

import pytest


@pytest.fixture(scope="module")
def calibrate(load_bench):
    return load_bench("world_calibrate")


def test_eval_reads_caption_settings(calibrate):
    assert calibrate._caption_setting("mention=0.4,name_looks=0") == {"mention": 0.4, "name_looks": 0.0}
    assert calibrate._caption_setting("style=rich") == {"style": "rich"}
    assert calibrate._words({"mention": 0.4, "name_looks": 0.0}) == "mention 0.4, name looks 0.0"


@pytest.mark.parametrize("text", ["clutter=3", "mention", "mention=", "seed=2,mention=0.3"])
def test_eval_refuses_settings_that_change_images_or_lack_a_value(calibrate, text):
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        calibrate._caption_setting(text)
