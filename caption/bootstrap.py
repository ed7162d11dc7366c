"""Bootstrap intervals over test images for the pycocoevalcap caption scores, from per-image statistics.

A caption score is a statistic of the test *images*: each image brings one generated caption
and its references. A 95% interval over images comes from resampling the N scored images with
replacement and rescoring each resample; rerunning pycocoevalcap a thousand times is far too
slow, so :func:`image_stats` computes, once, what each metric needs of each image, and every
resample is scored from those statistics weighted by its draw counts ``c`` (an image drawn
twice counts twice). A resample is scored exactly as pycocoevalcap would score the resampled
list with each copy of an image renamed as a distinct image id (tested to 1e-9):

- **BLEU-1..4** (corpus BLEU, ``BleuScorer.compute_score(option="closest")``, as ``Bleu`` calls
  it): per image the clipped n-gram matches and guessed n-grams of each order (1-4), the
  hypothesis length and the reference length closest to it (ties to the shorter). A resample
  sums them with weights ``c``; the brevity penalty and the geometric mean are taken on the sums.
- **CIDEr-D** (``CiderScorer``, n = 4, sigma = 6): the mean over images of a per-image score whose
  tf-idf weights depend on the document frequencies ``df(g)`` = number of images whose references
  hold n-gram ``g``, and on log N. In a resample ``df(g) = sum_i c_i [g in refs(i)]`` (a copy is an
  image) and N is unchanged (a resample has N images). Since the weights ``log N - log max(1, df)``
  are never negative, every term of the per-image score is linear in the squared weights: the
  clipped dot product ``sum_g min(h_g, r_g) r_g w_g^2`` and the two squared norms
  ``sum_g h_g^2 w_g^2``, ``sum_g r_g^2 w_g^2``. So the statistics are three sparse matrices of
  counts (hypothesis x n-gram, reference x n-gram), the n-gram incidence of each image's
  references, and each reference's length penalty; a chunk of resamples costs a few sparse
  products. CIDEr-D's length penalty uses the difference of the *bigram* counts of hypothesis
  and reference (pycocoevalcap counts ``length`` on ``n == 1``, the 2-grams); we keep that.
- **METEOR 1.5** (the jar, ``-l en -norm``) is not a mean of per-image scores: its corpus score is
  computed from the *sums* of per-image sufficient statistics (the 23 numbers each ``SCORE`` line
  returns: lengths, function words, matches per stage, chunks), where a segment that matches its
  reference perfectly in one chunk adds no chunks (``MeteorStats.addStats``). We keep those
  statistics and apply the jar's own formula to their weighted sums (parameters alpha 0.85,
  beta 0.2, gamma 0.6, delta 0.75, module weights 1.0/0.6/0.8/0.6: METEOR 1.5's English
  defaults; the tests check the per-image and corpus scores against the jar).
- **ROUGE-L** (``Rouge.compute_score``: ``np.mean`` of per-image scores) and **SPICE** (the mean
  of per-image "All" F-scores) are means: a resample is a weighted mean of per-image scores.

Held fixed: the generated captions (one per image: the model is not retrained; run-to-run
variation is the seeds' part, :func:`combine_seeds`), each image's references, the PTB
tokenisation (per sentence, so resampling cannot change it) and METEOR's choice of best
reference per image (per image, so resampling cannot change it either). The resample size is N.
Intervals are percentile intervals (2.5%, 97.5%) of ``n_boot`` resamples, seeded.

Several training seeds (:func:`combine_seeds`, :func:`seed_weights`): the score of a row is the
mean over its S seeds, and two intervals are made from the same image resamples.

- ``ci95`` (primary), **seeds and test images**: a two-level (hierarchical) bootstrap. Each
  resample draws S seeds with replacement, then resamples the test images, and takes the mean
  over the drawn seeds of their scores on those images. The test images are the same for every
  seed (images are crossed with seeds, not nested in them), so one image resample is applied to
  every drawn seed: an image that is easy for one seed is easy for all, and drawing images apart
  per seed would shrink that shared part by 1/S. It carries the between-seed variance (with
  S = 3 the seed draw holds it at (S − 1)/S of the sample variance, so with few seeds it is
  still on the narrow side).
- ``ci95_images``, **test images only**: the seeds fixed (every seed in every resample), the
  interval of the seed-mean over a new draw of test images from the same trained models.

With one seed the two are the same. Both reuse the per-seed scores of one pass over the image
resamples, so the second costs nothing; rows resampled together pair seed by seed and image by
image (a seed's row of one captioner pairs with the same seed's other rows).

All scores here are x100, like :func:`gaptools.caption.evaluate.score_captions`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from gaptools.atomic import atomic_write
from gaptools.errors import InputError

BLEU_KEYS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4")
#: The eight metrics of the paper's Tables 1 and 2. The paper's §5 compares alignment methods by an
#: "average performance" it does not define; that it is the mean of these eight is our inference
#: (:mod:`gaptools.paper`: 40.8 matches Unsupervised-ClipCap's Table-1 mean, ClipCap's 52.4 does not).
AVERAGE_OF = (*BLEU_KEYS, "METEOR", "ROUGE_L", "CIDEr", "SPICE")
AVERAGE_KEY = "caption_average"
CIDER_N, CIDER_SIGMA = 4, 6.0  # pycocoevalcap Cider() defaults, as caption.evaluate calls it
#: METEOR 1.5 English defaults (alpha, beta, gamma, delta) and module weights (exact, stem, synonym, paraphrase).
METEOR_PARAMS = (0.85, 0.2, 0.6, 0.75)
METEOR_WEIGHTS = np.array([1.0, 0.6, 0.8, 0.6])
METEOR_STATS_LENGTH = 23
STATS_FORMAT = "caption.image_stats/1"
RESAMPLE_CHUNK = 100  # resamples drawn together (the draws do not depend on it)
#: What each interval of a multi-seed row covers (:func:`combine_seeds`), as the results say it.
INTERVALS = {
    "ci95": "seeds and test images (hierarchical bootstrap: seeds drawn with replacement, one image resample "
            "applied to every drawn seed)",
    "ci95_images": "test images only (the trained seeds fixed, every seed in every resample)",
}
_SEED_STREAM = 1  # the seed draws use their own stream, so the image draws do not depend on them
CIDER_CELLS = 4_000_000  # n-grams x resamples held at once in the CIDEr-D pass (float64: 32 MB)
_SMALL, _TINY = 1e-9, 1e-15  # BleuScorer's guards against division by zero


@dataclasses.dataclass
class CiderTerms:
    """What CIDEr-D needs of each image, as sparse count matrices over the n-grams (G) met.

    Attributes
    ----------
    incidence : scipy.sparse.csr_matrix, shape (N, G)
        1 where n-gram g occurs in some reference of image i (its document-frequency share).
    hyp_sq : csr_matrix, shape (4 N, G)
        Row ``4 i + n - 1``: squared counts h_g^2 of the hypothesis's n-grams of order n.
    ref_sq : csr_matrix, shape (4 K, G)
        Row ``4 k + n - 1``: squared counts r_g^2 of reference k's n-grams of order n.
    ref_dot : csr_matrix, shape (4 K, G)
        Row ``4 k + n - 1``: ``min(h_g, r_g) * r_g`` over the hypothesis's n-grams (CIDEr-D's clipping).
    ref_image : ndarray, shape (K,), int64
        Image of each reference.
    penalty : ndarray, shape (K,)
        ``exp(-delta^2 / (2 sigma^2))``, delta the bigram-count difference of hypothesis and reference.
    """

    incidence: object
    hyp_sq: object
    ref_sq: object
    ref_dot: object
    ref_image: np.ndarray
    penalty: np.ndarray

    @functools.cached_property
    def plan(self) -> "_CiderPlan":
        """The terms arranged for fast resampling (built on first use)."""
        return _CiderPlan.build(self)


@dataclasses.dataclass
class ImageStats:
    """Per-image statistics of one scored set of captions (see the module docstring).

    Attributes
    ----------
    ids : ndarray, shape (N,), str
        Image ids, in scoring order.
    bleu : ndarray, shape (N, 10)
        Clipped matches of orders 1-4, guesses of orders 1-4, hypothesis length, closest reference length.
    cider : CiderTerms
    meteor : ndarray, shape (N, 23), or None
        METEOR 1.5 sufficient statistics (the jar's ``SCORE`` output) against the best reference.
    rouge : ndarray, shape (N,), or None
        ROUGE-L of each image.
    spice : ndarray, shape (N,), or None
        SPICE "All" F-score of each image.
    """

    ids: np.ndarray
    bleu: np.ndarray
    cider: CiderTerms
    meteor: np.ndarray | None = None
    rouge: np.ndarray | None = None
    spice: np.ndarray | None = None

    @property
    def n_images(self) -> int:
        return len(self.ids)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric keys these statistics score, in :data:`AVERAGE_OF` order."""
        present = {"METEOR": self.meteor, "ROUGE_L": self.rouge, "SPICE": self.spice}
        return tuple(k for k in AVERAGE_OF if present.get(k, True) is not None)


# ---------------------------------------------------------------- statistics, once per scored set


def image_stats(gts: dict, res: dict, *, meteor: Sequence[str] | None = None, rouge=None, spice=None) -> ImageStats:
    """Per-image statistics of PTB-tokenised captions (what pycocoevalcap's scorers receive).

    Parameters
    ----------
    gts : dict of str to list of str
        Image id -> tokenised references (at least one each).
    res : dict of str to list of str
        Image id -> ``[tokenised hypothesis]``; the same ids as ``gts``, in scoring order.
    meteor : sequence of str, length N, optional
        The METEOR jar's ``SCORE`` line of each image (23 numbers).
    rouge, spice : array-like, shape (N,), optional
        Per-image ROUGE-L and SPICE scores (pycocoevalcap's second return values).

    Returns
    -------
    ImageStats
    """
    from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test

    ids = list(res)
    if set(ids) != set(gts):
        raise InputError("per-image statistics need the same image ids for hypotheses and references")
    bleu = np.zeros((len(ids), 10))
    for row, key in enumerate(ids):
        cooked = cook_test(res[key][0], cook_refs(gts[key]))
        testlen = cooked["testlen"]
        closest = min((abs(length - testlen), length) for length in cooked["reflen"])[1]  # BleuScorer's "closest"
        bleu[row] = [*cooked["correct"], *cooked["guess"], testlen, closest]
    return ImageStats(
        ids=np.array(ids, dtype=str), bleu=bleu, cider=_cider_terms([gts[k] for k in ids], [res[k][0] for k in ids]),
        meteor=None if meteor is None else _parse_meteor(meteor),
        rouge=None if rouge is None else np.asarray(rouge, dtype=np.float64),
        spice=None if spice is None else np.asarray(spice, dtype=np.float64),
    )


def _cider_terms(refs: list[list[str]], hyps: list[str]) -> CiderTerms:
    from pycocoevalcap.cider.cider_scorer import precook
    from scipy import sparse

    vocab: dict[tuple, int] = {}
    inc_rows, inc_cols = [], []
    hyp = ([], [], [])  # rows, columns, values of hyp_sq; the same for ref_sq and ref_dot
    sq, dot = ([], [], []), ([], [], [])
    ref_image, bigram_diff = [], []

    def add(parts: tuple, base: int, counts: dict, values: list) -> list[int]:
        cols = [vocab.setdefault(gram, len(vocab)) for gram in counts]
        parts[0].extend([base + len(gram) - 1 for gram in counts])
        parts[1].extend(cols)
        parts[2].extend(values)
        return cols

    for i, (image_refs, hypothesis) in enumerate(zip(refs, hyps)):
        h = precook(hypothesis, CIDER_N)
        add(hyp, CIDER_N * i, h, [float(c * c) for c in h.values()])
        h_bigrams = sum(c for gram, c in h.items() if len(gram) == 2)
        seen: set[int] = set()
        for reference in image_refs:
            r = precook(reference, CIDER_N)
            base = CIDER_N * len(ref_image)
            seen.update(add(sq, base, r, [float(c * c) for c in r.values()]))
            matched = {gram: min(h[gram], c) * c for gram, c in r.items() if gram in h}
            add(dot, base, matched, [float(v) for v in matched.values()])
            ref_image.append(i)
            bigram_diff.append(h_bigrams - sum(c for gram, c in r.items() if len(gram) == 2))
        inc_rows.extend([i] * len(seen))
        inc_cols.extend(seen)
    n, g, k = len(hyps), len(vocab), len(ref_image)

    def csr(parts, n_rows):
        rows, cols, values = parts
        return sparse.csr_matrix((np.asarray(values, dtype=np.float64), (rows, cols)), shape=(n_rows, g))

    delta = np.asarray(bigram_diff, dtype=np.float64)
    return CiderTerms(
        incidence=csr((inc_rows, inc_cols, np.ones(len(inc_rows))), n), hyp_sq=csr(hyp, CIDER_N * n),
        ref_sq=csr(sq, CIDER_N * k), ref_dot=csr(dot, CIDER_N * k), ref_image=np.asarray(ref_image, dtype=np.int64),
        penalty=np.exp(-(delta**2) / (2 * CIDER_SIGMA**2)),
    )


def _parse_meteor(lines: Sequence[str]) -> np.ndarray:
    stats = np.array([[float(x) for x in line.split()] for line in lines], dtype=np.float64).reshape(len(lines), -1)
    if stats.shape[1] != METEOR_STATS_LENGTH:
        raise ValueError(f"METEOR statistics have {stats.shape[1]} numbers per image, expected {METEOR_STATS_LENGTH}")
    return stats


# ---------------------------------------------------------------- scores of weighted resamples


def score_draws(stats: ImageStats, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric (x100) of resamples given by their draw counts.

    Parameters
    ----------
    stats : ImageStats
    counts : ndarray, shape (B, N)
        How many times each image is in each resample; a row of ones is the scored set itself.

    Returns
    -------
    dict of str to ndarray, shape (B,)
        ``Bleu_1..4, METEOR, ROUGE_L, CIDEr, SPICE`` (those present) and :data:`AVERAGE_KEY`.
    """
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if counts.shape[1] != stats.n_images:
        raise ValueError(f"counts have {counts.shape[1]} images, the statistics {stats.n_images}")
    n = counts.sum(axis=1)  # (B,)
    out = dict(zip(BLEU_KEYS, _bleu(counts @ stats.bleu)))
    if stats.meteor is not None:
        out["METEOR"] = _meteor(counts @ _meteor_summands(stats.meteor))
    if stats.rouge is not None:
        out["ROUGE_L"] = counts @ stats.rouge / n
    out["CIDEr"] = _cider(stats.cider, counts)
    if stats.spice is not None:
        out["SPICE"] = counts @ stats.spice / n
    scores = {key: 100.0 * out[key] for key in AVERAGE_OF if key in out}
    scores[AVERAGE_KEY] = caption_average(scores)
    return scores


def point_scores(stats: ImageStats) -> dict[str, float]:
    """The scores (x100) of the scored set itself (equal to pycocoevalcap's, tested)."""
    return {key: float(v[0]) for key, v in score_draws(stats, np.ones((1, stats.n_images))).items()}


def _bleu(totals: np.ndarray) -> list[np.ndarray]:
    """Corpus BLEU-1..4 from summed statistics (B, 10), as ``BleuScorer.compute_score``."""
    correct, guess, testlen, reflen = totals[:, :4], totals[:, 4:8], totals[:, 8], totals[:, 9]
    cumulative = np.cumprod((correct + _TINY) / (guess + _SMALL), axis=1)
    ratio = (testlen + _TINY) / (reflen + _SMALL)
    brevity = np.where(ratio < 1, np.exp(1 - 1 / ratio), 1.0)
    return [cumulative[:, k] ** (1.0 / (k + 1)) * brevity for k in range(4)]


def _meteor_summands(stats: np.ndarray) -> np.ndarray:
    """The statistics as the jar sums them: a segment matched perfectly in one chunk adds no chunks."""
    stages = stats[:, 4:20].reshape(-1, 4, 4)  # (N, stage, [test content, ref content, test function, ref function])
    perfect = ((stages[:, :, 0] + stages[:, :, 2]).sum(1) == stats[:, 0]) & \
              ((stages[:, :, 1] + stages[:, :, 3]).sum(1) == stats[:, 1]) & (stats[:, 20] == 1)
    out = stats.copy()
    out[perfect, 20] = 0.0
    return out


def _meteor(totals: np.ndarray) -> np.ndarray:
    """METEOR 1.5 scores of summed statistics (B, 23): ``MeteorScorer.computeMetrics``."""
    alpha, beta, gamma, delta = METEOR_PARAMS
    test_len, ref_len, test_fn, ref_fn = totals[:, 0], totals[:, 1], totals[:, 2], totals[:, 3]
    stages = totals[:, 4:20].reshape(-1, 4, 4)
    chunks, test_words, ref_words = totals[:, 20], totals[:, 21], totals[:, 22]
    test_total = (stages[:, :, 0] + stages[:, :, 2]).sum(1)
    ref_total = (stages[:, :, 1] + stages[:, :, 3]).sum(1)
    test_matched = delta * stages[:, :, 0] @ METEOR_WEIGHTS + (1 - delta) * stages[:, :, 2] @ METEOR_WEIGHTS
    ref_matched = delta * stages[:, :, 1] @ METEOR_WEIGHTS + (1 - delta) * stages[:, :, 3] @ METEOR_WEIGHTS
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = test_matched / (delta * (test_len - test_fn) + (1 - delta) * test_fn)
        recall = ref_matched / (delta * (ref_len - ref_fn) + (1 - delta) * ref_fn)
        f_mean = 1.0 / ((1 - alpha) / precision + alpha / recall)
        perfect = (test_total == test_len) & (ref_total == ref_len) & (chunks == 1)
        frag = np.where(perfect, 0.0, chunks / ((test_words + ref_words) / 2))
        score = f_mean * (1.0 - gamma * frag**beta)
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))


def _cider(terms: CiderTerms, counts: np.ndarray) -> np.ndarray:
    """CIDEr-D of each resample, document frequencies taken from the resampled references."""
    plan = terms.plan
    b_all, n = counts.shape
    # squared idf of each possible document frequency 0..N (pycocoevalcap: log N - log max(1, df))
    squared_idf = (np.log(float(n)) - np.log(np.maximum(1.0, np.arange(n + 1, dtype=np.float64)))) ** 2
    out = np.empty(b_all)
    step = max(1, CIDER_CELLS // max(plan.incidence_t.shape[0], plan.n_rows, 1))
    for start in range(0, b_all, step):
        c = counts[start : start + step]  # (b, N)
        own = squared_idf[c.T.astype(np.intp)]  # (N, b): weight of an n-gram found in one image's references only
        w2 = squared_idf[np.rint(plan.incidence_t @ c.T).astype(np.intp)]  # (G shared, b)
        own_rows = own[plan.row_image]  # (R, b)
        dot = plan.dot_shared @ w2 + plan.dot_own[:, None] * own_rows
        ref_norm = plan.sq_shared @ w2 + plan.sq_own[:, None] * own_rows
        hyp_norm = plan.hyp_shared @ w2 + plan.hyp_by_owner @ own + plan.hyp_alone[:, None] * squared_idf[0]
        norms = hyp_norm[plan.hyp_row] * ref_norm  # (R, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            val = np.where(norms > 0, dot / np.sqrt(norms), 0.0) * plan.penalty[:, None]
        per_image = plan.to_image @ val  # (N, b)
        out[start : start + step] = np.einsum("bn,nb->b", c, per_image) / c.sum(axis=1)
    return out


@dataclasses.dataclass
class _CiderPlan:
    """:class:`CiderTerms` arranged for resampling (built once per statistics).

    Only the (reference, order) rows with some clipped match are kept (the others score 0 in any
    resample). N-grams split three ways by the number of images whose references hold them:
    two or more ("shared": their df is a weighted sum, one sparse product per chunk); exactly
    one, the owner ("own": df is the owner's draw count, so a row's terms collapse to one sum);
    none (hypotheses only: df 0 in every resample).
    """

    incidence_t: object  # (G shared, N)
    dot_shared: object  # (R, G shared)
    sq_shared: object  # (R, G shared)
    dot_own: np.ndarray  # (R,)
    sq_own: np.ndarray  # (R,)
    hyp_shared: object  # (4N, G shared)
    hyp_by_owner: object  # (4N, N)
    hyp_alone: np.ndarray  # (4N,)
    row_image: np.ndarray  # (R,)
    hyp_row: np.ndarray  # (R,)
    penalty: np.ndarray  # (R,)
    to_image: object  # (N, R): 10 / (4 refs) into each image's CIDEr-D

    @property
    def n_rows(self) -> int:
        return len(self.row_image)

    @classmethod
    def build(cls, terms: CiderTerms) -> "_CiderPlan":
        from scipy import sparse

        n, g = terms.incidence.shape
        images_per_gram = np.diff(terms.incidence.tocsc().indptr)
        shared, own, alone = images_per_gram >= 2, images_per_gram == 1, images_per_gram == 0
        owner = sparse.csr_matrix((np.ones(int(own.sum())), (np.arange(int(own.sum())),
                                   terms.incidence[:, own].tocsc().indices)), shape=(int(own.sum()), n))
        rows = np.flatnonzero(np.diff(terms.ref_dot.indptr) > 0)
        dot, sq = terms.ref_dot[rows], terms.ref_sq[rows]
        row_image = terms.ref_image[rows // CIDER_N]
        n_refs = np.bincount(terms.ref_image, minlength=n).astype(np.float64)
        return cls(
            incidence_t=terms.incidence[:, shared].T.tocsr(), dot_shared=dot[:, shared].tocsr(),
            sq_shared=sq[:, shared].tocsr(), dot_own=np.asarray(dot[:, own].sum(axis=1)).ravel(),
            sq_own=np.asarray(sq[:, own].sum(axis=1)).ravel(), hyp_shared=terms.hyp_sq[:, shared].tocsr(),
            hyp_by_owner=(terms.hyp_sq[:, own] @ owner).tocsr(),
            hyp_alone=np.asarray(terms.hyp_sq[:, alone].sum(axis=1)).ravel(), row_image=row_image,
            hyp_row=CIDER_N * row_image + rows % CIDER_N, penalty=terms.penalty[rows // CIDER_N],
            to_image=sparse.csr_matrix((10.0 / (CIDER_N * n_refs[row_image]), (row_image, np.arange(len(rows)))),
                                       shape=(n, len(rows))),
        )


# ---------------------------------------------------------------- resampling and intervals


def resample_counts(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Draw counts of ``n_boot`` resamples of ``n`` images with replacement, in chunks.

    Yields
    ------
    ndarray, shape (b, n), float64
        Row r: how many times each image is in resample r (rows sum to n). The sequence of
        draws depends only on ``(n, n_boot, seed)``.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, RESAMPLE_CHUNK):
        b = min(RESAMPLE_CHUNK, n_boot - start)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def bootstrap_draws(stats_list: Sequence[ImageStats], n_boot: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Scores of the same ``n_boot`` image resamples for several statistics of the same images.

    Parameters
    ----------
    stats_list : sequence of ImageStats
        E.g. one per training seed; all must hold the same image ids (any order).
    n_boot : int
    seed : int

    Returns
    -------
    list of dict of str to ndarray, shape (n_boot,)
        One dict per statistics, aligned: resample r is the same images in each.
    """
    if not stats_list:
        raise InputError("no per-image statistics to resample")
    first = stats_list[0]
    orders = [_order_like(first, s) for s in stats_list]
    parts: list[dict[str, list]] = [{} for _ in stats_list]
    for counts in resample_counts(first.n_images, n_boot, seed):
        for part, stats, order in zip(parts, stats_list, orders):
            for key, values in score_draws(stats, counts[:, order]).items():
                part.setdefault(key, []).append(values)
    return [{key: np.concatenate(v) for key, v in part.items()} for part in parts]


def _order_like(reference: ImageStats, stats: ImageStats) -> np.ndarray:
    """Column j of ``stats`` is image ``order[j]`` of ``reference``."""
    position = {key: j for j, key in enumerate(reference.ids.tolist())}
    if len(position) != reference.n_images or stats.n_images != reference.n_images or \
            any(key not in position for key in stats.ids.tolist()):
        extra = sorted(set(stats.ids.tolist()) ^ set(reference.ids.tolist()))[:3]
        raise InputError(f"per-image statistics of different images ({reference.n_images} vs {stats.n_images} "
                         f"images; e.g. {extra})", hint="combine statistics of the same scored images")
    return np.array([position[key] for key in stats.ids.tolist()], dtype=np.intp)


def percentile_interval(values: np.ndarray) -> tuple[float, float] | None:
    """The 95% percentile interval (2.5%, 97.5%) of bootstrap values (non-finite ones left out; None if none is left)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return (float(lo), float(hi))


def _as_list(interval):
    return None if interval is None else list(interval)


def bootstrap_scores(stats: ImageStats, n_boot: int, seed: int) -> dict[str, tuple[float, float] | None]:
    """95% percentile intervals over images of every metric (x100) and of :data:`AVERAGE_KEY`.

    Parameters
    ----------
    stats : ImageStats
    n_boot : int
        Resamples (1,000 of 5,000 images take a few seconds).
    seed : int

    Returns
    -------
    dict of str to (float, float), or None where no resample gave a finite score
    """
    (draws,) = bootstrap_draws([stats], n_boot, seed)
    return {key: percentile_interval(values) for key, values in draws.items()}


def seed_weights(n_seeds: int, n_boot: int, seed: int) -> np.ndarray:
    """Weights of each seed in each resample of the hierarchical bootstrap: seeds drawn with replacement.

    Parameters
    ----------
    n_seeds : int
        S, the training seeds of a row.
    n_boot : int
    seed : int
        The resamples' seed (the same as the image resamples'; the seed draws use another stream).

    Returns
    -------
    ndarray, shape (n_boot, S), float64
        Row r: how many times each seed is drawn in resample r, divided by S (rows sum to 1).
        One seed: all ones.
    """
    if n_seeds < 1:
        raise InputError("no seeds to resample")
    rng = np.random.default_rng([seed, _SEED_STREAM])
    drawn = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    counts = np.stack([(drawn == s).sum(axis=1) for s in range(n_seeds)], axis=1)
    return counts / float(n_seeds)


def seed_mean_draws(per_seed: Sequence[dict[str, np.ndarray]], weights: np.ndarray
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A row's seed-mean on each resample, both ways (see the module docstring).

    Parameters
    ----------
    per_seed : sequence of dict of str to ndarray, shape (n_boot,)
        The row's score on each image resample, one dict per seed (:func:`bootstrap_draws`).
    weights : ndarray, shape (n_boot, S)
        :func:`seed_weights`.

    Returns
    -------
    hierarchical : dict of str to ndarray, shape (n_boot,)
        Mean over the drawn seeds (seeds and test images resampled).
    images : dict of str to ndarray, shape (n_boot,)
        Mean over every seed (test images resampled only).
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape[1] != len(per_seed):
        raise ValueError(f"weights for {weights.shape[1]} seeds, draws of {len(per_seed)}")
    hierarchical, images = {}, {}
    for key in per_seed[0]:
        stacked = np.stack([d[key] for d in per_seed], axis=1)  # (n_boot, S)
        images[key] = stacked.mean(axis=1)
        with np.errstate(invalid="ignore"):  # a seed not drawn adds nothing, even where its score is not finite
            hierarchical[key] = np.where(weights > 0, stacked * weights, 0.0).sum(axis=1)
    return hierarchical, images


def combine_seeds(stats_by_seed: Sequence[ImageStats], n_boot: int, seed: int) -> dict[str, dict]:
    """Mean ± sd over seeds and two bootstrap intervals of the seed-mean, per metric.

    Parameters
    ----------
    stats_by_seed : sequence of ImageStats
        One per seed (e.g. a captioner trained with each seed), all of the same images.
    n_boot : int
        Resamples; each image resample is applied to every seed.
    seed : int
        Seed of the resamples.

    Returns
    -------
    dict of str to dict
        Per metric (x100, and :data:`AVERAGE_KEY`): ``{"mean", "sd" (ddof 1; None for one seed),
        "per_seed": [...], "ci95": [lo, hi], "ci95_images": [lo, hi]}``: ``ci95`` over seeds and
        test images (hierarchical), ``ci95_images`` over test images with the seeds fixed
        (:data:`INTERVALS`).
    """
    points = [point_scores(s) for s in stats_by_seed]
    draws = bootstrap_draws(stats_by_seed, n_boot, seed)
    hierarchical, images = seed_mean_draws(draws, seed_weights(len(stats_by_seed), n_boot, seed))
    out = {}
    for key in points[0]:
        per_seed = np.array([p[key] for p in points])
        out[key] = {"mean": float(per_seed.mean()), "sd": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else None,
                    "per_seed": per_seed.tolist(), "ci95": _as_list(percentile_interval(hierarchical[key])),
                    "ci95_images": _as_list(percentile_interval(images[key]))}
    return out


# ---------------------------------------------------------------- the paper's average of its metrics


def caption_average(scores: dict) -> float | np.ndarray:
    """The mean of the eight metrics of the paper's tables that are present in ``scores`` (x100).

    The paper's §5 compares alignment methods by their "average performance" and does not say
    what it averages; we read it as the mean of the eight metrics of its tables (BLEU-1..4,
    METEOR, ROUGE-L, CIDEr, SPICE), an inference: Unsupervised-ClipCap's 40.8 is the mean of its
    Table-1 row, ClipCap's 52.4 is not (:func:`gaptools.paper.average_check`). SPICE cannot run
    offline here, so this is the mean over those present; name it with :func:`average_label`.
    """
    present = [scores[k] for k in AVERAGE_OF if k in scores]
    if not present:
        raise InputError(f"no caption metric to average (expected some of {', '.join(AVERAGE_OF)})")
    return sum(present) / len(present)


def average_label(keys) -> str:
    """Column name of :func:`caption_average` over ``keys``: "mean of 8", or "mean of 7 (no SPICE)"."""
    present = [k for k in AVERAGE_OF if k in keys]
    missing = [k for k in AVERAGE_OF if k not in keys]
    return f"mean of {len(present)}" + (f" (no {', '.join(missing)})" if missing else "")


# ---------------------------------------------------------------- files


def save_image_stats(path: str | os.PathLike, stats: ImageStats) -> Path:
    """Write per-image statistics as ``.npz`` (no pickles), atomically."""
    arrays = {"format": np.array(STATS_FORMAT), "ids": stats.ids.astype(str), "bleu": stats.bleu,
              "cider_ref_image": stats.cider.ref_image, "cider_penalty": stats.cider.penalty,
              "cider_n_grams": np.array(stats.cider.incidence.shape[1])}
    for name in ("incidence", "hyp_sq", "ref_sq", "ref_dot"):
        matrix = getattr(stats.cider, name)
        arrays.update({f"cider_{name}_indptr": matrix.indptr, f"cider_{name}_indices": matrix.indices,
                       f"cider_{name}_data": matrix.data})
    for name in ("meteor", "rouge", "spice"):
        if getattr(stats, name) is not None:
            arrays[name] = getattr(stats, name)
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        np.savez_compressed(fh, allow_pickle=False, **arrays)
    return path


def load_image_stats(path: str | os.PathLike) -> ImageStats:
    """Read :func:`save_image_stats` output (never unpickles)."""
    from scipy import sparse

    from gaptools.io import read_npz

    arrays = read_npz(path, "per-image statistics file")
    if str(arrays.get("format", "")) != STATS_FORMAT:
        raise InputError(f"{path}: not a per-image statistics file ({STATS_FORMAT})")
    try:
        n, g = len(arrays["ids"]), int(arrays["cider_n_grams"])
        k = len(arrays["cider_ref_image"])
        shapes = {"incidence": (n, g), "hyp_sq": (CIDER_N * n, g), "ref_sq": (CIDER_N * k, g),
                  "ref_dot": (CIDER_N * k, g)}
        matrices = {name: sparse.csr_matrix((arrays[f"cider_{name}_data"], arrays[f"cider_{name}_indices"],
                                             arrays[f"cider_{name}_indptr"]), shape=shape)
                    for name, shape in shapes.items()}
        cider = CiderTerms(**matrices, ref_image=arrays["cider_ref_image"], penalty=arrays["cider_penalty"])
        return ImageStats(ids=arrays["ids"].astype(str), bleu=arrays["bleu"], cider=cider, meteor=arrays.get("meteor"),
                          rouge=arrays.get("rouge"), spice=arrays.get("spice"))
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: corrupt per-image statistics file ({exc})") from None
