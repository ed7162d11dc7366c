"""Fit every aligner on one set, apply it to another, and measure the gap before and after.

The result (``kind`` ``gaptools.align.compare``, version 1) is what reports are built from::

    {"kind", "version", "train", "test", "direction", "settings": {...},
     "baseline": {metric: value},
     "methods": {name: {metric: value, ..., "fit_seconds", "apply_seconds", "params": {...}}}}

Metrics come from :func:`gaptools.measure.measure` on the aligned test set (every scalar
metric, ``None`` where undefined); with ``bootstrap > 0`` (the default, :data:`DEFAULT_BOOTSTRAP`)
each entry also carries ``"ci95": {metric: [lo, hi]}``. ``"shared_images"`` counts the test
images that are also fit images (``{"by_id", "by_rows", "n"}``, see :func:`shared_images`): a
comparison with any is measured in sample. :func:`compare` returns the document wrapped in a
:class:`CompareResult`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping

import numpy as np

from gaptools.align.registry import METHODS, aligner_class, make_aligner, params_for
from gaptools.align.sets import apply_to_set, set_pairs
from gaptools.errors import GapToolsWarning, InputError
from gaptools.io import EmbeddingSet
from gaptools.measure import measure

RESULT_KIND = "gaptools.align.compare"
RESULT_VERSION = 1
#: Bootstrap resamples of the intervals by default: measure's own default (adds about a second on
#: the shipped demo, whose comparison of every method takes about ten on 2 CPU cores).
DEFAULT_BOOTSTRAP = measure.__kwdefaults__["bootstrap"]
#: How a result names the uncorrected test set among the methods.
BASELINE = "none"

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
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    max_points: int = 2000,
    max_gallery: int = 5000,
    progress=None,
) -> "CompareResult":
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
    bootstrap : int
        Bootstrap resamples of the 95% intervals (0: no intervals, and no method can be
        called best).
    max_points, max_gallery
        Passed to :func:`~gaptools.measure.measure`.
    progress : callable, optional
        Called with each method's name before it runs.

    Returns
    -------
    CompareResult
        The result document (see the module docstring), read like a dict.

    Warns
    -----
    UserWarning
        When ``train`` and ``test`` share images (by id or by identical image rows): the
        gap "after" is then measured on images the methods were fitted on.

    Examples
    --------
    >>> import gaptools
    >>> fit, test = gaptools.planted_gap(800, 32).split(test=0.5, seed=0)
    >>> result = gaptools.compare_aligners(fit, test, methods=["mean", "coral"])
    >>> round(result["baseline"]["centroid_gap"], 2), round(result["methods"]["mean"]["centroid_gap"], 2)
    (0.44, 0.01)
    >>> result.to_frame().loc[("mean", "centroid_gap"), ["value", "ci95_low", "ci95_high"]].round(3).tolist()
    [0.008, 0.006, 0.011]
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
    shared = shared_images(train, test)
    if shared["n"]:
        warnings.warn(overlap_warning(shared, train.source, test.source), GapToolsWarning, stacklevel=2)

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
    return CompareResult({
        "kind": RESULT_KIND,
        "version": RESULT_VERSION,
        "train": train.source,
        "test": test.source,
        "direction": direction,
        "settings": {"bootstrap": bootstrap, "seed": seed, "max_points": max_points, "max_gallery": max_gallery,
                     "n_train_image": train.n_image, "n_train_text": train.n_text,
                     "n_test_image": test.n_image, "n_test_text": test.n_text, "dim": test.dim},
        "shared_images": shared,
        "baseline": measured(test),
        "methods": out_methods,
    })


def shared_images(train: EmbeddingSet, test: EmbeddingSet) -> dict:
    """How many of ``test``'s images are also in ``train``: by id, and by identical image rows.

    Returns
    -------
    dict
        ``{"by_id": int or None (None unless both sets have ids), "by_rows": int, "n": int}``;
        ``n`` counts the test images shared either way.
    """
    by_id = None
    shared = np.zeros(test.n_image, dtype=bool)
    if train.image_id is not None and test.image_id is not None:
        same_id = np.isin(test.image_id.astype(str), train.image_id.astype(str))
        by_id, shared = int(same_id.sum()), shared | same_id
    same_row = np.isin(_row_keys(test.image), _row_keys(train.image.astype(test.image.dtype, copy=False)))
    return {"by_id": by_id, "by_rows": int(same_row.sum()), "n": int((shared | same_row).sum())}


def _row_keys(x: np.ndarray) -> np.ndarray:
    """Each row of ``x`` (N, D) as one opaque value, equal exactly where the rows are (bit for bit)."""
    x = np.ascontiguousarray(x)
    return x.view(np.dtype((np.void, x.shape[1] * x.itemsize))).ravel()


def overlap_warning(shared: dict, train: str, test: str) -> str:
    """The one-line warning for a comparison whose test images were also fitted on."""
    ways = [f"{shared['by_id']} by id" if shared["by_id"] else "",
            f"{shared['by_rows']} by identical rows" if shared["by_rows"] else ""]
    return (f"the fit set {train} and the test set {test} share {shared['n']} image(s) "
            f"({', '.join(w for w in ways if w)}): the gap after alignment is measured in sample; "
            "split the data first (gaptools split)")


class CompareResult(Mapping):
    """An aligner comparison: read like its JSON document, converts to a pandas DataFrame.

    What :func:`compare` (``gaptools.compare_aligners``) returns: ``result["baseline"]``,
    ``result["methods"][name]`` and the other keys of the module docstring's document,
    :meth:`to_dict` the document itself (what ``align compare --json`` writes) and
    :meth:`to_frame` every method's scalar metrics with their intervals.

    Parameters
    ----------
    document : dict
        A ``gaptools.align.compare`` document.

    Examples
    --------
    >>> import gaptools
    >>> fit, test = gaptools.planted_gap(400, 16).split(test=0.5, seed=0)
    >>> result = gaptools.compare_aligners(fit, test, methods=["mean", "procrustes"], bootstrap=200)
    >>> print(result)
    gaptools.align.compare: fit on synthetic (fit part: 200 of 400 images), measured on synthetic (test part: ...
      200 bootstrap resamples, seed 0
      method            gap   pair cos       sep.    R@1 i→t    R@1 t→i         W2
      none           0.4298     0.8975       0.83          1          1     0.4527
      mean          0.01248     0.9989      0.355          1          1    0.04665
      procrustes    0.01274     0.9989       0.35          1          1    0.04653
    >>> result.to_frame().xs("centroid_gap", level="metric").round(3)
                value  ci95_low  ci95_high
    method
    none        0.430     0.421      0.439
    mean        0.012     0.010      0.016
    procrustes  0.013     0.010      0.017
    """

    def __init__(self, document: dict) -> None:
        self.document = document

    def __getitem__(self, key: str):
        return self.document[key]

    def __iter__(self):
        return iter(self.document)

    def __len__(self) -> int:
        return len(self.document)

    def to_dict(self) -> dict:
        """The JSON-ready document."""
        return self.document

    def rows(self) -> dict[str, dict]:
        """Method name -> its metrics, the uncorrected test set first (as :data:`BASELINE`)."""
        return {BASELINE: self.document["baseline"], **self.document["methods"]}

    def to_frame(self):
        """Every method's scalar metrics as a long pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            Indexed by (``method``, ``metric``), the uncorrected test set first as ``"none"``,
            with columns ``value``, ``ci95_low`` and ``ci95_high`` (NaN without an interval).
            ``frame["value"].unstack()`` is the methods-by-metrics table; timings and
            parameters stay in ``result["methods"][name]``.
        """
        import pandas as pd

        records = []
        for method, metrics in self.rows().items():
            ci = metrics.get("ci95") or {}
            for key, value in metrics.items():
                if key in ("ci95", "params", "fit_seconds", "apply_seconds"):
                    continue
                lo, hi = ci.get(key) or (None, None)
                records.append((method, key, value, lo, hi))
        frame = pd.DataFrame.from_records(records, columns=["method", "metric", "value", "ci95_low", "ci95_high"])
        frame = frame.astype({"value": float, "ci95_low": float, "ci95_high": float})
        return frame.set_index(["method", "metric"])

    def __str__(self) -> str:
        doc = self.document
        settings = doc["settings"]
        lines = [f"gaptools.align.compare: fit on {doc['train']}, measured on {doc['test']} ({doc['direction']})",
                 f"  {settings['bootstrap']:,} bootstrap resamples, seed {settings['seed']}"]
        if (doc.get("shared_images") or {}).get("n"):
            lines.append(f"  warning: {overlap_warning(doc['shared_images'], doc['train'], doc['test'])}")
        width = max(len(name) for name in self.rows())
        lines.append(f"  {'method':<{width}}  " + "  ".join(f"{label:>9}" for label in HEADLINE_METRICS.values()))
        for name, metrics in self.rows().items():
            cells = ["—" if metrics.get(k) is None else f"{metrics[k]:.4g}" for k in HEADLINE_METRICS]
            lines.append(f"  {name:<{width}}  " + "  ".join(f"{c:>9}" for c in cells))
        return "\n".join(lines)

    __repr__ = __str__


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
