"""The estimator contract every aligner follows (POT ``ot.da`` / scikit-learn style).

``__init__`` only stores keyword arguments; :meth:`Aligner.fit` validates the inputs and
returns ``self``; learned state ends in ``_``; :meth:`Aligner.transform` maps image
embeddings toward the text distribution and :meth:`Aligner.inverse_transform` maps text
embeddings toward the image distribution; both raise
:class:`~gaptools.errors.NotFittedError` before ``fit``. Outputs are float32 and, with
``renormalize=True`` (the default), L2-normalised again, since CLIP embeddings live on
the unit sphere.
"""

from __future__ import annotations

import inspect
from typing import ClassVar

import numpy as np

from gaptools.align.statistics import ArrayStatistics, FitStatistics
from gaptools.errors import InputError, NotFittedError
from gaptools.limits import check_needs, dimension_bytes
from gaptools.metrics import l2_normalize
from gaptools.validation import check_embeddings, check_same_dim

#: The two ways an aligner can be applied to a set.
DIRECTIONS = ("image-to-text", "text-to-image")


class Aligner:
    """Base class of the gap-correction estimators.

    Subclasses set :attr:`name`, list their persisted learned arrays in :attr:`state`,
    and implement ``_fit``, ``_forward`` (image → text) and ``_backward`` (text → image).

    Parameters
    ----------
    renormalize : bool
        L2-normalise the mapped embeddings (default True).

    Examples
    --------
    >>> import gaptools
    >>> aligner = gaptools.make_aligner("coral", {"reg": 0.1})
    >>> isinstance(aligner, gaptools.Aligner), aligner.get_params()
    (True, {'reg': 0.1, 'renormalize': True})
    >>> aligner
    CORAL(unfitted, reg=0.1)
    """

    #: Registry name (``gaptools align fit --method NAME``).
    name: ClassVar[str] = ""
    #: Whether ``fit`` needs ``pairs`` (true image/caption pairs).
    supervised: ClassVar[bool] = False
    #: Learned attributes saved with the aligner, besides ``dim_``.
    state: ClassVar[tuple[str, ...]] = ()
    #: Whether, with its default parameters, the method promises to bring the centroid gap
    #: down to a small residual out of sample (the shared test holds every such method to a
    #: quarter of it on planted data). False where it does not by construction: a rotation
    #: about the origin keeps each centroid's norm, multiplying by a raw transport plan
    #: shrinks embeddings by 1/n, and a memory projection keeps the lean of the captions
    #: nearest each image.
    closes_gap: ClassVar[bool] = True

    def __init__(self, *, renormalize: bool = True) -> None:
        self.renormalize = renormalize

    # ------------------------------------------------------------------ parameters

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """Names of the keyword-only hyper-parameters of ``__init__``."""
        sig = inspect.signature(cls.__init__)
        return tuple(p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY)

    def get_params(self) -> dict:
        """Hyper-parameters as a JSON-ready dict (what a saved aligner stores)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def memory_needs(self, dim: int, n_image: int = 0, n_text: int = 0) -> dict[str, int]:
        """Bytes of the largest allocations the size-like parameters ask for, by what.

        For a fit on ``n_image`` images and ``n_text`` captions of ``dim`` dimensions (both 0:
        applying). :meth:`fit` checks them against the memory budget
        (:func:`gaptools.limits.check_needs`) before the method allocates anything, and so does
        loading a saved aligner (:func:`gaptools.load_aligner`). Subclasses whose parameters
        size an allocation extend it (the base allocates nothing beyond its inputs).
        """
        return {}

    def _check_params(self) -> None:
        """Raise InputError for a hyper-parameter out of range (subclasses extend)."""
        if not isinstance(self.renormalize, bool):
            raise InputError(f"{self.name}: renormalize must be true or false, got {self.renormalize!r}")

    def __repr__(self) -> str:
        """``MeanShift(fitted, dim=512)``, ``CORAL(unfitted, reg=0.1)``: the state, then the parameters
        that differ from the defaults."""
        state = [f"fitted, dim={self.dim_}"] if hasattr(self, "dim_") else ["unfitted"]
        defaults = type(self)().get_params()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if k not in defaults or defaults[k] != v]
        return f"{type(self).__name__}({', '.join(state + changed)})"

    # ------------------------------------------------------------------ fitting

    def fit(self, X_img: np.ndarray, X_txt: np.ndarray, pairs: np.ndarray | None = None) -> "Aligner":
        """Learn the correction from image and text embeddings.

        Parameters
        ----------
        X_img : ndarray, shape (N_img, D)
        X_txt : ndarray, shape (N_txt, D)
        pairs : ndarray, shape (N_pairs, 2), int, optional
            Rows ``(image row, text row)`` of true pairs; only supervised methods use it.
            Without it they take row i of each as a pair (equal row counts required).

        Returns
        -------
        self
        """
        self._check_params()
        source = f"{self.name}.fit"
        X_img = check_embeddings(X_img, name="X_img", source=source)
        X_txt = check_embeddings(X_txt, name="X_txt", source=source)
        check_same_dim(X_img, X_txt, names=("X_img", "X_txt"), source=source)
        pairs = check_pairs(pairs, len(X_img), len(X_txt), source=source)
        if self.supervised and pairs is None:
            if len(X_img) != len(X_txt):
                raise InputError(
                    f"{source}: needs true pairs; pass pairs=(image row, text row) array "
                    f"(or equally many rows, row i a pair), got {len(X_img)} images and {len(X_txt)} texts"
                )
            pairs = np.repeat(np.arange(len(X_img))[:, None], 2, axis=1)
        check_needs(self.memory_needs(X_img.shape[1], len(X_img), len(X_txt)), source=source)
        self._fit(X_img, X_txt, pairs)
        self.dim_ = int(X_img.shape[1])
        return self

    def _fit(self, X_img: np.ndarray, X_txt: np.ndarray, pairs: np.ndarray | None) -> None:
        """Learn the state from the arrays; methods that need only moments implement ``_fit_stats``."""
        if not self.fits_from_statistics():
            raise NotImplementedError
        self._fit_stats(ArrayStatistics(X_img, X_txt, pairs))

    def _fit_stats(self, stats: FitStatistics) -> None:
        raise NotImplementedError

    @classmethod
    def fits_from_statistics(cls) -> bool:
        """True when the method learns from moments alone (:class:`~gaptools.align.statistics.FitStatistics`),
        so it can be fitted from the statistics of a streamed folder (:mod:`gaptools.stream`)."""
        return cls._fit_stats is not Aligner._fit_stats

    def fit_statistics(self, stats: FitStatistics) -> "Aligner":
        """Learn the correction from moments of the training data instead of its rows.

        Gives the state :meth:`fit` gives on the same data (up to rounding); only methods
        with :meth:`fits_from_statistics`. Supervised methods read the moments of true pairs.

        Returns
        -------
        self
        """
        if not self.fits_from_statistics():
            raise InputError(f"{self.name} cannot be fitted from moments: it needs the rows themselves")
        self._check_params()
        self._fit_stats(stats)
        self.dim_ = int(stats.dim)
        return self

    # ------------------------------------------------------------------ mapping

    def transform(self, X_img: np.ndarray) -> np.ndarray:
        """Map image embeddings toward the text distribution.

        Parameters
        ----------
        X_img : ndarray, shape (N, D)

        Returns
        -------
        ndarray, shape (N, D), float32
        """
        return self._map(X_img, self._forward, "X_img")

    def inverse_transform(self, X_txt: np.ndarray) -> np.ndarray:
        """Map text embeddings toward the image distribution.

        Parameters
        ----------
        X_txt : ndarray, shape (N, D)

        Returns
        -------
        ndarray, shape (N, D), float32
        """
        return self._map(X_txt, self._backward, "X_txt")

    def transform_modalities(
        self, X_img: np.ndarray, X_txt: np.ndarray, *, direction: str = "image-to-text"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Both modalities of a set after alignment in ``direction``.

        ``image-to-text`` moves the images and leaves the texts; ``text-to-image`` the
        reverse. Either array may have 0 rows (a one-modality set).

        Returns
        -------
        image : ndarray, shape (N_img, D), float32
        text : ndarray, shape (N_txt, D), float32
        """
        if check_direction(direction) == "image-to-text":
            return self.transform(X_img), self._as_is(X_txt, "X_txt")
        return self._as_is(X_img, "X_img"), self.inverse_transform(X_txt)

    def _forward(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _as_is(self, X: np.ndarray, name: str) -> np.ndarray:
        """The modality a method leaves in place, validated (renormalised when asked)."""
        return self._map(X, lambda x: x, name)

    def _map(self, X: np.ndarray, fn, name: str) -> np.ndarray:
        self.check_fitted()
        source = f"{self.name}.transform"
        X = check_embeddings(X, name=name, source=source, allow_empty=True)
        if X.shape[1] != self.dim_:
            raise InputError(
                f"{source}: '{name}' has {X.shape[1]} dimensions but the aligner was fitted on {self.dim_}"
            )
        if len(X) == 0:
            return X
        Y = np.asarray(fn(X), dtype=np.float32)
        return l2_normalize(Y) if self.renormalize else Y

    def check_fitted(self) -> None:
        """Raise NotFittedError unless ``fit`` (or loading) has set the learned state."""
        if not hasattr(self, "dim_"):
            raise NotFittedError(
                f"this {type(self).__name__} ('{self.name}') is not fitted yet",
                hint="call fit(X_img, X_txt) or load a saved aligner first",
            )


class AffineAligner(Aligner):
    """Aligners of the form ``x ↦ (x − mean_img_) · weight_ + mean_txt_`` (float64 maths).

    The inverse uses :meth:`_inverse_weight`, ``weight_ᵀ`` for the orthogonal maps.
    """

    state = ("mean_img_", "mean_txt_", "weight_")

    def memory_needs(self, dim: int, n_image: int = 0, n_text: int = 0) -> dict[str, int]:
        """The D x D covariances, their decompositions and the weight (:func:`gaptools.limits.dimension_bytes`)."""
        return {f"the {dim} x {dim} matrices (D = {dim})": dimension_bytes(dim)}

    def _forward(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_img_) @ self.weight_ + self.mean_txt_

    def _backward(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_txt_) @ self._inverse_weight() + self.mean_img_

    def _inverse_weight(self) -> np.ndarray:
        return self.weight_.T


def check_direction(direction: str) -> str:
    """Return ``direction`` if it is one of :data:`DIRECTIONS`, else raise InputError."""
    if direction not in DIRECTIONS:
        raise InputError(f"unknown direction '{direction}'", hint=f"use one of {', '.join(DIRECTIONS)}")
    return direction


def check_pairs(pairs: np.ndarray | None, n_img: int, n_txt: int, *, source: str) -> np.ndarray | None:
    """Validate an (N_pairs, 2) array of (image row, text row) indices.

    Returns
    -------
    ndarray, shape (N_pairs, 2), int64, or None
    """
    if pairs is None:
        return None
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
        raise InputError(f"{source}: 'pairs' must be a non-empty (N_pairs, 2) array, got shape {pairs.shape}")
    if not np.issubdtype(pairs.dtype, np.integer):
        raise InputError(f"{source}: 'pairs' has dtype {pairs.dtype}, expected integers")
    pairs = pairs.astype(np.int64, copy=False)
    for col, (label, n) in enumerate((("image", n_img), ("text", n_txt))):
        bad = (pairs[:, col] < 0) | (pairs[:, col] >= n)
        if bad.any():
            raise InputError(
                f"{source}: 'pairs' has {int(bad.sum())} {label} row(s) outside [0, {n}), first at pair {np.flatnonzero(bad)[0]}"
            )
    return pairs
