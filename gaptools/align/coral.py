"""CORAL: match second-order statistics by whitening and re-colouring.

Reference: Sun, Feng & Saenko 2016, "Return of Frustratingly Easy Domain Adaptation".
"""

from __future__ import annotations

import numpy as np

from gaptools.align.base import AffineAligner
from gaptools.errors import InputError


def _sym_power(cov: np.ndarray, power: float) -> np.ndarray:
    """``cov ** power`` of a symmetric positive-definite (D, D) matrix, via eigh."""
    w, v = np.linalg.eigh(cov)
    return (v * np.clip(w, np.finfo(float).tiny, None) ** power) @ v.T


class CORAL(AffineAligner):
    """Whiten the image covariance and re-colour it with the text covariance.

    ``x ↦ (x − μ_img) C_img^{-½} C_txt^{½} + μ_txt`` with ``C = cov + reg·(tr cov / D)·I``
    (a ridge relative to the mean variance, so it is scale-free; the original CORAL adds
    the identity, far too much for unit vectors). Unlike the original, the text mean is
    added as well, so first and second moments both match. Unsupervised.

    Learned state: ``mean_img_``, ``mean_txt_`` (D,), ``weight_`` and its inverse
    ``inverse_weight_`` ``= C_txt^{-½} C_img^{½}``, (D, D).

    Parameters
    ----------
    reg : float
        Relative ridge added to both covariances (> 0).
    renormalize : bool
    """

    name = "coral"
    state = AffineAligner.state + ("inverse_weight_",)

    def __init__(self, *, reg: float = 1e-3, renormalize: bool = True) -> None:
        self.reg = reg
        self.renormalize = renormalize

    def _check_params(self):
        super()._check_params()
        if not isinstance(self.reg, (int, float)) or not self.reg > 0:
            raise InputError(f"coral: reg must be a positive number, got {self.reg!r}")

    def _fit_stats(self, stats):
        self.mean_img_, c_img = self._regularised(*stats.gaussian("image"))
        self.mean_txt_, c_txt = self._regularised(*stats.gaussian("text"))
        self.weight_ = _sym_power(c_img, -0.5) @ _sym_power(c_txt, 0.5)
        self.inverse_weight_ = _sym_power(c_txt, -0.5) @ _sym_power(c_img, 0.5)

    def _regularised(self, mean, cov):
        ridge = self.reg * max(np.trace(cov) / len(cov), np.finfo(np.float32).eps)
        return mean, cov + ridge * np.eye(len(cov))

    def _inverse_weight(self):
        return self.inverse_weight_
