"""Planted-gap data with answers that can be derived by hand.

``text = normalize(z)`` and ``image = normalize(text + shift · u)`` for a unit vector
``u`` (a coordinate axis). In high dimension ``text · u ≈ 0``, so the centroid gap is
≈ ``shift / sqrt(1 + shift²)``, the matched cosine ≈ ``1 / sqrt(1 + shift²)`` and the
gap lies along ``u``.
"""

from __future__ import annotations

import numpy as np

from gaptools.io import EmbeddingSet
from gaptools.metrics import l2_normalize


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

    Examples
    --------
    >>> import gaptools
    >>> eset = gaptools.planted_gap(1000, 64, shift=0.5)
    >>> round(gaptools.measure(eset, bootstrap=0)["centroid_gap"], 2)  # about 0.5 / sqrt(1 + 0.5**2)
    0.44
    """
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
