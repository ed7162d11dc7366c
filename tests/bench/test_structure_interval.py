"""bench/structure_interval.py: the pair bootstrap of the covariance figures, on planted data with known answers."""

import numpy as np
import pytest

from gaptools import EmbeddingSet, measure


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("structure_interval")


def _planted(shared: bool, n: int = 400, d: int = 32, k: int = 10, seed: int = 0) -> EmbeddingSet:
    """Images isotropic in a k-dimensional subspace; captions in the same subspace or in one orthogonal to it,
    each image with two captions (the second one pure noise, which the first-caption pairs never read)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    offset = 3.0 * basis[:, -1]  # a far centroid keeps every row near it after L2 normalisation
    image = rng.standard_normal((n, k)) @ basis[:, :k].T * 0.1 + offset
    text_basis = basis[:, :k] if shared else basis[:, k:2 * k]
    text = rng.standard_normal((n, k)) @ text_basis.T * 0.1 + offset
    noise = rng.standard_normal((n, d))
    return EmbeddingSet(image=image, text=np.stack([text, noise], 1).reshape(2 * n, d),
                        text_image=np.repeat(np.arange(n), 2))


def test_shared_and_separate_subspaces_give_agreement_one_and_zero_with_intervals_around_them(bench):
    shared_table = bench.pair_bootstrap(_planted(True), resamples=40)
    shared, separate = shared_table["figures"], bench.pair_bootstrap(_planted(False), resamples=40)["figures"]
    assert shared_table["n_pairs"] == 400
    k = 10  # the spread's dimension, the agreement's default k
    for key in ("participation_ratio_image", "participation_ratio_text"):
        assert shared[key]["value"] == pytest.approx(k, rel=0.1)  # isotropic in k dims: ratio k
        assert shared[key]["p2.5"] <= shared[key]["p50"] <= shared[key]["p97.5"]
        assert shared[key]["p97.5"] - shared[key]["p2.5"] < 1.0
    assert shared["subspace_agreement"]["value"] > 0.97 and shared["subspace_agreement"]["p2.5"] > 0.95
    assert separate["subspace_agreement"]["value"] < 0.05 and separate["subspace_agreement"]["p97.5"] < 0.1
    # the residual of independent draws spreads over both subspaces: 2k when they differ, k when shared
    assert shared["participation_ratio_residual"]["value"] == pytest.approx(k, rel=0.1)
    assert separate["participation_ratio_residual"]["value"] == pytest.approx(2 * k, rel=0.1)


def test_the_values_are_those_measure_prints_on_the_first_captions(bench):
    eset = _planted(True, n=120, seed=3)
    table = bench.pair_bootstrap(eset, resamples=5)["figures"]
    result = measure(eset.first_captions(), bootstrap=0)
    for key in bench.FIGURES:
        assert table[key]["value"] == pytest.approx(result[key], rel=1e-6), key


def test_the_table_prints_each_figure_with_its_interval(bench):
    tables = {"a": bench.pair_bootstrap(_planted(True, n=80), resamples=5)}
    text = bench.format_table(tables)
    assert text.splitlines()[0] == "| figure | a (80 pairs) |"
    assert all(key in text for key in bench.FIGURES) and text.count("[") == len(bench.FIGURES)
