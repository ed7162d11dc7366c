"""The centroid/distribution split of the gap (Fréchet terms, centred W2) and the PairSums contract."""

import numpy as np
import pytest

from gaptools import metrics as M
from gaptools.measure import measure
from gaptools.synthetic import planted_gap


def test_frechet_terms_of_known_gaussians_add_up():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, 3))
    y = 2 * rng.standard_normal((20000, 3)) + np.array([1.0, 0, 0])
    t = M.frechet_terms(x, y)
    # ‖μ‖² = 1; Tr(I + 4I − 2·(4I)^½) = 3 · (1 + 4 − 4) = 3
    assert t.mean_term == pytest.approx(1.0, abs=0.05)
    assert t.cov_term == pytest.approx(3.0, rel=0.05)
    assert t.mean_term + t.cov_term == pytest.approx(t.distance, rel=1e-12)
    assert M.frechet(x, y) == t.distance


def test_frechet_cov_term_ignores_a_shift_and_mean_term_ignores_the_spread():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, 4))
    shifted = M.frechet_terms(x, x + np.array([0, 2.0, 0, 0]))
    assert shifted.mean_term == pytest.approx(4.0) and shifted.cov_term == pytest.approx(0.0, abs=1e-9)
    scaled = M.frechet_terms(x - x.mean(0), 3 * (x - x.mean(0)))
    # Σ₂ = 9 Σ₁ ⇒ Tr(Σ₁ + 9Σ₁ − 2·3Σ₁) = 4 Tr Σ₁
    assert scaled.mean_term == pytest.approx(0.0, abs=1e-20)
    assert scaled.cov_term == pytest.approx(4 * np.trace(np.cov(x.T)), rel=1e-6)


def test_wasserstein2_centred_is_zero_for_a_shifted_copy():
    rng = np.random.default_rng(2)
    pts = rng.standard_normal((60, 5))
    moved = pts[rng.permutation(60)] + np.array([3.0, -1.0, 0, 0, 0.5])
    w2, centred = M.wasserstein2_terms(pts, moved)
    assert w2 == pytest.approx(np.sqrt(9 + 1 + 0.25), abs=1e-6)
    assert centred == pytest.approx(0.0, abs=1e-6)
    assert M.wasserstein2_centred(pts, moved) == centred


def test_wasserstein2_centred_equals_a_direct_solve_and_splits_w2():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 6)) * np.array([1, 2, 1, 1, 0.5, 1]) + 1.0
    y = rng.standard_normal((25, 6)) ** 2  # other size, other shape, other mean
    w2, centred = M.wasserstein2_terms(x, y)
    direct = M.wasserstein2(x - x.mean(0), y - y.mean(0))
    assert centred == pytest.approx(direct, rel=1e-9)
    shift = x.mean(0) - y.mean(0)
    assert w2**2 == pytest.approx(shift @ shift + centred**2, rel=1e-9)
    assert 0 < centred < w2


def test_measure_reports_the_split_with_intervals_where_they_apply():
    s = planted_gap(400, 24, shift=0.6, captions_per_image=3, seed=5)
    r = measure(s, bootstrap=200, max_points=300)["metrics"]
    mean, cov, total = (r[k]["value"] for k in ("frechet_mean_term", "frechet_cov_term", "frechet"))
    assert mean + cov == pytest.approx(total, rel=1e-5)
    assert mean == pytest.approx(r["centroid_gap"]["value"] ** 2, rel=1e-12)
    lo, hi = r["frechet_mean_term"]["ci95"]
    assert lo <= mean <= hi and hi - lo < 0.05
    assert r["frechet_cov_term"]["ci95"] is None
    assert r["wasserstein2_centred"]["n"] == r["wasserstein2"]["n"] == 300
    # normalising each image after the shift is not a pure translation: a small remainder
    assert 0 < r["wasserstein2_centred"]["value"] < r["wasserstein2"]["value"]


def test_measure_split_of_identical_modalities_is_zero():
    s = planted_gap(300, 16, shift=0.0)
    r = measure(s.replace(image=s.text.copy()), bootstrap=20)["metrics"]
    for key in ("frechet_mean_term", "frechet_cov_term", "wasserstein2_centred"):
        assert r[key]["value"] == pytest.approx(0, abs=1e-4), key


def test_pair_sums_is_the_one_contract():
    s = planted_gap(50, 8, captions_per_image=2, seed=4)
    sums = M.group_sums(s.image, s.text, s.text_image, n_groups=50)
    with pytest.raises(AttributeError):
        sums.hits_i2 = {}  # a misspelt statistic is refused, not silently added
    totals = M.total(sums)
    np.testing.assert_allclose(totals.sum_txt, s.text.sum(0), rtol=1e-5)
    assert totals.n_txt == 100 and totals.n_img == 50 and totals.usum_img is None
    assert [a.shape for a in sums.arrays()] == [a.shape for a in sums.map(lambda a: a).arrays()]
    assert sums.copies is sums and totals.unit_img is totals.sum_img
