"""Fit every aligner on one set, apply it to another, and measure the gap before and after.

The result (``kind`` ``gaptools.align.compare``, version 1) is what reports are built from::

    {"kind", "version", "train", "test", "direction", "settings": {...},
     "baseline": {metric: value},
     "methods": {name: {metric: value, ..., "fit_seconds", "apply_seconds", "params": {...}}}}

Metrics come from :func:`gaptools.measure.measure` on the aligned test set (every scalar
metric, ``None`` where undefined); with ``bootstrap > 0`` each entry also carries
``"ci95": {metric: [lo, hi]}``.
"""

from __future__ import annotations

import math
import time

from gaptools.align.registry import METHODS, aligner_class, make_aligner, params_for
from gaptools.align.sets import apply_to_set, set_pairs
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet
from gaptools.measure import measure

RESULT_KIND = "gaptools.align.compare"
RESULT_VERSION = 1

#: Metrics the compare table shows, with short column labels (the JSON holds every
#: scalar metric of `measure`).
HEADLINE_METRICS = {
    "centroid_gap": "gap",
    "matched_cosine": "pair cos",
    "linear_separability": "sep.",
    "recall@1_i2t": "R@1 i→t",
    "recall@1_t2i": "R@1 t→i",
    "wasserstein2": "W2",
}


def compare(
    train: EmbeddingSet,
    test: EmbeddingSet,
    *,
    methods: list[str] | None = None,
    direction: str = "image-to-text",
    params: dict | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    max_points: int = 2000,
    max_gallery: int = 5000,
    progress=None,
) -> dict:
    """Fit each method on ``train``, apply it to ``test`` and measure ``test`` before and after.

    Parameters
    ----------
    train, test : EmbeddingSet
        Both need images and captions, in the same dimension.
    methods : list of str, optional
        Registered names (default: all, in registry order).
    direction : {"image-to-text", "text-to-image"}
    params : dict, optional
        Hyper-parameters given to every method that takes them; each must be taken by
        at least one of ``methods``.
    seed : int
        ``random_state`` (or ``seed``) of the methods that take one (unless ``params`` sets it) and
        the seed of :func:`~gaptools.measure.measure`.
    bootstrap, max_points, max_gallery
        Passed to :func:`~gaptools.measure.measure`.
    progress : callable, optional
        Called with each method's name before it runs.

    Returns
    -------
    dict
        See the module docstring.

    Examples
    --------
    >>> import gaptools
    >>> train, test = gaptools.planted_gap(400, 32, seed=0), gaptools.planted_gap(400, 32, seed=1)
    >>> doc = gaptools.compare_aligners(train, test, methods=["mean", "coral"])
    >>> round(doc["baseline"]["centroid_gap"], 2), round(doc["methods"]["mean"]["centroid_gap"], 2)
    (0.44, 0.01)
    """
    methods = list(methods or METHODS)
    for name in methods:
        aligner_class(name)
    params = dict(params or {})
    unused = [k for k in params if not any(k in aligner_class(m).param_names() for m in methods)]
    if unused:
        raise InputError(f"no selected method takes parameter(s) {', '.join(unused)}",
                         hint=f"methods: {', '.join(methods)}")
    for label, eset in (("train", train), ("test", test)):
        if not eset.has_pairs:
            raise InputError(f"{eset.source}: the {label} set needs both image and text embeddings")
    if train.dim != test.dim:
        raise InputError(f"{train.source} has {train.dim} dimensions but {test.source} has {test.dim}")

    def measured(eset):
        result = measure(eset, bootstrap=bootstrap, seed=seed, max_points=max_points, max_gallery=max_gallery)
        return _flatten(result["metrics"], bootstrap > 0)

    out_methods = {}
    for name in methods:
        if progress is not None:
            progress(name)
        aligner = make_aligner(name, params_for(name, {"random_state": seed, "seed": seed, **params}))
        start = time.perf_counter()
        aligner.fit(train.image, train.text, set_pairs(train))
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        aligned = apply_to_set(aligner, test, direction=direction, label=name)
        apply_seconds = time.perf_counter() - start
        out_methods[name] = {**measured(aligned), "fit_seconds": fit_seconds, "apply_seconds": apply_seconds,
                             "params": aligner.get_params()}
    return {
        "kind": RESULT_KIND,
        "version": RESULT_VERSION,
        "train": train.source,
        "test": test.source,
        "direction": direction,
        "settings": {"bootstrap": bootstrap, "seed": seed, "max_points": max_points, "max_gallery": max_gallery,
                     "n_train_image": train.n_image, "n_train_text": train.n_text,
                     "n_test_image": test.n_image, "n_test_text": test.n_text, "dim": test.dim},
        "baseline": measured(test),
        "methods": out_methods,
    }


def _flatten(metrics: dict, with_ci: bool) -> dict:
    """``{metric: value}`` for the scalar metrics (non-finite → None), plus ``ci95`` if asked."""
    out, ci = {}, {}
    for key, entry in metrics.items():
        value = entry["value"]
        if isinstance(value, list):
            continue
        out[key] = value if value is None or math.isfinite(value) else None
        if with_ci and entry.get("ci95"):
            ci[key] = entry["ci95"]
    if with_ci:
        out["ci95"] = ci
    return out
