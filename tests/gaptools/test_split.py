"""Held-out comparison of one's own data: EmbeddingSet.subset/split, and compare_aligners on the parts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gaptools
from gaptools.align.compare import BASELINE, CompareResult, shared_images
from gaptools.errors import InputError


def _captioned(n_images: int = 10, dim: int = 4) -> gaptools.EmbeddingSet:
    """Image i has i % 3 captions (some none); caption strings name their image."""
    rng = np.random.default_rng(0)
    text_image = np.array([i for i in range(n_images) for _ in range(i % 3)])
    return gaptools.EmbeddingSet(image=rng.standard_normal((n_images, dim)), text=rng.standard_normal((len(text_image), dim)),
                                 text_image=text_image, image_id=np.array([f"img{i}" for i in range(n_images)]),
                                 caption=np.array([f"caption of img{i}" for i in text_image]), meta={"model": "m"})


def test_subset_keeps_the_rows_in_the_order_given_with_all_their_captions():
    eset = _captioned()
    part = eset.subset([8, 2, 3])
    assert part.image_id.tolist() == ["img8", "img2", "img3"]
    np.testing.assert_array_equal(part.image, eset.image[[8, 2, 3]])
    # img8 has 2 captions, img2 2, img3 none; captions keep their original order (img2's first)
    assert part.caption.tolist() == ["caption of img2"] * 2 + ["caption of img8"] * 2
    assert part.text_image.tolist() == [1, 1, 0, 0]
    np.testing.assert_array_equal(part.text, eset.text[eset.text_image == 2].tolist() + eset.text[eset.text_image == 8].tolist())
    assert part.meta == {"model": "m"} and part.meta is not eset.meta


def test_subset_of_a_text_only_set_takes_caption_groups():
    eset = _captioned()
    text_only = eset.replace(image=eset.image[:0], image_id=None)
    part = text_only.subset([4, 5])
    assert part.n_image == 0 and part.n_groups == 2 and part.caption.tolist() == ["caption of img4", "caption of img5", "caption of img5"]


@pytest.mark.parametrize("rows, message", [([], "non-empty"), ([0, 0], "repeat"), ([10], "0..9"), ([-1], "0..9"),
                                           ([0.5], "integers"), ([[0, 1]], "1-D")])
def test_subset_refuses_bad_rows(rows, message):
    with pytest.raises(InputError, match=message):
        _captioned().subset(rows)


def test_split_is_by_image_disjoint_complete_and_deterministic():
    eset = gaptools.load_set(gaptools.demo.SHAPES_TEST)  # 500 images, 5 captions each
    fit, test = eset.split(test=0.3, seed=0)
    assert (fit.n_image, test.n_image) == (350, 150)
    ids = {str(i): row for row, i in enumerate(eset.image_id)}
    assert set(fit.image_id).isdisjoint(test.image_id) and set(fit.image_id) | set(test.image_id) == set(ids)
    for part in (fit, test):  # every caption is with its own image, and every caption of the image is there
        original = np.array([ids[str(i)] for i in part.image_id])
        assert part.n_text == 5 * part.n_image
        np.testing.assert_array_equal(part.image, eset.image[original])
        for row in (0, part.n_image - 1):
            np.testing.assert_array_equal(part.text[part.text_image == row], eset.text[eset.text_image == original[row]])
            assert part.caption[part.text_image == row].tolist() == eset.caption[eset.text_image == original[row]].tolist()
        assert list(original) == sorted(original)  # the set's own order
    assert fit.meta["held_out"] == {"part": "fit", "of": eset.source, "test": 0.3, "seed": 0}
    assert test.meta["held_out"]["part"] == "test" and test.meta["model"] == eset.meta["model"]
    again = eset.split(test=0.3, seed=0)[1]
    other = eset.split(test=0.3, seed=1)[1]
    assert again.image_id.tolist() == test.image_id.tolist() and other.image_id.tolist() != test.image_id.tolist()
    chosen = np.sort(np.random.default_rng(0).permutation(500)[:150])  # the documented rule
    assert test.image_id.tolist() == eset.image_id[chosen].tolist()


@pytest.mark.parametrize("test, message", [(0, r"\(0, 1\)"), (1.0, r"\(0, 1\)"), (1.5, r"\(0, 1\)"), ("0.5", r"\(0, 1\)"),
                                           (0.01, "needs at least one image"), (0.99, "needs at least one image")])
def test_split_refuses_a_share_that_leaves_a_part_empty(test, message):
    with pytest.raises(InputError, match=message):
        _captioned().split(test=test)


def test_shared_images_counts_by_id_and_by_identical_rows():
    eset = _captioned()
    fit, test = eset.split(test=0.5, seed=0)
    assert shared_images(fit, test) == {"by_id": 0, "by_rows": 0, "n": 0}
    assert shared_images(eset, test) == {"by_id": 5, "by_rows": 5, "n": 5}
    renamed = test.replace(image_id=np.array([f"other{i}" for i in range(test.n_image)]))
    assert shared_images(eset, renamed) == {"by_id": 0, "by_rows": 5, "n": 5}
    moved = test.replace(image=test.image + 1e-3)  # same ids, other rows (another model, say)
    assert shared_images(eset, moved) == {"by_id": 5, "by_rows": 0, "n": 5}
    no_ids = test.replace(image_id=None)
    assert shared_images(eset, no_ids)["by_id"] is None


def test_compare_warns_when_the_test_set_was_fitted_on_and_not_when_held_out():
    eset = gaptools.planted_gap(200, 16, captions_per_image=2)
    fit, test = eset.split(test=0.5, seed=0)
    options = dict(methods=["mean"], bootstrap=20, max_points=50, max_gallery=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        held_out = gaptools.compare_aligners(fit, test, **options)
    assert held_out["shared_images"]["n"] == 0
    with pytest.warns(UserWarning, match=r"share 100 image\(s\) \(100 by identical rows\).*in sample"):
        in_sample = gaptools.compare_aligners(fit, fit, **options)
    assert in_sample["shared_images"] == {"by_id": None, "by_rows": 100, "n": 100}
    assert "warning: the fit set" in str(in_sample)


def test_compare_result_has_intervals_by_default_and_a_frame():
    fit, test = gaptools.planted_gap(200, 16, shift=0.6, captions_per_image=2).split(test=0.5, seed=0)
    result = gaptools.compare_aligners(fit, test, methods=["mean", "coral"], max_points=50, max_gallery=50)
    assert isinstance(result, CompareResult) and result.to_dict()["kind"] == "gaptools.align.compare"
    assert result["settings"]["bootstrap"] == 1000 and set(result["methods"]) == {"mean", "coral"}
    frame = result.to_frame()
    assert list(frame.index.get_level_values("method").unique()) == [BASELINE, "mean", "coral"]
    assert list(frame.columns) == ["value", "ci95_low", "ci95_high"]
    gap = frame.xs("centroid_gap", level="metric")
    assert gap.loc["mean", "value"] == result["methods"]["mean"]["centroid_gap"]
    assert [gap.loc["mean", "ci95_low"], gap.loc["mean", "ci95_high"]] == result["methods"]["mean"]["ci95"]["centroid_gap"]
    assert gap.loc[BASELINE, "ci95_low"] > gap.loc["mean", "ci95_high"]  # the mean shift closes the planted gap
    assert np.isnan(frame.loc[(BASELINE, "linear_separability"), "ci95_low"])  # a subsample metric: no interval
    assert frame["value"].unstack().shape[0] == 3
    assert "fit_seconds" not in frame.index.get_level_values("metric")
    assert str(result).startswith("gaptools.align.compare: fit on") and "mean" in repr(result)
