"""What the linear aligners are fitted from: moments of the image rows, the caption rows and true pairs.

An aligner that needs only these implements ``_fit_stats(stats)`` instead of ``_fit``
(see :class:`gaptools.align.base.Aligner`): in memory, :class:`ArrayStatistics` computes
each quantity from the arrays when the method asks for it (the exact arithmetic the
methods always used); on a sharded folder, :mod:`gaptools.stream.align` answers from the
statistics of one streamed pass. One formula per method, whichever side supplies the
numbers.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from gaptools.metrics import column_sum, gaussian_fit

SIDES = ("image", "text")


def mean_var(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population variance of each dimension of ``X`` (N, D), float64 (two passes)."""
    mean = column_sum(X) / len(X)
    centred = X - mean.astype(X.dtype)
    return mean, column_sum(centred * centred) / len(X)


class FitStatistics:
    """The questions a moment-fitted aligner asks about its training data.

    ``side`` is ``"image"`` or ``"text"``; every answer is float64.
    """

    dim: int

    def count(self, side: str) -> int:
        """Rows of ``side``."""
        raise NotImplementedError

    def mean(self, side: str) -> np.ndarray:
        """Mean row, shape (D,)."""
        raise NotImplementedError

    def gaussian(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean (D,) and covariance (D, D) with N − 1 in the denominator (:func:`gaptools.metrics.gaussian_fit`)."""
        raise NotImplementedError

    def mean_var(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean (D,) and population variance (D,) of each dimension."""
        raise NotImplementedError

    def pair_moments(self, *, center: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Over true pairs (a = the image of caption j, b = caption j): means ā, b̄ (D,) and
        Σ (a − ā)(b − b̄)ᵀ (D, D); with ``center=False`` the means are zeros and the sum is Σ a bᵀ."""
        raise NotImplementedError

    def mapped_mean(self, side: str, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Mean of ``fn(rows)`` over the rows of ``side`` (``fn`` maps (n, D) float32 row blocks)."""
        raise NotImplementedError


class ArrayStatistics(FitStatistics):
    """:class:`FitStatistics` of in-memory arrays, each computed when asked.

    Parameters
    ----------
    X_img : ndarray, shape (N_img, D), float32
    X_txt : ndarray, shape (N_txt, D), float32
    pairs : ndarray, shape (N_pairs, 2), int, or None
        (image row, text row) of true pairs, for :meth:`pair_moments`.
    """

    def __init__(self, X_img: np.ndarray, X_txt: np.ndarray, pairs: np.ndarray | None = None) -> None:
        self._rows = {"image": X_img, "text": X_txt}
        self._pairs = pairs
        self.dim = int(X_img.shape[1])

    def count(self, side):
        return len(self._rows[side])

    def mean(self, side):
        return self._rows[side].mean(axis=0, dtype=np.float64)

    def gaussian(self, side):
        return gaussian_fit(self._rows[side])

    def mean_var(self, side):
        return mean_var(self._rows[side])

    def pair_moments(self, *, center=True):
        A = self._rows["image"][self._pairs[:, 0]].astype(np.float64)
        B = self._rows["text"][self._pairs[:, 1]].astype(np.float64)
        mean_a = A.mean(axis=0) if center else np.zeros(self.dim)
        mean_b = B.mean(axis=0) if center else np.zeros(self.dim)
        return mean_a, mean_b, (A - mean_a).T @ (B - mean_b)

    def mapped_mean(self, side, fn):
        X = self._rows[side]
        return column_sum(fn(X)) / len(X)
