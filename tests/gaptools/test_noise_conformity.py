"""The gap's noise (alignment_noise_variance) and conformity, on planted sets whose answers follow from the construction."""

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from gaptools import metrics as M
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet
from gaptools.measure import measure, noise_variance_estimate
from gaptools.synthetic import planted_gap


def planted_noise(n_images=2000, dim=128, variance=2e-5, h=0.6, seed=0):
    """Unit pairs whose residuals, once the gap is removed, are isotropic noise of a known variance.

    Coordinate 0 carries the gap: +h for images, −h for captions (a constant, so the mean
    removes it). The other D − 1 coordinates are s·u for an image (s = √(1 − h²), u a random
    unit vector) and s·normalize(u + n) for each of its 1 to 4 captions, n ~ N(0, variance·I).
    To first order normalize(u + n) = u + n⊥ (n without its component along u), so the residual
    of a pair is s·n⊥: per-dimension variance s²·variance in the D − 2 tangent directions, 0 in the
    other two (the gap coordinate and u); the mean over the D dimensions is
    s²·variance·(D − 2)/D, up to a relative O(D·variance) from the normalisation.
    """
    rng = np.random.default_rng(seed)
    s = np.sqrt(1 - h**2)
    u = rng.standard_normal((n_images, dim - 1))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    text_image = np.repeat(np.arange(n_images), rng.integers(1, 5, n_images))
    noisy = u[text_image] + np.sqrt(variance) * rng.standard_normal((len(text_image), dim - 1))
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    image = np.hstack([np.full((n_images, 1), h), s * u])
    text = np.hstack([np.full((len(text_image), 1), -h), s * noisy])
    expected = s**2 * variance * (dim - 2) / dim
    return EmbeddingSet(image=image, text=text, text_image=text_image), expected


def test_planted_isotropic_noise_is_recovered_to_2_percent():
    eset, expected = planted_noise()
    r = measure(eset, bootstrap=200, max_points=200, max_gallery=200)["metrics"]["alignment_noise_variance"]
    assert r["value"] == pytest.approx(expected, rel=0.02)
    lo, hi = r["ci95"]
    assert lo <= r["value"] <= hi and hi - lo < 0.05 * expected
    # the gap itself ((2h)² / D = 0.0113) is 300x the noise: it is removed, not counted
    assert M.centroid_gap(eset.image[eset.text_image], eset.text) == pytest.approx(1.2, abs=1e-3)
    again = noise_variance_estimate(eset, bootstrap=200)
    assert again["value"] == pytest.approx(r["value"], rel=1e-9) and again["n_pairs"] == eset.n_text
    assert again["n_images"] == 2000 and again["ci95"][0] <= again["value"] <= again["ci95"][1]


@pytest.mark.parametrize("variance", [1e-5, 1e-4])
def test_noise_scales_with_the_planted_variance(variance):
    eset, expected = planted_noise(n_images=1000, dim=64, variance=variance, seed=2)
    assert M.alignment_noise_variance(eset.image, eset.text, eset.text_image) == pytest.approx(expected, rel=0.02)


def test_noise_equals_the_explicit_residual_variance_over_pairs():
    rng = np.random.default_rng(5)
    image = M.l2_normalize(rng.standard_normal((40, 6)) + 1.0)
    text = M.l2_normalize(rng.standard_normal((90, 6)))
    text_image = rng.integers(0, 40, 90)  # some images have no caption, some several
    paired = image[text_image].astype(np.float64)  # each pair once: an image counts once per caption
    eps = (paired - paired.mean(axis=0)) - (text - text.mean(axis=0))
    expected = eps.var(axis=0).mean()  # population variance per dimension, averaged
    assert M.alignment_noise_variance(image, text, text_image) == pytest.approx(expected, rel=1e-6)
    r = measure(EmbeddingSet(image=image, text=text, text_image=text_image), bootstrap=0)["metrics"]
    assert r["alignment_noise_variance"]["value"] == pytest.approx(expected, rel=1e-6)
    raw = measure(EmbeddingSet(image=3 * image, text=text, text_image=text_image), bootstrap=50, normalize=False)
    assert raw["metrics"]["alignment_noise_variance"]["value"] == pytest.approx(expected, rel=1e-6)  # unit vectors


def test_noise_estimate_needs_two_pairs():
    s = planted_gap(10, 8, seed=1)
    with pytest.raises(InputError, match="1 image-caption pair"):
        noise_variance_estimate(s.replace(image=s.image[:1], text=s.text[:1], text_image=np.zeros(1, int)))
    with pytest.raises(InputError, match="0 image-caption pair"):
        noise_variance_estimate(s.replace(image=np.zeros((0, 8), np.float32)))
    two = noise_variance_estimate(s.replace(image=s.image[:2], text=s.text[:2], text_image=np.arange(2)))
    assert two["n_pairs"] == 2 and two["value"] >= 0


def test_conformity_is_the_mean_cosine_to_the_other_groups():
    rng = np.random.default_rng(3)
    x = M.l2_normalize(rng.standard_normal((30, 5)) + 0.5)
    groups = np.repeat(np.arange(12), rng.integers(1, 5, 12))[:30]
    cos = x.astype(np.float64) @ x.T.astype(np.float64)
    alone = [(cos[i].sum() - cos[i, i]) / 29 for i in range(30)]
    assert M.conformity(x) == pytest.approx(alone, abs=1e-6)
    other = [cos[i, groups != groups[i]].mean() for i in range(30)]
    assert M.conformity(x, groups) == pytest.approx(other, abs=1e-6)
    assert M.conformity(3 * x) == pytest.approx(alone, abs=1e-6)  # cosines: unit vectors
    assert np.isnan(M.conformity(x[:4], np.zeros(4, int))).all()  # one group: no others


def test_conformity_means_are_the_cones_and_w1_compares_the_distributions():
    s = planted_gap(400, 32, shift=0.6, captions_per_image=3, seed=4)
    r = measure(s, bootstrap=0, max_points=200, max_gallery=200)["metrics"]
    image, text = M.l2_normalize(s.image), M.l2_normalize(s.text)
    ci, ct = M.conformity(image), M.conformity(text, s.text_image)
    assert r["conformity_image"]["mean"] == pytest.approx(r["image_cone"]["value"], rel=1e-5)
    assert r["conformity_text"]["mean"] == pytest.approx(r["text_cone"]["value"], rel=1e-5, abs=1e-8)
    assert r["conformity_image"]["value"] == pytest.approx(np.median(ci))
    assert list(r["conformity_text"]["quantiles"]) == ["5", "25", "50", "75", "95"]
    assert r["conformity_text"]["quantiles"]["95"] == pytest.approx(np.percentile(ct, 95))
    assert r["conformity_w1"]["value"] == pytest.approx(wasserstein_distance(ci, ct))
    same = planted_gap(300, 16, seed=6)
    r = measure(same.replace(image=same.text.copy()), bootstrap=0)["metrics"]
    assert r["conformity_w1"]["value"] == pytest.approx(0.0, abs=1e-7)  # one distribution


def test_one_modality_sets_have_the_conformity_of_what_they_hold():
    s = planted_gap(100, 16, captions_per_image=2, seed=7)
    r = measure(s.replace(image=np.zeros((0, 16), np.float32)), bootstrap=20)["metrics"]
    assert r["conformity_text"]["value"] is not None
    assert r["conformity_image"]["unavailable"] == "no image embeddings"
    assert r["conformity_w1"]["value"] is None and r["alignment_noise_variance"]["value"] is None
