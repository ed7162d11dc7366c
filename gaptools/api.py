"""The one entry point of the Python API that is not a re-export: :func:`measure` for a notebook.

Everything else :mod:`gaptools` offers at its top level is the library function itself
(``gaptools.load_set`` is :func:`gaptools.io.load_set`, ...); see ``gaptools.__all__``.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np

from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, from_pairs, load_set
from gaptools.measure import MeasureResult, check_options
from gaptools.measure import measure as measure_set

_CHECKED = tuple(inspect.signature(check_options).parameters)


def measure(data: EmbeddingSet | np.ndarray | str | os.PathLike, text: np.ndarray | None = None,
            **options) -> MeasureResult:
    """Every gap metric of an embedding set, with 95% cluster-bootstrap intervals.

    The same computation as ``gaptools measure`` on the command line.

    Parameters
    ----------
    data : EmbeddingSet, ndarray of shape (N, D), or path-like
        An embedding set; or image embeddings, with ``text`` (row i of each is a pair); or
        a file :func:`gaptools.load_set` reads (``.npz`` set, ``(2, N, D)`` ``.npy`` stack);
        or a folder of shards, streamed on Dask (:func:`gaptools.measure_folder`, the
        ``scale`` extra).
    text : ndarray of shape (N, D), optional
        Text embeddings, when ``data`` is an array of image embeddings.
    **options
        Keyword options of :func:`gaptools.measure.measure`: ``normalize`` (True),
        ``bootstrap`` (1000 resamples; 0 for none), ``seed`` (0), ``max_points`` (2000),
        ``max_gallery`` (5000), ``dim_ablation`` (False); for a folder also ``client`` and
        ``progress`` of :func:`gaptools.measure_folder`.

    Returns
    -------
    MeasureResult
        Prints as a table; ``result["centroid_gap"]`` is a value, ``result.to_frame()`` a
        pandas DataFrame, ``result.to_dict()`` the JSON-ready result.

    Raises
    ------
    InputError
        Arrays that are not pairs (different shapes, NaN, zero rows, ...), an unreadable
        file, a set or array given together with ``text`` when it should not be, an unknown
        option, or an option out of range (``bootstrap`` in [0, 100,000], ``seed`` in
        [0, 2**32 - 1], ...: :func:`gaptools.measure.check_options`).

    Examples
    --------
    >>> import numpy as np, gaptools
    >>> rng = np.random.default_rng(0)
    >>> text = rng.standard_normal((300, 32))
    >>> image = text + 2.0 * np.eye(32)[0]   # every image shifted along axis 0
    >>> result = gaptools.measure(image, text, bootstrap=200)
    >>> round(result["centroid_gap"], 2), round(result["linear_separability"], 1)
    (0.33, 0.9)
    >>> lo, hi = result.ci95("centroid_gap")
    >>> lo < result["centroid_gap"] < hi
    True
    """
    folder = isinstance(data, (str, os.PathLike)) and Path(data).is_dir()
    _check_options(options, folder=folder)
    if isinstance(data, EmbeddingSet) or isinstance(data, (str, os.PathLike)):
        if text is not None:
            raise InputError("measure: `text` goes with an array of image embeddings, not with a set or a file")
        if isinstance(data, EmbeddingSet):
            return MeasureResult(measure_set(data, **options))
        if folder:
            from gaptools.stream import measure_folder

            return MeasureResult(measure_folder(data, **options))
        return MeasureResult(measure_set(load_set(data), **options))
    if text is None:
        raise InputError("measure: image embeddings need their text embeddings (text=, row i of each a pair)")
    return MeasureResult(measure_set(from_pairs(data, text), **options))


_FOLDER_ONLY = ("client", "progress")


def _check_options(options: dict, *, folder: bool) -> None:
    """Refuse an unknown keyword, or a value out of range, before any data is read."""
    known = {name: p.default for name, p in inspect.signature(measure_set).parameters.items()
             if p.kind is p.KEYWORD_ONLY}
    allowed = [*known, *(_FOLDER_ONLY if folder else ())]
    unknown = sorted(str(key) for key in options if key not in allowed)
    if unknown:
        raise InputError(f"measure: unknown option(s) {', '.join(unknown)}", hint=f"its options: {', '.join(allowed)}")
    given = {key: value for key, value in options.items() if key in known and not (folder and value is None)}
    check_options(**{key: value for key, value in {**known, **given}.items() if key in _CHECKED})
