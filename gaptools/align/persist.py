"""Saved aligners: one ``.npz`` (never pickled) with the learned arrays and a JSON header.

=============  ===========  ====================================================
array          dtype        meaning
=============  ===========  ====================================================
``header``     0-d str      JSON: format, format_version, method, params,
                            direction, dim, train (source, meta, sizes),
                            gaptools_version, arrays
*state names*  float        the learned arrays (``shift_``, ``weight_``, ...)
=============  ===========  ====================================================

Files are written atomically (a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from gaptools._version import __version__
from gaptools.align.base import Aligner, check_direction
from gaptools.align.registry import make_aligner
from gaptools.atomic import atomic_write
from gaptools.errors import GapToolsError, InputError
from gaptools.io import read_npz

FORMAT = "gaptools.aligner"
FORMAT_VERSION = 1
SUFFIX = ".aligner"  # the name `gaptools align fit -o` insists on (an .npz inside)


@dataclasses.dataclass
class SavedAligner:
    """A fitted aligner with what its file says about it.

    Attributes
    ----------
    aligner : Aligner
        Fitted.
    direction : str
        The direction it was saved for ("image-to-text" or "text-to-image").
    header : dict
        The whole JSON header.
    path : str

    Examples
    --------
    >>> import gaptools
    >>> path = gaptools.save_aligner(gaptools.fit_on_set("mean", gaptools.planted_gap(200, 16)), "mean.aligner")
    >>> saved = gaptools.load_aligner(path)
    >>> saved.aligner.name, saved.direction, saved.header["dim"]
    ('mean', 'image-to-text', 16)
    """

    aligner: Aligner
    direction: str
    header: dict
    path: str


def save_aligner(
    aligner: Aligner,
    path: str | os.PathLike,
    *,
    direction: str = "image-to-text",
    train: dict | None = None,
) -> Path:
    """Write a fitted aligner to ``path`` atomically.

    Parameters
    ----------
    aligner : Aligner
        Must be fitted.
    path : path-like
        Any name (``.aligner`` by convention); the content is an ``.npz``.
    direction : str
        Default direction of ``gaptools align apply``.
    train : dict, optional
        What it was fitted on: ``{"source", "meta", "n_image", "n_text"}``.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> import gaptools
    >>> aligner = gaptools.fit_on_set("coral", gaptools.planted_gap(200, 16))
    >>> gaptools.save_aligner(aligner, "coral.aligner").name
    'coral.aligner'
    """
    aligner.check_fitted()
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": aligner.name,
        "params": aligner.get_params(),
        "direction": check_direction(direction),
        "dim": aligner.dim_,
        "train": train or {},
        "gaptools_version": __version__,
        "arrays": list(aligner.state),
    }
    arrays = {name: np.asarray(getattr(aligner, name)) for name in aligner.state}
    with atomic_write(Path(path), "wb") as fh:
        np.savez(fh, allow_pickle=False, header=np.array(json.dumps(header, sort_keys=True)), **arrays)
    return Path(path)


def load_aligner(path: str | os.PathLike) -> SavedAligner:
    """Read a saved aligner, checking its header and every array.

    Parameters
    ----------
    path : path-like
        A file :func:`save_aligner` (or ``gaptools align fit -o``) wrote.

    Returns
    -------
    SavedAligner
        The fitted aligner, its default direction and the file's header.

    Examples
    --------
    >>> import gaptools
    >>> path = gaptools.save_aligner(gaptools.fit_on_set("mean", gaptools.planted_gap(200, 16)), "mean.aligner")
    >>> gaptools.load_aligner(path).aligner
    MeanShift(renormalize=True)

    Raises
    ------
    InputError
        Missing, corrupt or pickled file, another format or a newer format version, an
        unknown method or parameter, or arrays whose shapes do not fit the header's dim.
    """
    src = str(path)
    arrays = read_npz(path, "aligner file")
    header = _read_header(arrays, src)
    try:
        aligner = make_aligner(header["method"], header["params"])
        aligner._check_params()
    except GapToolsError as exc:
        raise InputError(f"{src}: {exc.message}", hint=exc.hint) from None
    dim = header["dim"]
    for name in aligner.state:
        if name not in arrays:
            raise InputError(f"{src}: corrupt aligner file, array '{name}' is missing")
        value = arrays[name]
        expected = _expected_shape(aligner, name, dim, arrays)
        shape_ok = value.ndim == len(expected) and all(e is None or e == v for e, v in zip(expected, value.shape))
        if value.dtype.kind != "f" or not shape_ok or not value.size or not np.isfinite(value).all():
            want = "(" + ", ".join("n" if e is None else str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
            raise InputError(
                f"{src}: corrupt aligner file, array '{name}' has shape {value.shape} dtype {value.dtype} "
                f"(expected finite floats of shape {want}, the header's dim {dim})"
            )
        setattr(aligner, name, value)
    aligner.dim_ = dim
    return SavedAligner(aligner=aligner, direction=header["direction"], header=header, path=src)


def _expected_shape(aligner: Aligner, name: str, dim: int, arrays: dict) -> tuple:
    """The shape a learned array must have for the header's ``dim`` (None: any length).

    An aligner whose state the names below do not describe (a network's weights) declares it:
    ``aligner.state_shapes(dim)`` gives ``{name: shape}`` from its parameters. Otherwise by the
    methods' naming: ``weight_``/``components_`` matrices are (D, D); fitted points, their
    displacements and memories are (n, D), a displacement the shape of its points; every other
    state (means, shifts, scales) is one vector (D,).
    """
    if hasattr(aligner, "state_shapes"):
        return aligner.state_shapes(dim)[name]
    if "weight_" in name or name.startswith("components_"):
        return (dim, dim)
    if name.startswith("displacement_") and ("fit_" + name[len("displacement_"):]) in arrays:
        return (arrays["fit_" + name[len("displacement_"):]].shape[0], dim)
    if name.startswith(("fit_", "displacement_", "memory_")):
        return (None, dim)
    return (dim,)


def _read_header(arrays: dict, src: str) -> dict:
    if "header" not in arrays:
        raise InputError(f"{src}: not a gaptools aligner (no 'header' array)", hint=f"found {sorted(arrays)}")
    try:
        header = json.loads(str(arrays["header"]))
    except json.JSONDecodeError as exc:
        raise InputError(f"{src}: corrupt aligner header ({exc})") from None
    except RecursionError:
        raise InputError(f"{src}: corrupt aligner header, its JSON is nested too deeply to read") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputError(f"{src}: not a gaptools aligner (header format is not '{FORMAT}')")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InputError(
            f"{src}: aligner format version {version!r} is newer than this gaptools reads ({FORMAT_VERSION})",
            hint="upgrade gaptools",
        )
    for key, kind in (("method", str), ("params", dict), ("dim", int), ("direction", str)):
        if not isinstance(header.get(key), kind):
            raise InputError(f"{src}: corrupt aligner header, '{key}' is missing or not a {kind.__name__}")
    if header["dim"] < 1:
        raise InputError(f"{src}: corrupt aligner header, dim {header['dim']}")
    try:
        check_direction(header["direction"])
    except GapToolsError as exc:
        raise InputError(f"{src}: corrupt aligner header, {exc.message}") from None
    return header
