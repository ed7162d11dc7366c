"""Metrics on planted data whose answers follow from the construction."""

import numpy as np
import pytest

from gaptools import metrics as M
from gaptools.io import EmbeddingSet
from gaptools.measure import METRIC_KEYS, measure
from gaptools.synthetic import planted_gap


@pytest.mark.parametrize("shift", [0.3, 1.0])
def test_planted_shift_gives_known_gap_cosine_and_direction(shift):
    s = planted_gap(4000, 256, shift=shift, gap_dim=7, seed=1)
    expected_gap = shift / np.sqrt(1 + shift**2)
    assert M.centroid_gap(s.image, s.text) == pytest.approx(expected_gap, abs=0.02)
    assert M.matched_cosine(s.image, s.text) == pytest.approx(1 / np.sqrt(1 + shift**2), abs=0.01)
    dims = M.top_gap_dims(s.image, s.text)
    assert dims[0][0] == 7 and dims[0][1] > 0.9
    direction = M.gap_vector(s.image, s.text)
    assert abs(direction[7]) / np.linalg.norm(direction) > 0.95


def test_identical_modalities():
    s = planted_gap(600, 32, shift=0.0)
    r = measure(s.replace(image=s.text.copy()), bootstrap=50)["metrics"]
    assert r["centroid_gap"]["value"] == pytest.approx(0, abs=1e-6)
    assert r["matched_cosine"]["value"] == pytest.approx(1, abs=1e-6)
    assert r["relative_gap"]["value"] == pytest.approx(0, abs=1e-6)
    assert r["wasserstein2"]["value"] == pytest.approx(0, abs=1e-4)
    assert r["frechet"]["value"] == pytest.approx(0, abs=1e-4)
    assert abs(r["mmd_rbf"]["value"]) < 1e-2
    assert 0.35 <= r["linear_separability"]["value"] <= 0.6
    for k in (1, 5, 10):
        assert r[f"recall@{k}_i2t"]["value"] == 1.0 and r[f"recall@{k}_t2i"]["value"] == 1.0


def test_exact_cosine_shortcuts_match_brute_force():
    rng = np.random.default_rng(3)
    img = M.l2_normalize(rng.standard_normal((30, 5)) + 1)
    txt = M.l2_normalize(rng.standard_normal((70, 5)))
    ti = rng.integers(0, 30, 70)
    cos = txt @ img.T  # (70, 30)
    matched = cos[np.arange(70), ti]
    mismatched = cos[np.arange(70)[:, None], np.arange(30)[None, :]][ti[:, None] != np.arange(30)[None, :]]
    assert M.matched_cosine(img, txt, ti) == pytest.approx(matched.mean())
    assert M.random_cosine(img, txt, ti) == pytest.approx(mismatched.mean())
    ii = img @ img.T
    assert M.cone(img) == pytest.approx(ii[~np.eye(30, dtype=bool)].mean())
    tt = txt @ txt.T
    r = measure(EmbeddingSet(image=img, text=txt, text_image=ti), bootstrap=0)["metrics"]
    different_image = ti[:, None] != ti[None, :]
    assert r["text_cone"]["value"] == pytest.approx(tt[different_image].mean())
    d = lambda c: (1 - c) / 2  # noqa: E731
    m = d(matched).mean()
    w = (d(ii[~np.eye(30, dtype=bool)]).mean() + d(tt[different_image]).mean()) / 2
    assert r["relative_gap"]["value"] == pytest.approx(m / (m + w))


def test_recall_counts_any_caption_of_the_image():
    img = np.eye(3, dtype=np.float32)
    txt = np.array([[0, 1, 0], [1, 0.1, 0], [0, 0, 1], [0.1, 0.9, 0]], np.float32)
    ti = np.array([0, 0, 2, 1])
    r = M.recall_at_k(img, txt, ti, ks=(1,))
    # image 0's own caption row 1 ranks first; image 1's own caption (.994) loses to
    # caption 0 (1.0), which belongs to image 0; image 2 finds its caption
    assert r["recall@1_i2t"] == pytest.approx(2 / 3)
    # caption 0 ([0,1,0]) belongs to image 0 but image 1 scores higher
    assert r["recall@1_t2i"] == pytest.approx(3 / 4)


def test_frechet_of_known_gaussians():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, 3))
    y = 2 * rng.standard_normal((20000, 3)) + np.array([1.0, 0, 0])
    # ‖μ‖² + Σ (1 + 4 − 2·2) = 1 + 3
    assert M.frechet(x, y) == pytest.approx(4.0, rel=0.05)


def test_effective_rank_and_wasserstein_known_values():
    rng = np.random.default_rng(0)
    x = np.zeros((5000, 8))
    x[:, :4] = rng.standard_normal((5000, 4))
    assert M.effective_rank(x) == pytest.approx(4.0, rel=0.02)
    pts = rng.standard_normal((50, 4))
    assert M.wasserstein2(pts, pts + np.array([3.0, 0, 0, 0])) == pytest.approx(3.0, abs=1e-6)
    assert M.wasserstein2(pts, pts[rng.permutation(50)]) == pytest.approx(0.0, abs=1e-6)


def test_separability_and_mmd_see_a_planted_gap():
    s = planted_gap(500, 32, shift=1.0)
    assert M.linear_separability(s.image, s.text) > 0.95
    assert M.mmd_rbf(s.image, s.text) > 0.05


def test_one_modality_sets_report_unavailable_metrics():
    s = planted_gap(100, 16, captions_per_image=2)
    text_only = s.replace(image=np.zeros((0, 16), np.float32))
    r = measure(text_only, bootstrap=20)["metrics"]
    assert set(r) == set(METRIC_KEYS)
    assert r["text_cone"]["value"] is not None and r["effective_rank_text"]["value"] > 1
    assert r["centroid_gap"]["value"] is None and "both" in r["centroid_gap"]["unavailable"]
    image_only = s.replace(text=np.zeros((0, 16), np.float32), text_image=np.zeros(0, int))
    r = measure(image_only, bootstrap=20)["metrics"]
    assert r["image_cone"]["value"] is not None and r["recall@1_t2i"]["value"] is None


def test_bootstrap_is_seeded_and_covers_the_estimate():
    s = planted_gap(800, 32, shift=0.5, captions_per_image=3)
    a = measure(s, bootstrap=200, seed=4)["metrics"]
    b = measure(s, bootstrap=200, seed=4)["metrics"]
    assert a == b
    for key in ("centroid_gap", "matched_cosine", "image_cone", "text_cone", "relative_gap", "recall@1_t2i"):
        lo, hi = a[key]["ci95"]
        assert lo <= a[key]["value"] <= hi, key
        assert hi - lo < 0.1


def test_real_random_init_clip_features_show_the_cone_effect(shared_data):
    stack = np.load(shared_data / "clip_random_init_features" / "features_clip_random.npy")
    assert stack.shape == (2, 500, 512)
    img, txt = stack
    # Liang et al. Fig. 1: at random init each modality sits in a narrow cone (random
    # directions in 512-d would have mean cosine ~0), far from the other modality
    assert M.cone(img) > 0.5 and M.cone(txt) > 0.5
    assert M.centroid_gap(img, txt) > 1.0
    assert abs(M.matched_cosine(img, txt)) < 0.2
    assert M.linear_separability(img, txt) > 0.99
