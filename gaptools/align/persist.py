"""Saved aligners: one ``.npz`` (never pickled) with the learned arrays and a JSON header.

=============  ===========  ====================================================
array          dtype        meaning
=============  ===========  ====================================================
``header``     0-d str      JSON: format, format_version, method, params,
                            direction, dim, train (source, meta, sizes),
                            fit_model, gaptools_version, arrays, sha256
*state names*  float        the learned arrays (``shift_``, ``weight_``, ...)
=============  ===========  ====================================================

Files are written atomically (a temporary file, then ``os.replace``), with fixed zip
timestamps, so one aligner saved twice gives the same bytes. ``sha256`` holds the SHA-256 of
the rest of the header and of every array (:mod:`gaptools.checksums`); loading verifies it,
then validates every value against what a fit can produce (finite numbers, shapes of the
header's ``dim``, means of a normalised fit set inside the unit ball, unit vectors mapped to
finite vectors) and the memory the method's parameters ask for (:mod:`gaptools.limits`). A
file written before checksums existed has no ``sha256``: it is still loaded, validated by value.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from gaptools._version import __version__
from gaptools.align.base import Aligner, check_direction
from gaptools.align.registry import make_aligner
from gaptools.atomic import atomic_write
from gaptools.checksums import array_sha256, text_sha256
from gaptools.errors import GapToolsError, GapToolsWarning, InputError
from gaptools.io import read_npz
from gaptools.limits import check_needs
from gaptools.metrics import l2_normalize
from gaptools.outputs import check_output_file

FORMAT = "gaptools.aligner"
FORMAT_VERSION = 1
SUFFIX = ".aligner"  # the name `gaptools align fit -o` insists on (an .npz inside)
#: What a mean of unit vectors may exceed norm 1 by (float rounding of a float32 fit set).
UNIT_SLACK = 1e-4
#: The meta keys that name the embedding model of a set (recorded as the aligner's ``fit_model``).
MODEL_KEYS = ("encoder", "model")
#: Largest coordinate a fitted aligner may give a unit vector: far beyond any fit (outputs are
#: embeddings), far below float32's 3.4e38, which larger weights overflow on ordinary inputs.
PROBE_LIMIT = 1e12
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same aligner gives the same bytes


@dataclasses.dataclass
class SavedAligner:
    """A fitted aligner with what its file says about it.

    :func:`save_aligner` takes one as it takes an aligner: its direction, training record
    and fit model are kept, so a loaded aligner saved again gives the same bytes.

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
    >>> gaptools.save_aligner(saved, "copy.aligner").read_bytes() == path.read_bytes()
    True
    """

    aligner: Aligner
    direction: str
    header: dict
    path: str

    def warn_model_mismatch(self, meta: dict, stacklevel: int = 3) -> None:
        """Warn (:class:`gaptools.GapToolsWarning`, one line) when a set's embedding model (``meta``) is not the
        one this aligner was fitted on: the result is computed, but it may mislead.

        Sets or aligners that do not name their model are not compared. ``stacklevel`` 3 points the
        warning at the caller of the function that calls this.
        """
        fitted, given = self.header.get("fit_model"), fit_model(meta)
        if fitted and given and fitted != given:
            warnings.warn(f"{self.path}: fitted on embeddings of {_model_label(fitted)}, applied to embeddings of "
                          f"{_model_label(given)}: the dimensions match, the spaces need not", GapToolsWarning,
                          stacklevel=stacklevel)


def fit_model(meta: dict | None) -> dict | None:
    """The embedding model a set's ``meta`` names (``{"encoder", "model"}``), or None when it names none."""
    if not isinstance(meta, dict):
        return None
    found = {k: meta[k] for k in MODEL_KEYS if isinstance(meta.get(k), str)}
    return found if "model" in found else None


def _model_label(model: dict) -> str:
    return "/".join(str(model.get(k)) for k in MODEL_KEYS if model.get(k))


def save_aligner(
    aligner: Aligner | SavedAligner,
    path: str | os.PathLike,
    *,
    direction: str | None = None,
    train: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a fitted aligner to ``path`` atomically.

    The command line's rule for outputs (:func:`gaptools.outputs.check_output_file`): never
    over the file a :class:`SavedAligner` was read from, nor through a symbolic link; an
    existing ``path`` is replaced only when it is an aligner gaptools wrote, anything else
    only with ``overwrite=True``.

    Parameters
    ----------
    aligner : Aligner or SavedAligner
        Must be fitted; a :class:`SavedAligner` (from :func:`load_aligner`) keeps its file's
        direction, training record and fit model unless given here.
    path : path-like
        Any name (``.aligner`` by convention); the content is an ``.npz``.
    direction : str, optional
        Default direction of ``gaptools align apply`` (default "image-to-text").
    train : dict, optional
        What it was fitted on: ``{"source", "meta", "n_image", "n_text"}``; the embedding model
        its ``meta`` names is recorded as ``fit_model`` (:meth:`SavedAligner.warn_model_mismatch`).
    overwrite : bool
        Replace an existing file that is not an aligner (never the file it was read from).

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
    saved = aligner if isinstance(aligner, SavedAligner) else None
    if saved is not None:
        aligner = saved.aligner
        direction = saved.direction if direction is None else direction
        train = saved.header.get("train") if train is None else train
    if not isinstance(aligner, Aligner):
        raise InputError(f"save_aligner: expected a fitted aligner (or what load_aligner returns), "
                         f"got {type(aligner).__name__}")
    aligner.check_fitted()
    check_output_file(path, inputs=[saved.path if saved is not None else None], kind=FORMAT, overwrite=overwrite)
    train = train or {}
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": aligner.name,
        "params": aligner.get_params(),
        "direction": check_direction(direction or "image-to-text"),
        "dim": aligner.dim_,
        "train": train,
        "fit_model": saved.header.get("fit_model") if saved is not None else fit_model(train.get("meta")),
        "gaptools_version": saved.header.get("gaptools_version", __version__) if saved is not None else __version__,
        "arrays": list(aligner.state),
    }
    _check_values(aligner, header, f"{path}: not written, the fitted '{aligner.name}' is not usable")
    arrays = {name: np.asarray(getattr(aligner, name)) for name in aligner.state}
    header["sha256"] = _digests(header, arrays)
    with atomic_write(Path(path), "wb") as fh:
        _write_npz(fh, {"header": np.array(json.dumps(header, sort_keys=True)), **arrays})
    return Path(path)


def _digests(header: dict, arrays: dict) -> dict:
    """SHA-256 of the header (without its ``sha256``) and of each array."""
    rest = {k: v for k, v in header.items() if k != "sha256"}
    return {"header": text_sha256(json.dumps(rest, sort_keys=True)),
            "arrays": {name: array_sha256(value) for name, value in arrays.items()}}


def _write_npz(fh, arrays: dict) -> None:
    """``np.savez`` with fixed member timestamps (numpy stamps the current time)."""
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME), "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)


def load_aligner(path: str | os.PathLike) -> SavedAligner:
    """Read a saved aligner, checking its checksums, its header and every array.

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
    MeanShift(fitted, dim=16)

    Raises
    ------
    InputError
        Missing, corrupt or pickled file, another format or a newer format version, an
        unknown method or parameter, a file changed after it was written (its SHA-256 differs),
        arrays whose shapes do not fit the header's dim or whose values no fit produces, or
        parameters that ask for more memory than the budget.
    """
    src = str(path)
    arrays = read_npz(path, "aligner file")
    header = _read_header(arrays, src)
    _verify(header, arrays, src)
    try:
        aligner = make_aligner(header["method"], header["params"])
        aligner._check_params()
    except GapToolsError as exc:
        raise InputError(f"{src}: {exc.message}", hint=exc.hint) from None
    dim = header["dim"]
    check_needs(aligner.memory_needs(dim), source=src)  # what the header's parameters ask for, before any of it
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
    _check_values(aligner, header, f"{src}: corrupt aligner file")
    return SavedAligner(aligner=aligner, direction=header["direction"], header=header, path=src)


def _verify(header: dict, arrays: dict, src: str) -> None:
    """Compare the header's SHA-256 digests with the header and arrays read (none: a file from before them)."""
    recorded = header.get("sha256")
    if recorded is None:
        return
    names = [n for n in arrays if n != "header"]
    if not isinstance(recorded, dict) or not isinstance(recorded.get("arrays"), dict):
        raise InputError(f"{src}: corrupt aligner header, 'sha256' is not an object of digests")
    actual = _digests(header, {n: arrays[n] for n in names})
    if recorded.get("header") != actual["header"]:
        raise InputError(f"{src}: changed after it was written (the SHA-256 of its header differs)",
                         hint="fit the aligner again, or restore the file")
    for name in names:  # an array the header names but the file lacks is reported missing below
        if recorded["arrays"].get(name) != actual["arrays"][name]:
            raise InputError(f"{src}: changed after it was written (the SHA-256 of array '{name}' differs)",
                             hint="fit the aligner again, or restore the file")


def _check_values(aligner: Aligner, header: dict, fault: str) -> None:
    """Refuse learned values no fit produces; ``fault`` starts the message (the file and what is wrong with it).

    Every array is finite; a set recorded as normalised has unit rows, so every mean or centroid
    fitted on it lies in the unit ball and every fitted point or memory row has norm 1 (the
    bridge normalises whatever it is given); and a fitted aligner maps unit vectors to finite
    vectors (weights of 3e38 do not).
    """
    train = header.get("train")
    train_meta = train.get("meta") if isinstance(train, dict) else None
    normalized = isinstance(train_meta, dict) and train_meta.get("normalized") is True
    for name in aligner.state:
        value = np.asarray(getattr(aligner, name), dtype=np.float64)
        if not np.isfinite(value).all():
            raise InputError(f"{fault}: array '{name}' holds NaN or Inf")
        unit_rows = name.startswith(("fit_", "memory_")) or (name.startswith(("mean_", "centroid_")) and value.ndim == 1)
        if (normalized or aligner.name == "diffusion-bridge") and unit_rows and value.size:
            norm = float(np.linalg.norm(value.reshape(-1, value.shape[-1]), axis=1).max())
            if norm > 1 + UNIT_SLACK:
                raise InputError(f"{fault}: array '{name}' has norm {norm:.4g}, but it was fitted on unit vectors "
                                 "(a mean of them lies in the unit ball)")
    rng = np.random.default_rng(0)
    probe = l2_normalize(rng.standard_normal((4, aligner.dim_)))  # (4, D) unit vectors, seeded
    with np.errstate(all="ignore"):  # before renormalisation: a zero row is finite, not the file's fault
        try:
            mapped = [np.asarray(fn(p), dtype=np.float64) for fn in (aligner._forward, aligner._backward)
                      for p in (probe, -probe)]
        except GapToolsError as exc:
            raise InputError(f"{fault} ({exc.message})") from None
        worst = max(float(np.abs(m).max()) if np.isfinite(m).all() else np.inf for m in mapped)
    if worst > PROBE_LIMIT:
        raise InputError(f"{fault}: its arrays map unit vectors to values of {worst:.3g} (values no fit produces; "
                         f"embeddings would overflow)", hint="fit the aligner again")


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
