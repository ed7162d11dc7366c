"""Aligners that match per-modality moments without rotating: ``moment``, ``realign``, ``standardize``.

All three fit each modality's mean and per-dimension spread and map with a diagonal
affine step, so they cost O(N·D) to fit and to apply.

References
----------
An et al. 2025, "I0T: Embedding Standardization Method Towards Zero Modality Gap", ACL
(official code: github.com/xfactlab/I0T).
Yu et al. 2026, "Modality Gap–Driven Subspace Alignment Training Paradigm For Multimodal
Large Language Models", arXiv:2602.07026 (ReAlign; code: github.com/Yu-xm/Modality_Gap_Theory).
"""

from __future__ import annotations

import numpy as np

from gaptools.align.base import Aligner
from gaptools.align.shift import Center
from gaptools.align.statistics import ArrayStatistics, FitStatistics
from gaptools.errors import InputError
from gaptools.metrics import l2_normalize


def mean_std(X: np.ndarray, *, method: str = "mean_std") -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of ``X`` (N, D), float64.

    The deviation is the population one (ddof 0), so a map built from it reproduces it
    exactly on the data it was fitted on. A dimension that is constant there keeps a floor
    of float32 eps × the largest deviation, so nothing divides by zero.

    Returns
    -------
    mean, std : ndarray, shape (D,), float64

    Raises
    ------
    InputError
        Every dimension is constant (one row, or rows equal at float32 precision): no
        deviation to divide by, so ``method`` (named in the message) is not defined.
    """
    return _mean_std(ArrayStatistics(X, X), "image", method)


def _mean_std(stats: FitStatistics, side: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mean_std` of one side of ``stats``."""
    mean, var = stats.mean_var(side)
    std = np.sqrt(var)
    eps = np.finfo(np.float32).eps
    if float(std.max()) <= eps * float(np.abs(mean).max()):  # zero spread, up to float32 rounding
        n = stats.count(side)
        rows = "its only row" if n == 1 else f"all {n} rows are the same vector (at float32 precision)"
        raise InputError(f"{method}: the fit set's {side} embeddings have no spread ({rows}), so the "
                         "per-dimension deviations it divides by are not defined",
                         hint="fit on a set with differing rows, or use a method that only shifts (mean, center)")
    floor = eps * max(float(std.max()), np.finfo(np.float64).tiny)
    return mean, np.maximum(std, floor)


class _ScaleShift(Aligner):
    """Aligners of the form ``x ↦ (x − mean_img_) · scale_ + mean_txt_`` (per dimension).

    The inverse divides by ``scale_``. Learned state: ``mean_img_``, ``mean_txt_``,
    ``scale_``, each (D,) float64.
    """

    state = ("mean_img_", "mean_txt_", "scale_")

    def _forward(self, X):
        return (X - self.mean_img_) * self.scale_ + self.mean_txt_

    def _backward(self, X):
        return (X - self.mean_txt_) / self.scale_ + self.mean_img_


class MomentMatch(_ScaleShift):
    """Per-dimension moment matching: ``x ↦ (x − μ_img) · σ_txt / σ_img + μ_txt``, then unit length.

    Each coordinate gets the other modality's mean and standard deviation (population,
    fitted); the inverse swaps the roles. Before renormalisation the mapped fit images
    have exactly the text means and deviations, dimension by dimension; correlations
    between dimensions are left as they are (``coral`` matches the full covariance).
    Mean-only is ``mean``, so the two side by side show what the second moment adds. Issue
    14 cites it as used in recent text-only captioning work; a summary of TOMCap
    (arXiv:2512.04309) describes aligning the standard deviation besides the mean, but we
    did not read its exact formula: this is the plain per-dimension form.

    Learned state: ``mean_img_``, ``mean_txt_`` (D,) and ``scale_ = σ_txt / σ_img`` (D,).

    Parameters
    ----------
    renormalize : bool
    """

    name = "moment"

    def _fit_stats(self, stats):
        self.mean_img_, std_img = _mean_std(stats, "image", self.name)
        self.mean_txt_, std_txt = _mean_std(stats, "text", self.name)
        self.scale_ = std_txt / std_img


class ReAlign(_ScaleShift):
    """ReAlign (Yu et al. 2026): anchor, trace and centroid alignment, training-free.

    The official README defines it for text → image (``e_y`` text, ``e_x`` image):

    1. Anchor: ``ė_y = (e_y − μ_y) + μ_x``.
    2. Trace: ``ẽ_y = μ_x + s (e_y − μ_y)`` with ``s = √(Trace_img / Trace_txt)``, the
       traces of the two covariances, so the centred part gets the image modality's total
       variance while its shape (spectrum up to scale) is kept.
    3. Centroid: project onto the sphere, ``e'_y = ẽ_y / ‖ẽ_y‖``, then
       ``e''_y = e'_y − μ' + μ_x`` with μ' the mean of the projected embeddings (the
       "phantom drift" the projection adds).

    :meth:`inverse_transform` is that direction (texts toward images, ``s`` as above);
    :meth:`transform` is the mirror image (images toward texts) with
    ``s = √(tr Σ_txt / tr Σ_img)``, the reciprocal. Our reading: μ' is fitted, the mean of
    the projected *fit* set, and reused out of sample (the official script computes its
    statistics over the set it aligns); traces are population variances; with
    ``renormalize=True`` (default) e'' is projected onto the sphere once more, which the
    README's formula does not do — ``renormalize=False`` gives e'' as written.
    ``recenter=False`` stops after step 2 (no projection, no centroid step).

    Learned state: ``mean_img_``, ``mean_txt_`` (D,), ``scale_`` (D,) every entry the
    global factor s of :meth:`transform`, ``centroid_img_`` (D,) μ' of the projected fit
    images (forward), ``centroid_txt_`` (D,) the same for texts (inverse).

    Parameters
    ----------
    recenter : bool
        Apply step 3 (projection and centroid correction; default True).
    renormalize : bool
    """

    name = "realign"
    state = _ScaleShift.state + ("centroid_img_", "centroid_txt_")

    def __init__(self, *, recenter: bool = True, renormalize: bool = True) -> None:
        self.recenter = recenter
        self.renormalize = renormalize

    def _check_params(self):
        super()._check_params()
        if not isinstance(self.recenter, bool):
            raise InputError(f"realign: recenter must be true or false, got {self.recenter!r}")

    def _fit_stats(self, stats):
        self.mean_img_, std_img = _mean_std(stats, "image", self.name)
        self.mean_txt_, std_txt = _mean_std(stats, "text", self.name)
        trace_img, trace_txt = float((std_img**2).sum()), float((std_txt**2).sum())
        self.scale_ = np.full(stats.dim, np.sqrt(trace_txt / trace_img))
        self.centroid_img_ = stats.mapped_mean("image", lambda X: l2_normalize(_ScaleShift._forward(self, X)))
        self.centroid_txt_ = stats.mapped_mean("text", lambda X: l2_normalize(_ScaleShift._backward(self, X)))

    def _forward(self, X):
        Y = super()._forward(X)
        return l2_normalize(Y) - self.centroid_img_ + self.mean_txt_ if self.recenter else Y

    def _backward(self, X):
        Y = super()._backward(X)
        return l2_normalize(Y) - self.centroid_txt_ + self.mean_img_ if self.recenter else Y


class Standardize(Center):
    """Each modality standardised per dimension with its own fitted mean and deviation, then unit length.

    I0T's post-hoc method (I0T_post, An et al. 2025) is *exactly* our ``center``: its
    official code (``remove_artifact_features`` in ``src/features.py``) L2-normalises each
    embedding, subtracts its modality's stored mean and L2-normalises again — no division
    by a standard deviation. So ``center`` is I0T_post (on unit-norm inputs, as CLIP sets
    are); the difference is where the means come from (I0T: a stored mean per model, the
    paper's limitation notes it needs the test set; here: the fit set).

    The per-dimension scale is I0T's *trainable* variant, I0T_async: a ``BatchNorm1d``
    after the L2-normalised output of each encoder, trained with the encoders. This method
    is its training-free analogue: the BatchNorm at its initial affine (γ = 1, β = 0) with
    fitted statistics, ``x ↦ (x − μ_m) / σ_m`` for each modality m, then unit length. It
    is our construction, not a procedure the paper runs post hoc. Like ``center`` it moves
    *both* modalities whatever the direction.

    Learned state: ``mean_img_``, ``mean_txt_``, ``std_img_``, ``std_txt_`` (D,) float64
    (population deviations, floored as in :func:`mean_std`).

    Parameters
    ----------
    renormalize : bool
    """

    name = "standardize"
    state = Center.state + ("std_img_", "std_txt_")

    def _fit_stats(self, stats):
        self.mean_img_, self.std_img_ = _mean_std(stats, "image", self.name)
        self.mean_txt_, self.std_txt_ = _mean_std(stats, "text", self.name)

    def _forward(self, X):
        return super()._forward(X) / self.std_img_

    def _backward(self, X):
        return super()._backward(X) / self.std_txt_
