"""Gap dimension ablation (Schrodi et al. 2025) on planted data."""

import numpy as np
import pytest

from gaptools import metrics as M
from gaptools.measure import measure
from gaptools.synthetic import planted_gap


@pytest.fixture(scope="module")
def planted():
    # the whole gap lies along coordinate 7 (see gaptools.synthetic)
    return planted_gap(600, 64, shift=1.0, gap_dim=7, captions_per_image=2, seed=0)


def test_removing_the_planted_gap_dimension_removes_the_gap_and_random_ones_do_not(planted):
    r = M.gap_dimension_ablation(planted.image, planted.text, planted.text_image, seed=0)
    assert r.ks == [0, 1, 2, 4, 8, 16]
    assert r.top.dims[0] == 7 and len(r.top.dims) == len(r.random.dims) == 16
    base = r.top.centroid_gap[0]
    assert base == pytest.approx(1 / np.sqrt(2), abs=0.02)  # shift / sqrt(1 + shift²)
    # one dimension removed, the gap is gone (what is left is sampling noise)
    assert all(gap < 0.03 for gap in r.top.centroid_gap[1:])
    # the same number of random dimensions leaves it where it was, while they miss dimension 7
    missed = [i for i, k in enumerate(r.ks) if k and 7 not in r.random.dims[:k]]
    assert missed, "the seeded random dimensions should miss the planted one for small k"
    for i in missed:
        assert r.random.centroid_gap[i] > 0.9 * base
    # the planted offset is the same for every image: removing it costs no retrieval
    assert min(r.top.recall1_i2t[1], r.top.recall1_t2i[1]) >= 0.95
    assert r.top.recall1_i2t[0] == r.random.recall1_i2t[0]


def test_ablation_is_seeded_and_keeps_ks_below_the_dimension():
    s = planted_gap(80, 8, seed=1)
    a = M.gap_dimension_ablation(s.image, s.text, seed=3)
    assert a == M.gap_dimension_ablation(s.image, s.text, seed=3)
    assert a.random.dims != M.gap_dimension_ablation(s.image, s.text, seed=4).random.dims
    assert a.ks == [0, 1, 2, 4]  # 8 and 16 would leave nothing
    assert sorted(a.random.dims) == sorted(set(a.random.dims)) and len(a.random.dims) == 4
    d = a.to_dict()
    assert set(d) == {"ks", "top", "random", "seed", "n_image", "n_text"}
    assert set(d["top"]) == {"dims", "recall@1_i2t", "recall@1_t2i", "centroid_gap"}
    assert all(len(d["random"][key]) == len(a.ks) for key in ("recall@1_i2t", "recall@1_t2i", "centroid_gap"))


def test_measure_runs_the_ablation_on_its_retrieval_gallery_when_asked():
    s = planted_gap(300, 32, shift=0.8, gap_dim=3, captions_per_image=2, seed=2)
    off = measure(s, bootstrap=0)
    assert off["dim_ablation"] is None
    r = measure(s, bootstrap=0, max_gallery=120, dim_ablation=True)
    a, metrics = r["dim_ablation"], r["metrics"]
    assert a["n_image"] == metrics["recall@1_i2t"]["gallery_images"] == 120 and a["n_text"] == 240
    # nothing removed: the same gallery, the same unit vectors, the same recall
    assert a["top"]["recall@1_i2t"][0] == metrics["recall@1_i2t"]["value"]
    assert a["top"]["recall@1_t2i"][0] == metrics["recall@1_t2i"]["value"]
    assert a["top"]["dims"][0] == 3 and a["top"]["centroid_gap"][1] < 0.1 * a["top"]["centroid_gap"][0]
    # everything else is as without the ablation
    assert r["metrics"] == measure(s, bootstrap=0, max_gallery=120)["metrics"]
    text_only = s.replace(image=np.zeros((0, 32), np.float32))
    assert measure(text_only, bootstrap=0, dim_ablation=True)["dim_ablation"] is None
