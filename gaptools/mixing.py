"""Mixup between true image/caption pairs (the modality-gap analysis of the seed paper, Fig. 3).

The paper (§5): "given an image representation x_i, text representation x_t, and mixup ratio λ,
the interpolated representation is λ x_t + (1−λ) x_i". ``mixup(X_img, X_txt, λ,
renormalize=False)`` is exactly that (for unit-norm pairs of cosine c its norm is
sqrt(λ² + (1−λ)² + 2λ(1−λ)c): ≈ 0.8 at λ = 0.5 when c ≈ 0.3); ``renormalize=True`` (the
default here, kept for ``align apply`` and ``measure``, whose embeddings live on the sphere)
scales each row back to unit norm: ``normalize(λ·text + (1 − λ)·image)``, our other reading.
λ is the text share, so λ = 0 gives the image and λ = 1 the caption. Walking λ from 0 to 1
crosses the gap along each pair's own chord.
"""

from __future__ import annotations

import numpy as np

from gaptools.errors import InputError
from gaptools.io import EmbeddingSet
from gaptools.metrics import l2_normalize
from gaptools.validation import check_embeddings, check_seed


def check_lambda(lam: float) -> float:
    """Return ``lam`` as a float if it is a number in [0, 1], else raise InputError."""
    try:
        value = float(lam)
    except (TypeError, ValueError):
        raise InputError(f"mixup: lambda must be a number in [0, 1], got {lam!r}") from None
    if not 0.0 <= value <= 1.0:
        raise InputError(f"mixup: lambda must be in [0, 1] (the text share), got {value}")
    return value


def mixup(X_img: np.ndarray, X_txt: np.ndarray, lam: float, *, renormalize: bool = True) -> np.ndarray:
    """Interpolate true pairs, ``λ x_t + (1−λ) x_i``, and (by default) renormalise.

    Parameters
    ----------
    X_img : ndarray, shape (N, D)
    X_txt : ndarray, shape (N, D)
        Row i is the caption of image row i.
    lam : float in [0, 1]
        The text share.
    renormalize : bool
        Scale each row to unit norm (our reading); False: the paper's formula as written.

    Returns
    -------
    ndarray, shape (N, D), float32 (unit rows when ``renormalize``)

    Examples
    --------
    >>> import numpy as np, gaptools
    >>> image, text = np.eye(3)[:2], np.eye(3)[1:]
    >>> gaptools.mixup(image, text, 0.5).round(3)
    array([[0.707, 0.707, 0.   ],
           [0.   , 0.707, 0.707]], dtype=float32)
    >>> gaptools.mixup(image, text, 0.5, renormalize=False)
    array([[0.5, 0.5, 0. ],
           [0. , 0.5, 0.5]], dtype=float32)
    """
    lam = check_lambda(lam)
    X_img = check_embeddings(X_img, name="X_img", source="mixup", allow_empty=True)
    X_txt = check_embeddings(X_txt, name="X_txt", source="mixup", allow_empty=True)
    if X_img.shape != X_txt.shape:
        raise InputError(f"mixup: X_img {X_img.shape} and X_txt {X_txt.shape} must have the same shape (row i a pair)")
    mixed = lam * X_txt + (1.0 - lam) * X_img
    zero = ~mixed.any(axis=1)
    if zero.any():
        raise InputError(f"mixup: at lambda {lam}, image and caption cancel out in row {np.flatnonzero(zero)[0]}")
    return l2_normalize(mixed) if renormalize else mixed.astype(np.float32)


def mixup_set(eset: EmbeddingSet, lam: float, *, seed: int = 0) -> EmbeddingSet:
    """``eset`` with each image replaced by its mixup with one of its captions.

    Each image's caption is drawn uniformly among its own captions with
    ``numpy.random.default_rng(seed)``; images without a caption stay as they are.
    Texts are unchanged. ``meta["mixup"]`` records lambda, seed and, per image, the
    caption row used (``caption_of_image``, −1 for none).

    Parameters
    ----------
    eset : EmbeddingSet
        Needs images and captions.
    lam : float in [0, 1]
        The text share.
    seed : int
        Seeds the choice of each image's caption.

    Returns
    -------
    EmbeddingSet

    Examples
    --------
    >>> import gaptools
    >>> eset = gaptools.planted_gap(100, 16)
    >>> mixed = gaptools.mixup_set(eset, 1.0)  # lambda = 1: each image becomes one of its captions
    >>> round(gaptools.measure(mixed, bootstrap=0)["centroid_gap"], 3)
    0.0
    """
    lam = check_lambda(lam)
    check_seed(seed, "mixup_set: seed")
    if not eset.has_pairs:
        raise InputError(f"{eset.source}: mixup needs both image and text embeddings")
    caption_of_image = eset.one_caption_per_image(np.random.default_rng(seed))
    has = caption_of_image >= 0
    image = eset.image.copy()
    image[has] = mixup(eset.image[has], eset.text[caption_of_image[has]], lam)
    meta = dict(eset.meta)
    meta["mixup"] = {"lambda": lam, "seed": seed, "caption_of_image": caption_of_image.tolist(),
                     "rule": "image = normalize(lambda*caption + (1-lambda)*image), one caption per image"}
    return eset.replace(image=image, meta=meta)
