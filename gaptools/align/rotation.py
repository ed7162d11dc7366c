"""Orthogonal aligners: PCA rotations and supervised orthogonal Procrustes.

All map ``x ↦ (x − mean_img_) · weight_ + mean_txt_`` with ``weight_`` orthogonal
(D, D), so the inverse is ``weight_ᵀ`` and distances inside a modality are preserved.

The seed paper's rotation (§5, "Aligning via rotations"): "We want a rotation such that the
corresponding principal directions in each modality are aligned. For example, the top
principal direction for images should be aligned with the top principal direction for
text, ... Rotating the representations in such a way requires computing the principal
component scores, or the magnitude of the representation in each of its principal
directions. ... Given a matrix X ∈ R^{N×D} where N is the number of image/caption pairs and
D is the dimension, SVD computes the left singular, diagonal, and right singular matrix U,
D, V respectively where X = UDVᵀ. The principal component score is UD." The scores of an
image on its own principal directions, UD = X·V_img, placed on the text's principal
directions, give ``x ↦ x · V_img V_txtᵀ`` (a model trained on text scores t·V_txt and fed image
scores x·V_img is the same map, since V_txt is orthogonal). The SVD is of X as written, with
no centring: ``pca-rotation-paper`` (:class:`PCARotationPaper`). PCA, which "motivated" the
step, centres first: that reading is ``pca-rotation`` (:class:`PCARotation`), which also adds
the text mean. The paper states no sign convention for the directions; both rules here are ours.

References
----------
Liang et al. 2022, "Mind the Gap" (the gap correction baselines).
Schönemann 1966, "A generalized solution of the orthogonal Procrustes problem".
"Simple Unsupervised Image Captioning via CLIP's Multimodal Embeddings" (the seed paper), §5.
"""

from __future__ import annotations

import numpy as np

from gaptools.align.base import AffineAligner
from gaptools.align.statistics import ArrayStatistics, FitStatistics


def principal_directions(X: np.ndarray, *, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean and principal directions of ``X`` (N, D), strongest first.

    Parameters
    ----------
    X : ndarray, shape (N, D)
    center : bool
        Directions of the mean-centred data (PCA, default), or of the data as they are
        (uncentred: eigenvectors of the second-moment matrix XᵀX / N).

    Returns
    -------
    mean : ndarray, shape (D,), float64
    directions : ndarray, shape (D, D), float64
        Column k is the k-th right singular vector of the (centred) data; all D of them,
        so the basis is complete even when N < D.
    """
    return _directions(ArrayStatistics(X, X), "image", center=center)


def _directions(stats: FitStatistics, side: str, *, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """:func:`principal_directions` of one side of ``stats``."""
    mean, cov = stats.gaussian(side)
    if not center:  # second moment = covariance·(N−1)/N + mean meanᵀ
        n = stats.count(side)
        cov = cov * (max(n - 1, 1) / n) + np.outer(mean, mean)
    _, vecs = np.linalg.eigh(cov)
    return mean, vecs[:, ::-1]


class PCARotation(AffineAligner):
    """Rotate so that the k-th principal direction of images meets the k-th of text.

    With centred data ``X = U D Vᵀ`` for each modality, ``weight_ = V_img V_txtᵀ``: an
    image's coordinates on the image principal axes become the same coordinates on the
    text principal axes, then the text mean is added. This is the PCA reading of the seed
    paper's rotation ("motivated by PCA": PCA centres); the SVD as the paper writes it, of X
    uncentred, is :class:`PCARotationPaper`.

    Signs: a principal direction has no sign, so they are fixed deterministically. Each
    image direction is flipped so that its largest-magnitude entry is positive; each text
    direction is then flipped to point the same way as its image partner (non-negative
    dot product), so the rotation turns each axis by the smaller angle. Unsupervised:
    ``pairs`` is ignored.

    Learned state: ``mean_img_``, ``mean_txt_`` (D,), ``weight_`` (D, D) orthogonal,
    ``components_img_``, ``components_txt_`` (D, D), columns the principal directions.

    Parameters
    ----------
    renormalize : bool
    """

    name = "pca-rotation"
    state = AffineAligner.state + ("components_img_", "components_txt_")

    def _fit_stats(self, stats):
        self.mean_img_, v_img = _directions(stats, "image")
        self.mean_txt_, v_txt = _directions(stats, "text")
        rows = np.abs(v_img).argmax(axis=0)
        v_img = v_img * np.sign(v_img[rows, np.arange(v_img.shape[1])])
        v_txt = v_txt * np.where((v_img * v_txt).sum(axis=0) < 0, -1.0, 1.0)
        self.components_img_, self.components_txt_ = v_img, v_txt
        self.weight_ = v_img @ v_txt.T


class Procrustes(AffineAligner):
    """Orthogonal Procrustes on true pairs (supervised).

    Solves ``min_W ‖(A − ā) W − (B − b̄)‖_F`` over orthogonal ``W`` for the paired rows
    ``A = X_img[pairs[:, 0]]``, ``B = X_txt[pairs[:, 1]]``: with ``(A − ā)ᵀ(B − b̄) = U S Vᵀ``,
    ``W = U Vᵀ``. With ``center=False`` the means are zero (a pure rotation about the origin).

    Learned state: ``mean_img_``, ``mean_txt_`` (D,), ``weight_`` (D, D) orthogonal.

    Parameters
    ----------
    center : bool
        Fit the rotation on mean-centred pairs and translate between the means (default).
    renormalize : bool
    """

    name = "procrustes"
    supervised = True

    def __init__(self, *, center: bool = True, renormalize: bool = True) -> None:
        self.center = center
        self.renormalize = renormalize

    def _fit_stats(self, stats):
        self.mean_img_, self.mean_txt_, cross = stats.pair_moments(center=self.center)
        u, _, vt = np.linalg.svd(cross)
        self.weight_ = u @ vt


class PCARotationPaper(AffineAligner):
    """Rotate image principal directions onto text ones about the origin: no centring, no shift.

    The seed paper's rotation as it writes it (§5): "Given a matrix X ∈ R^{N×D} ... SVD
    computes ... U, D, V ... where X = UDVᵀ. The principal component score is UD", with
    "the top principal direction for images ... aligned with the top principal direction
    for text, the second ... with the second ..., and so on". Nothing is centred or
    translated: with ``X = U D Vᵀ`` the SVD of each modality *as it is* (the eigenvectors of
    XᵀX / N), an image's scores ``x · V_img`` are put on the text's directions,
    ``weight_ = V_img V_txtᵀ`` and ``x ↦ x · weight_``. Such a rotation keeps every norm, the
    centroid's too, so the centroid gap can only fall to ``|‖μ_img‖ − ‖μ_txt‖|`` (reached when
    the rotation turns μ_img onto μ_txt's direction). The paper reports its "average
    performance" dropping "from 40.8 to 15.8 using rotated representations".

    Signs (the paper states none): uncentred data fix them, so each
    direction of each modality points so that the modality's mean has a non-negative
    coordinate on it. The rule commutes with rotations: for texts that are a rotated copy
    of the images, ``X_txt = X_img Q``, the text directions are ``Qᵀ v_k`` with the same
    mean coordinates, and ``weight_ = Q`` exactly (distinct singular values assumed).
    Unsupervised: ``pairs`` is ignored.

    Learned state: ``mean_img_``, ``mean_txt_`` (D,) zeros (the affine form of a rotation
    about the origin), ``weight_`` (D, D) orthogonal, ``components_img_``,
    ``components_txt_`` (D, D), columns the oriented directions.

    Parameters
    ----------
    renormalize : bool
    """

    name = "pca-rotation-paper"
    state = AffineAligner.state + ("components_img_", "components_txt_")
    closes_gap = False  # a rotation about the origin keeps each centroid's norm

    def _fit_stats(self, stats):
        components = []
        for side in ("image", "text"):
            mean, v = _directions(stats, side, center=False)
            components.append(v * np.where(mean @ v < 0, -1.0, 1.0))
        self.components_img_, self.components_txt_ = components
        self.mean_img_, self.mean_txt_ = np.zeros(stats.dim), np.zeros(stats.dim)
        self.weight_ = self.components_img_ @ self.components_txt_.T
