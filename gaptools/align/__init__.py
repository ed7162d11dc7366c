"""Fitted corrections of the modality gap, applied out of sample.

Every aligner is an estimator (see :mod:`gaptools.align.base`): ``fit(X_img, X_txt,
pairs=None)`` returns ``self``, ``transform`` maps images toward text and
``inverse_transform`` texts toward images. Registered names (:data:`METHODS`):

- ``mean``: shift by the difference of modality means (Liang et al. 2022).
- ``center``: remove each modality's own mean (C3, Zhang et al. 2024; = I0T_post, An et al. 2025).
- ``standardize``: per-modality, per-dimension z-score (training-free analogue of I0T_async's BatchNorm).
- ``moment``: per-dimension mean and deviation of the other modality.
- ``realign``: ReAlign's anchor, trace and centroid alignment (Yu et al. 2026).
- ``pca-rotation``: centre, rotate image principal directions onto text ones, add the text mean.
- ``pca-rotation-paper``: rotate uncentred principal directions about the origin, no shift.
- ``procrustes``: orthogonal Procrustes on true pairs (supervised).
- ``coral``: whiten image covariance, re-colour with text covariance.
- ``ot-exact``: exact optimal transport, squared-L2 cost, barycentric map.
- ``ot-paper``: exact optimal transport, L2 cost, embeddings multiplied by the raw plan T*.
- ``ot-plan-images``: exact OT, L2 cost, the image matrix multiplied by the plan (T*ᵀ·X_img).
- ``ot-sinkhorn``: entropic optimal transport, barycentric map.
- ``memory-projection``: DeCap's softmax projection onto a memory of captions (Li et al. 2023).
- ``diffusion-bridge``: a diffusion model of the captions denoises images toward them (Lee et al. 2025).

Only numpy is imported here; POT and scipy load when an OT aligner fits, torch and diffusers
when ``diffusion-bridge`` fits or applies.
"""

from gaptools.align.base import DIRECTIONS, Aligner
from gaptools.align.compare import compare
from gaptools.align.persist import SavedAligner, load_aligner, save_aligner
from gaptools.align.registry import METHODS, aligner_class, make_aligner
from gaptools.align.sets import apply_to_set, fit_on_set, set_pairs

__all__ = [
    "DIRECTIONS",
    "METHODS",
    "Aligner",
    "SavedAligner",
    "aligner_class",
    "apply_to_set",
    "compare",
    "fit_on_set",
    "load_aligner",
    "make_aligner",
    "save_aligner",
    "set_pairs",
]
