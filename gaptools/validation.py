"""Input validation shared by every public entry point.

Each check raises :class:`~gaptools.errors.InputError` with a message that names the
source (usually a file) and the offending array, shape or row, so the command line can
print it as one line.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from gaptools.errors import InputError

FLOAT_DTYPES = (np.float16, np.float32, np.float64)

#: Embedding rows must have a norm in [MIN_ROW_SCALE, MAX_ROW_NORM]: float32 squares of such
#: rows neither underflow nor overflow (float32 spans ~1e-38 to ~3e38), with room for sums
#: over many rows. CLIP-like embeddings have norms near 1 (raw ones up to a few dozen).
MIN_ROW_SCALE = 1e-12
MAX_ROW_NORM = 1e12


def check_embeddings(
    array: np.ndarray, *, name: str, source: str, allow_empty: bool = False
) -> np.ndarray:
    """Check one embedding matrix and return it as float32.

    Parameters
    ----------
    array : ndarray, shape (N, D)
        Embeddings, one row each; float16, float32 or float64.
    name : str
        What the array is (``"image"``, ``"text"``), for messages.
    source : str
        Where it came from (a file name), for messages.
    allow_empty : bool
        Accept ``N == 0`` (a text-only or image-only set).

    Returns
    -------
    ndarray, shape (N, D), float32
    """
    array = np.asarray(array)
    if array.ndim != 2:
        raise InputError(f"{source}: '{name}' must be a 2-D (N, D) array, got shape {array.shape}")
    if array.dtype.type not in FLOAT_DTYPES:
        raise InputError(
            f"{source}: '{name}' has dtype {array.dtype}, expected float16, float32 or float64"
        )
    if array.shape[1] == 0:
        raise InputError(f"{source}: '{name}' has 0 dimensions (shape {array.shape})")
    if array.shape[0] == 0 and not allow_empty:
        raise InputError(f"{source}: '{name}' is empty (shape {array.shape})")
    array = array.astype(np.float32, copy=False)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(
            f"{source}: '{name}' has NaN or Inf values in {bad.size} row(s), first at row {bad[0]}"
        )
    zero = ~array.any(axis=1)
    if zero.any():
        bad = np.flatnonzero(zero)
        raise InputError(
            f"{source}: '{name}' has {bad.size} all-zero row(s), first at row {bad[0]} "
            "(a zero vector has no direction)"
        )
    if array.size:
        # |largest entry| <= norm <= |largest entry| * sqrt(D): two reductions, no copy
        peak = np.maximum(array.max(axis=1), -array.min(axis=1)).astype(np.float64)
        small, large = peak < MIN_ROW_SCALE, peak * np.sqrt(array.shape[1]) > MAX_ROW_NORM
        if small.any() or large.any():
            bad = int(np.flatnonzero(small | large)[0])
            raise InputError(
                f"{source}: '{name}' row {bad} has norm about {peak[bad]:.3g}, outside "
                f"[{MIN_ROW_SCALE:g}, {MAX_ROW_NORM:g}] where float32 norms and products stay exact enough "
                f"({int(small.sum())} row(s) too small, {int(large.sum())} row(s) too large)",
                hint="rescale the embeddings; gaptools measures their directions",
            )
    return array


def check_text_image(text_image: np.ndarray, *, n_text: int, n_image: int, source: str) -> np.ndarray:
    """Check the caption-to-image index and return it as int64.

    Parameters
    ----------
    text_image : ndarray, shape (N_txt,)
        Row of ``image`` each caption belongs to.
    n_text, n_image : int
        Number of captions and images in the set.
    source : str
        Where it came from, for messages.

    Returns
    -------
    ndarray, shape (N_txt,), int64
    """
    text_image = np.asarray(text_image)
    if text_image.ndim != 1 or text_image.shape[0] != n_text:
        raise InputError(
            f"{source}: 'text_image' must have shape ({n_text},) to match 'text', got {text_image.shape}"
        )
    if n_text and not np.issubdtype(text_image.dtype, np.integer):
        raise InputError(f"{source}: 'text_image' has dtype {text_image.dtype}, expected integers")
    if n_text and text_image.dtype.kind == "u" and text_image.max() > np.iinfo(np.int64).max:
        first = int(np.argmax(text_image > np.iinfo(np.int64).max))  # before the cast wraps it negative
        raise InputError(f"{source}: 'text_image' has an index {int(text_image[first])} at caption {first}, "
                         f"far outside [0, {max(n_image, 1)})")
    text_image = text_image.astype(np.int64, copy=False)
    if n_text and text_image.min() < 0:
        first = int(np.argmax(text_image < 0))
        raise InputError(f"{source}: 'text_image' has a negative index {int(text_image[first])} at caption {first}")
    if n_image and n_text:
        bad = (text_image < 0) | (text_image >= n_image)
        if bad.any():
            first = np.flatnonzero(bad)[0]
            raise InputError(
                f"{source}: 'text_image' has {int(bad.sum())} index(es) outside [0, {n_image}), "
                f"first {int(text_image[first])} at caption {first}"
            )
    return text_image


def check_same_dim(a: np.ndarray, b: np.ndarray, *, names: tuple[str, str], source: str) -> None:
    """Raise if two embedding matrices differ in dimension."""
    if a.shape[1] != b.shape[1]:
        raise InputError(
            f"{source}: dimension mismatch, '{names[0]}' is {a.shape} but '{names[1]}' is {b.shape}"
        )


def check_strings(values: np.ndarray, *, name: str, length: int, source: str, unique: bool = False) -> np.ndarray:
    """Check an optional string array (``image_id``, ``caption``) of a given length.

    ``unique``: refuse repeated values (image ids: two rows with one id would be captioned,
    scored and shown as one image).
    """
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != length:
        raise InputError(f"{source}: '{name}' must have shape ({length},), got {values.shape}")
    if values.dtype.kind not in "U" and length:
        raise InputError(f"{source}: '{name}' has dtype {values.dtype}, expected strings")
    values = values.astype(str, copy=False)
    if unique and length:
        _, first, counts = np.unique(values, return_index=True, return_counts=True)
        if (counts > 1).any():
            dup = int(np.sort(first[counts > 1])[0])
            raise InputError(f"{source}: '{name}' repeats {str(values[dup])!r} (first at row {dup}; "
                             f"{int((counts > 1).sum())} value(s) repeated)", hint=f"each {name} must be unique")
    return values


def check_captions(captions: np.ndarray | None, *, source: str) -> None:
    """Refuse empty or blank caption strings where captions are targets or references (train, eval)."""
    if captions is None or not len(captions):
        return
    blank = np.char.str_len(np.char.strip(np.asarray(captions, dtype=str))) == 0
    if blank.any():
        rows = np.flatnonzero(blank)
        raise InputError(f"{source}: {rows.size} empty caption(s), first at caption row {int(rows[0])}",
                         hint="an empty caption can be neither a training target nor a reference; drop them "
                              "(gaptools embed --skip-empty)")


def contained_path(
    root: str | os.PathLike,
    entry: str,
    *,
    what: str,
    source: str,
    option: str | None = None,
    allow_absolute: bool = False,
    allow_flag: str | None = None,
) -> Path:
    """A path taken from a data file, resolved inside the folder the user named.

    The check is on the path as written (``..`` components and absolute paths), not on
    symbolic links: links inside the user's own folder are the user's choice.

    Parameters
    ----------
    root : path-like
        The folder the user named (``--images``).
    entry : str
        The path as the data file gives it (a file name, an ``image_id``).
    what : str
        What the entry is, for messages (``"file of image 12"``).
    source : str
        The data file, for messages.
    option : str, optional
        The option that named ``root``, for the hint.
    allow_absolute : bool
        Accept absolute entries as they are; relative entries must still stay inside ``root``.
    allow_flag : str, optional
        The command's flag that sets ``allow_absolute`` (named in the hint).

    Returns
    -------
    Path
        ``root / entry`` without ``.`` components.

    Raises
    ------
    InputError
        The entry is empty, holds a NUL, is absolute (unless allowed), or leaves ``root``.
    """
    if not entry or "\0" in entry:
        raise InputError(f"{source}: {what} {entry!r} is not a file name")
    if os.path.isabs(entry) or (os.name == "nt" and os.path.splitdrive(entry)[0]):
        if allow_absolute:
            return Path(os.path.normpath(entry))
        raise InputError(f"{source}: {what} {entry!r} is an absolute path; files are read only inside "
                         f"{option + ' ' if option else ''}{root}",
                         hint="make the paths relative to that folder"
                         + (f", or pass {allow_flag} if you trust this file" if allow_flag else ""))
    base = os.path.normpath(os.path.abspath(os.fspath(root)))
    joined = os.path.normpath(os.path.join(base, entry))
    if joined != base and not joined.startswith(base.rstrip(os.sep) + os.sep):
        raise InputError(f"{source}: {what} {entry!r} leaves the folder {option + ' ' if option else ''}{root}",
                         hint="files named in a data file are read only inside the folder you name")
    return Path(joined)


#: Largest seed an option takes: every generator used (numpy, torch, Python) accepts [0, 2**32 - 1].
MAX_SEED = 2**32 - 1


def is_finite_number(value) -> bool:
    """A JSON number that is a finite float: not a bool, not NaN/inf, not an integer like 10**400 that overflows one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def check_number(value: float, option: str, *, minimum: float | None = None, maximum: float | None = None,
                 above: bool = False) -> float:
    """Refuse a setting that is NaN, infinite, or outside its range; return it.

    Parameters
    ----------
    value : float
    option : str
        The option's name (``"--lr"``), for the message.
    minimum, maximum : float, optional
        Inclusive bounds (``above``: ``value`` must be strictly greater than ``minimum``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{option} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise InputError(f"{option} must be a finite number, got {value}")
    if minimum is not None and (value <= minimum if above else value < minimum):
        raise InputError(f"{option} must be {'>' if above else '>='} {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise InputError(f"{option} must be <= {maximum:g}, got {value:g}")
    return value


def check_integer(value: int, option: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Refuse a count that is not an integer (a bool, a float, a string) or lies outside [minimum, maximum].

    Parameters
    ----------
    value : int
    option : str
        The option's or argument's name (``"--bootstrap"``, ``"bootstrap"``), for the message.
    minimum, maximum : int, optional
        Inclusive bounds.

    Returns
    -------
    int
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{option} must be an integer, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "" if minimum is None else f"{minimum:,}"
        high = "" if maximum is None else f"{maximum:,}"
        bounds = f"in [{low}, {high}]" if low and high else (f">= {low}" if low else f"<= {high}")
        raise InputError(f"{option} must be {bounds}, got {int(value):,}")
    return int(value)


def check_seed(seed: int, option: str = "--seed") -> int:
    """Refuse a seed outside [0, :data:`MAX_SEED`] (numpy refuses negatives, torch overflows on huge ones).

    The one seed check of every entry point, the command line's and the Python API's.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"{option} must be an integer, got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"{option} must be in [0, {MAX_SEED}], got {seed}")
    return int(seed)
