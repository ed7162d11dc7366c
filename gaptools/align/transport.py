"""Optimal-transport aligners: exact (``ot.emd``) and entropic (``ot.sinkhorn``).

Fit: draw at most ``max_fit_points`` rows of each modality (a seeded subsample without
replacement, ``random_state``), solve OT between the two clouds with uniform weights on
the squared Euclidean cost, and move each fitted point by the barycentric map
``x_i ↦ Σ_j T_ij y_j / Σ_j T_ij`` (= ``n·T·Y`` for uniform weights). Out of sample, a
point takes the displacement of its nearest fitted point (POT's ``ot.da`` rule), found
in chunks so no (N, n_fit) matrix larger than :data:`CHUNK_ELEMENTS` is built. A fitted
point maps exactly to its barycentric image.

The seed paper's OT (§5, "Aligning via Optimal Transport"), in its own words: "For the cost
matrix, we use the L2 distance between the representations where C_ij represents the
distance between the i-th image representation and the j-th text representation. We assume
uniform probability measures p1 and p2. To align the image representations, we multiply
them by T*." The last sentence reads two ways, both here under names that say what they do:
``ot-paper`` (:class:`OTPaper`: each image becomes the plan's weighting of the texts, T*·X_txt)
and ``ot-plan-images`` (:class:`OTPlanImages`: the image matrix multiplied by the plan,
T*ᵀ·X_img). ``ot-exact`` and ``ot-sinkhorn`` are ours (squared cost, barycentric map).

References
----------
Flamary et al. 2021, "POT: Python Optimal Transport" (``ot.emd``, ``ot.sinkhorn``, ``ot.da``).
Cuturi 2013, "Sinkhorn Distances: Lightspeed Computation of Optimal Transport".
"Simple Unsupervised Image Captioning via CLIP's Multimodal Embeddings" (the seed paper), §5.
"""

from __future__ import annotations

import numpy as np

from gaptools.align.base import Aligner
from gaptools.errors import GapToolsError, InputError
from gaptools.validation import check_seed

#: Largest number of distances held at once when mapping new points (≈ 256 MB float32).
CHUNK_ELEMENTS = 1 << 26

SOLVERS = ("auto", "emd")


def uniform_weights(n: int, dtype=np.float64) -> np.ndarray:
    """Uniform histogram of ``n`` points, shape (n,)."""
    return np.full(n, 1.0 / n, dtype=dtype)


#: Ground costs the exact solver takes: squared Euclidean (ours) and Euclidean (the L2
#: cost of :class:`OTPaper`).
METRICS = ("sqeuclidean", "euclidean")


def cost_matrix(x: np.ndarray, y: np.ndarray, metric: str = "sqeuclidean") -> np.ndarray:
    """Pairwise cost (n, m) in the dtype of the inputs (POT's ``ot.dist``).

    Parameters
    ----------
    x : ndarray, shape (n, D)
    y : ndarray, shape (m, D)
    metric : {"sqeuclidean", "euclidean"}
        ‖x − y‖² or ‖x − y‖.
    """
    import ot

    return ot.dist(x, y, metric=metric)


def seeded_rows(X: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``size`` rows of ``X`` (N, D): all of them in order when N <= size, else a
    draw without replacement from ``rng``, kept in their original order."""
    if len(X) <= size:
        return X
    return X[np.sort(rng.choice(len(X), size=size, replace=False))]


def exact_plan(x: np.ndarray, y: np.ndarray, *, solver: str = "auto", metric: str = "sqeuclidean"):
    """Exact OT plan between uniform clouds ``x`` (n, D) and ``y`` (m, D).

    With ``solver="auto"`` and ``n == m`` the problem is an assignment problem (an
    optimal plan is a permutation /n, Birkhoff) and is solved with
    ``scipy.optimize.linear_sum_assignment``, which reaches the same optimum several times
    faster than ``ot.emd``; otherwise (or with ``solver="emd"``) POT's network simplex.
    ``metric`` is the ground cost (:func:`cost_matrix`); Birkhoff's argument holds for any cost.

    Returns
    -------
    scipy.sparse.csr_array, shape (n, m), float64
        The plan; rows sum to 1/n, columns to 1/m. At most n + m − 1 non-zeros.
    """
    import ot
    from scipy import sparse
    from scipy.optimize import linear_sum_assignment

    n, m = len(x), len(y)
    cost = cost_matrix(x.astype(np.float64), y.astype(np.float64), metric)
    if solver == "auto" and n == m:
        rows, cols = linear_sum_assignment(cost)
        return sparse.csr_array((np.full(n, 1.0 / n), (rows, cols)), shape=(n, m))
    plan, log = ot.emd(uniform_weights(n), uniform_weights(m), cost, numItermax=10_000_000, log=True)
    if log["warning"] is not None:
        raise GapToolsError(f"ot.emd did not reach the optimum: {log['warning']}",
                            hint="lower max_fit_points")
    return sparse.csr_array(plan)


def sinkhorn_plan(x: np.ndarray, y: np.ndarray, *, reg: float, max_iter: int, tol: float) -> np.ndarray:
    """Entropic OT plan between uniform clouds with ``ot.sinkhorn`` (scaling iterations).

    The cost is divided by its maximum, so ``reg`` is relative to the largest squared
    distance and the kernel ``exp(−cost/reg) ≥ exp(−1/reg)``; the computation is float32
    when that bound is a normal float32 (``reg ≥ 0.02``), float64 otherwise.

    The iterations are matrix-vector products, memory-bound, so they run with one BLAS
    thread: measured on the shared 2-core machine, threaded OpenBLAS spin-waits and was
    20-50× slower at n = 1,000 and 1.6× slower at n = 10,000 (the cost matrix, a GEMM,
    keeps every thread).

    Returns
    -------
    ndarray, shape (n, m)
        The plan; marginals uniform to ``tol`` (the stop criterion on the marginal error).
    """
    import ot
    from threadpoolctl import threadpool_limits

    dtype = np.float32 if reg >= 0.02 else np.float64
    cost = cost_matrix(x.astype(dtype), y.astype(dtype))
    cost /= max(float(cost.max()), np.finfo(dtype).tiny)
    with threadpool_limits(limits=1, user_api="blas"):  # POT warns if max_iter is reached
        plan = ot.sinkhorn(uniform_weights(len(x), dtype), uniform_weights(len(y), dtype), cost, reg,
                           numItermax=max_iter, stopThr=tol)
    rows = plan.sum(axis=1)
    if not np.isfinite(plan).all() or not (rows > 0).all():
        raise GapToolsError(f"ot.sinkhorn failed numerically at reg={reg}", hint="raise reg")
    return plan


def plan_product(plan, y: np.ndarray) -> np.ndarray:
    """``plan · y`` as written: row i is Σ_j T_ij y_j, shape (n, D), float64 or the plan's dtype.

    Rows of a uniform plan sum to 1/n, so each row is the barycentric image scaled by 1/n.
    """
    return np.asarray(plan @ y.astype(plan.dtype))


def barycentric_map(plan, y: np.ndarray) -> np.ndarray:
    """Rows of ``plan`` (n, m) as weighted means of ``y`` (m, D): shape (n, D), float32.

    ``plan_product`` divided by the row sums (= n·T·Y for uniform weights).
    """
    rows = np.asarray(plan.sum(axis=1), dtype=np.float64).reshape(-1, 1)
    return (plan_product(plan, y) / rows).astype(np.float32)


def nearest_rows(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``points`` (n, D) for each query (N, D), chunked.

    Returns
    -------
    ndarray, shape (N,), int64
    """
    sq = (points.astype(np.float32) ** 2).sum(axis=1)
    step = max(1, CHUNK_ELEMENTS // len(points))
    out = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), step):
        chunk = queries[start:start + step].astype(np.float32)
        out[start:start + step] = (sq[None, :] - 2.0 * chunk @ points.T).argmin(axis=1)
    return out


class _Transport(Aligner):
    """Shared fit/transform of the OT aligners; subclasses supply :meth:`_plan`.

    Learned state: ``fit_img_`` (n, D) and ``fit_txt_`` (m, D), the fitted points;
    ``displacement_img_`` (n, D), target minus point for each fitted image, and
    ``displacement_txt_`` (m, D) the same for texts (through the transposed plan). The
    target is the barycentric image unless a subclass's :meth:`_targets` says otherwise.
    """

    state = ("fit_img_", "fit_txt_", "displacement_img_", "displacement_txt_")

    def _check_params(self):
        super()._check_params()
        if not isinstance(self.max_fit_points, int) or self.max_fit_points < 2:
            raise InputError(f"{self.name}: max_fit_points must be an integer >= 2, got {self.max_fit_points!r}")
        check_seed(self.random_state, f"{self.name}: random_state")

    def memory_needs(self, dim: int, n_image: int = 0, n_text: int = 0) -> dict[str, int]:
        """The fit's (n, m) float64 cost matrix and plan (a few copies), n and m capped at ``max_fit_points``."""
        n, m = min(n_image, self.max_fit_points), min(n_text, self.max_fit_points)
        return {f"the {n} x {m} cost matrix and plan (max_fit_points {self.max_fit_points})": 3 * 8 * n * m}

    def _fit(self, X_img, X_txt, pairs):
        rng = np.random.default_rng(self.random_state)
        xs, xt = seeded_rows(X_img, self.max_fit_points, rng), seeded_rows(X_txt, self.max_fit_points, rng)
        plan = self._plan(xs, xt)
        self.fit_img_, self.fit_txt_ = xs, xt
        self.displacement_img_ = (self._targets(plan, xt) - xs).astype(np.float32)
        self.displacement_txt_ = (self._targets(plan.T, xs) - xt).astype(np.float32)

    def _plan(self, xs, xt):
        raise NotImplementedError

    def _targets(self, plan, y):
        """Where the plan sends the fitted points: their barycentric images (n, D)."""
        return barycentric_map(plan, y)

    def _forward(self, X):
        return X + self.displacement_img_[nearest_rows(X, self.fit_img_)]

    def _backward(self, X):
        return X + self.displacement_txt_[nearest_rows(X, self.fit_txt_)]


class OTExact(_Transport):
    """Exact optimal transport on the squared Euclidean cost, barycentric mapping (ours).

    The usual OT alignment (POT's ``EMDTransport``); the seed paper's procedure differs in
    its cost (L2) and in how it applies the plan (:class:`OTPaper`, :class:`OTPlanImages`).

    Parameters
    ----------
    max_fit_points : int
        Rows of each modality used to fit (seeded subsample when larger). Exact OT is
        cubic-ish: 5,000 takes a few seconds, the (n, m) float64 cost n·m·8 bytes.
    solver : {"auto", "emd"}
        ``auto``: linear assignment when both sides have equally many points (same
        optimum, faster), ``ot.emd`` otherwise; ``emd``: always ``ot.emd``.
    random_state : int
        Seed of the subsample.
    renormalize : bool
    """

    name = "ot-exact"

    def __init__(self, *, max_fit_points: int = 5000, solver: str = "auto", random_state: int = 0,
                 renormalize: bool = True) -> None:
        self.max_fit_points = max_fit_points
        self.solver = solver
        self.random_state = random_state
        self.renormalize = renormalize

    def _check_params(self):
        super()._check_params()
        if self.solver not in SOLVERS:
            raise InputError(f"ot-exact: unknown solver '{self.solver}'", hint=f"use one of {', '.join(SOLVERS)}")

    def _plan(self, xs, xt):
        return exact_plan(xs, xt, solver=self.solver)


class OTSinkhorn(_Transport):
    """Entropic optimal transport (Sinkhorn), barycentric mapping.

    Parameters
    ----------
    reg : float
        Entropic regularisation relative to the largest squared distance (> 0); larger is
        smoother and faster, smaller is closer to exact OT.
    max_iter : int
        Most Sinkhorn iterations.
    tol : float
        Stop when the marginal error (L2) falls below it.
    max_fit_points : int
        Rows of each modality used to fit (seeded subsample when larger); the dense plan
        holds max_fit_points² floats (10,000 → 400 MB in float32).
    random_state : int
        Seed of the subsample.
    renormalize : bool
    """

    name = "ot-sinkhorn"

    def __init__(self, *, reg: float = 0.05, max_iter: int = 1000, tol: float = 1e-6,
                 max_fit_points: int = 10000, random_state: int = 0, renormalize: bool = True) -> None:
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.max_fit_points = max_fit_points
        self.random_state = random_state
        self.renormalize = renormalize

    def _check_params(self):
        super()._check_params()
        for key in ("reg", "tol"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not value > 0:
                raise InputError(f"ot-sinkhorn: {key} must be a positive number, got {value!r}")
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise InputError(f"ot-sinkhorn: max_iter must be a positive integer, got {self.max_iter!r}")

    def _plan(self, xs, xt):
        return sinkhorn_plan(xs, xt, reg=self.reg, max_iter=self.max_iter, tol=self.tol)


#: How :class:`OTPaper` uses the plan: ``plan`` multiplies by T* as written, ``barycentric``
#: divides each row by its mass first (n·T*·Y, the map of ``ot-exact``); ``residual`` is the
#: control that drops the plan's target altogether (a new point keeps only x − x_nn).
RESCALES = ("plan", "barycentric", "residual")


class OTPaper(OTExact):
    """The seed paper's OT alignment, read as each image replaced by the plan's weighting of the texts.

    The paper (§5): "we use the L2 distance between the representations where C_ij
    represents the distance between the i-th image representation and the j-th text
    representation. We assume uniform probability measures p1 and p2. To align the image
    representations, we multiply them by T*." Here: an exact plan T* on the Euclidean (not
    squared) cost ``‖x − y‖``, and image i becomes row i of T*·X_txt. With uniform weights on
    n fitted images and m fitted texts the rows of T* sum to 1/n, so (``rescale="plan"``, the
    default) fitted image i becomes

        (T* Y)_i = Σ_j T*_ij y_j = (1/n) · b_i,   b_i = n Σ_j T*_ij y_j,

    its barycentric image b_i shrunk by 1/n (n = 5,000 fitted points → norms ≈ 2·10⁻⁴ for
    unit-norm texts; with n = m the plan is a permutation / n and b_i is the text assigned
    to image i). Texts map through T*ᵀ, scaled by 1/m. ``rescale="barycentric"`` divides by
    the row mass instead: the barycentric map of ``ot-exact``, on the L2 cost.

    Why this reading leads: it is the one under which the step moves images towards the
    texts at all, which is what the paper's next sentence expects of it ("optimal transport
    does not work in aligning the representations since the cost matrix alone ... does not
    transmit enough information"). The more literal grammar, "multiply them [the image
    representations] by T*", is :class:`OTPlanImages`.

    Renormalisation: with ``renormalize=True`` (the toolkit's default, kept so the method
    honours the shared contract) a fitted point comes out as b_i/‖b_i‖, so on fitted points
    the two rescales agree and ``ot-paper`` equals the barycentric map under the L2 cost.
    The fully literal procedure is ``renormalize=False`` (``--no-renormalize``): outputs of
    norm ≈ 1/n. Out of sample (POT's rule, shared with ``ot-exact``) a new point x becomes
    ``x + (T*Y)_k − x_k`` for its nearest fitted image x_k: with the 1/n-scaled target the
    residual ``x − x_k`` dominates, so held-out images keep little of where the plan sent
    their neighbour, renormalised or not (renormalised, the output's cosine with
    normalise(x − x_k) is ≈ 1). ``rescale="residual"`` is that residual alone, the control:
    the target dropped, a new point becomes normalise(x − x_k). (Stored as float32
    displacements, a fitted point's 1/n-scaled target is exact to ~n·10⁻⁷ relative.)

    In sample. The paper fits T* on "N ... image/caption pairs" and multiplies them by it: no
    out-of-sample step. Fitted on a set and applied to the same images (``fit`` then
    ``transform`` of the same rows: each is its own nearest fitted point), every image becomes
    exactly its target. With ``renormalize=False`` that is (1/n)·b_i, the paper's procedure as
    we read it; with ``renormalize=True`` it is b_i/‖b_i‖, a weighting of the set's own captions:
    fitted on test images and their captions, it hands the captioner the embeddings of the
    test references it is scored against (a leak of the test captions, not a correction). The
    reproduction runs both, fitted on val and in sample, fed to the captioner with and without
    its input normalisation (``gaptools reproduce``'s OT grid, ``docs/user_guide/results.md``).

    Can this produce the paper's collapse ("drops from 40.8 to 0.0, where the model
    generates non-sensible text")? A decoder that does not renormalise its input (ClipCap's
    reference ``parse_coco.py`` stores ``encode_image`` outputs as they are) sees inputs ≈ 0
    from the literal product, so its prefix hardly depends on the image: about the same
    caption for every image, CIDEr near zero. Our captioner L2-normalises inputs by default
    (``caption.data.prepare_inputs``), which undoes the 1/n on fitted points but not the
    out-of-sample residual; the grid measures each case.

    Parameters
    ----------
    max_fit_points, solver, random_state
        As :class:`OTExact`.
    rescale : {"plan", "barycentric", "residual"}
        ``plan``: T*·Y as written (default); ``barycentric``: rows divided by their mass;
        ``residual``: no target (the control: a new point keeps x − x_nn; a fitted point becomes 0).
    renormalize : bool
    """

    name = "ot-paper"
    closes_gap = False  # the literal plan product shrinks embeddings by 1/n

    def __init__(self, *, max_fit_points: int = 5000, solver: str = "auto", rescale: str = "plan",
                 random_state: int = 0, renormalize: bool = True) -> None:
        super().__init__(max_fit_points=max_fit_points, solver=solver, random_state=random_state,
                         renormalize=renormalize)
        self.rescale = rescale

    def _check_params(self):
        super()._check_params()
        if self.rescale not in RESCALES:
            raise InputError(f"{self.name}: unknown rescale '{self.rescale}'", hint=f"use one of {', '.join(RESCALES)}")

    def _plan(self, xs, xt):
        return exact_plan(xs, xt, solver=self.solver, metric="euclidean")

    def _targets(self, plan, y):
        if self.rescale == "residual":
            return np.zeros((plan.shape[0], y.shape[1]), dtype=np.float32)
        return plan_product(plan, y) if self.rescale == "plan" else super()._targets(plan, y)


class OTPlanImages(OTPaper):
    """The seed paper's OT alignment read literally: the image matrix multiplied by the plan, T*ᵀ·X_img.

    "To align the image representations, we multiply them by T*" (§5). T* is
    (images × texts), the image matrix X_img (images × D); the product that exists is
    T*ᵀ·X_img (texts × D): row j is Σ_i T*_ij x_i, the images the plan sends to text j (scaled
    by 1/m, m texts, for uniform weights). Its rows are indexed by *texts*, so an image gets
    the row of its own caption: the paper sets X up as "N ... image/caption pairs", and row
    j of the product is then the new representation of pair j's image. Fit: one caption per
    image (its first pair), at most ``max_fit_points`` such pairs (seeded), so n = m and T* is
    a permutation σ / n (image i sent to caption σ(i)); fitted image i becomes

        (T*ᵀ X_img)_i = x_{σ⁻¹(i)} / n,

    the image whose assigned caption is image i's own, scaled by 1/n (``rescale="plan"``, as
    written; ``"barycentric"`` drops the 1/n). (The other product that type-checks when
    n = m, n·T*·X_img, gives x_{σ(i)}: the inverse relabelling, with the same set of outputs.)
    The output is still an image embedding: the image cloud is only re-indexed, so nothing
    moves towards the text distribution, and where OT recovers the true pairs (σ = identity)
    every image keeps its own embedding. What changes is which image a caption is made
    from: where σ is wrong, an image is described by another image's embedding. Texts map
    symmetrically (text j becomes (T*·X_txt)_j, the caption assigned to its image's row).
    Out of sample, POT's rule as for :class:`OTPaper` (the displacement of the nearest fitted
    point); with ``rescale="plan"`` the residual ``x − x_k`` dominates it, as there.

    Supervised in the sense of needing pairs (which caption belongs to which image); the
    plan itself never sees them.

    Parameters
    ----------
    max_fit_points, solver, rescale, random_state, renormalize
        As :class:`OTPaper`; ``max_fit_points`` counts pairs (images).
    """

    name = "ot-plan-images"
    supervised = True

    def _fit(self, X_img, X_txt, pairs):
        rng = np.random.default_rng(self.random_state)
        _, first = np.unique(pairs[:, 0], return_index=True)  # one caption per image (its first pair), by image
        chosen = seeded_rows(pairs[first], self.max_fit_points, rng)
        xs, xt = X_img[chosen[:, 0]], X_txt[chosen[:, 1]]  # (n, D) each, row i a pair
        plan = self._plan(xs, xt)
        self.fit_img_, self.fit_txt_ = xs, xt
        self.displacement_img_ = (self._targets(plan.T, xs) - xs).astype(np.float32)
        self.displacement_txt_ = (self._targets(plan, xt) - xt).astype(np.float32)
