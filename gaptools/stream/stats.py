"""Mergeable statistics of shards: what one pass over a shard gives and how two combine.

Each shard (in blocks, see :mod:`gaptools.stream.shards`) gives a :class:`StreamStats`;
:func:`merge` combines two in any grouping, so a tree reduction on Dask gives the statistics
of the whole folder. The parts:

- :class:`Moments`: count, mean and centred second moment Σ(a − ā)(b − b̄)ᵀ of each modality
  (and, for Procrustes, of true pairs (image, caption)), merged with the pairwise update of
  Chan, Golub & LeVeque (1979). Each block is centred on a float32 shift near its mean and
  its cross-product is one float32 GEMM summed in float64, so means and covariances carry
  the rounding of one block, not of N rows, and no uncentred moment ever cancels.
- summed per-image statistics (counts, cosines of true pairs, the caption self-sums: the
  fields of :class:`gaptools.metrics.PairSums`), so the in-memory formulas
  (:data:`gaptools.metrics.SUMMABLE_FORMULAS`) give the point estimates unchanged;
- a Poisson bootstrap (Hanley & MacGibbon 2006; Chamandy et al. 2012 use it on data
  streams): resample b gives image g the weight w_bg ~ Poisson(1), a function of
  a hash of (seed, b, global image id) alone, so the resamples, and their weighted sums,
  do not depend on the shard split or on which worker reads what. An image's captions share
  its weight (the cluster bootstrap of the in-memory path); Σ w² sums let the formulas
  leave out combinations of copies of one image, as in memory;
- seeded samples: the ``max_points`` images (one caption each) with the smallest hash of
  (seed, image id), and the retrieval gallery likewise (a bottom-k sketch: mergeable, and a
  uniform sample without replacement that no split changes).

Global ids and every hash are 64-bit SplitMix64 (Steele, Lea & Flood 2014) outputs.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gaptools import metrics as M
from gaptools.stream.shards import BLOCK_ROWS, Chunk

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# Hash purposes: each draw reads its own stream of hashes.
_SAMPLE, _GALLERY, _CAPTION, _BOOTSTRAP = 1, 2, 3, 4
_POISSON_BITS = 16
_BOOTSTRAP_BLOCK = 2048  # images weighted at once: B x 2048 weights (8 MB in float32 at B = 1000)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64 values (wrapping arithmetic)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def row_hash(seed: int, purpose: int, ids: np.ndarray) -> np.ndarray:
    """A 64-bit hash of (seed, purpose, id) for each global id: shape of ``ids``, uint64."""
    base = splitmix64(np.uint64((int(seed) * 8 + purpose) & 0xFFFFFFFFFFFFFFFF))
    return splitmix64(np.asarray(ids, dtype=np.uint64) ^ base)


def _poisson_table() -> np.ndarray:
    """Poisson(1) inverse CDF at the 2¹⁶ midpoints (u + ½) / 2¹⁶: a 16-bit hash -> a draw."""
    cdf = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(20)])
    u = (np.arange(1 << _POISSON_BITS) + 0.5) / (1 << _POISSON_BITS)
    return np.searchsorted(cdf, u, side="right").astype(np.float32)


_POISSON = _poisson_table()


def poisson_weights(seed: int, ids: np.ndarray, n_boot: int) -> np.ndarray:
    """Bootstrap weights w_bg ~ Poisson(1) of images ``ids`` in ``n_boot`` resamples.

    Each weight depends only on (seed, b, id): four 16-bit draws per 64-bit hash of
    (hash of (seed, id), b // 4), read through :func:`_poisson_table` (weights up to 8 at
    this resolution; P(w > 8) ≈ 1e-6).

    Returns
    -------
    ndarray, shape (n_boot, len(ids)), float32
    """
    base = row_hash(seed, _BOOTSTRAP, ids)  # (G,)
    quads = -(-n_boot // 4)
    with np.errstate(over="ignore"):
        steps = (np.arange(1, quads + 1, dtype=np.uint64) * _GOLDEN)[:, None]
    z = splitmix64(base[None, :] + steps)  # (quads, G)
    draws = z.view(np.uint16).reshape(quads, len(base), 4).transpose(0, 2, 1).reshape(quads * 4, len(base))
    return _POISSON[draws[:n_boot]]


def bottom_k(keys: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest (key, id), in increasing id order."""
    if len(keys) > k:
        keep = np.lexsort((ids, keys))[:k]
    else:
        keep = np.arange(len(keys))
    return keep[np.argsort(ids[keep], kind="stable")]


# --------------------------------------------------------------------------- moments


@dataclasses.dataclass
class Moments:
    """Count, means and centred cross-product of paired rows (a, b), float64; mergeable.

    With ``mean_b`` None the rows are one modality (b = a) and ``m2`` = Σ(a − ā)(a − ā)ᵀ.

    Attributes
    ----------
    n : int
    mean_a : ndarray, shape (D,)
    mean_b : ndarray, shape (D,), or None
    m2 : ndarray, shape (D, D)
    """

    n: int
    mean_a: np.ndarray
    mean_b: np.ndarray | None
    m2: np.ndarray

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray | None = None, block: int = BLOCK_ROWS) -> "Moments":
        """Moments of rows ``a`` (n, D) (and ``b`` (n, D)), float32, in blocks of ``block`` rows."""
        out = None
        for start in range(0, len(a), block):
            part = cls._of_block(a[start:start + block], None if b is None else b[start:start + block])
            out = part if out is None else out.merge(part)
        return out

    @classmethod
    def _of_block(cls, a: np.ndarray, b: np.ndarray | None) -> "Moments":
        n = len(a)
        mean_a, ca, sa = cls._centred(a)
        if b is None:
            return cls(n, mean_a, None, (ca.T @ ca).astype(np.float64) - np.outer(sa, sa) / n)
        mean_b, cb, sb = cls._centred(b)
        return cls(n, mean_a, mean_b, (ca.T @ cb).astype(np.float64) - np.outer(sa, sb) / n)

    @staticmethod
    def _centred(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean (float64 sum), rows minus a float32 shift near the mean, and the float64 sum of those.

        The centred rows are rounded to float32; their own sum (not zero) enters the
        cross-product's correction, so the rounding of the shift never biases it.
        """
        centred = x - x[:256].mean(axis=0)
        return x.sum(axis=0, dtype=np.float64) / len(x), centred, centred.sum(axis=0, dtype=np.float64)

    def merge(self, other: "Moments") -> "Moments":
        """The moments of both sets of rows (Chan et al.'s pairwise update)."""
        n = self.n + other.n
        da = other.mean_a - self.mean_a
        db = da if self.mean_b is None else other.mean_b - self.mean_b
        m2 = self.m2 + other.m2 + np.outer(da, db) * (self.n * other.n / n)
        mean_b = None if self.mean_b is None else self.mean_b + db * (other.n / n)
        return Moments(n, self.mean_a + da * (other.n / n), mean_b, m2)

    def cov(self, ddof: int = 1) -> np.ndarray:
        """Covariance (cross-covariance), ``m2 / (n − ddof)``."""
        return self.m2 / max(self.n - ddof, 1)


# --------------------------------------------------------------------------- samples


@dataclasses.dataclass
class Sketch:
    """A bottom-k sketch of images: the ``k`` with the smallest hashes, mergeable in any order.

    Attributes
    ----------
    k : int
        Images kept.
    keys, ids : ndarray, shape (m,), uint64 / int64
        Hash and global id of each kept image, in increasing id order.
    image : ndarray, shape (m, D), float32
    """

    k: int
    keys: np.ndarray
    ids: np.ndarray
    image: np.ndarray

    def _kept(self, other: "Sketch") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The bottom-k of both: positions kept, their keys, ids and image rows."""
        keys, ids = np.concatenate([self.keys, other.keys]), np.concatenate([self.ids, other.ids])
        keep = bottom_k(keys, ids, self.k)
        return keep, keys[keep], ids[keep], np.concatenate([self.image, other.image])[keep]


@dataclasses.dataclass
class Sample(Sketch):
    """The sample of the subsample metrics: a :class:`Sketch` with one caption per image.

    Attributes
    ----------
    text : ndarray, shape (m, D), float32
        Each image's caption (the one with the smallest caption hash).
    """

    text: np.ndarray

    def merge(self, other: "Sample") -> "Sample":
        keep, keys, ids, image = self._kept(other)
        return Sample(self.k, keys, ids, image, np.concatenate([self.text, other.text])[keep])


@dataclasses.dataclass
class Gallery(Sketch):
    """The retrieval gallery: a :class:`Sketch` (of its own hashes) with all the images' captions.

    Attributes
    ----------
    image : ndarray, shape (m, D), float32, unit rows
    text : ndarray, shape (t, D), float32, unit rows
    owner : ndarray, shape (t,), int64
        Global id of each caption's image.
    """

    text: np.ndarray
    owner: np.ndarray

    def merge(self, other: "Gallery") -> "Gallery":
        _, keys, ids, image = self._kept(other)
        owner = np.concatenate([self.owner, other.owner])
        captions = np.flatnonzero(np.isin(owner, ids))
        return Gallery(self.k, keys, ids, image, np.concatenate([self.text, other.text])[captions], owner[captions])

    @property
    def caption_image(self) -> np.ndarray:
        """Each caption's image as a row of :attr:`image`, shape (t,)."""
        return np.searchsorted(self.ids, self.owner)

    def hits(self) -> M.PairSums:
        """Per gallery image: retrieval hits at each k (COCO protocol), images, captions."""
        local = self.caption_image
        i2t, t2i = M.recall_hits(self.image, self.text, local)
        n = len(self.ids)
        sums = M.PairSums(gallery_img=np.ones(n), gallery_txt=np.bincount(local, minlength=n).astype(np.float64))
        for k in M.RECALL_KS:
            sums.hits_i2t[k] = i2t[k].astype(np.float64)
            sums.hits_t2i[k] = np.bincount(local, weights=t2i[k], minlength=n)
        return sums


# --------------------------------------------------------------------------- shard statistics


@dataclasses.dataclass(frozen=True)
class StatsConfig:
    """What a pass gathers (picklable: it travels to the workers with each task).

    Attributes
    ----------
    normalize : bool
        L2-normalise rows first (measure's default); False keeps raw vectors (align fits).
    summable : bool
        Gather the summed per-image statistics of the cosine metrics.
    pairs : bool
        Gather the cross moments of true pairs (image of each caption, caption).
    bootstrap : int
        Poisson resamples (0: none).
    max_points, max_gallery : int
        Sizes of the seeded sample and retrieval gallery (0: none).
    seed : int
    """

    normalize: bool = True
    summable: bool = True
    pairs: bool = False
    bootstrap: int = 0
    max_points: int = 0
    max_gallery: int = 0
    seed: int = 0


@dataclasses.dataclass
class StreamStats:
    """Everything one pass gathers about some shards; :func:`merge` combines two.

    Attributes
    ----------
    image, text : Moments
        Of the image rows and the caption rows (vectors as measured: unit when normalised).
    pairs : Moments or None
        Cross moments of (image of caption j, caption j) over all captions.
    sums : dict of str to float or ndarray
        Summed :class:`~gaptools.metrics.PairSums` fields other than the plain vector sums
        (those are ``n · mean`` of the moments): counts, cosine sums, unit-vector sums.
    boot : dict of str to ndarray, or None
        The same fields weighted by each resample's Poisson weights, (B,) or (B, D); keys
        ending in ``:w2`` hold scalar fields weighted by the squared weights.
    sample : Sample or None
    gallery : Gallery or None
    shards : int
        Shards merged in.
    """

    image: Moments
    text: Moments
    pairs: Moments | None = None
    sums: dict = dataclasses.field(default_factory=dict)
    boot: dict | None = None
    sample: Sample | None = None
    gallery: Gallery | None = None
    shards: int = 1

    def totals(self) -> M.PairSums:
        """The statistics of the whole set, as :func:`gaptools.metrics.total` gives them in memory."""
        out = M.PairSums(sum_img=self.image.n * self.image.mean_a, sum_txt=self.text.n * self.text.mean_a)
        for name, value in self.sums.items():
            setattr(out, name, np.float64(value) if np.ndim(value) == 0 else value)
        return out

    def resamples(self) -> M.PairSums | None:
        """The statistics of each bootstrap resample (a leading (B,) axis), with their ``w2``."""
        if self.boot is None:
            return None
        out, out.w2 = M.PairSums(), M.PairSums()
        for name, value in self.boot.items():
            target, field = (out.w2, name[:-3]) if name.endswith(":w2") else (out, name)
            setattr(target, field, value)
        return out


def _add(a, b):
    if a is None:
        return b
    return a if b is None else a.merge(b)


def merge(a: StreamStats, b: StreamStats) -> StreamStats:
    """The statistics of the shards of ``a`` and of ``b`` together (any order, any grouping)."""
    return StreamStats(
        image=a.image.merge(b.image),
        text=a.text.merge(b.text),
        pairs=None if a.pairs is None else a.pairs.merge(b.pairs),
        sums={k: a.sums[k] + b.sums[k] for k in a.sums},
        boot=None if a.boot is None else {k: a.boot[k] + b.boot[k] for k in a.boot},
        sample=_add(a.sample, b.sample),
        gallery=_add(a.gallery, b.gallery),
        shards=a.shards + b.shards,
    )


def merge_all(*parts: StreamStats) -> StreamStats:
    """:func:`merge` of several, left to right (one node of the reduction tree)."""
    out = parts[0]
    for part in parts[1:]:
        out = merge(out, part)
    return out


_VECTOR_SUMS = ("sum_img", "sum_txt")  # carried by the moments, not summed again


def chunk_stats(chunk: Chunk, cfg: StatsConfig) -> StreamStats:
    """The statistics of one block of rows (see the module docstring)."""
    image, text, text_image = chunk.image, chunk.text, chunk.text_image
    unit_img = unit_txt = None
    if cfg.normalize:
        image, text = M.l2_normalize(image), M.l2_normalize(text)
    elif cfg.summable or cfg.max_gallery:
        unit_img, unit_txt = M.l2_normalize(image), M.l2_normalize(text)
    rows_are_pairs = chunk.rows_are_pairs
    out = StreamStats(image=Moments.of(image), text=Moments.of(text))
    if cfg.pairs:
        out.pairs = Moments.of(image if rows_are_pairs else image[text_image], text)
    gids = chunk.group_offset + np.arange(len(image))
    if cfg.summable:
        per_image = M.group_sums(image, text, text_image, n_groups=len(image), unit_image=unit_img,
                                 unit_text=unit_txt)
        present = {f.name: getattr(per_image, f.name) for f in dataclasses.fields(M.PairSums)
                   if isinstance(getattr(per_image, f.name), np.ndarray)}
        out.sums = {name: v.sum(axis=0, dtype=np.float64) for name, v in present.items() if name not in _VECTOR_SUMS}
        if cfg.bootstrap:
            out.boot = _bootstrap_sums(present, gids, cfg)
    if cfg.max_points or cfg.max_gallery:
        caption = _one_caption(chunk, rows_are_pairs, cfg.seed)
        if cfg.max_points:
            out.sample = _sample(image, text, caption, gids, cfg)
        if cfg.max_gallery:
            out.gallery = _gallery(image if unit_img is None else unit_img, text if unit_txt is None else unit_txt,
                                   text_image, gids, cfg)
    return out


def _bootstrap_sums(present: dict, gids: np.ndarray, cfg: StatsConfig) -> dict:
    """Σ_g w_bg · stat_g for every resample b (and Σ w² for the scalar stats), in blocks of images.

    The products are float32 GEMMs (as the in-memory bootstrap's), each block's result added
    in float64; the weights are small integers, exact in float32.
    """
    scalars = [name for name, v in present.items() if v.ndim == 1]
    vectors = [name for name, v in present.items() if v.ndim == 2]
    dim = present[vectors[0]].shape[1]
    out = {}
    for start in range(0, len(gids), _BOOTSTRAP_BLOCK):
        part = slice(start, start + _BOOTSTRAP_BLOCK)
        w = poisson_weights(cfg.seed, gids[part], cfg.bootstrap)  # (B, g)
        table = np.stack([present[name][part] for name in scalars], axis=1).astype(np.float32)  # (g, S)
        rows = np.concatenate([present[name][part] for name in vectors], axis=1)  # (g, V·D), one GEMM
        weighted = (w @ rows).astype(np.float64)  # (B, V·D)
        sums = {**dict(zip(scalars, (w @ table).astype(np.float64).T)),
                **{f"{name}:w2": col for name, col in zip(scalars, ((w * w) @ table).astype(np.float64).T)},
                **{name: weighted[:, i * dim:(i + 1) * dim] for i, name in enumerate(vectors)}}
        out = sums if not out else {k: out[k] + v for k, v in sums.items()}
    return out


def _one_caption(chunk: Chunk, rows_are_pairs: bool, seed: int) -> np.ndarray:
    """Caption row of each image (the one with the smallest caption hash); −1 without captions."""
    if rows_are_pairs:
        return np.arange(len(chunk.image))
    keys = row_hash(seed, _CAPTION, chunk.caption_offset + np.arange(len(chunk.text)))
    order = np.lexsort((keys, chunk.text_image))
    groups, first = np.unique(chunk.text_image[order], return_index=True)
    chosen = np.full(len(chunk.image), -1, dtype=np.int64)
    chosen[groups] = order[first]
    return chosen


def _sample(image, text, caption, gids, cfg: StatsConfig) -> Sample:
    rows = np.flatnonzero(caption >= 0)
    keys = row_hash(cfg.seed, _SAMPLE, gids[rows])
    keep = bottom_k(keys, gids[rows], cfg.max_points)
    rows = rows[keep]
    return Sample(cfg.max_points, keys[keep], gids[rows], image[rows], text[caption[rows]])


def _gallery(unit_img, unit_txt, text_image, gids, cfg: StatsConfig) -> Gallery:
    keys = row_hash(cfg.seed, _GALLERY, gids)
    keep = bottom_k(keys, gids, cfg.max_gallery)
    captions = np.flatnonzero(np.isin(text_image, keep))
    return Gallery(cfg.max_gallery, keys[keep], gids[keep], unit_img[keep], unit_txt[captions],
                   gids[text_image[captions]])


def shard_stats(shard, cfg: StatsConfig) -> StreamStats:
    """The statistics of one shard: its blocks read in order and merged (one Dask task)."""
    from gaptools.stream.shards import iter_chunks

    out = None
    for chunk in iter_chunks(shard):
        part = chunk_stats(chunk, cfg)
        out = part if out is None else merge(out, part)
    out.shards = 1
    return out
