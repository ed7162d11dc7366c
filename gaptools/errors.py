"""Errors a user can fix.

Every error the command line turns into one red line derives from :class:`GapToolsError`.
Library code raises them with a message that names the file and the problem, and an
optional hint that says what to do about it.
"""

from __future__ import annotations


class GapToolsError(Exception):
    """An error caused by the user's input or environment, not by a bug.

    Parameters
    ----------
    message : str
        What is wrong, naming the file or argument concerned.
    hint : str, optional
        What the user can do about it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class InputError(GapToolsError, ValueError):
    """An input file or array is missing, malformed or inconsistent.

    Examples
    --------
    >>> import gaptools
    >>> try:
    ...     gaptools.load_set("missing.npz")
    ... except gaptools.InputError as exc:
    ...     print(exc.message)
    missing.npz: no such file
    """


class GapToolsWarning(UserWarning):
    """A result that is computed but may mislead: fit and test sets that share images, an aligner
    applied to another embedding model's set. The command line prints it as one yellow line.

    Examples
    --------
    >>> import warnings
    >>> import gaptools
    >>> eset = gaptools.planted_gap(60, 8, seed=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", gaptools.GapToolsWarning)
    ...     result = gaptools.compare_aligners(eset, eset, methods=["mean"], bootstrap=0)
    >>> [type(w.message).__name__ for w in caught]
    ['GapToolsWarning']
    """


class NotFittedError(GapToolsError, RuntimeError):
    """An estimator was used before ``fit``."""


class OutputError(InputError):
    """An output path is refused: it is an input, holds what gaptools may not replace, or cannot be written."""


class LockedError(OutputError):
    """A run folder is held by another process (its lock file names the holder)."""
