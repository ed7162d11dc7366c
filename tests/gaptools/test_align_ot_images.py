"""``ot-plan-images``: the paper's "we multiply them by T*" read as the image matrix times the plan, T*ᵀ·X_img.

Known answers. For texts that are the images shifted by a constant, ``y_i = x_i + c``, the
identity is the optimal plan on the L2 cost (Σ‖x_i − x_σ(i) − c‖ ≥ ‖Σ(x_i − x_σ(i) − c)‖ = n‖c‖,
reached by σ = id), so when the pairs are right every image keeps its own embedding (× 1/n
as written). When caption i is in truth the copy of image π(i), OT sends image π(i) to
caption i and image i becomes x_{π(i)}: an image is described by another's embedding.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaptools.align import METHODS, make_aligner
from gaptools.errors import InputError


def cloud(n=12, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x, (x + 2.0 * np.eye(dim, dtype=np.float32)[0]).astype(np.float32), rng


def test_right_pairs_leave_every_image_where_it_is():
    x, y, _ = cloud()
    literal = make_aligner("ot-plan-images", {"renormalize": False}).fit(x, y)  # row i a pair
    np.testing.assert_allclose(literal.transform(x), x / len(x), rtol=1e-5, atol=1e-7)
    mass = make_aligner("ot-plan-images", {"renormalize": False, "rescale": "barycentric"}).fit(x, y)
    np.testing.assert_allclose(mass.transform(x), x, atol=1e-6)  # nothing moves towards the texts
    np.testing.assert_allclose(mass.inverse_transform(y), y, atol=1e-6)


def test_wrong_pairs_swap_the_images():
    x, y, rng = cloud()
    pi = rng.permutation(len(x))
    captions = y[pi]  # caption i is the shifted copy of image pi[i], but is paired with image i
    aligner = make_aligner("ot-plan-images", {"renormalize": False, "rescale": "barycentric"}).fit(x, captions)
    np.testing.assert_allclose(aligner.transform(x), x[pi], atol=1e-6)
    # texts: caption j becomes the caption OT assigns to image j, the copy of image j itself
    np.testing.assert_allclose(aligner.inverse_transform(captions), y, atol=1e-6)
    literal = make_aligner("ot-plan-images", {"renormalize": False}).fit(x, captions)
    np.testing.assert_allclose(literal.transform(x), x[pi] / len(x), rtol=1e-5, atol=1e-7)


def test_one_caption_per_image_the_first_listed():
    x, y, rng = cloud()
    n = len(x)
    noise = rng.standard_normal(y.shape).astype(np.float32)
    texts = np.empty((2 * n, x.shape[1]), dtype=np.float32)
    texts[0::2], texts[1::2] = y, noise  # caption 2i: the shifted copy, 2i + 1: noise
    pairs = np.stack([np.repeat(np.arange(n), 2), np.arange(2 * n)], axis=1)[::-1].copy()  # listed in reverse
    aligner = make_aligner("ot-plan-images", {"renormalize": False, "rescale": "barycentric"}).fit(x, texts, pairs)
    np.testing.assert_allclose(aligner.fit_txt_, texts[1::2])  # the first *listed* pair of image i is (i, 2i + 1)
    reverse = make_aligner("ot-plan-images", {"renormalize": False, "rescale": "barycentric"})
    reverse.fit(x, texts, pairs[::-1].copy())
    np.testing.assert_allclose(reverse.fit_txt_, y)
    np.testing.assert_allclose(reverse.transform(x), x, atol=1e-6)


def test_out_of_sample_a_point_takes_its_neighbours_displacement():
    x, y, rng = cloud()
    pi = rng.permutation(len(x))
    aligner = make_aligner("ot-plan-images", {"renormalize": False, "rescale": "barycentric"}).fit(x, y[pi])
    eps = np.float32(1e-3) * rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(aligner.transform(x + eps), x[pi] + eps, atol=1e-5)


def test_max_fit_points_counts_pairs_and_is_seeded():
    x, y, _ = cloud(n=40)
    a = make_aligner("ot-plan-images", {"max_fit_points": 10, "random_state": 3}).fit(x, y)
    b = make_aligner("ot-plan-images", {"max_fit_points": 10, "random_state": 3}).fit(x, y)
    assert a.fit_img_.shape == (10, 6) and a.fit_txt_.shape == (10, 6)
    rows = [int(np.flatnonzero((x == p).all(axis=1))[0]) for p in a.fit_img_]
    np.testing.assert_array_equal(a.fit_txt_, y[rows])  # the fitted rows stay pairs
    np.testing.assert_array_equal(a.fit_img_, b.fit_img_)


def test_registered_beside_the_other_reading():
    cls = METHODS["ot-plan-images"]
    assert cls.supervised and not cls.closes_gap  # the image cloud is only re-indexed
    assert list(METHODS).index("ot-plan-images") == list(METHODS).index("ot-paper") + 1
    x, y, _ = cloud()
    with pytest.raises(InputError, match="needs true pairs"):
        make_aligner("ot-plan-images").fit(x, np.concatenate([y, y]))
    with pytest.raises(InputError, match="rescale"):
        make_aligner("ot-plan-images", {"rescale": "raw"}).fit(x, y)
