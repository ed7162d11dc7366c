"""The aligners added for issues 13 and 14: known answers on planted data, files, compare, real data."""

import glob

import numpy as np
import pytest

from gaptools.align import METHODS, compare, fit_on_set, load_aligner, make_aligner, save_aligner
from gaptools.align.transport import exact_plan
from gaptools.errors import InputError
from gaptools.metrics import centroid_gap, l2_normalize
from gaptools.synthetic import planted_gap

NEW = ("standardize", "moment", "realign", "pca-rotation-paper", "ot-paper", "memory-projection")


def halves(n_images=300, dim=16, seed=0):
    """Train and held-out halves of one planted set (gap 0.6 along coordinate 0)."""
    s = planted_gap(2 * n_images, dim, shift=0.6, captions_per_image=2, seed=seed)
    cut = 2 * n_images
    train = s.replace(image=s.image[:n_images], text=s.text[:cut], text_image=s.text_image[:cut])
    test = s.replace(image=s.image[n_images:], text=s.text[cut:], text_image=s.text_image[cut:] - n_images)
    return train, test


def population_trace(x):
    return float(np.var(np.asarray(x, dtype=np.float64), axis=0).sum())


def random_rotation(dim, seed=0):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


# ----------------------------------------------------------------------------- moment, standardize, realign


def test_moment_matches_both_moments_exactly_on_its_fit_data():
    train, _ = halves()
    aligner = make_aligner("moment", {"renormalize": False}).fit(train.image, train.text)
    img = aligner.transform(train.image).astype(np.float64)
    txt = train.text.astype(np.float64)
    np.testing.assert_allclose(img.mean(0), txt.mean(0), atol=2e-7)
    np.testing.assert_allclose(img.std(0), txt.std(0), rtol=2e-6)
    back = aligner.inverse_transform(train.text).astype(np.float64)
    np.testing.assert_allclose(back.mean(0), train.image.mean(0, dtype=np.float64), atol=2e-7)
    np.testing.assert_allclose(back.std(0), train.image.astype(np.float64).std(0), rtol=2e-6)


def test_standardize_gives_each_modality_zero_mean_and_unit_deviation_whatever_the_direction():
    train, _ = halves()
    aligner = make_aligner("standardize", {"renormalize": False}).fit(train.image, train.text)
    for direction in ("image-to-text", "text-to-image"):
        for x in aligner.transform_modalities(train.image, train.text, direction=direction):
            x = x.astype(np.float64)
            np.testing.assert_allclose(x.mean(0), 0, atol=2e-6)
            np.testing.assert_allclose(x.std(0), 1, rtol=2e-6)


def test_standardize_with_equal_deviations_is_center_which_is_i0t_post():
    # Rows ±e_k (k = 0..D-1): every coordinate has mean 0 and the same deviation 1/sqrt(D),
    # so dividing by it only rescales and, renormalised, standardize = center.
    dim = 6
    img = np.concatenate([np.eye(dim), -np.eye(dim)]) + 0.25  # shifted copy: means 0.25, same deviations
    txt = np.concatenate([np.eye(dim), -np.eye(dim)])[::-1] - 0.1
    std = make_aligner("standardize").fit(img, txt)
    cen = make_aligner("center").fit(img, txt)
    probe = l2_normalize(np.random.default_rng(0).standard_normal((20, dim)))
    np.testing.assert_allclose(std.transform(probe), cen.transform(probe), atol=1e-6)
    np.testing.assert_allclose(std.inverse_transform(probe), cen.inverse_transform(probe), atol=1e-6)
    # I0T_post (its official remove_artifact_features): normalise, subtract the modality mean, normalise
    i0t = l2_normalize(l2_normalize(probe) - img.mean(0))
    np.testing.assert_allclose(cen.transform(probe), i0t, atol=1e-6)


def test_realign_scale_is_the_trace_ratio_in_each_direction():
    train, _ = halves()
    aligner = make_aligner("realign").fit(train.image, train.text)
    tr_img, tr_txt = population_trace(train.image), population_trace(train.text)
    assert tr_txt / tr_img > 1.2  # the planted images are a narrower cone: the test can see the direction
    np.testing.assert_allclose(aligner.scale_, np.sqrt(tr_txt / tr_img), rtol=1e-6)


@pytest.mark.parametrize("way", ["transform", "inverse_transform"])
def test_realign_anchor_and_trace_steps_match_mean_and_total_variance(way):
    train, _ = halves()
    aligner = make_aligner("realign", {"recenter": False, "renormalize": False}).fit(train.image, train.text)
    src, tgt = (train.image, train.text) if way == "transform" else (train.text, train.image)
    out = getattr(aligner, way)(src)
    assert population_trace(out) == pytest.approx(population_trace(tgt), rel=1e-5)
    np.testing.assert_allclose(out.mean(0, dtype=np.float64), tgt.mean(0, dtype=np.float64), atol=2e-7)
    # ReAlign's own direction (text -> image) uses sqrt(tr img / tr txt): the centred texts grow or shrink
    # by exactly that factor
    centred_in = src - src.mean(0, dtype=np.float64)
    centred_out = out - out.mean(0, dtype=np.float64)
    ratio = np.sqrt(population_trace(tgt) / population_trace(src))
    np.testing.assert_allclose(centred_out, ratio * centred_in, atol=1e-5)


def test_realign_centroid_step_puts_the_projected_fit_set_on_the_target_mean():
    train, _ = halves()
    aligner = make_aligner("realign", {"renormalize": False}).fit(train.image, train.text)
    out = aligner.transform(train.image)
    np.testing.assert_allclose(out.mean(0, dtype=np.float64), train.text.mean(0, dtype=np.float64), atol=2e-6)
    back = aligner.inverse_transform(train.text)
    np.testing.assert_allclose(back.mean(0, dtype=np.float64), train.image.mean(0, dtype=np.float64), atol=2e-6)
    # step 3 is "project, subtract the projected mean, add the target mean"
    steps12 = make_aligner("realign", {"recenter": False, "renormalize": False}).fit(train.image, train.text)
    projected = l2_normalize(steps12.transform(train.image))
    np.testing.assert_allclose(out, projected - projected.mean(0) + train.text.mean(0), atol=1e-6)


# ----------------------------------------------------------------------------- memory projection


def memory_fit(n_txt=120, n_img=90, dim=8, seed=0, **params):
    rng = np.random.default_rng(seed)
    img = l2_normalize(rng.standard_normal((n_img, dim)) + 0.5)
    txt = l2_normalize(rng.standard_normal((n_txt, dim)))
    return img, txt, make_aligner("memory-projection", params).fit(img, txt)


def test_memory_projection_at_zero_temperature_returns_the_nearest_memory_item():
    img, txt, aligner = memory_fit(temperature=1e-9, renormalize=False)
    queries = l2_normalize(np.random.default_rng(5).standard_normal((40, 8)))
    np.testing.assert_array_equal(aligner.transform(queries), txt[(queries @ txt.T).argmax(1)])
    np.testing.assert_array_equal(aligner.inverse_transform(queries), img[(queries @ img.T).argmax(1)])


def test_memory_projection_at_infinite_temperature_returns_the_memory_mean():
    img, txt, aligner = memory_fit(temperature=1e9)
    queries = l2_normalize(np.random.default_rng(5).standard_normal((40, 8)))
    expected = l2_normalize(txt.mean(0, keepdims=True, dtype=np.float64))
    np.testing.assert_allclose(aligner.transform(queries), np.repeat(expected, 40, axis=0), atol=1e-6)


def test_memory_projection_is_the_softmax_mean_in_chunks(monkeypatch):
    from gaptools.align import memory

    img, txt, aligner = memory_fit(temperature=0.05, renormalize=False)
    queries = np.random.default_rng(6).standard_normal((333, 8)).astype(np.float32)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    logits = (q.astype(np.float64) @ txt.T) / 0.05
    w = np.exp(logits - logits.max(1, keepdims=True))
    brute = (w / w.sum(1, keepdims=True)) @ txt
    monkeypatch.setattr(memory, "CHUNK_ELEMENTS", 120 * 7)  # 7 queries per chunk
    np.testing.assert_allclose(aligner.transform(queries), brute, atol=2e-6)


def test_memory_is_a_seeded_sample_of_the_fit_captions():
    img, txt, a = memory_fit(n_txt=200, n_img=50, memory_size=64, random_state=1)
    _, _, b = memory_fit(n_txt=200, n_img=50, memory_size=64, random_state=2)
    assert a.memory_txt_.shape == (64, 8) and a.memory_img_.shape == (50, 8)  # all 50 images: fewer than 64
    rows = [np.flatnonzero((txt == m).all(1)) for m in a.memory_txt_]
    assert all(len(r) == 1 for r in rows) and len({int(r[0]) for r in rows}) == 64  # distinct fit captions
    assert not np.array_equal(a.memory_txt_, b.memory_txt_)
    np.testing.assert_array_equal(a.memory_img_, img)


@pytest.mark.parametrize("params", [{"temperature": 0}, {"temperature": -1.0}, {"temperature": float("inf")},
                                    {"temperature": "hot"}, {"memory_size": 0}, {"memory_size": 2.5},
                                    {"random_state": "x"}])
def test_memory_projection_bad_parameters_are_refused(params):
    with pytest.raises(InputError, match="memory-projection"):
        memory_fit(**params)


def test_memory_projection_moves_held_out_images_toward_the_captions():
    train, test = halves()
    aligner = make_aligner("memory-projection").fit(train.image, train.text)
    before = centroid_gap(test.image, test.text)
    for direction in ("image-to-text", "text-to-image"):
        after = centroid_gap(*aligner.transform_modalities(test.image, test.text, direction=direction))
        assert after < 0.8 * before, (direction, after, before)


# ----------------------------------------------------------------------------- the paper's OT


def shifted_shuffled(n=60, dim=8, seed=0):
    """y = (x + c) shuffled: under the L2 cost, Σ‖x_i − y_σ(i)‖ ≥ ‖Σ(x_i − x_σ'(i) − c)‖ = n‖c‖
    (triangle inequality), with equality only for the true matching when the x are in general
    position, so the optimal plan is that permutation / n."""
    rng = np.random.default_rng(seed)
    x = l2_normalize(rng.standard_normal((n, dim)))
    c = np.full(dim, 0.05, dtype=np.float32)
    perm = rng.permutation(n)
    return x, c, perm, (x + c)[perm]


@pytest.mark.parametrize("solver", ["auto", "emd"])
def test_ot_paper_multiplies_by_the_raw_plan_shrinking_by_one_over_n(solver):
    x, c, perm, y = shifted_shuffled()
    n = len(x)
    plan = exact_plan(x, y, solver=solver, metric="euclidean").toarray()
    np.testing.assert_array_equal(plan.argmax(1), np.argsort(perm))
    aligner = make_aligner("ot-paper", {"solver": solver, "renormalize": False}).fit(x, y)
    out = aligner.transform(x)
    np.testing.assert_allclose(out, (x + c) / n, atol=1e-7)  # T*·Y: the assigned text, divided by n
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(x + c, axis=1) / n, rtol=1e-5)
    np.testing.assert_allclose(aligner.inverse_transform(y), x[perm] / n, atol=1e-7)  # T*ᵀ·X, columns 1/m
    bary = make_aligner("ot-paper", {"solver": solver, "rescale": "barycentric", "renormalize": False}).fit(x, y)
    np.testing.assert_allclose(bary.transform(x), x + c, atol=1e-6)


def test_ot_paper_renormalised_equals_the_l2_barycentric_map_on_fitted_points():
    x, c, perm, y = shifted_shuffled()
    plan = make_aligner("ot-paper").fit(x, y)
    bary = make_aligner("ot-paper", {"rescale": "barycentric"}).fit(x, y)
    # float32 x + (t/n − x) keeps t/n to ~1e-7 absolute, i.e. ~n·1e-7 relative before renormalising
    np.testing.assert_allclose(plan.transform(x), bary.transform(x), atol=1e-5)
    np.testing.assert_allclose(plan.transform(x), l2_normalize(x + c), atol=1e-5)


def test_ot_paper_out_of_sample_keeps_the_residual_to_the_nearest_fitted_point():
    x, c, perm, y = shifted_shuffled()
    aligner = make_aligner("ot-paper", {"renormalize": False}).fit(x, y)
    new = l2_normalize(x[:10] + np.random.default_rng(3).normal(0, 0.2, (10, 8)))
    k = ((new[:, None] - x[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_allclose(aligner.transform(new), new - x[k] + (x[k] + c) / len(x), atol=1e-6)


def test_l2_and_squared_l2_costs_give_different_plans():
    # x = (0,0), (1,0); y = (1,0), (2,.3): squared cost keeps the order (2.09 < 4.09),
    # the L2 cost crosses (2 + 0.3·… : ‖(2,.3)‖ + 0 = 2.022 < 1 + 1.044 = 2.044)
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    y = np.array([[1.0, 0.0], [2.0, 0.3]])
    np.testing.assert_array_equal(exact_plan(x, y, metric="sqeuclidean").toarray().argmax(1), [0, 1])
    np.testing.assert_array_equal(exact_plan(x, y, metric="euclidean").toarray().argmax(1), [1, 0])


def test_ot_paper_unknown_rescale_is_refused():
    x, c, perm, y = shifted_shuffled()
    with pytest.raises(InputError, match="unknown rescale 'raw'"):
        make_aligner("ot-paper", {"rescale": "raw"}).fit(x, y)


# ----------------------------------------------------------------------------- the paper's rotation


def rotated_copy(n=3000, dim=6, seed=0):
    """Anisotropic cloud with a non-zero mean, and a rotated, shuffled copy of it as 'text'."""
    rng = np.random.default_rng(seed)
    img = rng.standard_normal((n, dim)) * np.array([3.0, 2.5, 2.0, 1.5, 1.0, 0.5]) + np.linspace(1.0, 2.0, dim)
    q = random_rotation(dim, seed=seed + 1)
    return img, q, (img @ q)[rng.permutation(n)]


def test_pca_rotation_paper_recovers_a_planted_rotation_without_translation():
    img, q, txt = rotated_copy()
    aligner = make_aligner("pca-rotation-paper", {"renormalize": False}).fit(img, txt)
    np.testing.assert_allclose(aligner.weight_, q, atol=1e-4)
    assert not aligner.mean_img_.any() and not aligner.mean_txt_.any()  # nothing subtracted or added
    np.testing.assert_allclose(aligner.transform(img), img @ aligner.weight_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(aligner.inverse_transform(txt), txt @ aligner.weight_.T, rtol=1e-5, atol=1e-5)
    # a rotation about the origin keeps the centroid's norm: it turns the gap, it cannot remove it
    mapped = aligner.transform(img).astype(np.float64)
    assert np.linalg.norm(mapped.mean(0)) == pytest.approx(np.linalg.norm(img.mean(0)), rel=1e-5)


def test_pca_rotation_paper_differs_from_ours_by_the_translation():
    img, q, txt = rotated_copy()
    txt = txt + 4.0  # a pure shift of the text cloud: ours follows it, the paper's rotation cannot
    ours = make_aligner("pca-rotation", {"renormalize": False}).fit(img, txt)
    paper = make_aligner("pca-rotation-paper", {"renormalize": False}).fit(img, txt)
    np.testing.assert_allclose(ours.transform(img).mean(0), txt.mean(0), atol=1e-4)
    assert np.abs(paper.transform(img).mean(0) - txt.mean(0)).max() > 1.0


# ----------------------------------------------------------------------------- registry, files, compare


def test_the_new_methods_are_registered_and_say_whether_they_close_the_gap():
    assert set(NEW) <= set(METHODS)
    assert {n for n in NEW if not METHODS[n].closes_gap} == {"pca-rotation-paper", "ot-paper", "memory-projection"}
    assert make_aligner("memory-projection").get_params() == {
        "memory_size": 10000, "temperature": 0.01, "random_state": 0, "renormalize": True}
    assert make_aligner("ot-paper").get_params()["rescale"] == "plan"


def test_a_saved_memory_projection_holds_both_memories(tmp_path):
    s = planted_gap(80, 12, captions_per_image=2)
    aligner = fit_on_set("memory-projection", s, {"memory_size": 50, "temperature": 0.02})
    saved = load_aligner(save_aligner(aligner, tmp_path / "m.aligner"))
    assert saved.aligner.memory_txt_.shape == (50, 12) and saved.aligner.memory_img_.shape == (50, 12)
    assert saved.aligner.memory_txt_.dtype == np.float32
    assert saved.header["params"]["temperature"] == 0.02 and saved.header["params"]["memory_size"] == 50
    np.testing.assert_array_equal(saved.aligner.transform(s.image), aligner.transform(s.image))


def test_compare_runs_the_new_methods():
    train, test = halves(80, 8)
    result = compare(train, test, methods=list(NEW), max_points=100, max_gallery=100)
    assert list(result["methods"]) == list(NEW)
    for name, entry in result["methods"].items():
        assert entry["centroid_gap"] is not None and entry["params"] == make_aligner(
            name, {"random_state": 0} if "random_state" in METHODS[name].param_names() else {}).get_params()


# ----------------------------------------------------------------------------- real data


@pytest.mark.parametrize("name", NEW)
def test_new_methods_on_real_embeddings_of_four_model_families(shared_data, name):
    files = [shared_data / "clip_random_init_features" / "features_clip_random.npy",
             *sorted(glob.glob(str(shared_data / "modality_gap_models" / "features_*.npy")))]
    assert len(files) >= 7
    for path in files:
        pair = np.load(path)  # (2, N, D): [0] image/video/protein, [1] text, row i a pair
        half = pair.shape[1] // 2
        aligner = make_aligner(name).fit(pair[0, :half], pair[1, :half])
        img, txt = aligner.transform_modalities(pair[0, half:], pair[1, half:])
        assert np.isfinite(img).all() and np.isfinite(txt).all()
        before, after = centroid_gap(pair[0, half:], pair[1, half:]), centroid_gap(img, txt)
        if METHODS[name].closes_gap or name == "memory-projection":
            assert after < before, (path, before, after)
