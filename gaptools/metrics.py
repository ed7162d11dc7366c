"""Gap metrics between image and text embeddings.

Two kinds of metric live here.

*Summable metrics* are functions of per-image sums (how many images and captions, the
sums of their vectors, the cosines of true pairs, retrieval hits). They are written once,
as formulas over summed statistics (:class:`PairSums`) whose arrays may carry leading batch axes,
so the same code gives the point estimate (sums over all images) and the cluster
bootstrap (weighted sums, one row per resample): see :mod:`gaptools.measure`.

*Sample metrics* (separability, MMD, Wasserstein, Fréchet, uniformity, effective rank)
work on the point sets directly, on seeded subsamples where they are super-linear.

Conventions: ``image`` is (N_img, D), ``text`` is (N_txt, D), ``text_image`` (N_txt,)
maps each caption to its image row; a *pair* is (caption, its image). Cosine-based
metrics always use unit vectors; distance-based ones use the vectors as given.

References
----------
Liang et al. 2022, "Mind the Gap: Understanding the Modality Gap in Multi-modal
Contrastive Representation Learning" (centroid gap, cone effect).
Wang & Isola 2020, "Understanding Contrastive Representation Learning through Alignment
and Uniformity on the Hypersphere".
Schrodi et al. 2025, "Two Effects, One Trigger" (relative modality gap, gap dimension ablation).
Roy & Vetterli 2007, "The effective rank".
Levi & Gilboa 2025, "The Double-Ellipsoid Geometry of CLIP" (conformity).
Nukrai et al. 2022, "Text-Only Training for Image Captioning using Noise-Injected CLIP" (CapDec:
noise injection); Zhang et al. 2024, "Connect, Collapse, Corrupt" (C3: the gap's "alignment noise").
Gretton et al. 2012, "A Kernel Two-Sample Test" (MMD).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from typing import NamedTuple

import numpy as np

RECALL_KS = (1, 5, 10)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, shape preserved (float32).

    Rows already of unit norm to float32 precision (what `gaptools embed` writes) are
    returned as they are, without a copy.
    """
    x = np.asarray(x, dtype=np.float32)
    norms = np.sqrt(np.einsum("nd,nd->n", x, x))
    if len(x) and np.abs(norms - 1.0).max() < 1e-5:
        return x
    return x / norms[:, None]


def column_sum(x: np.ndarray, block: int = 1024) -> np.ndarray:
    """Sum over rows, shape (D,) or (), float64: float32 blocks added in float64.

    Within 1.25x of a float32 pass, with the rounding error of ``block`` rows, not N
    (numpy sums the rows of a block one after another): at 100k x 512 unit rows the
    centroid gap is off by 1e-8 with 1024-row blocks, 2e-7 to 1e-6 with 8192-row ones.
    """
    if x.dtype == np.float64 or len(x) <= block:
        return x.sum(axis=0, dtype=np.float64)
    out = np.zeros(x.shape[1:], dtype=np.float64)
    for start in range(0, len(x), block):
        out += x[start : start + block].sum(axis=0)
    return out


# --------------------------------------------------------------------------- summable stats


@dataclass(slots=True)
class PairSums:
    """Sufficient statistics of a set, per image (group) or summed: the one contract between
    the code that gathers them (:func:`group_sums`, :mod:`gaptools.measure`) and the
    ``*_from_sums`` formulas that read them.

    Every array has the group axis first when per image, e.g. (G,) or (G, D); summed over
    groups it loses that axis, and a bootstrap puts a resample axis (B,) in its place.
    A statistic of an absent modality (or not gathered) is None. Assigning a misspelt
    field raises (the class has slots).

    Attributes
    ----------
    n_img, n_txt : ndarray, (G,)
        Images (1 each) and captions per group.
    sum_img, sum_txt : ndarray, (G, D)
        Sums of the vectors as given (float32 when per image).
    usum_img, usum_txt : ndarray, (G, D) or None
        Sums of their unit vectors; None when the given vectors are unit norm.
    self_txt : ndarray, (G,)
        Squared norm of the unit caption sum: Σ of cosines among a group's own captions,
        themselves included.
    n_txt_sq : ndarray, (G,)
        ``n_txt²``.
    matched_cos : ndarray, (G,)
        Summed cosines of true pairs (caption, its image).
    pair_img : ndarray, (G, D) or None
        Σ over a group's captions of its unit image vector, ``n_txt · x̂``: the image side of
        the true pairs, each pair once. Gathered on request (:func:`group_sums`'s
        ``pair_images``); when every image has one caption it is the unit image array itself.
    gallery_img, gallery_txt : ndarray, (G,)
        Images (0/1) and captions of each group in the retrieval gallery.
    hits_i2t, hits_t2i : dict of int to ndarray, (G,)
        Retrieval hits at k per group (image queries, caption queries).
    w2 : PairSums or None
        The same scalar statistics weighted by the squared bootstrap draw counts (vectors
        None): they let a formula leave out combinations of copies of one image. None for
        plain sums, where w² = w = 1.
    """

    n_img: np.ndarray | None = None
    sum_img: np.ndarray | None = None
    usum_img: np.ndarray | None = None
    n_txt: np.ndarray | None = None
    sum_txt: np.ndarray | None = None
    usum_txt: np.ndarray | None = None
    self_txt: np.ndarray | None = None
    n_txt_sq: np.ndarray | None = None
    matched_cos: np.ndarray | None = None
    pair_img: np.ndarray | None = None
    gallery_img: np.ndarray | None = None
    gallery_txt: np.ndarray | None = None
    hits_i2t: dict[int, np.ndarray] = field(default_factory=dict)
    hits_t2i: dict[int, np.ndarray] = field(default_factory=dict)
    w2: PairSums | None = None

    def map(self, fn: Callable[[np.ndarray], np.ndarray | None]) -> PairSums:
        """A new PairSums with ``fn`` applied to every present statistic (``w2`` dropped).

        Statistics are visited in one fixed order, the order of :meth:`arrays`: the fields
        as declared, then the hits k by k (image queries before caption queries).
        """
        out = PairSums()
        for name in _STAT_FIELDS:
            value = getattr(self, name)
            setattr(out, name, None if value is None else fn(value))
        for k in self.hits_i2t:
            out.hits_i2t[k] = fn(self.hits_i2t[k])
            out.hits_t2i[k] = fn(self.hits_t2i[k])
        return out

    def arrays(self) -> list[np.ndarray]:
        """The present statistics, in the order :meth:`map` visits them."""
        found: list[np.ndarray] = []
        self.map(found.append)
        return found

    @property
    def unit_img(self) -> np.ndarray:
        """Sum of unit image vectors."""
        return self.sum_img if self.usum_img is None else self.usum_img

    @property
    def unit_txt(self) -> np.ndarray:
        """Sum of unit caption vectors."""
        return self.sum_txt if self.usum_txt is None else self.usum_txt

    @property
    def copies(self) -> PairSums:
        """The sums that count combinations of copies of one image: ``w2``, or these plain sums.

        A bootstrap resample may draw an image several times; combinations of copies of one
        image (or of its captions) are not distinct pairs. Σ w² · stat over groups weighs
        them; with plain sums (w = 1) that is the statistic itself.
        """
        return self if self.w2 is None else self.w2


_STAT_FIELDS = tuple(f.name for f in fields(PairSums) if f.name not in ("hits_i2t", "hits_t2i", "w2"))


def group_sums(
    image: np.ndarray | None,
    text: np.ndarray | None,
    text_image: np.ndarray,
    *,
    n_groups: int,
    unit_image: np.ndarray | None = None,
    unit_text: np.ndarray | None = None,
    pair_images: bool = False,
) -> PairSums:
    """Per-image sufficient statistics of a set.

    Parameters
    ----------
    image : ndarray, shape (G, D), or None
        One row per image (the group); None for a text-only set.
    text : ndarray, shape (N_txt, D), or None
        None for an image-only set.
    text_image : ndarray, shape (N_txt,)
        Group of each caption.
    n_groups : int
        G, the number of groups.
    unit_image, unit_text : ndarray, optional
        Unit-norm versions; default: ``image``/``text`` are already unit norm.
    pair_images : bool
        Also gather ``pair_img`` (what :func:`alignment_noise_variance_from_sums` reads;
        one more (G, D) statistic to resample when images have several captions).

    Returns
    -------
    PairSums
        Per image (group axis first); the statistics of a missing modality are None, and
        the retrieval fields are left for the caller. :func:`total` (or weighting the
        group axis) gives the statistics of the set (or of a bootstrap resample).
    """
    s = PairSums()
    if image is not None:
        s.n_img = np.ones(n_groups)
        s.sum_img = image
        s.usum_img = None if unit_image is None else unit_image
    if text is not None:
        s.n_txt = np.bincount(text_image, minlength=n_groups).astype(np.float64)
        s.sum_txt = _group_rows(text, text_image, n_groups)
        s.usum_txt = None if unit_text is None else _group_rows(unit_text, text_image, n_groups)
        usum = s.unit_txt
        s.self_txt = np.einsum("gd,gd->g", usum, usum).astype(np.float64)  # Σ cos within an image's captions
        s.n_txt_sq = s.n_txt**2
    if image is not None and text is not None:
        ui = image if unit_image is None else unit_image
        ut = text if unit_text is None else unit_text
        identity = _is_identity(text_image, n_groups)
        cos = np.einsum("nd,nd->n", ui if identity else ui[text_image], ut).astype(np.float64)
        s.matched_cos = np.bincount(text_image, weights=cos, minlength=n_groups)
        if pair_images:  # one caption each: the unit images themselves (one array, resampled once)
            s.pair_img = ui if np.all(s.n_txt == 1) else ui * s.n_txt[:, None].astype(ui.dtype)
    return s


def _is_identity(groups: np.ndarray, n_groups: int) -> bool:
    """True when row i is group i for all ``n_groups`` groups (each row alone)."""
    return len(groups) == n_groups and np.array_equal(groups, np.arange(n_groups))


def _group_rows(x: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum rows of ``x`` (N, D) by group, shape (n_groups, D), float32."""
    if _is_identity(groups, n_groups):
        return x
    from scipy.sparse import csr_matrix

    ones = np.ones(len(groups), dtype=np.float32)
    member = csr_matrix((ones, (groups, np.arange(len(groups)))), shape=(n_groups, len(groups)))
    return np.asarray(member @ x, dtype=np.float32)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


def frechet_mean_term_from_sums(s: PairSums) -> np.ndarray:
    """‖mean(image) − mean(text)‖²: the centroid part of the Fréchet distance (see :func:`frechet_terms`)."""
    diff = s.sum_img / s.n_img[..., None] - s.sum_txt / s.n_txt[..., None]
    return _dot(diff, diff)


def centroid_gap_from_sums(s: PairSums) -> np.ndarray:
    """‖mean(image) − mean(text)‖ (Liang et al. 2022)."""
    return np.sqrt(frechet_mean_term_from_sums(s))


def matched_cosine_from_sums(s: PairSums) -> np.ndarray:
    """Mean cosine of true pairs (caption, its image)."""
    return s.matched_cos / s.n_txt


def random_cosine_from_sums(s: PairSums) -> np.ndarray:
    """Mean cosine over all mismatched (image, caption) combinations, computed exactly.

    Σ over all combinations of x̂·ŷ is (Σx̂)·(Σŷ); the true pairs are subtracted.
    """
    total = _dot(s.unit_img, s.unit_txt)
    same = s.copies.matched_cos
    return (total - same) / (s.n_img * s.n_txt - s.copies.n_txt)


def _cone(usum: np.ndarray, n: np.ndarray, same: np.ndarray, n_same: np.ndarray) -> np.ndarray:
    """Mean cosine between unit vectors of *different* images, from their sums.

    (‖Σx̂‖² − Σ_g ‖Σ_{x∈g} x̂‖²) / (n² − Σ_g n_g²): all combinations minus those within an image.
    """
    return (_dot(usum, usum) - same) / (n * n - n_same)


def image_cone_from_sums(s: PairSums) -> np.ndarray:
    """Mean cosine between distinct images: the cone effect (Liang et al. 2022)."""
    n_self = s.copies.n_img  # each image is a unit vector alone in its group
    return _cone(s.unit_img, s.n_img, n_self, n_self)


def text_cone_from_sums(s: PairSums) -> np.ndarray:
    """Mean cosine between captions of different images (the cone effect on the text side)."""
    return _cone(s.unit_txt, s.n_txt, s.copies.self_txt, s.copies.n_txt_sq)


def alignment_from_sums(s: PairSums) -> np.ndarray:
    """Wang & Isola alignment, E‖x̂ − ŷ‖² over true pairs (α = 2) = 2 − 2·matched cosine."""
    return 2.0 - 2.0 * matched_cosine_from_sums(s)


def alignment_noise_variance_from_sums(s: PairSums) -> np.ndarray:
    """The gap's noise: mean over dimensions of the per-dimension variance of the pair residuals.

    Over the true pairs (each once; unit vectors), ε = (x̂ − μ_img) − (ŷ − μ_txt) with μ the
    means over the same pairs; its population variance averaged over the D dimensions is
    (E‖x̂ − ŷ‖² − ‖μ_img − μ_txt‖²) / D = (alignment − ‖μ_img − μ_txt‖²) / D: the variance of
    the variance an isotropic Gaussian needs to match the pairs' spread once the mean shift is
    removed, what noise injection imitates (CapDec's N(0, v) on the inputs; C3's "alignment
    noise"). Needs ``pair_img``.
    """
    n_pairs = s.n_txt[..., None]
    diff = s.pair_img / n_pairs - s.unit_txt / n_pairs
    return (alignment_from_sums(s) - _dot(diff, diff)) / s.pair_img.shape[-1]


def relative_gap_from_sums(s: PairSums) -> np.ndarray:
    """Relative modality gap (RMG) of Schrodi et al. 2025.

    With the cosine dissimilarity d(u, v) = (1 − cos(u, v)) / 2,
    ``RMG = M / (M + W)`` where M is the mean d over true pairs and
    W = ½ (mean d between distinct images + mean d between captions of different
    images). Schrodi et al. average over distinct items of each modality; with one
    caption per image the two agree, with several we leave out the near-duplicate
    captions of one image so that they do not shrink W.
    0 when pairs coincide; near 1 when each modality is tight and the pairs far apart.
    """
    m = (1.0 - matched_cosine_from_sums(s)) / 2.0
    w = ((1.0 - image_cone_from_sums(s)) / 2.0 + (1.0 - text_cone_from_sums(s)) / 2.0) / 2.0
    return m / (m + w)


def recall_from_sums(s: PairSums, direction: str, k: int) -> np.ndarray:
    """Share of gallery queries whose true match ranks within the top ``k``.

    ``direction`` is ``"i2t"`` (image queries) or ``"t2i"`` (caption queries).
    """
    if direction == "i2t":
        return s.hits_i2t[k] / s.gallery_img
    if direction == "t2i":
        return s.hits_t2i[k] / s.gallery_txt
    raise ValueError(f"direction must be 'i2t' or 't2i', not {direction!r}")


#: Numbers of coordinates whose share of ‖Δ‖² `measure` reports (``gap_top2_share``, ``gap_top10_share``).
GAP_SHARE_KS = (2, 10)


def _top_share(delta: np.ndarray, k: int) -> np.ndarray:
    """Σ of the ``k`` largest squared coordinates of ``delta`` (..., D) over ‖delta‖², shape (...,)."""
    sq = np.asarray(delta, dtype=np.float64) ** 2
    k = min(k, sq.shape[-1])
    top = -np.partition(-sq, k - 1, axis=-1)[..., :k]
    return top.sum(axis=-1) / sq.sum(axis=-1)


def gap_top_share_from_sums(s: PairSums, k: int) -> np.ndarray:
    """Share of ‖Δ‖² in the ``k`` largest coordinates of Δ = mean(image) − mean(text).

    Σ of the ``k`` largest Δ_d² over ‖Δ‖² (every coordinate when ``k`` ≥ D): 1 when the gap
    lies on ``k`` coordinates, k/D when it is spread evenly over all D. The means are over
    every image and every caption, as for :func:`centroid_gap_from_sums` (the vectors as
    given); :func:`top_gap_dims` lists the coordinates one by one. Schrodi et al. 2025 find
    that few dimensions carry CLIP's gap.
    """
    return _top_share(s.sum_img / s.n_img[..., None] - s.sum_txt / s.n_txt[..., None], k)


SUMMABLE_FORMULAS = {
    "centroid_gap": centroid_gap_from_sums,
    "matched_cosine": matched_cosine_from_sums,
    "random_cosine": random_cosine_from_sums,
    "relative_gap": relative_gap_from_sums,
    "image_cone": image_cone_from_sums,
    "text_cone": text_cone_from_sums,
    "alignment": alignment_from_sums,
    "frechet_mean_term": frechet_mean_term_from_sums,
    **{f"gap_top{k}_share": partial(gap_top_share_from_sums, k=k) for k in GAP_SHARE_KS},
}


def total(s: PairSums) -> PairSums:
    """Sum every per-group statistic over the group axis (the point estimate's input)."""
    return s.map(column_sum)


# --------------------------------------------------------------------------- array API


def gap_vector(image: np.ndarray, text: np.ndarray) -> np.ndarray:
    """mean(image) − mean(text), shape (D,), float64: the direction of the gap."""
    return column_sum(image) / len(image) - column_sum(text) / len(text)


def centroid_gap(image: np.ndarray, text: np.ndarray) -> float:
    """‖mean(image) − mean(text)‖ (Liang et al. 2022).

    Parameters
    ----------
    image : ndarray, shape (N_img, D)
    text : ndarray, shape (N_txt, D)
    """
    return float(np.linalg.norm(gap_vector(image, text)))


def _pair_sums(image, text, text_image):
    text_image = np.arange(text.shape[0]) if text_image is None else np.asarray(text_image)
    return total(group_sums(l2_normalize(image), l2_normalize(text), text_image, n_groups=len(image)))


def matched_cosine(image: np.ndarray, text: np.ndarray, text_image: np.ndarray | None = None) -> float:
    """Mean cosine of true pairs; ``text_image`` defaults to row i ↔ row i."""
    return float(matched_cosine_from_sums(_pair_sums(image, text, text_image)))


def random_cosine(image: np.ndarray, text: np.ndarray, text_image: np.ndarray | None = None) -> float:
    """Mean cosine of all mismatched (image, caption) combinations (exact, O(N·D))."""
    return float(random_cosine_from_sums(_pair_sums(image, text, text_image)))


def relative_gap(image: np.ndarray, text: np.ndarray, text_image: np.ndarray | None = None) -> float:
    """Relative modality gap of Schrodi et al. 2025 (see :func:`relative_gap_from_sums`)."""
    return float(relative_gap_from_sums(_pair_sums(image, text, text_image)))


def cone(x: np.ndarray) -> float:
    """Mean cosine between distinct rows of ``x`` (N, D), exact in O(N·D)."""
    u = column_sum(l2_normalize(x))
    n = np.float64(x.shape[0])
    return float(_cone(u, n, n, n))


def alignment_noise_variance(image: np.ndarray, text: np.ndarray, text_image: np.ndarray | None = None) -> float:
    """The gap's noise over the true pairs (see :func:`alignment_noise_variance_from_sums`).

    Parameters
    ----------
    image : ndarray, shape (N_img, D)
    text : ndarray, shape (N_txt, D)
    text_image : ndarray, shape (N_txt,), optional
        Image row of each caption (default row i ↔ row i); an image with k captions is in k pairs.
    """
    text_image = np.arange(text.shape[0]) if text_image is None else np.asarray(text_image)
    sums = group_sums(l2_normalize(image), l2_normalize(text), text_image, n_groups=len(image), pair_images=True)
    return float(alignment_noise_variance_from_sums(total(sums)))


def conformity(x: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Each row's conformity: its mean cosine to the rows of the other groups (Levi & Gilboa 2025).

    Exact in O(N·D) from the column sum S of the unit rows: for row i of group g,
    (x̂_i · S − x̂_i · S_g) / (N − n_g), with S_g the sum of group g's rows (itself included).
    With one group per row (images) that is (x̂_i · S − 1) / (N − 1), whose mean is
    :func:`cone`; captions grouped by image count only the captions of *other* images, as
    :func:`text_cone_from_sums` does, and their mean is the text cone when every image has
    the same number of captions.

    Parameters
    ----------
    x : ndarray, shape (N, D)
    groups : ndarray, shape (N,), optional
        Group (image) of each row; default: each row its own group.

    Returns
    -------
    ndarray, shape (N,), float64
        NaN for a row whose group holds every row (no other rows to compare with).
    """
    u = l2_normalize(x)
    column = column_sum(u).astype(np.float32)
    n = len(u)
    groups = None if groups is None or _is_identity(np.asarray(groups), n) else np.asarray(groups)
    if groups is None:
        own, n_own = np.einsum("nd,nd->n", u, u), 1.0
    else:
        n_groups = int(groups.max()) + 1
        n_own = np.bincount(groups, minlength=n_groups)[groups].astype(np.float64)
        sums, block = _group_rows(u, groups, n_groups), 8192  # each row · its group's sum, a block at a time
        own = np.concatenate([np.einsum("nd,nd->n", u[i:i + block], sums[groups[i:i + block]])
                              for i in range(0, n, block)])
    others = np.broadcast_to(np.float64(n) - n_own, (n,))
    out = np.full(n, np.nan)
    np.divide((u @ column - own).astype(np.float64), others, out=out, where=others > 0)
    return out


def top_gap_dims(image: np.ndarray, text: np.ndarray, k: int = 5) -> list[list]:
    """The coordinates that carry most of the centroid gap.

    Returns
    -------
    list of [int, float]
        ``[dim, share]`` for the ``k`` largest shares ``g_d² / ‖g‖²`` of the gap vector g.
    """
    g = gap_vector(image, text)
    share = g**2 / max(float(g @ g), np.finfo(float).tiny)
    order = np.argsort(-share)[:k]
    return [[int(d), float(share[d])] for d in order]


def recall_hits(
    image: np.ndarray, text: np.ndarray, text_image: np.ndarray, ks=RECALL_KS, chunk: int = 2048
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Retrieval hits with the COCO protocol, by cosine similarity.

    An image query hits at k when any of its captions ranks within the top k captions;
    a caption query hits when its image ranks within the top k images. Rank = number
    of gallery items scoring strictly higher than the best true match.

    Parameters
    ----------
    image : ndarray, shape (G, D), unit norm
    text : ndarray, shape (N_txt, D), unit norm
    text_image : ndarray, shape (N_txt,)

    Returns
    -------
    i2t : dict k -> ndarray, shape (G,), bool
    t2i : dict k -> ndarray, shape (N_txt,), bool
    """
    # Both directions read the same caption-by-image products, recomputed chunk by chunk
    # in the same order, so a true pair's score is bitwise the one it is ranked against.
    g, n = image.shape[0], text.shape[0]
    rank_t2i = np.empty(n, dtype=np.int64)
    best = np.full(g, -np.inf, dtype=np.float32)
    for start in range(0, n, chunk):
        sim = text[start : start + chunk] @ image.T  # (c, G)
        rows = np.arange(sim.shape[0])
        true = sim[rows, text_image[start : start + chunk]]
        rank_t2i[start : start + chunk] = (sim > true[:, None]).sum(axis=1)
        np.maximum.at(best, text_image[start : start + chunk], true)
    rank_i2t = np.zeros(g, dtype=np.int64)
    for start in range(0, n, chunk):
        sim = text[start : start + chunk] @ image.T  # (c, G)
        rank_i2t += (sim > best[None, :]).sum(axis=0)
    return {k: rank_i2t < k for k in ks}, {k: rank_t2i < k for k in ks}


def recall_at_k(image, text, text_image=None, ks=RECALL_KS) -> dict[str, float]:
    """Recall@k both ways (COCO protocol): ``{"recall@1_i2t": .., "recall@1_t2i": .., ...}``."""
    text_image = np.arange(text.shape[0]) if text_image is None else np.asarray(text_image)
    i2t, t2i = recall_hits(l2_normalize(image), l2_normalize(text), text_image, ks)
    out = {}
    for k in ks:
        out[f"recall@{k}_i2t"] = float(i2t[k].mean())
        out[f"recall@{k}_t2i"] = float(t2i[k].mean())
    return out


# --------------------------------------------------------------------------- dimension ablation

#: Numbers of dimensions ablated by :func:`gap_dimension_ablation`.
ABLATION_KS = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class AblationCurve:
    """Retrieval and gap after removing the first k of ``dims``, one value per k of :attr:`DimAblation.ks`."""

    dims: list[int]  #: the dimensions in the order they are removed
    recall1_i2t: list[float]
    recall1_t2i: list[float]
    centroid_gap: list[float]

    def to_dict(self) -> dict:
        """JSON form, keyed like :func:`gaptools.measure.measure`'s metrics."""
        return {"dims": self.dims, "recall@1_i2t": self.recall1_i2t, "recall@1_t2i": self.recall1_t2i,
                "centroid_gap": self.centroid_gap}


@dataclass(frozen=True)
class DimAblation:
    """Result of :func:`gap_dimension_ablation`.

    Attributes
    ----------
    ks : list of int
        Numbers of dimensions removed, starting with 0 (nothing removed).
    top : AblationCurve
        Removing the dimensions that carry most of the centroid gap.
    random : AblationCurve
        Removing as many seeded random dimensions (the control).
    seed, n_image, n_text : int
        Seed of the random dimensions; images and captions measured.
    """

    ks: list[int]
    top: AblationCurve
    random: AblationCurve
    seed: int
    n_image: int
    n_text: int

    def to_dict(self) -> dict:
        """JSON form: ``{"ks", "top": {...}, "random": {...}, "seed", "n_image", "n_text"}``."""
        return {"ks": self.ks, "top": self.top.to_dict(), "random": self.random.to_dict(), "seed": self.seed,
                "n_image": self.n_image, "n_text": self.n_text}


def gap_dimension_ablation(
    image: np.ndarray,
    text: np.ndarray,
    text_image: np.ndarray | None = None,
    ks=ABLATION_KS,
    seed: int = 0,
) -> DimAblation:
    """Recall@1 both ways and the centroid gap after removing the top-k gap dimensions.

    Schrodi et al. 2025 ("Two Effects, One Trigger") find "that, contrary to intuition, only
    few embedding dimensions drive the gap"; their code (``analysis/gap_ablate_dims.py`` in
    lmb-freiburg/two-effects-one-trigger)
    L2-normalises the embeddings, ranks the dimensions by |mean(image) − mean(text)|,
    removes the top ones cumulatively, re-normalises, and tracks COCO R@1 and the gap. We
    do the same for each k in ``ks`` (removing a coordinate is zeroing it: cosines and
    the gap are the same), and add what their figure does not have: the same numbers of
    seeded random dimensions as a control, so a reader can tell the effect of *which*
    dimensions from the effect of losing k of them.

    Parameters
    ----------
    image : ndarray, shape (G, D)
    text : ndarray, shape (N_txt, D)
    text_image : ndarray, shape (N_txt,), optional
        Image row of each caption (default row i ↔ row i); recall uses the COCO protocol
        of :func:`recall_hits` on all the rows given (the gallery).
    ks : iterable of int
        Numbers of dimensions to remove; those outside 1..D−1 are left out.
    seed : int
        Seeds the random dimensions (a seeded permutation of all D; the first k are removed).

    Returns
    -------
    DimAblation
        The ranking uses the same shares as :func:`top_gap_dims`, on these rows.
    """
    image, text = l2_normalize(image), l2_normalize(text)
    text_image = np.arange(text.shape[0]) if text_image is None else np.asarray(text_image)
    dim = image.shape[1]
    ks = sorted({int(k) for k in ks if 0 < k < dim})
    k_max = ks[-1] if ks else 0
    top = [d for d, _ in top_gap_dims(image, text, k=k_max)]
    random = [int(d) for d in np.random.default_rng(seed).permutation(dim)[:k_max]]

    def scores(removed) -> tuple[float, float, float]:
        keep = np.ones(dim, dtype=bool)
        keep[removed] = False
        xi, xt = _unit_rows(image[:, keep]), _unit_rows(text[:, keep])
        i2t, t2i = recall_hits(xi, xt, text_image, ks=(1,))
        return float(i2t[1].mean()), float(t2i[1].mean()), centroid_gap(xi, xt)

    base = scores([])
    curves = []
    for dims in (top, random):
        rows = [base] + [scores(dims[:k]) for k in ks]
        curves.append(AblationCurve(dims, *[[row[i] for row in rows] for i in range(3)]))
    return DimAblation([0, *ks], curves[0], curves[1], seed, len(image), len(text))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit norm; an all-zero row stays zero (cosine 0 with everything)."""
    norms = np.sqrt(np.einsum("nd,nd->n", x, x))
    return x / np.maximum(norms, np.finfo(x.dtype).tiny)[:, None]


# --------------------------------------------------------------------------- sample metrics


def linear_separability(image: np.ndarray, text: np.ndarray, *, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic regression telling image from text.

    0.5 is chance (the modalities overlap); 1.0 means a hyperplane separates them.
    Pass equally many rows of each for a balanced chance level. NaN when either side has
    fewer than ``folds`` rows: stratified ``folds``-fold cross-validation is not defined there.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    if min(len(image), len(text)) < folds:
        return float("nan")
    x = np.concatenate([image, text]).astype(np.float64)
    y = np.r_[np.ones(len(image)), np.zeros(len(text))]
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(LogisticRegression(max_iter=2000), x, y, cv=cv, scoring="accuracy")
    return float(scores.mean())


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, shape (len(a), len(b)), float64."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def mmd_rbf(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased squared MMD with an RBF kernel, bandwidth by the median heuristic.

    k(u, v) = exp(−‖u − v‖² / (2σ²)) with σ the median distance between distinct points
    of the pooled sample (Gretton et al. 2012). Near 0 (can dip below) for one distribution.

    Parameters
    ----------
    x : ndarray, shape (n, D)
    y : ndarray, shape (m, D)
    """
    z = np.concatenate([x, y])
    d = _sq_dists(z, z)
    n, m = len(x), len(y)
    off = d[~np.eye(n + m, dtype=bool)]
    sigma2 = float(np.median(off)) or 1.0
    k = np.exp(-d / (2.0 * sigma2))
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    return float(
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2.0 * kxy.mean()
    )


def wasserstein2_terms(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Exact 2-Wasserstein distance between two point clouds, raw and with each cloud centred.

    Uniform weights, squared Euclidean ground cost, POT's exact solver. The centred
    distance is W2 between ``x − mean(x)`` and ``y − mean(y)``: what remains of the
    distance once the centroid shift is removed. One solve gives both: for every coupling
    π with these marginals, Σ π_ij ‖(x_i − x̄) − (y_j − ȳ)‖² = Σ π_ij ‖x_i − y_j‖² − ‖x̄ − ȳ‖²
    (the cross term averages to ‖x̄ − ȳ‖² under any such π), so the two costs differ by a
    constant and share their optimal plans; the centred cost is then read off the plan.
    Hence also W2² = ‖x̄ − ȳ‖² + W2_centred².

    Parameters
    ----------
    x : ndarray, shape (n, D)
    y : ndarray, shape (m, D)

    Returns
    -------
    (float, float)
        W2 and centred W2: square roots of the optimal transport costs.
    """
    import ot

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    a = np.full(len(x), 1.0 / len(x))
    b = np.full(len(y), 1.0 / len(y))
    cost, log = ot.emd2(a, b, _sq_dists(x, y), numItermax=10_000_000, return_matrix=True)
    centred_cost = float(np.sum(log["G"] * _sq_dists(x - x.mean(axis=0), y - y.mean(axis=0))))
    return float(np.sqrt(max(cost, 0.0))), float(np.sqrt(max(centred_cost, 0.0)))


def wasserstein2(x: np.ndarray, y: np.ndarray) -> float:
    """Exact 2-Wasserstein distance between point clouds ``x`` (n, D) and ``y`` (m, D) (see :func:`wasserstein2_terms`)."""
    return wasserstein2_terms(x, y)[0]


def wasserstein2_centred(x: np.ndarray, y: np.ndarray) -> float:
    """W2 between ``x`` (n, D) and ``y`` (m, D), each centred on its own mean: 0 for a shifted copy.

    See :func:`wasserstein2_terms`.
    """
    return wasserstein2_terms(x, y)[1]


def gaussian_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of ``x`` (N, D), float64 (one float32 GEMM)."""
    mu = column_sum(x) / len(x)
    centred = x - mu.astype(x.dtype)
    cov = (centred.T @ centred).astype(np.float64) / max(len(x) - 1, 1)
    return mu, cov


class FrechetTerms(NamedTuple):
    """The Fréchet distance between two Gaussians and its two parts.

    ``distance`` = ``mean_term`` + ``cov_term`` up to rounding.
    """

    distance: float  #: ‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½), clipped at 0
    mean_term: float  #: ‖μ₁−μ₂‖²: the centroid part
    cov_term: float  #: Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½) (squared Bures distance of the covariances), clipped at 0


def frechet_terms_from_fits(mu1, cov1, mu2, cov2) -> FrechetTerms:
    """Fréchet distance ‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½) between two Gaussians, with its terms.

    The first term is the centroid shift, the second the difference of the spreads (the
    squared 2-Wasserstein distance between the two Gaussians once both are centred).
    Tr (Σ₁Σ₂)^½ is computed as the sum of square roots of the eigenvalues of the
    symmetric Σ₁^½ Σ₂ Σ₁^½, which is stable for singular covariances.

    Parameters
    ----------
    mu1, mu2 : ndarray, shape (D,)
    cov1, cov2 : ndarray, shape (D, D)
    """
    w, v = np.linalg.eigh(cov1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = root1 @ cov2 @ root1
    tr_cross = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    mean_term = diff @ diff
    distance = max(mean_term + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_cross, 0.0)
    cov_term = max(np.trace(cov1) + np.trace(cov2) - 2.0 * tr_cross, 0.0)
    return FrechetTerms(float(distance), float(mean_term), float(cov_term))


def frechet_from_fits(mu1, cov1, mu2, cov2) -> float:
    """Fréchet distance between two Gaussians (see :func:`frechet_terms_from_fits`)."""
    return frechet_terms_from_fits(mu1, cov1, mu2, cov2).distance


def frechet_terms(x: np.ndarray, y: np.ndarray) -> FrechetTerms:
    """Fréchet distance between Gaussian fits of ``x`` (n, D) and ``y`` (m, D), with its terms."""
    return frechet_terms_from_fits(*gaussian_fit(x), *gaussian_fit(y))


def frechet(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of ``x`` (n, D) and ``y`` (m, D)."""
    return frechet_terms(x, y).distance


def effective_rank_from_cov(cov: np.ndarray) -> float:
    """exp(entropy) of the normalised singular values of the centred data (Roy & Vetterli 2007)."""
    sv = np.sqrt(np.clip(np.linalg.eigvalsh(cov), 0, None))
    p = sv / sv.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def effective_rank(x: np.ndarray) -> float:
    """Effective rank of the centred rows of ``x`` (N, D)."""
    return effective_rank_from_cov(gaussian_fit(x)[1])


def uniformity(x: np.ndarray, t: float = 2.0) -> float:
    """Wang & Isola uniformity, log mean over distinct pairs of exp(−t‖x̂_i − x̂_j‖²).

    Lower is more uniform on the sphere; 0 when all points coincide.
    """
    u = l2_normalize(x)
    d = _sq_dists(u, u)
    n = len(u)
    e = np.exp(-t * d)
    return float(np.log((e.sum() - np.trace(e)) / (n * (n - 1))))


# --------------------------------------------------------------------------- structure beyond the centroid
#
# What the modalities look like once the centroid shift is set aside: how far the pairs agree
# after it, how many directions each modality and the pair residual spread over, whether the
# two modalities spread along the same directions, and how few coordinates carry the gap
# (:func:`gap_top_share_from_sums`). All on the vectors as given: unit rows when `measure`
# normalises (its default), as the figures of issue 28 are.

#: Principal directions :func:`subspace_agreement` compares unless told otherwise (``measure``'s default too).
SUBSPACE_K = 10


def participation_ratio_from_cov(cov: np.ndarray) -> float:
    """Participation ratio (Σλ)² / Σλ² of the eigenvalues λ of a covariance.

    Computed without an eigendecomposition: Σλ = tr C and Σλ² = ‖C‖_F² for a symmetric C.
    d when the variance spreads evenly over d directions (and none elsewhere); 1 when it lies
    on one. It weighs the eigenvalues by their squares, so it counts the directions that hold
    most of the variance. The effective rank (:func:`effective_rank_from_cov`, Roy & Vetterli
    2007) is another count: exp of the Shannon entropy of the normalised *singular values*
    √λ of the centred data. Both are d for d equal eigenvalues; on a decaying spectrum the
    effective rank is larger, since √λ flattens the spectrum and the entropy counts the
    small directions more (real CLIP ViT-B/16 images, 500 COCO pairs: participation ratio
    42.7, effective rank 298.0).

    Parameters
    ----------
    cov : ndarray, shape (D, D)
        Symmetric (a covariance); its scale does not matter.

    Returns
    -------
    float
        In [1, D]; NaN when ``cov`` is zero (no spread: one row, or identical rows).
    """
    cov = np.asarray(cov, dtype=np.float64)
    frobenius2 = float(np.sum(cov * cov))
    return float(np.trace(cov) ** 2 / frobenius2) if frobenius2 > 0 else float("nan")


def participation_ratio(x: np.ndarray) -> float:
    """Participation ratio of the centred rows of ``x`` (N, D) (see :func:`participation_ratio_from_cov`)."""
    return participation_ratio_from_cov(gaussian_fit(x)[1])


def _pair_image_sum(image: np.ndarray, text_image: np.ndarray, n_groups: int) -> np.ndarray:
    """Σ over pairs of the image vector, shape (D,), float64: each image times its caption count."""
    counts = np.bincount(text_image, minlength=n_groups).astype(np.float64)
    return counts @ image.astype(np.float64, copy=False)


def pair_residual_cov(image: np.ndarray, text: np.ndarray, text_image: np.ndarray | None = None,
                      block: int = 8192) -> np.ndarray:
    """Covariance of the pair residuals ε = (x − μ_img) − (t − μ_txt), shape (D, D), float64.

    Over the true pairs (each caption t with its image x), μ the means over the same pairs;
    ε has mean zero, so the covariance is Σ εεᵀ / (N − 1). What is left of each pair once the
    mean shift is taken out (see also :func:`alignment_noise_variance_from_sums`, its trace / D).

    Parameters
    ----------
    image : ndarray, shape (G, D)
    text : ndarray, shape (N, D)
    text_image : ndarray, shape (N,), optional
        Image row of each caption (default row i ↔ row i).
    block : int
        Pairs per float32 product (memory: two (block, D) arrays).
    """
    text_image = np.arange(len(text)) if text_image is None else np.asarray(text_image)
    n = len(text)
    shift = (_pair_image_sum(image, text_image, len(image)) - column_sum(text)) / n  # μ_img − μ_txt over pairs
    m2 = np.zeros((image.shape[1],) * 2)
    for start in range(0, n, block):
        rows = slice(start, start + block)
        eps = (image[text_image[rows]] - text[rows] - shift.astype(np.float32)).astype(np.float32)
        m2 += eps.T @ eps
    return m2 / max(n - 1, 1)


def residual_participation_ratio(image: np.ndarray, text: np.ndarray, text_image: np.ndarray | None = None) -> float:
    """Participation ratio of the pair residuals (:func:`pair_residual_cov`); arguments as there."""
    return participation_ratio_from_cov(pair_residual_cov(image, text, text_image))


def principal_directions(cov: np.ndarray, k: int) -> np.ndarray | None:
    """The ``k`` leading eigenvectors of a covariance (D, D), shape (D, k), largest first.

    None when they are not determined: ``k`` > D, or the k-th eigenvalue is zero to rounding
    (≤ 1e-6 of the largest: fewer than k directions of spread, e.g. fewer than k + 1 rows).
    """
    cov = np.asarray(cov, dtype=np.float64)
    if k > cov.shape[0]:
        return None
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    order = np.argsort(values)[::-1][:k]
    if not values[order[0]] > 0 or values[order[-1]] <= 1e-6 * values[order[0]]:
        return None
    return vectors[:, order]


def principal_cosines(cov_img: np.ndarray, cov_txt: np.ndarray, k: int = SUBSPACE_K) -> np.ndarray | None:
    """Cosines of the principal angles between the top-``k`` principal subspaces of two covariances.

    The cosines of the principal angles between span(U) and span(V) (orthonormal bases, D × k)
    are the singular values of UᵀV (Björck & Golub 1973), largest first. Their shape tells how two
    modalities share their leading directions: a few cosines near 1 and the rest near 0 (a few
    directions shared, the others each modality's own), or every cosine middling (every direction
    half shared). Their mean is :func:`subspace_agreement_from_covs`.

    Parameters
    ----------
    cov_img, cov_txt : ndarray, shape (D, D)
    k : int
        Leading directions compared, ≥ 1 (default :data:`SUBSPACE_K`).

    Returns
    -------
    ndarray, shape (k,), or None
        In [0, 1], descending; None when either modality's top ``k`` is not determined (see
        :func:`principal_directions`).

    Raises
    ------
    InputError
        ``k`` is not a positive integer.
    """
    from gaptools.errors import InputError

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"subspace agreement: k must be a positive integer, got {k!r}")
    u, v = principal_directions(cov_img, int(k)), principal_directions(cov_txt, int(k))
    if u is None or v is None:
        return None
    return np.clip(np.linalg.svd(u.T @ v, compute_uv=False), 0.0, 1.0)


def subspace_agreement_from_covs(cov_img: np.ndarray, cov_txt: np.ndarray, k: int = SUBSPACE_K) -> float:
    """Mean cosine of the principal angles between the top-``k`` principal subspaces of two covariances.

    The mean of :func:`principal_cosines`: 1 when the two modalities spread along the same k
    directions (in any order, rotated within them); 0 when their leading directions are
    orthogonal; about √(k/D)-sized for random subspaces of a large D. Takes and refuses what
    :func:`principal_cosines` does.

    Returns
    -------
    float
        In [0, 1]; NaN where :func:`principal_cosines` gives None (a top ``k`` not determined).
    """
    cosines = principal_cosines(cov_img, cov_txt, k)
    return float("nan") if cosines is None else float(cosines.mean())


def subspace_agreement(image: np.ndarray, text: np.ndarray, k: int = SUBSPACE_K) -> float:
    """:func:`subspace_agreement_from_covs` of the rows of ``image`` (N_img, D) and ``text`` (N_txt, D)."""
    return subspace_agreement_from_covs(gaussian_fit(image)[1], gaussian_fit(text)[1], k)


def centred_and_shifted_cosines(image: np.ndarray, text: np.ndarray, text_image: np.ndarray,
                                weights: np.ndarray | None = None,
                                max_elements: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """Matched cosine after centring each modality, and after the mean shift, under image weights.

    Over the true pairs (x, t) (each caption with its image), with μ_img and μ_txt the means over
    the same pairs:

    - centred: mean of cos(x − μ_img, t − μ_txt);
    - shifted: mean of cos(x + μ_txt − μ_img, t) (images moved by the difference of the means,
      what the ``mean`` aligner does, before any renormalisation).

    Each resample weighs image g (with all its captions) by ``weights[b, g]``, so one call gives
    the image-level bootstrap of :mod:`gaptools.measure`: every dot product with a mean is a
    float32 product of the rows with the (b, D) means, O((G + N)·D) per resample, and the rows
    are never copied per pair.

    Parameters
    ----------
    image : ndarray, shape (G, D)
    text : ndarray, shape (N, D)
    text_image : ndarray, shape (N,)
        Image row of each caption.
    weights : ndarray, shape (B, G), optional
        Draw counts of the images in each of B resamples; None: each image once (B = 1).
    max_elements : int
        Resamples are processed in groups of at most ``max_elements // N`` (memory: a few
        float64 (N, group) arrays).

    Returns
    -------
    (ndarray, ndarray)
        Centred and shifted matched cosines, each shape (B,) float64; NaN where a centred
        vector is zero (one pair, or a resample of one image).
    """
    text_image = np.asarray(text_image)
    g, n = len(image), len(text)
    weights = np.ones((1, g), np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
    counts = np.bincount(text_image, minlength=g).astype(np.float32)
    xx = np.einsum("gd,gd->g", image, image).astype(np.float64)[text_image]  # (N,) per pair
    tt = np.einsum("nd,nd->n", text, text).astype(np.float64)
    xt = np.empty(n)
    for start in range(0, n, 8192):  # x·t of each pair, without an (N, D) copy of the images
        rows = slice(start, start + 8192)
        xt[rows] = np.einsum("nd,nd->n", image[text_image[rows]], text[rows])
    centred, shifted = [], []
    step = max(1, max_elements // max(n, 1))
    for start in range(0, len(weights), step):
        w = weights[start:start + step]  # (b, G)
        w_pair = w[:, text_image]  # (b, N)
        m = w_pair.sum(axis=1, dtype=np.float64)  # pairs in each resample
        mu_i = ((w * counts) @ image).astype(np.float64) / m[:, None]  # (b, D)
        mu_t = (w_pair @ text).astype(np.float64) / m[:, None]
        f32 = np.float32
        x_mi = (image @ mu_i.T.astype(f32)).astype(np.float64)[text_image]  # (N, b)
        x_mt = (image @ mu_t.T.astype(f32)).astype(np.float64)[text_image]
        t_mi = (text @ mu_i.T.astype(f32)).astype(np.float64)
        t_mt = (text @ mu_t.T.astype(f32)).astype(np.float64)
        ii, tt_, it = (mu_i * mu_i).sum(1), (mu_t * mu_t).sum(1), (mu_i * mu_t).sum(1)
        num_c = xt[:, None] - x_mt - t_mi + it
        norm_c = np.sqrt(np.clip(xx[:, None] - 2 * x_mi + ii, 0, None) * np.clip(tt[:, None] - 2 * t_mt + tt_, 0, None))
        num_s = xt[:, None] - t_mi + t_mt  # (x − Δ)·t with Δ = μ_img − μ_txt
        norm_s = np.sqrt(np.clip(xx[:, None] - 2 * x_mi + 2 * x_mt + ii - 2 * it + tt_, 0, None) * tt[:, None])
        wt = w_pair.T.astype(np.float64)  # (N, b)
        centred.append((wt * (num_c / norm_c)).sum(axis=0) / m)
        shifted.append((wt * (num_s / norm_s)).sum(axis=0) / m)
    return np.concatenate(centred), np.concatenate(shifted)


def centred_matched_cosine(image: np.ndarray, text: np.ndarray, text_image: np.ndarray | None = None) -> float:
    """Mean over true pairs of cos(x − μ_img, t − μ_txt) (see :func:`centred_and_shifted_cosines`).

    Parameters
    ----------
    image : ndarray, shape (G, D)
    text : ndarray, shape (N, D)
    text_image : ndarray, shape (N,), optional
        Image row of each caption (default row i ↔ row i).
    """
    text_image = np.arange(len(text)) if text_image is None else text_image
    return float(centred_and_shifted_cosines(image, text, text_image)[0][0])


def shifted_matched_cosine(image: np.ndarray, text: np.ndarray, text_image: np.ndarray | None = None) -> float:
    """Mean over true pairs of cos(x + μ_txt − μ_img, t): the matched cosine after the mean shift.

    Arguments as :func:`centred_matched_cosine`.
    """
    text_image = np.arange(len(text)) if text_image is None else text_image
    return float(centred_and_shifted_cosines(image, text, text_image)[1][0])


def gap_top_share(image: np.ndarray, text: np.ndarray, k: int) -> float:
    """Share of ‖Δ‖² in the ``k`` largest coordinates of Δ = mean(image) − mean(text).

    The array form of :func:`gap_top_share_from_sums`; ``image`` (N_img, D), ``text`` (N_txt, D).
    """
    return float(_top_share(gap_vector(image, text), k))
