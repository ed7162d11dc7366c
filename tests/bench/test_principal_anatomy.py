"""bench/principal_anatomy.py: what each principal direction encodes, on planted data and on the shipped demo."""

import numpy as np
import pytest

import gaptools
from gaptools import measure


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("principal_anatomy")


def test_a_planted_factor_explains_its_own_direction_and_nothing_else(bench):
    rng = np.random.default_rng(0)
    n, d = 600, 16
    strong, weak = rng.integers(0, 4, n), rng.integers(0, 3, n)  # two independent factors
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    embeddings = (np.array([-3.0, -1.0, 1.0, 3.0])[strong, None] * basis[:, 0]
                  + np.array([-1.0, 0.0, 1.0])[weak, None] * basis[:, 1]
                  + 0.1 * rng.standard_normal((n, d)))
    groups = {"strong": bench._one_hot(list(strong)), "weak": bench._one_hot(list(weak)),
              "noise": rng.standard_normal((n, 5))}
    directions, shares, explained = bench.anatomy(embeddings, groups, k=3)
    assert abs(abs(directions[:, 0] @ basis[:, 0]) - 1) < 1e-3 and abs(abs(directions[:, 1] @ basis[:, 1]) - 1) < 1e-3
    assert explained["strong"][0] > 0.99 and explained["weak"][1] > 0.97  # each factor explains its own direction
    assert abs(explained["weak"][0]) < 0.02 and abs(explained["strong"][1]) < 0.02  # and not the other's
    assert np.all(np.abs(explained["noise"]) < 0.02)  # adjusted R²: unrelated columns explain about nothing
    assert explained["strong"][2] < 0.05  # the third direction is noise
    assert shares[0] > shares[1] > shares[2] and shares.sum() < 1


def test_adjusted_r2_is_one_for_an_exact_fit_and_near_zero_for_noise(bench):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 3))
    assert bench.adjusted_r2(x @ np.array([1.0, -2.0, 0.5]) + 4.0, x) == pytest.approx(1.0)
    noise = [bench.adjusted_r2(rng.standard_normal(500), x) for _ in range(200)]
    assert abs(np.mean(noise)) < 0.002 and np.max(noise) < 0.05  # unbiased under the null; plain R² would be 0.006


def test_the_shipped_demo_texts_top_directions_are_what_captions_name_and_the_agreement_is_measures(bench):
    eset = gaptools.load_set(gaptools.demo.SHAPES_TEST)
    scenes = gaptools.demo.world_scenes(eset)
    result = bench.run(eset, {s["filename"]: s for s in scenes})
    _, text = result["text"]
    _, image = result["image"]
    assert np.all(text["named content"] > 0.5) and np.all(text["look"] < 0.1)  # the texts carry what they name
    assert np.max(image["look"]) > 0.3  # the images also carry the look no measured caption names often
    one = eset.first_captions()
    agreement = measure(gaptools.EmbeddingSet(image=one.image[one.text_image], text=one.text,
                                              text_image=np.arange(one.n_text)), bootstrap=0)["subspace_agreement"]
    assert result["cosines"].mean() == pytest.approx(agreement, abs=1e-6)
    assert "| text 10 |" in bench.format_table(result)
