"""Fitted corrections of the modality gap, applied out of sample.

Every aligner is an estimator (see :mod:`gaptools.align.base`): ``fit(X_img, X_txt,
pairs=None)`` returns ``self``, ``transform`` maps images toward text and
``inverse_transform`` texts toward images. Registered names (:data:`METHODS`):

- ``mean``: shift by the difference of modality means (Liang et al. 2022).
- ``center``: remove each modality's own mean (C3, Zhang et al. 2024).
- ``pca-rotation``: rotate image principal directions onto text ones.
- ``procrustes``: orthogonal Procrustes on true pairs (supervised).
- ``coral``: whiten image covariance, re-colour with text covariance.
- ``ot-exact``: exact optimal transport, barycentric map.
- ``ot-sinkhorn``: entropic optimal transport, barycentric map.

Only numpy is imported here; POT and scipy load when an OT aligner fits.
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
