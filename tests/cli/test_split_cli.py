"""`gaptools split` and a held-out `align compare` through the real command line (CliRunner)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from gaptools.cli.main import app
from gaptools.demo import SHAPES_TEST
from gaptools.io import load_set, save_set
from gaptools.synthetic import planted_gap

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_split_writes_two_parts_by_image_the_same_each_time(tmp_path):
    fit, test = tmp_path / "fit.npz", tmp_path / "test.npz"
    result = invoke("split", SHAPES_TEST, "--test", "0.5", "--seed", "0", "-o", fit, test)
    assert result.exit_code == 0, result.output
    assert "fit part, 250 images, 1250 captions" in result.output and "test part, 250 images" in result.output
    whole, a, b = load_set(SHAPES_TEST), load_set(fit), load_set(test)
    assert set(a.image_id).isdisjoint(b.image_id) and len(set(a.image_id) | set(b.image_id)) == whole.n_image
    assert a.meta["held_out"]["part"] == "fit" and b.meta["held_out"]["seed"] == 0
    again = tmp_path / "again"
    again.mkdir()
    assert invoke("split", SHAPES_TEST, "--test", "0.5", "-o", again / "f.npz", again / "t.npz").exit_code == 0
    assert load_set(again / "t.npz").image_id.tolist() == b.image_id.tolist()
    np.testing.assert_array_equal(load_set(again / "t.npz").text, b.text)


@pytest.mark.parametrize("args, message", [
    (["--test", "1.5"], "test must be a share of the images in (0, 1)"),
    (["--test", "0.001"], "each part needs at least one image"),
    (["--test", "0.5", "-o", "{d}/same.npz", "{d}/same.npz"], "are the same file"),
    (["--test", "0.5", "-o", "{d}/fit.txt", "{d}/test.npz"], "expected a file name ending in .npz"),
    (["--test", "0.5", "-o", "{d}/fit.npz", "{set}"], "input"),
])
def test_split_refuses_bad_options_in_one_line(tmp_path, args, message):
    data = save_set(planted_gap(20, 4), tmp_path / "set.npz")
    args = [a.format(d=tmp_path, set=data) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "fit.npz"), str(tmp_path / "test.npz")]
    result = invoke("split", data, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.npz"]  # nothing written, the input untouched


def test_split_replaces_its_own_sets_and_nothing_else_without_overwrite(tmp_path):
    data = save_set(planted_gap(20, 4), tmp_path / "set.npz")
    fit, test = tmp_path / "fit.npz", tmp_path / "test.npz"
    assert invoke("split", data, "--test", "0.5", "-o", fit, test).exit_code == 0
    again = invoke("split", data, "--test", "0.5", "--seed", "1", "-o", fit, test)  # its own outputs: replaced
    assert again.exit_code == 0, again.output
    assert load_set(test).meta["held_out"]["seed"] == 1
    test.write_text("my notes")
    refused = invoke("split", data, "--test", "0.5", "-o", fit, test)
    assert refused.exit_code == 2 and "--overwrite" in refused.output, refused.output
    assert test.read_text() == "my notes" and load_set(fit).meta["held_out"]["seed"] == 1  # nothing written
    assert invoke("split", data, "--test", "0.5", "-o", fit, test, "--overwrite").exit_code == 0
    assert load_set(test).meta["held_out"]["seed"] == 0


def test_align_compare_warns_in_one_line_when_fit_and_test_share_images(tmp_path):
    data = save_set(planted_gap(120, 8, captions_per_image=2), tmp_path / "set.npz")
    fit, test = tmp_path / "fit.npz", tmp_path / "test.npz"
    assert invoke("split", data, "--test", "0.5", "-o", fit, test).exit_code == 0
    options = ["--methods", "mean", "--max-points", "40", "--max-gallery", "40"]
    held_out = invoke("align", "compare", fit, test, *options, "--json", tmp_path / "held_out.json")
    assert held_out.exit_code == 0, held_out.output
    assert "Warning" not in held_out.output
    doc = json.loads((tmp_path / "held_out.json").read_text())
    assert doc["shared_images"]["n"] == 0 and doc["settings"]["bootstrap"] == 1000  # intervals by default
    assert doc["methods"]["mean"]["ci95"]["centroid_gap"]
    same = invoke("align", "compare", fit, fit, *options)
    assert same.exit_code == 0, same.output
    warning = [line for line in same.output.splitlines() if line.startswith("Warning")]
    assert len(warning) == 1 and "share 60 image(s)" in warning[0] and "in sample" in warning[0], same.output
