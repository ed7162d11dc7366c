"""Aligners that only translate: the mean shift and per-modality centring.

References
----------
Liang et al. 2022, "Mind the Gap: Understanding the Modality Gap in Multi-modal
Contrastive Representation Learning" (shifting along the gap vector).
Zhang et al. 2024, "Connect, Collapse, Corrupt: Learning Cross-Modal Tasks with
Uni-Modal Data" (C3: remove each modality's mean).
An et al. 2025, "I0T: Embedding Standardization Method Towards Zero Modality Gap", ACL
(I0T_post: the same centring, then unit length).
"""

from __future__ import annotations

from gaptools.align.base import Aligner, check_direction


class MeanShift(Aligner):
    """Shift images by ``mean(text) − mean(image)``; texts by the opposite.

    Learned state: ``shift_``, shape (D,), float64. Before renormalisation the shifted
    training images have exactly the text centroid (centroid gap 0).

    Parameters
    ----------
    renormalize : bool
    """

    name = "mean"
    state = ("shift_",)

    def _fit_stats(self, stats):
        self.shift_ = stats.mean("text") - stats.mean("image")

    def _forward(self, X):
        return X + self.shift_

    def _backward(self, X):
        return X - self.shift_


class Center(Aligner):
    """C3's "collapse" step: each modality minus its own training mean.

    On unit-norm inputs this is also exactly I0T's post-hoc standardisation (I0T_post, An
    et al. 2025): its official code subtracts each modality's mean from the L2-normalised
    embeddings and normalises again, with no per-dimension scale (see ``standardize``).

    Unlike the other aligners this moves *both* modalities into one centred space:
    ``transform`` centres images, ``inverse_transform`` centres texts, and
    :meth:`transform_modalities` applies both whatever the direction.

    Learned state: ``mean_img_``, ``mean_txt_``, shape (D,), float64.

    Parameters
    ----------
    renormalize : bool
    """

    name = "center"
    state = ("mean_img_", "mean_txt_")

    def _fit_stats(self, stats):
        self.mean_img_ = stats.mean("image")
        self.mean_txt_ = stats.mean("text")

    def _forward(self, X):
        return X - self.mean_img_

    def _backward(self, X):
        return X - self.mean_txt_

    def transform_modalities(self, X_img, X_txt, *, direction="image-to-text"):
        """Centre both modalities; both directions give the same result."""
        check_direction(direction)
        return self.transform(X_img), self.inverse_transform(X_txt)
