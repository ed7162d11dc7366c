"""The Python API of ``import gaptools``: what each top-level name is, and ``gaptools.measure``'s result."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import gaptools
from gaptools import align, io, mixing, stream, synthetic
from gaptools.measure import METRIC_KEYS
from gaptools.measure import measure as measure_set

pytest.importorskip("dask")  # the folder cases stream (the scale extra)


def test_top_level_names_are_the_library_functions():
    assert gaptools.load_set is io.load_set and gaptools.save_set is io.save_set
    assert gaptools.from_pairs is io.from_pairs and gaptools.EmbeddingSet is io.EmbeddingSet
    assert gaptools.make_aligner is align.make_aligner and gaptools.ALIGNERS is align.METHODS
    assert gaptools.compare_aligners is align.compare and gaptools.mixup is mixing.mixup
    assert gaptools.measure_folder is stream.measure_folder and gaptools.planted_gap is synthetic.planted_gap
    assert all(hasattr(gaptools, name) for name in gaptools.__all__)


def test_the_measure_module_stays_importable():
    module = importlib.import_module("gaptools.measure")
    assert module.RESULT_KIND == "gaptools.measure" and module.measure is measure_set
    assert callable(gaptools.measure) and gaptools.measure is not measure_set


def test_arrays_a_set_and_a_file_give_the_same_result(tmp_path):
    eset = synthetic.planted_gap(150, 16, shift=0.5)
    from_set = gaptools.measure(eset, bootstrap=50)
    from_arrays = gaptools.measure(eset.image, eset.text, bootstrap=50)
    path = gaptools.save_set(eset, tmp_path / "s.npz")
    from_file = gaptools.measure(path, bootstrap=50)
    assert from_set.to_dict() == measure_set(eset, bootstrap=50)
    assert from_arrays.to_dict()["metrics"] == from_set.to_dict()["metrics"]  # row i of each is a pair
    assert from_file.to_dict()["metrics"] == from_set.to_dict()["metrics"]  # float32 on disk, as in memory


def test_a_folder_is_streamed(tmp_path):
    eset = synthetic.planted_gap(120, 16, shift=0.5)
    (tmp_path / "shards").mkdir()
    gaptools.save_set(eset, tmp_path / "shards" / "part0.npz")
    streamed = gaptools.measure(tmp_path / "shards", bootstrap=0)
    assert streamed.to_dict()["path"] == "streaming"
    assert streamed["centroid_gap"] == pytest.approx(gaptools.measure(eset, bootstrap=0)["centroid_gap"], abs=1e-6)


def test_planted_gap_is_read_back_from_the_result():
    """Shift s along one axis in 256-d: gap ≈ s/√(1+s²), matched cosine ≈ 1/√(1+s²), the gap on that axis."""
    s = 0.75
    result = gaptools.measure(synthetic.planted_gap(2000, 256, shift=s, gap_dim=3), bootstrap=200)
    assert result["centroid_gap"] == pytest.approx(s / math.sqrt(1 + s * s), abs=0.01)
    assert result["matched_cosine"] == pytest.approx(1 / math.sqrt(1 + s * s), abs=0.01)
    assert result["top_gap_dims"][0][0] == 3
    lo, hi = result.ci95("centroid_gap")
    assert lo <= result["centroid_gap"] <= hi
    assert result.ci95("linear_separability") is None  # a subsample metric has no interval


def test_to_frame_holds_every_scalar_metric_with_its_interval():
    result = gaptools.measure(synthetic.planted_gap(200, 16), bootstrap=100)
    frame = result.to_frame()
    scalar = [k for k in METRIC_KEYS if k != "top_gap_dims"]
    assert list(frame.index) == scalar and list(frame.columns) == ["value", "ci95_low", "ci95_high", "n"]
    doc = result.to_dict()["metrics"]
    assert frame.loc["centroid_gap", "value"] == doc["centroid_gap"]["value"]
    assert [frame.loc["centroid_gap", "ci95_low"], frame.loc["centroid_gap", "ci95_high"]] == doc["centroid_gap"]["ci95"]
    assert np.isnan(frame.loc["frechet", "ci95_low"]) and frame.loc["wasserstein2", "n"] == 200
    assert frame.loc["recall@1_i2t", "n"] == 200  # the gallery's size


def test_the_table_names_every_metric_and_says_why_one_is_missing():
    text_only = gaptools.EmbeddingSet(image=np.zeros((0, 8)), text=np.eye(8)[:6] + 0.1, text_image=np.arange(6) // 2)
    table = str(gaptools.measure(text_only, bootstrap=0))
    lines = table.splitlines()
    assert lines[:2] == ["gaptools.measure of <memory>", "  0 images, 6 captions, D=8; L2-normalised; "
                         "0 bootstrap resamples, seed 0"]
    assert [line.split()[0] for line in lines[2:]] == list(METRIC_KEYS)
    assert "centroid_gap" in table and "unavailable (needs both image and text embeddings)" in table
    assert repr(gaptools.measure(text_only, bootstrap=0)) == table


def test_wrong_combinations_are_one_line_errors():
    eset = synthetic.planted_gap(50, 8)
    with pytest.raises(gaptools.InputError, match="image embeddings need their text"):
        gaptools.measure(eset.image)
    with pytest.raises(gaptools.InputError, match="not with a set or a file"):
        gaptools.measure(eset, eset.text)
    with pytest.raises(gaptools.InputError, match="same number of rows"):
        gaptools.measure(eset.image, eset.text[:10])
