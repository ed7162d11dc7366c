"""Saved aligners: round trips, and every way a file can be wrong."""

import json

import numpy as np
import pytest

from gaptools import __version__
from gaptools.align import METHODS, apply_to_set, fit_on_set, load_aligner, make_aligner, save_aligner
from gaptools.align.sets import train_summary
from gaptools.errors import InputError, NotFittedError
from gaptools.synthetic import planted_gap


@pytest.fixture(scope="module")
def train():
    return planted_gap(200, 12, shift=0.6, captions_per_image=2)


@pytest.mark.parametrize("name", list(METHODS))
def test_round_trip_gives_the_same_mapping(tmp_path, train, name):
    aligner = fit_on_set(name, train)
    path = save_aligner(aligner, tmp_path / f"{name}.aligner", direction="text-to-image", train=train_summary(train))
    saved = load_aligner(path)
    assert saved.direction == "text-to-image" and type(saved.aligner) is type(aligner)
    assert saved.aligner.get_params() == aligner.get_params()
    header = saved.header
    assert header["method"] == name and header["dim"] == 12 and header["gaptools_version"] == __version__
    assert header["format"] == "gaptools.aligner" and header["format_version"] == 1
    assert header["train"]["meta"]["dataset"] == "synthetic planted gap" and header["train"]["n_text"] == 400
    test = planted_gap(50, 12, shift=0.6, seed=5)
    np.testing.assert_array_equal(saved.aligner.transform(test.image), aligner.transform(test.image))
    np.testing.assert_array_equal(saved.aligner.inverse_transform(test.text), aligner.inverse_transform(test.text))
    with np.load(path, allow_pickle=False) as npz:  # loads without pickles
        assert set(npz.files) == {"header", *aligner.state}


def test_an_unfitted_aligner_is_not_saved(tmp_path):
    with pytest.raises(NotFittedError):
        save_aligner(make_aligner("mean"), tmp_path / "m.aligner")
    assert not list(tmp_path.iterdir())


def test_applying_to_another_dimension_is_refused(tmp_path, train):
    saved = load_aligner(save_aligner(fit_on_set("coral", train), tmp_path / "c.aligner"))
    other = planted_gap(20, 8)
    with pytest.raises(InputError, match="fitted on 12-dimensional embeddings but synthetic has 8"):
        apply_to_set(saved.aligner, other, direction="image-to-text", label=saved.path)


def _rewrite(path, out, *, header=None, drop=None, extra=None):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k != drop}
    if header is not None:
        arrays["header"] = np.array(header if isinstance(header, str) else json.dumps(header))
    arrays.update(extra or {})
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: {**h, "method": "warp"}, "unknown alignment method 'warp'"),
        (lambda h: {**h, "format_version": 99}, "newer than this gaptools reads"),
        (lambda h: {**h, "format": "other"}, "not a gaptools aligner"),
        (lambda h: {**h, "dim": 7}, "corrupt aligner file, array 'shift_'"),
        (lambda h: {**h, "params": {"strength": 2}}, "no parameter(s) strength"),
        (lambda h: {**h, "direction": "up"}, "unknown direction"),
        (lambda h: "{not json", "corrupt aligner header"),
    ],
)
def test_bad_headers_are_input_errors(tmp_path, train, change, message):
    path = save_aligner(fit_on_set("mean", train), tmp_path / "m.aligner")
    header = load_aligner(path).header
    header.pop("sha256")  # a file from before checksums: its header is validated by value
    bad = _rewrite(path, tmp_path / "bad.npz", header=change(header))
    with pytest.raises(InputError) as info:
        load_aligner(bad)
    assert message in str(info.value) and str(bad) in str(info.value)


def test_corrupt_missing_and_pickled_files_are_input_errors(tmp_path, train):
    path = save_aligner(fit_on_set("mean", train), tmp_path / "m.aligner")
    cases = {
        "no such file": tmp_path / "absent.aligner",
        "corrupt or truncated": tmp_path / "cut.aligner",
        "array 'shift_' is missing": _rewrite(path, tmp_path / "drop.npz", drop="shift_"),
        "no 'header'": _rewrite(path, tmp_path / "nohead.npz", drop="header"),
        "pickled": tmp_path / "pickle.npz",
    }
    cases["corrupt or truncated"].write_bytes(path.read_bytes()[:100])
    np.savez(cases["pickled"], header=np.array([{"a": 1}], dtype=object))
    for message, bad in cases.items():
        with pytest.raises(InputError, match=message):
            load_aligner(bad)


def test_a_failed_save_leaves_the_previous_file(tmp_path, train, monkeypatch):
    path = save_aligner(fit_on_set("mean", train), tmp_path / "m.aligner")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", boom)  # what the aligner writer calls per array
    with pytest.raises(OSError):
        save_aligner(fit_on_set("center", train), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.aligner"]
