"""Streaming measure and align on Dask: equal to the in-memory path, independent of the split, resumable."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")  # as the CLI does: POT without torch

from gaptools.align import fit_on_set, load_aligner, make_aligner, save_aligner  # noqa: E402
from gaptools.align.sets import apply_to_set  # noqa: E402
from gaptools.errors import InputError  # noqa: E402
from gaptools.io import EmbeddingSet, load_npz  # noqa: E402
from gaptools.measure import measure  # noqa: E402
from gaptools.metrics import l2_normalize  # noqa: E402
from gaptools.stream import STREAMABLE_METHODS, apply_folder, fit_folder, folder_to_set, measure_folder  # noqa: E402
from gaptools.stream.align import MANIFEST  # noqa: E402
from gaptools.stream.stats import poisson_weights, row_hash  # noqa: E402
from gaptools.synthetic import planted_gap  # noqa: E402

#: Point estimates the streaming path computes exactly (from sums and moments, not samples).
EXACT = ("centroid_gap", "matched_cosine", "random_cosine", "relative_gap", "image_cone", "text_cone", "alignment",
         "frechet", "frechet_mean_term", "frechet_cov_term", "effective_rank_image", "effective_rank_text")
SAMPLED = ("linear_separability", "mmd_rbf", "wasserstein2", "wasserstein2_centred", "uniformity_image",
           "uniformity_text")
SMALL = dict(bootstrap=200, max_points=300, max_gallery=400)


@pytest.fixture(scope="module")
def client():
    """Two worker processes on the loopback interface, one thread each, for the whole module."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def anisotropic(n: int, dim: int, *, captions: int = 1, seed: int = 0) -> EmbeddingSet:
    """Raw vectors whose variances grow by 1.5× per dimension, with a gap along dimension 0.

    Well separated spectra keep principal directions (and whitening) well conditioned, so
    two fits differ by the rounding of their covariances, not by an ill-posed eigenproblem.
    """
    rng = np.random.default_rng(seed)
    scales = 1.5 ** np.arange(dim)
    content = rng.standard_normal((n, dim)) * scales
    image = content + 3.0 * np.eye(dim)[0]
    text_image = np.repeat(np.arange(n), captions)
    text = content[text_image] + 0.3 * rng.standard_normal((n * captions, dim)) * scales
    return EmbeddingSet(image=image.astype(np.float32), text=text.astype(np.float32), text_image=text_image)


def assert_point_estimates_equal(streamed: dict, in_memory: dict) -> None:
    """Within 1e-6: absolute for values below 1 (cosines near 0), relative above (effective ranks)."""
    for key in EXACT:
        assert streamed["metrics"][key]["value"] == pytest.approx(in_memory["metrics"][key]["value"], rel=1e-6,
                                                                  abs=1e-6), key
    top_s, top_m = streamed["metrics"]["top_gap_dims"]["value"], in_memory["metrics"]["top_gap_dims"]["value"]
    assert [d for d, _ in top_s] == [d for d, _ in top_m]
    assert [s for _, s in top_s] == pytest.approx([s for _, s in top_m], rel=1e-6, abs=1e-6)


# --------------------------------------------------------------------------- measure


def test_streaming_equals_in_memory_on_a_clip_folder_over_a_cluster(client, clip_folder):
    s = planted_gap(2000, 24, shift=0.7, seed=2)
    root = clip_folder(s.image, s.text, [700, 300, 1000], dtype=np.float16)
    seen = []
    doc = measure_folder(root, client=client, progress=lambda done, total: seen.append((done, total)), **SMALL)
    ref = measure(folder_to_set(root), **SMALL)
    assert doc["path"] == "streaming" and list(doc["metrics"]) == list(ref["metrics"])
    assert (doc["n_image"], doc["n_text"], doc["dim"]) == (2000, 2000, 24)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert_point_estimates_equal(doc, ref)
    for key in SAMPLED:
        assert doc["metrics"][key]["n"] == 300
    assert doc["metrics"]["recall@1_i2t"]["gallery_images"] == 400
    assert doc["metrics"]["top_gap_dims"]["value"][0][0] == 0  # the planted axis


def test_streaming_equals_in_memory_on_grouped_sets(set_folder):
    eset = planted_gap(600, 16, shift=0.5, captions_per_image=3, caption_noise=0.5, seed=4)
    root = set_folder(eset, [250, 100, 250])
    doc = measure_folder(root, **SMALL)  # Dask's threaded scheduler, no cluster
    assert_point_estimates_equal(doc, measure(folder_to_set(root), **SMALL))
    assert doc["metrics"]["text_cone"]["value"] < doc["metrics"]["image_cone"]["value"] + 1  # defined, finite


def test_raw_vectors_equal_in_memory_too(clip_folder):
    s = planted_gap(800, 12, shift=0.4, seed=5)
    scale = np.random.default_rng(0).uniform(0.5, 2.0, (800, 1)).astype(np.float32)
    root = clip_folder(s.image * scale, s.text * 3.0, [500, 300])
    doc = measure_folder(root, normalize=False, **SMALL)
    assert doc["normalized"] is False
    assert_point_estimates_equal(doc, measure(folder_to_set(root), normalize=False, **SMALL))


def test_samples_and_intervals_do_not_depend_on_the_split(clip_folder):
    s = planted_gap(1500, 16, shift=0.6, seed=6)
    two = measure_folder(clip_folder(s.image, s.text, [900, 600], name="two"), **SMALL)
    five = measure_folder(clip_folder(s.image, s.text, [300] * 5, name="five"), **SMALL)
    for key in SAMPLED + ("recall@1_i2t", "recall@1_t2i"):
        assert two["metrics"][key]["value"] == five["metrics"][key]["value"], key
    for key in EXACT[:7]:  # the same resamples, summed in other blocks (float32 products): rounding only
        assert two["metrics"][key]["ci95"] == pytest.approx(five["metrics"][key]["ci95"], rel=1e-6), key
    other_seed = measure_folder(clip_folder(s.image, s.text, [1500], name="one"), **{**SMALL, "seed": 1})
    assert other_seed["metrics"]["mmd_rbf"]["value"] != two["metrics"]["mmd_rbf"]["value"]


def test_poisson_bootstrap_interval_matches_the_normal_theory_width(clip_folder):
    # The mean of N iid pair cosines has sd σ/√N: the 95% interval is about ±1.96 σ/√N.
    s = planted_gap(3000, 16, shift=0.8, seed=7)
    doc = measure_folder(clip_folder(s.image, s.text, [1000, 2000]), bootstrap=400, max_points=50, max_gallery=50)
    cos = np.einsum("nd,nd->n", l2_normalize(s.image), l2_normalize(s.text))
    lo, hi = doc["metrics"]["matched_cosine"]["ci95"]
    assert lo < cos.mean() < hi
    assert (hi - lo) / (2 * 1.96 * cos.std() / np.sqrt(len(cos))) == pytest.approx(1.0, abs=0.15)


def test_a_data_problem_is_raised_from_the_worker_naming_the_shard(client, clip_folder):
    s = planted_gap(400, 8, seed=9)
    image = s.image.copy()
    image[250] = 0.0  # a zero vector has no direction: only reading the data shows it
    root = clip_folder(image, s.text, [200, 200])
    with pytest.raises(InputError, match=r"img_emb_1\.npy .*all-zero row.*first at row 50"):
        measure_folder(root, client=client, **SMALL)


def test_joining_a_running_scheduler_by_its_address(client, clip_folder):
    from gaptools.stream import dask_client

    s = planted_gap(300, 8, seed=8)
    root = clip_folder(s.image, s.text, [150, 150])
    with dask_client(scheduler=client.scheduler.address) as joined:
        doc = measure_folder(root, client=joined, bootstrap=20, max_points=50, max_gallery=50)
    assert doc["n_image"] == 300 and joined.status == "closed" and client.status == "running"
    assert doc["metrics"]["matched_cosine"]["value"] == pytest.approx(
        measure_folder(root, bootstrap=20, max_points=50, max_gallery=50)["metrics"]["matched_cosine"]["value"])


def test_poisson_weights_are_a_function_of_seed_and_id():
    ids = np.arange(5000, 9000)
    w = poisson_weights(3, ids, 64)
    assert w.shape == (64, 4000) and w.dtype == np.float32
    np.testing.assert_array_equal(w[:, 100:200], poisson_weights(3, ids[100:200], 64))  # any split
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.var() == pytest.approx(1.0, abs=0.02)  # Poisson(1)
    assert (w == 0).mean() == pytest.approx(np.exp(-1), abs=0.01)
    assert not np.array_equal(poisson_weights(4, ids, 8), w[:8])
    assert not np.array_equal(row_hash(0, 1, ids), row_hash(0, 2, ids))


# --------------------------------------------------------------------------- align fit


@pytest.mark.parametrize("method", STREAMABLE_METHODS)
def test_streaming_fit_equals_in_memory_fit(method, set_folder):
    eset = anisotropic(300, 8, captions=2, seed=1)
    root = set_folder(eset, [120, 180], name=f"sets-{method}")
    streamed, train = fit_folder(method, root)
    fitted = fit_on_set(method, folder_to_set(root))
    assert train["n_image"] == 300 and train["n_text"] == 600
    assert streamed.get_params() == fitted.get_params() and streamed.dim_ == fitted.dim_ == 8
    for name in fitted.state:  # within 1e-6 of each array's scale: both sides round their covariances in float32
        expected = getattr(fitted, name)
        np.testing.assert_allclose(getattr(streamed, name), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max(),
                                   err_msg=f"{method}.{name}")


def test_streaming_fit_over_the_cluster_with_a_second_pass(client, clip_folder):
    eset = anisotropic(1000, 8, seed=2)
    root = clip_folder(eset.image, eset.text, [400, 600])
    streamed, _ = fit_folder("realign", root, client=client)  # realign reads a mapped mean: two passes
    fitted = fit_on_set("realign", folder_to_set(root))
    for name in fitted.state:
        expected = getattr(fitted, name)
        np.testing.assert_allclose(getattr(streamed, name), expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("method, limit", [("ot-exact", "max_fit_points=5000"), ("ot-sinkhorn", "max_fit_points=10000"),
                                           ("memory-projection", "memory_size=10000")])
def test_row_based_methods_refuse_the_streaming_path(method, limit, clip_folder):
    s = planted_gap(50, 8)
    with pytest.raises(InputError, match="cannot be fitted on the streaming path") as info:
        fit_folder(method, clip_folder(s.image, s.text, [50]))
    assert limit in info.value.message and "gaptools align fit SET.npz" in info.value.hint


# --------------------------------------------------------------------------- align apply


def _saved(tmp_path, eset, method="coral", name="a.aligner"):
    path = save_aligner(fit_on_set(method, eset), tmp_path / name)
    return load_aligner(path)


def test_apply_maps_each_shard_like_the_in_memory_apply(client, tmp_path, clip_folder):
    eset = anisotropic(900, 8, seed=3)
    root = clip_folder(eset.image, eset.text, [300, 300, 300], dtype=np.float16)
    saved = _saved(tmp_path, eset)
    summary = apply_folder(saved, root, tmp_path / "out", client=client)
    assert summary["written"] == 3 and summary["skipped"] == 0
    out = folder_to_set(tmp_path / "out")
    expected = apply_to_set(saved.aligner, folder_to_set(root), direction="image-to-text")
    np.testing.assert_array_equal(out.image, expected.image.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(out.text, expected.text.astype(np.float16).astype(np.float32))
    assert list(out.caption[:2]) == ["caption 0", "caption 1"]  # metadata copied
    assert np.load(tmp_path / "out" / "img_emb" / "img_emb_0.npy").dtype == np.float16


def test_apply_to_a_folder_of_sets(tmp_path, set_folder):
    eset = anisotropic(200, 8, captions=2, seed=4)
    root = set_folder(eset, [80, 120])
    saved = _saved(tmp_path, eset, method="mean")
    apply_folder(saved, root, tmp_path / "out", direction="text-to-image")
    part = load_npz(tmp_path / "out" / "part-1.npz")
    expected = apply_to_set(saved.aligner, load_npz(root / "part-1.npz"), direction="text-to-image")
    np.testing.assert_array_equal(part.text, expected.text)
    np.testing.assert_array_equal(part.text_image, expected.text_image)
    assert part.meta["aligned"]["method"] == "mean"


class Killed(Exception):
    pass


def test_killed_then_rerun_equals_uninterrupted(tmp_path, clip_folder):
    eset = anisotropic(600, 8, seed=5)
    root = clip_folder(eset.image, eset.text, [100] * 6)
    saved = _saved(tmp_path, eset)
    apply_folder(saved, root, tmp_path / "whole")

    def kill_after_two(done, total):
        if done == 2:
            raise Killed

    with pytest.raises(Killed):
        apply_folder(saved, root, tmp_path / "resumed", progress=kill_after_two)
    stray = tmp_path / "resumed" / "img_emb" / ".img_emb_4.npy.x1y2.tmp"  # what a SIGKILL mid-write leaves
    stray.write_bytes(b"half a shard")
    recorded = __import__("json").loads((tmp_path / "resumed" / MANIFEST).read_text())["shards"]
    assert len(recorded) == 2
    again = apply_folder(saved, root, tmp_path / "resumed")
    assert again["skipped"] == 2 and again["written"] == 4 and not stray.exists()
    for sub in ("img_emb", "text_emb", "metadata"):
        for path in sorted((tmp_path / "whole" / sub).iterdir()):
            assert (tmp_path / "resumed" / sub / path.name).read_bytes() == path.read_bytes(), path.name
    assert apply_folder(saved, root, tmp_path / "resumed")["skipped"] == 6  # nothing left to do
    # a damaged output shard is found by its checksum and written again
    (tmp_path / "resumed" / "img_emb" / "img_emb_3.npy").write_bytes(b"damaged")
    assert apply_folder(saved, root, tmp_path / "resumed")["written"] == 1
    assert (tmp_path / "resumed" / "img_emb" / "img_emb_3.npy").read_bytes() == \
        (tmp_path / "whole" / "img_emb" / "img_emb_3.npy").read_bytes()


def test_rerun_refuses_another_aligner_or_output(tmp_path, clip_folder):
    eset = anisotropic(200, 8, seed=6)
    root = clip_folder(eset.image, eset.text, [100, 100])
    apply_folder(_saved(tmp_path, eset), root, tmp_path / "out")
    other = _saved(tmp_path, eset, method="mean", name="b.aligner")
    with pytest.raises(InputError, match="another aligner"):
        apply_folder(other, root, tmp_path / "out")
    with pytest.raises(InputError, match="another direction"):
        apply_folder(_saved(tmp_path, eset), root, tmp_path / "out", direction="text-to-image")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        apply_folder(other, root, tmp_path / "busy")
    with pytest.raises(InputError, match="outside the input"):
        apply_folder(other, root, root / "aligned")
    wrong = _saved(tmp_path, anisotropic(50, 6), name="c.aligner")
    with pytest.raises(InputError, match="6-dimensional"):
        apply_folder(wrong, root, tmp_path / "new")
    assert not (tmp_path / "new").exists() and not (root / "aligned").exists()


def test_a_bad_shard_stops_apply_before_anything_is_written(tmp_path, clip_folder):
    eset = anisotropic(200, 8, seed=7)
    root = clip_folder(eset.image, eset.text, [100, 100])
    (root / "text_emb" / "text_emb_1.npy").unlink()
    with pytest.raises(InputError, match="no partner"):
        apply_folder(_saved(tmp_path, eset), root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_make_aligner_refusal_is_not_silent_for_unknown_methods(clip_folder):
    s = planted_gap(20, 8)
    with pytest.raises(InputError, match="unknown alignment method"):
        fit_folder("nope", clip_folder(s.image, s.text, [20]))
    assert make_aligner("coral").fits_from_statistics()
