"""Aligners on embedding sets: fit on one set's pairs, apply to another set's rows."""

from __future__ import annotations

import os

import numpy as np

from gaptools.align.base import Aligner
from gaptools.align.persist import SavedAligner
from gaptools.align.registry import make_aligner
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, load_set


def set_pairs(eset: EmbeddingSet) -> np.ndarray:
    """True pairs of a set as (image row, text row): caption j with image ``text_image[j]``.

    Returns
    -------
    ndarray, shape (N_txt, 2), int64
    """
    return np.stack([eset.text_image, np.arange(eset.n_text)], axis=1)


def train_summary(eset: EmbeddingSet) -> dict:
    """What a saved aligner records about its training set."""
    return {"source": eset.source, "meta": eset.meta, "n_image": eset.n_image, "n_text": eset.n_text}


def as_set(data: EmbeddingSet | str | os.PathLike, who: str) -> EmbeddingSet:
    """``data`` itself if it is a set, the set a path names (:func:`gaptools.load_set`), else InputError.

    Parameters
    ----------
    data : EmbeddingSet or path-like
    who : str
        The function that was given ``data``, for the message.
    """
    if isinstance(data, EmbeddingSet):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_set(data)
    raise InputError(f"{who}: expected an EmbeddingSet or the path of a set file (.npz, or a (2, N, D) .npy), "
                     f"got {type(data).__name__}",
                     hint="make a set of paired arrays with gaptools.from_pairs(image, text)")


def fit_on_set(method: str, eset: EmbeddingSet | str | os.PathLike, params: dict | None = None) -> Aligner:
    """Fit aligner ``method`` on all images and captions of ``eset`` (with its pairs).

    Parameters
    ----------
    method : str
        A registered name (``gaptools.ALIGNERS``).
    eset : EmbeddingSet or path-like
        Images and captions (or the set file to read them from); supervised methods use its
        true pairs.
    params : dict, optional
        Hyper-parameters of the method.

    Returns
    -------
    Aligner
        Fitted.

    Raises
    ------
    InputError
        ``eset`` is neither a set nor a readable set file, the set lacks one modality, or
        the method or a parameter is unknown.

    Examples
    --------
    >>> import gaptools
    >>> aligner = gaptools.fit_on_set("procrustes", gaptools.planted_gap(400, 32))
    >>> aligner.dim_
    32
    """
    aligner = make_aligner(method, params)
    eset = as_set(eset, "fit_on_set")
    if not eset.has_pairs:
        raise InputError(
            f"{eset.source}: fitting an aligner needs both image and text embeddings, "
            f"got {eset.n_image} images and {eset.n_text} captions"
        )
    return aligner.fit(eset.image, eset.text, set_pairs(eset))


def apply_to_set(aligner: Aligner | SavedAligner, eset: EmbeddingSet | str | os.PathLike, *, direction: str,
                 label: str = "<memory>") -> EmbeddingSet:
    """``eset`` with its rows aligned (one-modality sets too).

    Parameters
    ----------
    aligner : Aligner or SavedAligner
        Fitted; or what :func:`gaptools.load_aligner` returns (its file is the default ``label``).
    eset : EmbeddingSet or path-like
        The set, or the set file to read it from.
    direction : {"image-to-text", "text-to-image"}
    label : str
        Where the aligner came from (a file), for messages and meta.

    Returns
    -------
    EmbeddingSet
        Same captions, ids and grouping; ``meta["aligned"]`` records method, params,
        direction and aligner; ``meta["normalized"]`` follows ``renormalize``.

    Examples
    --------
    >>> import gaptools
    >>> train, test = gaptools.planted_gap(400, 32, seed=0), gaptools.planted_gap(400, 32, seed=1)
    >>> aligner = gaptools.fit_on_set("mean", train)
    >>> aligned = gaptools.apply_to_set(aligner, test, direction="image-to-text")
    >>> [round(gaptools.measure(s, bootstrap=0)["centroid_gap"], 2) for s in (test, aligned)]
    [0.44, 0.01]

    Warns
    -----
    GapToolsWarning
        A saved aligner whose fit set named another embedding model than ``eset`` names
        (the dimensions match; the spaces need not).

    Raises
    ------
    InputError
        ``aligner`` is not an aligner (a method's name, say: fit one first), ``eset`` is
        neither a set nor a readable set file, or their dimensions differ.
    """
    saved = aligner if isinstance(aligner, SavedAligner) else None
    if saved is not None:
        label = saved.path if label == "<memory>" else label
        aligner = saved.aligner
    if not isinstance(aligner, Aligner):
        raise InputError(f"apply_to_set: expected a fitted aligner, got {type(aligner).__name__} {aligner!r:.60}",
                         hint="fit one with gaptools.fit_on_set(method, fit_set), or read one with gaptools.load_aligner")
    eset = as_set(eset, "apply_to_set")
    if saved is not None:
        saved.warn_model_mismatch(eset.meta)
    aligner.check_fitted()
    if eset.dim != aligner.dim_:
        raise InputError(
            f"{label}: the aligner was fitted on {aligner.dim_}-dimensional embeddings "
            f"but {eset.source} has {eset.dim}"
        )
    image, text = aligner.transform_modalities(eset.image, eset.text, direction=direction)
    meta = dict(eset.meta)
    meta["aligned"] = {"method": aligner.name, "params": aligner.get_params(), "direction": direction,
                       "aligner": label}
    if aligner.renormalize:
        meta["normalized"] = True
    return eset.replace(image=image, text=text, meta=meta)
