"""Input validation shared by every public entry point.

Each check raises :class:`~gaptools.errors.InputError` with a message that names the
source (usually a file) and the offending array, shape or row, so the command line can
print it as one line.
"""

from __future__ import annotations

import numpy as np

from gaptools.errors import InputError

FLOAT_DTYPES = (np.float16, np.float32, np.float64)


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


def check_strings(values: np.ndarray, *, name: str, length: int, source: str) -> np.ndarray:
    """Check an optional string array (``image_id``, ``caption``) of a given length."""
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != length:
        raise InputError(f"{source}: '{name}' must have shape ({length},), got {values.shape}")
    if values.dtype.kind not in "U" and length:
        raise InputError(f"{source}: '{name}' has dtype {values.dtype}, expected strings")
    return values.astype(str, copy=False)
