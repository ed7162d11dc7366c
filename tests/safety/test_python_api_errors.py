"""The Python API's bad arguments raise ``gaptools.InputError`` in one sentence, and its objects show what they are.

Issue 31 item 5: each call below raised a bare ``TypeError``, ``ValueError``, ``AttributeError`` or
``MemoryError`` (``planted_gap(10**7, 10**5)`` asked for 7.28 TiB), or ran on (``bootstrap=10**9``).
Issue 30 item 5: ``repr(EmbeddingSet)`` was 10,262 characters; aligners did not say whether fitted.
"""

from __future__ import annotations

import numpy as np
import pytest

import gaptools
from gaptools.limits import MAX_BOOTSTRAP
from gaptools.validation import MAX_SEED


@pytest.fixture(scope="module")
def small():
    return gaptools.planted_gap(30, 8, shift=0.6)


@pytest.fixture(scope="module")
def fitted(small):
    return gaptools.fit_on_set("mean", small)


ARRAY = np.ones((4, 8), dtype=np.float32)

CASES = {
    "measure bootstrap as a string": (lambda s, a: gaptools.measure(s, bootstrap="10"), "bootstrap must be an integer"),
    "measure bootstrap negative": (lambda s, a: gaptools.measure(s, bootstrap=-1), "bootstrap must be in [0, 100,000]"),
    "measure bootstrap huge": (lambda s, a: gaptools.measure(s, bootstrap=10**9), "bootstrap must be in [0, 100,000]"),
    "measure seed negative": (lambda s, a: gaptools.measure(s, seed=-1), f"seed must be in [0, {MAX_SEED}]"),
    "measure seed huge": (lambda s, a: gaptools.measure(s, seed=2**70), f"seed must be in [0, {MAX_SEED}]"),
    "measure unknown option": (lambda s, a: gaptools.measure(s, bootstrapp=10), "unknown option(s) bootstrapp"),
    "measure flag as a string": (lambda s, a: gaptools.measure(s, normalize="no"), "normalize must be True or False"),
    "make_aligner params as a list": (lambda s, a: gaptools.make_aligner("coral", [1, 2]), "params must be a dict"),
    "make_aligner params as text": (lambda s, a: gaptools.make_aligner("coral", "reg=1"), "params must be a dict"),
    "make_aligner method not a name": (lambda s, a: gaptools.make_aligner(["mean"]), "registered name"),
    "fit_on_set on an array": (lambda s, a: gaptools.fit_on_set("mean", ARRAY), "expected an EmbeddingSet or the path"),
    "fit_on_set on a missing file": (lambda s, a: gaptools.fit_on_set("mean", "missing.npz"), "missing.npz: no such file"),
    "apply_to_set with a method name": (lambda s, a: gaptools.apply_to_set("mean", s, direction="image-to-text"),
                                        "expected a fitted aligner, got str 'mean'"),
    "apply_to_set on an array": (lambda s, a: gaptools.apply_to_set(a, ARRAY, direction="image-to-text"),
                                 "expected an EmbeddingSet or the path"),
    "apply_to_set on a missing file": (lambda s, a: gaptools.apply_to_set(a, "missing.npz", direction="image-to-text"),
                                       "missing.npz: no such file"),
    "planted_gap negative dim": (lambda s, a: gaptools.planted_gap(10, -1), "dim must be >= 1, got -1"),
    "planted_gap beyond the budget": (lambda s, a: gaptools.planted_gap(10**7, 10**5), "more than the memory budget"),
    "planted_gap seed huge": (lambda s, a: gaptools.planted_gap(10, 4, seed=2**70), "seed must be in"),
    "planted_gap gap_dim outside": (lambda s, a: gaptools.planted_gap(10, 4, gap_dim=4), "gap_dim must be in [0, 3]"),
    "split seed negative": (lambda s, a: s.split(test=0.5, seed=-1), "split: seed must be in"),
    "mixup_set seed huge": (lambda s, a: gaptools.mixup_set(s, 0.5, seed=2**70), "mixup_set: seed must be in"),
    "measure_folder seed negative": (lambda s, a: gaptools.measure_folder(".", seed=-1), "measure: seed must be in"),
    "save_set of an array": (lambda s, a: gaptools.save_set(ARRAY, "x.npz"), "expected an EmbeddingSet, got ndarray"),
    "save_set to another extension": (lambda s, a: gaptools.save_set(s, "x.txt"), "written as .npz"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_arguments_raise_one_input_error(name, small, fitted, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call, needle = CASES[name]
    with pytest.raises(gaptools.InputError) as caught:
        call(small, fitted)
    message = str(caught.value)
    assert needle in message and "\n" not in message, message
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_limits_hold_at_their_edges(small):
    result = gaptools.measure(small, bootstrap=10, seed=MAX_SEED, max_points=10, max_gallery=10)
    assert result.document["seed"] == MAX_SEED
    with pytest.raises(gaptools.InputError):
        gaptools.measure(small, bootstrap=MAX_BOOTSTRAP + 1)
    assert gaptools.planted_gap(5, 3, seed=MAX_SEED, gap_dim=2).n_image == 5
    with pytest.raises(gaptools.InputError, match="random_state must be in"):
        gaptools.make_aligner("ot-exact", {"random_state": MAX_SEED + 1}).fit(small.image, small.text)


def test_fit_and_apply_take_a_path(small, tmp_path):
    path = gaptools.save_set(small, tmp_path / "s.npz")
    aligner = gaptools.fit_on_set("mean", path)
    saved = gaptools.load_aligner(gaptools.save_aligner(aligner, tmp_path / "m.aligner"))
    aligned = gaptools.apply_to_set(saved, str(path), direction="image-to-text")  # what load_aligner returns, too
    assert aligned.meta["aligned"]["aligner"] == saved.path
    assert gaptools.measure(aligned, bootstrap=0)["centroid_gap"] < 0.05 < gaptools.measure(small, bootstrap=0)["centroid_gap"]


def test_an_embedding_set_shows_itself_in_one_line(tmp_path):
    rng = np.random.default_rng(0)
    eset = gaptools.EmbeddingSet(image=rng.normal(size=(500, 64)), text=rng.normal(size=(2500, 64)),
                                 text_image=np.repeat(np.arange(500), 5), image_id=np.array([f"im{i}" for i in range(500)]),
                                 caption=np.array([f"caption {i}" for i in range(2500)]), meta={"model": "ViT-B-16"})
    path = gaptools.save_set(eset, tmp_path / "set.npz")
    text = repr(gaptools.load_set(path))
    assert text == f"EmbeddingSet(500 images, 2,500 captions, dim=64, float32, source={str(path)!r}, model='ViT-B-16')"
    assert repr(gaptools.planted_gap(10, 4)) == "EmbeddingSet(10 images, 10 captions, dim=4, float32, source='synthetic')"


def test_an_aligner_shows_whether_it_is_fitted(small):
    assert repr(gaptools.make_aligner("mean")) == "MeanShift(unfitted)"
    assert repr(gaptools.fit_on_set("mean", small)) == "MeanShift(fitted, dim=8)"
    assert repr(gaptools.make_aligner("coral", {"reg": 0.5})) == "CORAL(unfitted, reg=0.5)"
    assert repr(gaptools.fit_on_set("coral", small, {"renormalize": False})) == "CORAL(fitted, dim=8, renormalize=False)"
