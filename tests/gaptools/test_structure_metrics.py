"""Structure metrics beyond the centroid (issue 28): known answers on planted data, the real-CLIP figures."""

import numpy as np
import pytest

from gaptools import metrics as M
from gaptools.errors import InputError


def planted_pairs(d: int, dim: int, *, c: float = 0.6, gap_axes=(0, 1)):
    """Unit pairs x = c·a + s·v, t = c·b − s·v with v cycling over ±e_k, k = 2..d+1, each equally often.

    Centred, each modality is ±s·e_k over d axes with equal weight: covariance s²/d·I on d axes
    (participation ratio d), and the pair residual is 2s·v (participation ratio d). The images'
    centred rows are s·v and the captions' −s·v: cos −1 for every pair. After the mean shift the
    image is c·b + s·v, whose cosine with c·b − s·v is c² − s². a spreads evenly over the first
    half of ``gap_axes``, b over the second: Δ = c(a − b) is even over ``gap_axes``.
    """
    s = np.sqrt(1 - c * c)
    axes = np.arange(2, d + 2)
    v = np.tile(np.concatenate([np.eye(dim)[axes], -np.eye(dim)[axes]]), (3, 1))  # each ±e_k 3 times
    half = len(gap_axes) // 2
    a, b = np.zeros(dim), np.zeros(dim)
    a[list(gap_axes[:half])] = 1 / np.sqrt(half)
    b[list(gap_axes[half:])] = 1 / np.sqrt(half)
    return (c * a + s * v).astype(np.float32), (c * b - s * v).astype(np.float32), c, s


def test_planted_pairs_have_known_structure():
    image, text, c, s = planted_pairs(10, 16)
    assert np.allclose(np.linalg.norm(image, axis=1), 1) and np.allclose(np.linalg.norm(text, axis=1), 1)
    assert M.participation_ratio(image) == pytest.approx(10, rel=1e-6)
    assert M.participation_ratio(text) == pytest.approx(10, rel=1e-6)
    assert M.residual_participation_ratio(image, text) == pytest.approx(10, rel=1e-6)
    assert M.centred_matched_cosine(image, text) == pytest.approx(-1, abs=1e-6)
    assert M.shifted_matched_cosine(image, text) == pytest.approx(c * c - s * s, abs=1e-6)
    assert M.subspace_agreement(image, text, k=10) == pytest.approx(1, abs=1e-6)
    assert M.gap_top_share(image, text, 2) == pytest.approx(1, abs=1e-6)
    assert M.gap_top_share(image, text, 1) == pytest.approx(0.5, abs=1e-6)


def test_gap_spread_evenly_over_four_coordinates_puts_half_in_the_top_two():
    image, text, _, _ = planted_pairs(6, 16, gap_axes=(0, 1, 10, 11))
    assert M.gap_top_share(image, text, 2) == pytest.approx(0.5, abs=1e-6)
    assert M.gap_top_share(image, text, 4) == pytest.approx(1.0, abs=1e-6)
    assert M.gap_top_share(image, text, 100) == pytest.approx(1.0, abs=1e-6)  # k ≥ D: every coordinate


@pytest.mark.parametrize("d", [4, 16])
def test_isotropic_residual_of_dimension_d_has_participation_ratio_d(d):
    """Shared content (all 64 axes, large) cancels in the residual; what is left is N(0, I_d) on d axes.

    For n Gaussian rows in d dimensions E tr(S²) = d(n + d + 1)/n (Wishart), so the expected
    ratio is d / (1 + (d + 1)/n): 15.93 for d = 16, n = 4000.
    """
    rng = np.random.default_rng(d)
    n, dim = 4000, 64
    content = rng.standard_normal((n, dim)) * np.linspace(3, 0.5, dim)
    eps = np.zeros((n, dim))
    eps[:, 10:10 + d] = rng.standard_normal((n, d))
    image, text = content + eps / 2 + 1.0, content - eps / 2 - 1.0
    expected = d / (1 + (d + 1) / n)
    assert M.residual_participation_ratio(image, text) == pytest.approx(expected, abs=0.05)
    assert M.participation_ratio(image) > 35  # the shared content's spread (about 41), not the residual's


def test_participation_ratio_and_effective_rank_agree_on_a_flat_spectrum_only():
    flat = np.diag(np.r_[np.ones(8), np.zeros(8)])
    assert M.participation_ratio_from_cov(flat) == pytest.approx(8)
    assert M.effective_rank_from_cov(flat) == pytest.approx(8)
    decaying = np.diag(0.7 ** np.arange(16))
    assert M.participation_ratio_from_cov(decaying) < M.effective_rank_from_cov(decaying)
    assert np.isnan(M.participation_ratio_from_cov(np.zeros((4, 4))))  # no spread


def _subspace_modality(rng, basis: np.ndarray, n: int, centre: float) -> np.ndarray:
    coefficients = rng.standard_normal((n, basis.shape[1])) * np.linspace(2, 1, basis.shape[1])
    return coefficients @ basis.T + centre


def test_modalities_sharing_a_subspace_agree_and_orthogonal_ones_do_not():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((64, 20)))
    shared, other = q[:, :10], q[:, 10:]
    image = _subspace_modality(rng, shared, 500, 0.3)
    text_same = _subspace_modality(rng, shared @ np.linalg.qr(rng.standard_normal((10, 10)))[0], 500, -0.3)
    text_other = _subspace_modality(rng, other, 500, -0.3)
    assert M.subspace_agreement(image, text_same) == pytest.approx(1, abs=1e-6)
    assert M.subspace_agreement(image, text_other) == pytest.approx(0, abs=1e-6)
    assert M.subspace_agreement(image, text_same, k=11) != M.subspace_agreement(image, text_same, k=11)  # NaN: rank 10


def test_subspace_k_must_be_a_positive_integer():
    x = np.random.default_rng(0).standard_normal((50, 8))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="k must be a positive integer"):
            M.subspace_agreement(x, x, k=bad)
    assert np.isnan(M.subspace_agreement(x, x, k=9))  # more directions than dimensions


def _centred_shifted_brute_force(image, text, text_image):
    """The definitions, with each pair's image row copied out."""
    x = image[text_image].astype(np.float64)
    t = text.astype(np.float64)
    mu_i, mu_t = x.mean(0), t.mean(0)

    def cos(a, b):
        return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    return cos(x - mu_i, t - mu_t).mean(), cos(x + mu_t - mu_i, t).mean()


def test_weighted_cosines_equal_the_definitions_on_each_resample_with_several_captions():
    rng = np.random.default_rng(5)
    image = M.l2_normalize(rng.standard_normal((40, 12)) + 1.0)
    text_image = np.sort(rng.integers(0, 40, 100))
    text = M.l2_normalize(image[text_image] + rng.standard_normal((100, 12)) - 0.5)
    centred, shifted = M.centred_and_shifted_cosines(image, text, text_image)
    assert (centred[0], shifted[0]) == pytest.approx(_centred_shifted_brute_force(image, text, text_image), abs=1e-6)
    draws = rng.integers(0, 40, size=(3, 40))
    weights = np.stack([np.bincount(d, minlength=40) for d in draws])
    centred, shifted = M.centred_and_shifted_cosines(image, text, text_image, weights, max_elements=150)
    for b, d in enumerate(draws):  # resample b as a set of its own: the drawn images, copies with their captions
        caps = np.concatenate([np.flatnonzero(text_image == g) for g in d])
        new_image = np.repeat(np.arange(len(d)), [np.sum(text_image == g) for g in d])
        expected = _centred_shifted_brute_force(image[d], text[caps], new_image)
        assert (centred[b], shifted[b]) == pytest.approx(expected, abs=1e-6)


def test_residual_covariance_counts_each_caption_with_its_image():
    rng = np.random.default_rng(2)
    image = rng.standard_normal((30, 6)).astype(np.float32)
    text_image = rng.integers(0, 30, 80)
    text = rng.standard_normal((80, 6)).astype(np.float32)
    eps = image[text_image] - text
    assert M.pair_residual_cov(image, text, text_image, block=7) == pytest.approx(np.cov(eps.T), abs=1e-5)


def test_real_clip_figures_of_issue_28(shared_data):
    """Real CLIP ViT-B/16, 500 COCO val2017 pairs: the figures of the issue's table, at its printed precision."""
    features = np.load(shared_data / "real_clip_coco500" / "features_clip.npy", allow_pickle=False)
    image, text = M.l2_normalize(features[0]), M.l2_normalize(features[1])
    assert round(M.centred_matched_cosine(image, text), 3) == 0.315
    assert round(M.shifted_matched_cosine(image, text), 3) == 0.672
    assert round(M.participation_ratio(image), 1) == 42.7
    assert round(M.participation_ratio(text), 1) == 41.7
    assert round(M.residual_participation_ratio(image, text), 1) == 77.9
    assert round(M.subspace_agreement(image, text), 2) == 0.33
    assert round(M.gap_top_share(image, text, 2), 2) == 0.69
