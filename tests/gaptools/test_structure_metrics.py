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


def test_principal_cosines_are_the_planted_angles_and_their_mean_is_the_agreement():
    """Image spread along e_1..e_3, text along cos θ_j e_j + sin θ_j e_{3+j}: the cosines are cos θ_j."""
    angles = np.array([0.2, 0.9, 1.4])
    d = 10
    image_basis = np.eye(d)[:, :3]
    text_basis = np.eye(d)[:, :3] * np.cos(angles) + np.eye(d)[:, 3:6] * np.sin(angles)
    cov_img = image_basis @ np.diag([3.0, 2.0, 1.0]) @ image_basis.T
    cov_txt = text_basis @ np.diag([1.0, 3.0, 2.0]) @ text_basis.T  # another order of spread: same subspace
    cosines = M.principal_cosines(cov_img, cov_txt, k=3)
    assert cosines == pytest.approx(np.sort(np.cos(angles))[::-1], abs=1e-9)
    assert M.subspace_agreement_from_covs(cov_img, cov_txt, k=3) == pytest.approx(np.cos(angles).mean(), abs=1e-9)
    assert M.principal_cosines(cov_img, cov_txt, k=4) is None  # a fourth direction has no spread


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
    cosines = M.principal_cosines(M.gaussian_fit(image)[1], M.gaussian_fit(text)[1])
    # a few leading directions shared, the rest each modality's own (docs/user_guide/shapes_world.md)
    assert np.round(cosines, 2).tolist() == [0.70, 0.62, 0.61, 0.46, 0.38, 0.26, 0.11, 0.08, 0.05, 0.02]
    assert round(M.gap_top_share(image, text, 2), 2) == 0.69


# --------------------------------------------------------------------------- in `measure`

STRUCTURE_KEYS = ("centred_matched_cosine", "shifted_matched_cosine", "participation_ratio_image",
                  "participation_ratio_text", "participation_ratio_residual", "subspace_agreement",
                  "gap_top2_share", "gap_top10_share")


def test_measure_reports_the_structure_metrics_with_intervals_where_cheap():
    from gaptools.io import EmbeddingSet
    from gaptools.measure import METRIC_KEYS, measure

    image, text, c, s = planted_pairs(10, 16)
    r = measure(EmbeddingSet(image=image, text=text, text_image=np.arange(len(text))), bootstrap=100)["metrics"]
    assert set(STRUCTURE_KEYS) <= set(METRIC_KEYS)
    expected = {"centred_matched_cosine": -1, "shifted_matched_cosine": c * c - s * s, "participation_ratio_image": 10,
                "participation_ratio_text": 10, "participation_ratio_residual": 10, "subspace_agreement": 1,
                "gap_top2_share": 1, "gap_top10_share": 1}
    for key, value in expected.items():
        assert r[key]["value"] == pytest.approx(value, abs=1e-5), key
    for key in ("centred_matched_cosine", "shifted_matched_cosine", "gap_top2_share", "gap_top10_share"):
        lo, hi = r[key]["ci95"]  # (a balanced construction is an extreme of its resamples: no containment here)
        assert -1 - 1e-6 <= lo <= hi <= 1 + 1e-6, key
    for key in ("participation_ratio_image", "participation_ratio_text", "participation_ratio_residual",
                "subspace_agreement"):
        assert r[key]["ci95"] is None, key
    assert r["subspace_agreement"]["k"] == M.SUBSPACE_K


def test_measure_says_why_subspace_agreement_is_missing_for_a_k_beyond_the_rank():
    from gaptools.io import EmbeddingSet
    from gaptools.measure import measure

    image, text, _, _ = planted_pairs(10, 16)
    entry = measure(EmbeddingSet(image=image, text=text, text_image=np.arange(len(text))), bootstrap=0, subspace_k=11)["metrics"]["subspace_agreement"]
    assert entry["value"] is None and entry["k"] == 11 and "top 11 principal directions" in entry["unavailable"]


def test_measure_gives_the_real_clip_figures_with_intervals_around_them(shared_data):
    from gaptools.io import load_set
    from gaptools.measure import measure

    r = measure(load_set(shared_data / "real_clip_coco500" / "features_clip.npy"), bootstrap=200)["metrics"]
    printed = {"centred_matched_cosine": (0.315, 3), "shifted_matched_cosine": (0.672, 3),
               "participation_ratio_image": (42.7, 1), "participation_ratio_text": (41.7, 1),
               "participation_ratio_residual": (77.9, 1), "subspace_agreement": (0.33, 2), "gap_top2_share": (0.69, 2)}
    for key, (value, digits) in printed.items():
        assert round(r[key]["value"], digits) == value, key
    for key in ("centred_matched_cosine", "shifted_matched_cosine", "gap_top2_share", "gap_top10_share"):
        lo, hi = r[key]["ci95"]
        assert lo < r[key]["value"] < hi and hi - lo < 0.03, key


def test_streaming_gives_the_moment_based_ones_and_says_why_not_the_others(set_folder):
    pytest.importorskip("dask")
    from gaptools.measure import measure
    from gaptools.stream import folder_to_set, measure_folder
    from gaptools.stream.measure import NEEDS_PAIR_MOMENTS, NEEDS_SECOND_PASS
    from gaptools.synthetic import planted_gap

    eset = planted_gap(600, 16, shift=0.5, captions_per_image=3, caption_noise=0.5, seed=4)
    root = set_folder(eset, [250, 350])
    options = dict(bootstrap=100, max_points=200, max_gallery=200, subspace_k=4)
    streamed, in_memory = measure_folder(root, **options)["metrics"], measure(folder_to_set(root), **options)["metrics"]
    for key in ("participation_ratio_image", "participation_ratio_text", "subspace_agreement", "gap_top2_share",
                "gap_top10_share"):
        assert streamed[key]["value"] == pytest.approx(in_memory[key]["value"], rel=1e-6, abs=1e-6), key
    assert streamed["gap_top2_share"]["ci95"] is not None and streamed["subspace_agreement"]["k"] == 4
    for key, reason in (("centred_matched_cosine", NEEDS_SECOND_PASS), ("shifted_matched_cosine", NEEDS_SECOND_PASS),
                        ("participation_ratio_residual", NEEDS_PAIR_MOMENTS)):
        assert streamed[key]["value"] is None and streamed[key]["unavailable"] == reason
        assert in_memory[key]["value"] is not None


def test_the_shipped_world_shares_a_few_leading_directions_strongly_and_leaves_some_to_one_modality():
    """The shipped test split (first caption of each image): a steep spectrum, as real CLIP's.

    The ``clip-like-v2`` demo shared every direction about halfway (0.59 ... 0.43, then 0.33 and
    0.08); the looks its toy CLIP's captions name and the dataset's do not leave the images
    directions of their own (issue 28).
    """
    from gaptools import demo
    from gaptools.io import load_set

    one = load_set(demo.SHAPES_TEST).first_captions()
    image, text = M.l2_normalize(one.image[one.text_image]), M.l2_normalize(one.text)
    cosines = M.principal_cosines(M.gaussian_fit(image)[1], M.gaussian_fit(text)[1])
    assert np.round(cosines, 2).tolist() == [0.72, 0.69, 0.66, 0.61, 0.58, 0.5, 0.35, 0.21, 0.06, 0.04]
    assert round(M.subspace_agreement(image, text), 2) == 0.44
