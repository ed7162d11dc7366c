"""Planted-gap data with answers that can be derived by hand.

``text = normalize(z)`` and ``image = normalize(text + shift · u)`` for a unit vector
``u`` (a coordinate axis). In high dimension ``text · u ≈ 0``, so the centroid gap is
≈ ``shift / sqrt(1 + shift²)``, the matched cosine ≈ ``1 / sqrt(1 + shift²)`` and the
gap lies along ``u``.
"""

from __future__ import annotations

import numpy as np

from gaptools.io import EmbeddingSet
from gaptools.limits import check_bytes, float_matrix_bytes
from gaptools.metrics import l2_normalize
from gaptools.validation import check_integer, check_number, check_seed


def planted_gap(
    n_images: int = 1000,
    dim: int = 64,
    *,
    shift: float = 0.5,
    gap_dim: int = 0,
    captions_per_image: int = 1,
    caption_noise: float = 0.3,
    seed: int = 0,
) -> EmbeddingSet:
    """A paired set with a known gap along coordinate ``gap_dim``.

    Parameters
    ----------
    n_images, dim : int
        Number of images and the embedding dimension D.
    shift : float
        Size of the planted offset before normalisation.
    gap_dim : int
        Coordinate the gap points along.
    captions_per_image : int
        Captions per image; each is the image's content plus Gaussian noise of
        scale ``caption_noise`` (relative to unit norm) when there is more than one.
    caption_noise : float
    seed : int

    Returns
    -------
    EmbeddingSet
        ``image`` (n_images, D), ``text`` (n_images·captions_per_image, D), unit norm.

    Raises
    ------
    InputError
        An argument out of range (counts >= 1, ``gap_dim`` in [0, dim), ``seed`` in
        [0, 2**32 - 1], finite ``shift``, ``caption_noise`` >= 0), or a set whose arrays would
        not fit the memory budget (:mod:`gaptools.limits`), checked before allocating.

    Examples
    --------
    >>> import gaptools
    >>> eset = gaptools.planted_gap(1000, 64, shift=0.5)
    >>> round(gaptools.measure(eset, bootstrap=0)["centroid_gap"], 2)  # about 0.5 / sqrt(1 + 0.5**2)
    0.44
    """
    _check_arguments(n_images, dim, shift=shift, gap_dim=gap_dim, captions_per_image=captions_per_image,
                     caption_noise=caption_noise, seed=seed)
    rng = np.random.default_rng(seed)
    content = l2_normalize(rng.standard_normal((n_images, dim)))
    text_image = np.repeat(np.arange(n_images), captions_per_image)
    text = content[text_image]
    if captions_per_image > 1:
        text = text + caption_noise * rng.standard_normal(text.shape) / np.sqrt(dim)
    u = np.zeros(dim, dtype=np.float32)
    u[gap_dim] = 1.0
    image = l2_normalize(content + shift * u)
    meta = {"dataset": "synthetic planted gap", "shift": shift, "gap_dim": gap_dim, "seed": seed,
            "normalized": True}
    return EmbeddingSet(image=image, text=l2_normalize(text), text_image=text_image, meta=meta,
                        source="synthetic")


def _check_arguments(n_images, dim, *, shift, gap_dim, captions_per_image, caption_noise, seed) -> None:
    """Refuse bad arguments of :func:`planted_gap`, and a set too large for the memory budget, before allocating."""
    check_integer(n_images, "planted_gap: n_images", minimum=1)
    check_integer(dim, "planted_gap: dim", minimum=1)
    check_integer(captions_per_image, "planted_gap: captions_per_image", minimum=1)
    check_integer(gap_dim, "planted_gap: gap_dim", minimum=0, maximum=dim - 1)
    check_number(shift, "planted_gap: shift")
    check_number(caption_noise, "planted_gap: caption_noise", minimum=0)
    check_seed(seed, "planted_gap: seed")
    rows = n_images * (1 + captions_per_image)
    # float64 content, captions (with their noise draw) and images at once, then their float32 copies
    check_bytes(3 * float_matrix_bytes(rows, dim), what=f"{n_images:,} images and {n_images * captions_per_image:,} "
                f"captions of dimension {dim:,}", source="planted_gap")
