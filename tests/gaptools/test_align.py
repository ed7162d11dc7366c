"""Aligner estimators: known answers on planted data and the shared estimator contract."""

import numpy as np
import pytest

from gaptools.align import METHODS, make_aligner, set_pairs
from gaptools.align.transport import exact_plan, nearest_rows, sinkhorn_plan
from gaptools.errors import InputError, NotFittedError
from gaptools.metrics import centroid_gap, l2_normalize
from gaptools.synthetic import planted_gap

SHIFT = 0.6
GAP_BEFORE = SHIFT / np.sqrt(1 + SHIFT**2)  # planted_gap's derivable centroid gap


def halves(n_images=400, dim=16, captions=2, seed=0):
    """Train and held-out halves of one planted set (same gap, disjoint images)."""
    s = planted_gap(2 * n_images, dim, shift=SHIFT, captions_per_image=captions, seed=seed)
    cut = n_images * captions
    train = s.replace(image=s.image[:n_images], text=s.text[:cut], text_image=s.text_image[:cut])
    test = s.replace(image=s.image[n_images:], text=s.text[cut:], text_image=s.text_image[cut:] - n_images)
    return train, test


def fitted(name, train, **params):
    return make_aligner(name, params).fit(train.image, train.text, set_pairs(train))


def random_rotation(dim, seed=0):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


# ----------------------------------------------------------------------------- every method


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_follows_the_estimator_contract(name):
    train, test = halves()
    aligner = make_aligner(name)
    assert aligner.renormalize is True and aligner.name == name
    with pytest.raises(NotFittedError, match="not fitted"):
        aligner.transform(test.image)
    with pytest.raises(NotFittedError):
        aligner.inverse_transform(test.text)
    assert aligner.fit(train.image, train.text, set_pairs(train)) is aligner
    assert all(hasattr(aligner, attr) for attr in aligner.state) and aligner.dim_ == 16

    mapped, back = aligner.transform(test.image), aligner.inverse_transform(test.text)
    assert mapped.shape == test.image.shape and back.shape == test.text.shape
    assert mapped.dtype == np.float32 and np.allclose(np.linalg.norm(mapped, axis=1), 1, atol=1e-5)
    again = fitted(name, train)
    np.testing.assert_array_equal(again.transform(test.image), mapped)  # refitting is deterministic
    np.testing.assert_array_equal(again.inverse_transform(test.text), back)
    with pytest.raises(InputError, match="fitted on 16"):
        aligner.transform(test.image[:, :8])
    assert aligner.transform(test.image[:0]).shape == (0, 16)


@pytest.mark.parametrize("name", [name for name, cls in METHODS.items() if cls.closes_gap])
@pytest.mark.parametrize("renormalize", [False, True])
def test_out_of_sample_the_gap_shrinks_both_ways(name, renormalize):
    train, test = halves()
    before = centroid_gap(test.image, test.text)
    assert before == pytest.approx(GAP_BEFORE, abs=0.03)
    aligner = fitted(name, train, renormalize=renormalize)
    moment_matcher = name in ("mean", "center", "procrustes", "coral")
    for direction in ("image-to-text", "text-to-image"):
        img, txt = aligner.transform_modalities(test.image, test.text, direction=direction)
        after = centroid_gap(img, txt)
        if moment_matcher and not renormalize:
            # only sampling noise is left: the halves' gap vectors differ by ~1/sqrt(n)
            assert after < 0.05, (direction, after)
        else:
            # renormalising a shifted text t + g (g = GAP_BEFORE·u) shrinks it by ~sqrt(1 + g²),
            # a residual of ~0.06 here; pca-rotation and OT only see distributions
            assert after < 0.25 * before, (direction, after)


def test_unknown_method_and_parameter_list_the_valid_ones():
    with pytest.raises(InputError, match="unknown alignment method 'rot'") as info:
        make_aligner("rot")
    assert "ot-sinkhorn" in info.value.hint and "procrustes" in info.value.hint
    with pytest.raises(InputError, match="no parameter") as info:
        make_aligner("coral", {"lambda": 1})
    assert "reg" in info.value.hint


@pytest.mark.parametrize("name, params", [("coral", {"reg": -1}), ("ot-sinkhorn", {"reg": 0}),
                                          ("ot-exact", {"max_fit_points": 1}), ("ot-exact", {"solver": "lp"}),
                                          ("mean", {"renormalize": "yes"})])
def test_bad_parameters_are_refused_at_fit(name, params):
    train, _ = halves(50, 8)
    with pytest.raises(InputError):
        fitted(name, train, **params)


def test_fit_validates_inputs():
    train, _ = halves(50, 8)
    with pytest.raises(InputError, match="dimension mismatch"):
        make_aligner("mean").fit(train.image, train.text[:, :4])
    with pytest.raises(InputError, match="NaN"):
        make_aligner("mean").fit(np.full((3, 8), np.nan), train.text)
    with pytest.raises(InputError, match="outside"):
        make_aligner("procrustes").fit(train.image, train.text, np.array([[0, 999]]))
    with pytest.raises(InputError, match="needs true pairs"):
        make_aligner("procrustes").fit(train.image, train.text)  # 50 images, 100 captions


# ----------------------------------------------------------------------------- known answers


def test_mean_brings_its_training_centroid_gap_to_zero():
    train, _ = halves()
    aligner = fitted("mean", train, renormalize=False)
    assert centroid_gap(aligner.transform(train.image), train.text) < 1e-6
    assert centroid_gap(train.image, aligner.inverse_transform(train.text)) < 1e-6


def test_center_centres_both_modalities_whatever_the_direction():
    train, _ = halves()
    aligner = fitted("center", train, renormalize=False)
    for direction in ("image-to-text", "text-to-image"):
        img, txt = aligner.transform_modalities(train.image, train.text, direction=direction)
        assert np.abs(img.mean(0)).max() < 1e-6 and np.abs(txt.mean(0)).max() < 1e-6
    with pytest.raises(InputError, match="unknown direction"):
        aligner.transform_modalities(train.image, train.text, direction="sideways")


@pytest.mark.parametrize("center", [True, False])
def test_procrustes_recovers_a_planted_rotation(center):
    image = planted_gap(500, 24, shift=SHIFT).image.astype(np.float64)
    q = random_rotation(24)
    text = image @ q
    aligner = make_aligner("procrustes", {"renormalize": False, "center": center}).fit(image, text)
    assert np.abs(aligner.weight_ - q).max() < 1e-6
    assert np.abs(aligner.transform(image) - text).max() < 1e-6
    assert np.abs(aligner.inverse_transform(text) - image).max() < 1e-6


def test_procrustes_uses_the_caption_to_image_pairs():
    s = planted_gap(300, 12, captions_per_image=3, caption_noise=0.0)
    q = random_rotation(12, seed=3)
    aligner = make_aligner("procrustes", {"renormalize": False}).fit(s.image, s.image[s.text_image] @ q, set_pairs(s))
    assert np.abs(aligner.weight_ - q).max() < 1e-6


def test_pca_rotation_sends_each_image_axis_onto_the_same_text_axis():
    train, _ = halves()
    aligner = fitted("pca-rotation", train)
    w, vi, vt = aligner.weight_, aligner.components_img_, aligner.components_txt_
    np.testing.assert_allclose(w.T @ w, np.eye(16), atol=1e-10)
    np.testing.assert_allclose(vi.T @ w, vt.T, atol=1e-10)  # (k-th image axis)·W = k-th text axis
    assert ((vi * vt).sum(0) >= 0).all()  # sign convention: partners point the same way
    assert (vi[np.abs(vi).argmax(0), np.arange(16)] > 0).all()
    mapped = aligner.transform(train.image)
    assert centroid_gap(mapped, train.text) < 0.25 * GAP_BEFORE


def test_coral_matches_the_text_covariance():
    train, _ = halves(800, 8)
    aligner = fitted("coral", train, reg=1e-8, renormalize=False)
    out = aligner.transform(train.image).astype(np.float64)
    cov_txt = np.cov(train.text.T.astype(np.float64))
    np.testing.assert_allclose(np.cov(out.T), cov_txt, atol=1e-6 * np.abs(cov_txt).max() + 1e-9)
    np.testing.assert_allclose(out.mean(0), train.text.mean(0), atol=1e-6)
    np.testing.assert_allclose(aligner.weight_ @ aligner.inverse_weight_, np.eye(8), atol=1e-6)


@pytest.mark.parametrize("solver", ["auto", "emd"])
def test_ot_exact_recovers_the_permutation_of_a_shifted_shuffled_copy(solver):
    # For y = x + c shuffled, Σ‖x_i − y_σ(i)‖² = Σ‖x_i − x_σ'(i)‖² + n‖c‖² is smallest for the true matching.
    x = planted_gap(300, 16).image
    perm = np.random.default_rng(1).permutation(300)
    c = np.full(16, 0.05, dtype=np.float32)
    y = (x + c)[perm]
    plan = exact_plan(x, y, solver=solver).toarray()
    np.testing.assert_array_equal(plan.argmax(axis=1), np.argsort(perm))
    aligner = make_aligner("ot-exact", {"solver": solver, "renormalize": False}).fit(x, y)
    np.testing.assert_allclose(aligner.transform(x), x + c, atol=1e-6)
    np.testing.assert_allclose(aligner.inverse_transform(y), x[perm], atol=1e-6)


def test_assignment_and_pot_reach_the_same_optimum():
    import ot

    rng = np.random.default_rng(2)
    x, y = l2_normalize(rng.standard_normal((200, 16))), l2_normalize(rng.standard_normal((200, 16)) + 0.3)
    cost = ot.dist(x.astype(np.float64), y.astype(np.float64))
    value = (exact_plan(x, y, solver="auto").toarray() * cost).sum()
    assert value == pytest.approx(ot.emd2(np.full(200, 1 / 200), np.full(200, 1 / 200), cost), rel=1e-9)


def test_ot_plans_have_uniform_marginals():
    rng = np.random.default_rng(3)
    x, y = l2_normalize(rng.standard_normal((40, 8))), l2_normalize(rng.standard_normal((70, 8)) + 0.5)
    exact = exact_plan(x, y).toarray()  # unequal sizes: POT's ot.emd
    np.testing.assert_allclose(exact.sum(1), 1 / 40, rtol=1e-9)
    np.testing.assert_allclose(exact.sum(0), 1 / 70, rtol=1e-9)
    assert np.count_nonzero(exact) <= 40 + 70 - 1
    soft = sinkhorn_plan(x, y, reg=0.05, max_iter=5000, tol=1e-7)
    assert soft.dtype == np.float32
    np.testing.assert_allclose(soft.sum(1) * 40, 1, atol=1e-4)
    np.testing.assert_allclose(soft.sum(0) * 70, 1, atol=1e-4)
    assert sinkhorn_plan(x, y, reg=0.01, max_iter=5000, tol=1e-7).dtype == np.float64  # too small for float32


def test_ot_subsample_is_seeded_and_new_points_take_their_nearest_fitted_displacement():
    train, test = halves(300, 16)
    a = fitted("ot-sinkhorn", train, max_fit_points=100, random_state=1, renormalize=False)
    b = fitted("ot-sinkhorn", train, max_fit_points=100, random_state=2, renormalize=False)
    assert a.fit_img_.shape == (100, 16) and a.fit_txt_.shape == (100, 16)
    assert not np.array_equal(a.fit_img_, b.fit_img_)
    near = nearest_rows(test.image, a.fit_img_)
    np.testing.assert_allclose(a.transform(test.image), test.image + a.displacement_img_[near], atol=1e-6)
    np.testing.assert_allclose(a.transform(a.fit_img_), a.fit_img_ + a.displacement_img_, atol=1e-6)


def test_nearest_rows_in_chunks_matches_brute_force(monkeypatch):
    from gaptools.align import transport

    rng = np.random.default_rng(4)
    points, queries = rng.standard_normal((50, 6)), rng.standard_normal((333, 6))
    brute = ((queries[:, None, :] - points[None]) ** 2).sum(-1).argmin(1)
    monkeypatch.setattr(transport, "CHUNK_ELEMENTS", 50 * 7)  # 7 queries per chunk
    np.testing.assert_array_equal(transport.nearest_rows(queries, points), brute)


@pytest.mark.parametrize("name", ["mean", "procrustes", "ot-exact"])
def test_real_random_init_clip_features_held_out_gap_shrinks(shared_data, name):
    from gaptools.io import load_set

    s = load_set(shared_data / "clip_random_init_features" / "features_clip_random.npy")  # 500 COCO pairs
    aligner = make_aligner(name).fit(s.image[:250], s.text[:250])  # row i a pair
    before = centroid_gap(s.image[250:], s.text[250:])
    assert before > 0.5  # the cone effect at initialisation: a large gap
    assert centroid_gap(aligner.transform(s.image[250:]), s.text[250:]) < 0.5 * before
