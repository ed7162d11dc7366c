"""Run every gap metric on an embedding set, with cluster-bootstrap confidence intervals.

The bootstrap resamples *images* with replacement, each bringing all its captions
(captions of one image are not independent). Summable metrics (see
:mod:`gaptools.metrics`) get a 95% percentile interval from ``bootstrap`` resamples,
computed from per-image sums with one weighted matrix product per chunk of resamples,
so it costs a few passes over the data rather than ``bootstrap`` full recomputations.
Sample metrics run once on seeded subsamples (their size is reported as ``n``) and
carry ``ci95: null``. Conformity (each embedding's mean cosine to the others of its modality)
is computed for every row; its entries give the median as ``value`` and the quantiles beside it.
"""

from __future__ import annotations

import functools

import numpy as np

from gaptools import metrics as M
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet
from gaptools.limits import MAX_BOOTSTRAP, check_measure
from gaptools.validation import check_integer, check_seed

RESULT_KIND = "gaptools.measure"
RESULT_VERSION = 1


def measure_document(sets: list[dict]) -> dict:
    """The ``gaptools.measure`` result document (what ``measure --json`` writes) of :func:`measure` results."""
    return {"kind": RESULT_KIND, "version": RESULT_VERSION, "sets": sets}


#: Every metric key `measure` reports, in display order.
METRIC_KEYS = (
    "centroid_gap",
    "matched_cosine",
    "random_cosine",
    "relative_gap",
    "linear_separability",
    "image_cone",
    "text_cone",
    "mmd_rbf",
    "wasserstein2",
    "wasserstein2_centred",
    "frechet",
    "frechet_mean_term",
    "frechet_cov_term",
    *[f"recall@{k}_{d}" for d in ("i2t", "t2i") for k in M.RECALL_KS],
    "alignment",
    "alignment_noise_variance",
    "conformity_image",
    "conformity_text",
    "conformity_w1",
    "uniformity_image",
    "uniformity_text",
    "effective_rank_image",
    "effective_rank_text",
    "participation_ratio_image",
    "participation_ratio_text",
    "participation_ratio_residual",
    "subspace_agreement",
    "centred_matched_cosine",
    "shifted_matched_cosine",
    *[f"gap_top{k}_share" for k in M.GAP_SHARE_KS],
    "top_gap_dims",
)

#: Percentiles of the conformity distributions reported under ``quantiles``.
CONFORMITY_QUANTILES = (5, 25, 50, 75, 95)

#: Fewest rows ``max_points`` and ``max_gallery`` may ask for (the command line's minimum too).
MIN_SAMPLE = 10

_NEEDS_PAIRS = "needs both image and text embeddings"
_TOO_FEW = "n too small (not defined on this few rows)"


def measure(
    eset: EmbeddingSet,
    *,
    normalize: bool = True,
    bootstrap: int = 1000,
    seed: int = 0,
    max_points: int = 2000,
    max_gallery: int = 5000,
    dim_ablation: bool = False,
    subspace_k: int = M.SUBSPACE_K,
) -> dict:
    """Every gap metric of one set.

    Parameters
    ----------
    eset : EmbeddingSet
    normalize : bool
        L2-normalise embeddings first (cosine metrics always use unit vectors).
    bootstrap : int
        Resamples for the 95% intervals; 0 turns intervals off.
    seed : int
        Seeds the bootstrap and every subsample.
    max_points : int
        Images (each with one of its captions) used by the super-linear metrics:
        separability, MMD, Wasserstein-2, uniformity.
    max_gallery : int
        Images (with all their captions) in the retrieval gallery; recall depends on
        gallery size, so it is reported.
    dim_ablation : bool
        Also run :func:`gaptools.metrics.gap_dimension_ablation` on the retrieval gallery
        (unit vectors, ks :data:`gaptools.metrics.ABLATION_KS`, this seed): one more
        retrieval pass over the gallery per k, for the top and for the random dimensions.
    subspace_k : int
        Leading principal directions of each modality that ``subspace_agreement`` compares.

    Raises
    ------
    InputError
        An option out of range (:func:`check_options`), or a set whose largest intermediate
        would not fit the memory budget (:func:`gaptools.limits.check_measure`).

    Returns
    -------
    dict
        ``{"source", "meta", "n_image", "n_text", "dim", "normalized", "bootstrap",
        "seed", "metrics": {key: {"value", "ci95", ...}}, "dim_ablation", "path"}`` with keys
        :data:`METRIC_KEYS`; a metric a one-modality set cannot have is ``{"value": None,
        "ci95": None, "unavailable": reason}``. ``conformity_image`` and ``conformity_text``
        hold the median as ``value``, the mean, and ``quantiles`` ({"5": .., "25": .., "50": ..,
        "75": .., "95": ..}, :data:`CONFORMITY_QUANTILES`); ``conformity_w1`` is the
        1-Wasserstein distance between the two distributions. ``dim_ablation`` is
        :meth:`gaptools.metrics.DimAblation.to_dict` when asked for (and the set has
        pairs), else None. The structure metrics (issue 28; :mod:`gaptools.metrics`, on the
        vectors as measured): ``centred_matched_cosine`` and ``shifted_matched_cosine`` (with
        intervals), ``participation_ratio_image``/``_text``/``_residual`` and
        ``subspace_agreement`` (with its ``k``; no interval: one covariance each),
        ``gap_top2_share`` and ``gap_top10_share`` (with intervals). ``path`` is ``"in-memory"``
        (:func:`gaptools.stream.measure_folder` returns the same document with ``"streaming"``).
    """
    check_options(normalize=normalize, bootstrap=bootstrap, seed=seed, max_points=max_points,
                  max_gallery=max_gallery, dim_ablation=dim_ablation)
    check_measure(eset.n_image, eset.n_text, eset.dim, max_points=max_points, max_gallery=max_gallery,
                  source=eset.source)  # its largest intermediates against the memory budget, before allocating
    rng = np.random.default_rng(seed)
    has_img, has_txt = eset.n_image > 0, eset.n_text > 0
    n_groups = eset.n_image if has_img else int(eset.text_image.max()) + 1
    image = M.l2_normalize(eset.image) if (normalize and has_img) else eset.image
    text = M.l2_normalize(eset.text) if (normalize and has_txt) else eset.text
    unit_img = None if normalize or not has_img else M.l2_normalize(image)
    unit_txt = None if normalize or not has_txt else M.l2_normalize(text)

    stats = M.group_sums(
        image if has_img else None,
        text if has_txt else None,
        eset.text_image,
        n_groups=n_groups,
        unit_image=unit_img,
        unit_text=unit_txt,
        pair_images=eset.has_pairs,
    )
    formulas = {"image_cone": M.image_cone_from_sums} if has_img else {}
    if has_txt:
        formulas["text_cone"] = M.text_cone_from_sums
    gallery = ablation = paired = None
    if eset.has_pairs:
        formulas = {**M.SUMMABLE_FORMULAS, "alignment_noise_variance": M.alignment_noise_variance_from_sums}
        unit_i, unit_t = (image, text) if normalize else (unit_img, unit_txt)
        chosen, caps, caption_image = _gallery(eset.text_image, n_groups, max_gallery, rng)
        _add_recall_stats(stats, unit_i, unit_t, eset.text_image, chosen, caps, caption_image)
        gallery = len(chosen)
        if dim_ablation:
            ablation = M.gap_dimension_ablation(unit_i[chosen], unit_t[caps], caption_image, seed=seed).to_dict()
        for k in M.RECALL_KS:
            for d in ("i2t", "t2i"):
                formulas[f"recall@{k}_{d}"] = lambda s, d=d, k=k: M.recall_from_sums(s, d, k)
        paired = functools.partial(_pair_cosines, image, text, eset.text_image)

    with np.errstate(invalid="ignore", divide="ignore"):
        point = {name: float(f(M.total(stats))) for name, f in formulas.items()}
        if paired is not None:
            point.update({name: float(v[0]) for name, v in paired(np.ones((1, n_groups), np.float32)).items()})
        intervals = _bootstrap_intervals(stats, formulas, bootstrap, rng, paired=paired)

    out: dict[str, dict] = {}
    for name, value in point.items():
        out[name] = {"value": value, "ci95": intervals.get(name)}
        if name.startswith("recall@"):
            out[name]["gallery_images"] = gallery
    with np.errstate(invalid="ignore", divide="ignore"):  # undefined on tiny sets: reported as unavailable below
        out.update(_sample_metrics(eset, image, text, max_points, seed, subspace_k))
        out.update(_conformity_metrics(image if unit_img is None else unit_img,
                                       text if unit_txt is None else unit_txt, eset.text_image))
    for key in METRIC_KEYS:
        out.setdefault(key, {"value": None, "ci95": None, "unavailable": _NEEDS_PAIRS})
    for entry in out.values():  # a statistic undefined on this set (a variance of one row, ...): say so
        if isinstance(entry["value"], float) and not np.isfinite(entry["value"]):
            entry.update(value=None, ci95=None, unavailable=_TOO_FEW)
    return {
        "source": eset.source,
        "meta": eset.meta,
        "n_image": eset.n_image,
        "n_text": eset.n_text,
        "dim": eset.dim,
        "normalized": normalize,
        "bootstrap": bootstrap,
        "seed": seed,
        "metrics": {key: out[key] for key in METRIC_KEYS},
        "dim_ablation": ablation,
        "path": "in-memory",
    }


def check_options(*, normalize: bool, bootstrap: int, seed: int, max_points: int, max_gallery: int,
                  dim_ablation: bool) -> None:
    """Refuse a bad option of :func:`measure` (from Python or the command line) in one sentence.

    ``bootstrap`` is an integer in [0, :data:`gaptools.limits.MAX_BOOTSTRAP`], ``seed`` in
    [0, 2**32 - 1] (:func:`gaptools.validation.check_seed`), ``max_points`` and
    ``max_gallery`` integers >= :data:`MIN_SAMPLE`, the flags True or False.

    Raises
    ------
    InputError
    """
    for name, value in (("normalize", normalize), ("dim_ablation", dim_ablation)):
        if not isinstance(value, (bool, np.bool_)):
            raise InputError(f"measure: {name} must be True or False, got {value!r}")
    check_integer(bootstrap, "measure: bootstrap", minimum=0, maximum=MAX_BOOTSTRAP)
    check_seed(seed, "measure: seed")
    check_integer(max_points, "measure: max_points", minimum=MIN_SAMPLE)
    check_integer(max_gallery, "measure: max_gallery", minimum=MIN_SAMPLE)


def _gallery(text_image, g: int, max_gallery: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded retrieval gallery of at most ``max_gallery`` of the ``g`` images, with all their captions.

    Returns the image rows (sorted), the caption rows, and each of those captions' image
    as a row of the gallery.
    """
    chosen = np.sort(rng.choice(g, size=max_gallery, replace=False)) if g > max_gallery else np.arange(g)
    in_gallery = np.zeros(g, dtype=bool)
    in_gallery[chosen] = True
    caps = np.flatnonzero(in_gallery[text_image])
    remap = np.full(g, -1)
    remap[chosen] = np.arange(len(chosen))
    return chosen, caps, remap[text_image[caps]]


def _add_recall_stats(stats: M.PairSums, image, text, text_image, chosen, caps, caption_image) -> None:
    """Add per-group retrieval hits on the gallery of :func:`_gallery`."""
    g = image.shape[0]
    in_gallery = np.zeros(g, dtype=bool)
    in_gallery[chosen] = True
    i2t, t2i = M.recall_hits(image[chosen], text[caps], caption_image)
    stats.gallery_img = in_gallery.astype(np.float64)
    stats.gallery_txt = np.bincount(text_image[caps], minlength=g).astype(np.float64)
    for k in M.RECALL_KS:
        hits = np.zeros(g)
        hits[chosen] = i2t[k]
        stats.hits_i2t[k] = hits
        stats.hits_t2i[k] = np.bincount(text_image[caps], weights=t2i[k], minlength=g)


def _pair_cosines(image, text, text_image, weights) -> dict[str, np.ndarray]:
    """Centred and shifted matched cosines (B,) of image weights (B, G) (:func:`gaptools.metrics.centred_and_shifted_cosines`)."""
    centred, shifted = M.centred_and_shifted_cosines(image, text, text_image, weights)
    return {"centred_matched_cosine": centred, "shifted_matched_cosine": shifted}


def _bootstrap_intervals(stats: M.PairSums, formulas, n_boot, rng, chunk: int = 64,
                         paired=None) -> dict[str, list[float]]:
    """95% percentile intervals of each formula over image-level bootstrap resamples.

    Each resample draws G images with replacement; its statistics are the per-image
    statistics weighted by the draw counts w, one (chunk, G) @ (G, ·) product per
    chunk (an array held by two statistics is multiplied once). Sums weighted by w²
    (:attr:`PairSums.w2`) let formulas leave out combinations of copies of one image.
    ``paired(weights)``, when given, returns ``{name: (b,) values}`` of metrics that read
    the rows under the same draw counts (:func:`_pair_cosines`).
    """
    if n_boot <= 0 or not formulas:
        return {}
    present = stats.arrays()
    g = len(present[0])
    scalar_mat = np.stack([v for v in present if v.ndim == 1], axis=1).astype(np.float32)  # (G, S)
    stats32 = stats.map(lambda v: v if v.ndim == 1 else v.astype(np.float32, copy=False))
    vectors = [v for v in stats32.arrays() if v.ndim == 2]
    draws = {name: [] for name in formulas}
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, g, size=(b, g)) + (np.arange(b) * g)[:, None]
        weights = np.bincount(idx.ravel(), minlength=b * g).reshape(b, g).astype(np.float32)  # (b, G)
        s_w = iter(((weights @ scalar_mat).astype(np.float64)).T)  # columns (b,), in stats order
        s_w2 = iter((((weights * weights) @ scalar_mat).astype(np.float64)).T)
        products = {}  # one product per array: pair_img may be the unit images themselves
        for v in vectors:
            if id(v) not in products:
                products[id(v)] = (weights @ v).astype(np.float64)
        sums = stats32.map(lambda v: next(s_w) if v.ndim == 1 else products[id(v)])
        sums.w2 = stats32.map(lambda v: next(s_w2) if v.ndim == 1 else None)
        for name, f in formulas.items():
            draws[name].append(f(sums))
        for name, values in ({} if paired is None else paired(weights)).items():
            draws.setdefault(name, []).append(values)
    out = {}
    for name, parts in draws.items():
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        if values.size:
            lo, hi = np.percentile(values, [2.5, 97.5])
            out[name] = [float(lo), float(hi)]
    return out


def noise_variance_estimate(eset: EmbeddingSet, *, bootstrap: int = 1000, seed: int = 0) -> dict:
    """``alignment_noise_variance`` of a set's true pairs with its cluster-bootstrap interval, alone.

    What ``caption train --noise-variance auto`` reads from a small paired calibration set:
    the same formula and image-level bootstrap as :func:`measure`, without the rest of the suite.

    Parameters
    ----------
    eset : EmbeddingSet
        Needs images and captions; every (caption, its image) is a pair.
    bootstrap, seed : int
        Image resamples of the 95% interval (0: none) and their seed.

    Returns
    -------
    dict
        ``{"value", "ci95", "n_pairs", "n_images", "bootstrap", "seed", "source", "raw_value",
        "note"}``. A variance is never negative: where rounding takes the formula below 0 (image
        = text gives about −5e−11), ``value`` and the interval's bounds are clipped at 0,
        ``raw_value`` keeps the formula's result and ``note`` says so in one line (else None).

    Raises
    ------
    InputError
        The set has fewer than 2 pairs (no images, no captions, or one pair).
    """
    n_pairs = eset.n_text if eset.has_pairs else 0
    if n_pairs < 2:
        raise InputError(f"{eset.source}: {n_pairs} image-caption pair(s); the noise estimate needs at least 2",
                         hint="calibrate on a set with image and caption embeddings of the same images")
    image, text = M.l2_normalize(eset.image), M.l2_normalize(eset.text)
    stats = M.group_sums(image, text, eset.text_image, n_groups=eset.n_image, pair_images=True)
    formulas = {"alignment_noise_variance": M.alignment_noise_variance_from_sums}
    with np.errstate(invalid="ignore", divide="ignore"):
        value = float(M.alignment_noise_variance_from_sums(M.total(stats)))
        interval = _bootstrap_intervals(stats, formulas, bootstrap, np.random.default_rng(seed))
    ci95 = interval.get("alignment_noise_variance")
    note = None
    if value < 0 or (ci95 is not None and min(ci95) < 0):
        note = (f"rounding took the estimate ({value:.3g}) or its interval below 0, where a variance cannot be: "
                "clipped at 0")
        ci95 = None if ci95 is None else [max(0.0, float(b)) for b in ci95]
    return {"value": max(0.0, value), "ci95": ci95, "n_pairs": n_pairs,
            "n_images": int(np.unique(eset.text_image).size), "bootstrap": bootstrap, "seed": seed,
            "source": eset.source, "raw_value": value, "note": note}


def _conformity_metrics(image: np.ndarray, text: np.ndarray, text_image: np.ndarray) -> dict:
    """Conformity of every image and caption (unit rows) and the W1 distance between the two."""
    out: dict[str, dict] = {}
    values = {}
    for side, x, groups in (("image", image, None), ("text", text, text_image)):
        if len(x) == 0:
            out[f"conformity_{side}"] = {"value": None, "ci95": None, "unavailable": f"no {side} embeddings"}
            continue
        c = M.conformity(x, groups)
        c = c[np.isfinite(c)]  # a caption whose image holds every caption has no others to compare with
        if not c.size:
            out[f"conformity_{side}"] = {"value": None, "ci95": None, "unavailable": _TOO_FEW}
            continue
        values[side] = c
        quantiles = np.percentile(c, CONFORMITY_QUANTILES)
        out[f"conformity_{side}"] = {"value": float(np.median(c)), "ci95": None, "mean": float(c.mean()),
                                     "quantiles": {str(q): float(v) for q, v in zip(CONFORMITY_QUANTILES, quantiles)}}
    if len(values) == 2:
        from scipy.stats import wasserstein_distance

        out["conformity_w1"] = {"value": float(wasserstein_distance(values["image"], values["text"])), "ci95": None}
    return out


def _sample_metrics(eset: EmbeddingSet, image, text, max_points: int, seed: int, subspace_k: int) -> dict:
    """Metrics computed once on the data or on seeded subsamples."""
    rng = np.random.default_rng(seed + 1)
    out: dict[str, dict] = {}

    def sub(x):
        return x[np.sort(rng.choice(len(x), size=max_points, replace=False))] if len(x) > max_points else x

    fits = {}
    for side, x in (("image", image), ("text", text)):
        if len(x) == 0:
            continue
        fits[side] = M.gaussian_fit(x)
        out[f"effective_rank_{side}"] = {"value": M.effective_rank_from_cov(fits[side][1]), "ci95": None}
        out[f"participation_ratio_{side}"] = {"value": M.participation_ratio_from_cov(fits[side][1]), "ci95": None}
        xs = sub(x)
        out[f"uniformity_{side}"] = {"value": M.uniformity(xs), "ci95": None, "n": len(xs)}
    if not eset.has_pairs:
        return out
    out["subspace_agreement"] = subspace_entry(fits["image"][1], fits["text"][1], subspace_k)
    out["participation_ratio_residual"] = {
        "value": M.participation_ratio_from_cov(M.pair_residual_cov(image, text, eset.text_image)), "ci95": None}

    # One caption per image on a subsample of the captioned images: balanced modalities, true pairs kept.
    captioned = np.unique(eset.text_image)
    chosen = np.sort(rng.choice(captioned, size=min(max_points, len(captioned)), replace=False))
    xi, xt = image[chosen], text[eset.one_caption_per_image(rng)[chosen]]
    n = len(chosen)
    folds = M.linear_separability.__kwdefaults__["folds"]
    out["linear_separability"] = (
        {"value": M.linear_separability(xi, xt, seed=seed), "ci95": None, "n": n} if n >= folds
        else {"value": None, "ci95": None, "n": n, "unavailable": f"n too small ({folds}-fold CV needs {folds} images)"})
    out["mmd_rbf"] = {"value": M.mmd_rbf(xi, xt), "ci95": None, "n": n}
    w2, w2_centred = M.wasserstein2_terms(xi, xt)
    out["wasserstein2"] = {"value": w2, "ci95": None, "n": n}
    out["wasserstein2_centred"] = {"value": w2_centred, "ci95": None, "n": n}
    frechet = M.frechet_terms_from_fits(*fits["image"], *fits["text"])
    out["frechet"] = {"value": frechet.distance, "ci95": None}
    out["frechet_cov_term"] = {"value": frechet.cov_term, "ci95": None}
    out["top_gap_dims"] = {"value": M.top_gap_dims(image, text), "ci95": None}
    return out


def subspace_entry(cov_img, cov_txt, k: int) -> dict:
    """The ``subspace_agreement`` entry of two covariances, with its ``k`` (or why it is unavailable)."""
    value = M.subspace_agreement_from_covs(cov_img, cov_txt, k)
    if np.isfinite(value):
        return {"value": value, "ci95": None, "k": k}
    return {"value": None, "ci95": None, "k": k,
            "unavailable": f"the top {k} principal directions are not determined (D or the rank is below {k})"}


class MeasureResult:
    """The metrics of one embedding set: prints as a table, converts to a pandas DataFrame.

    What :func:`gaptools.measure` returns. ``result[key]`` is a metric's value (a float, the
    ``[[dim, share], ...]`` list of ``top_gap_dims``, or None where unavailable),
    :meth:`ci95` its interval, :meth:`to_frame` every scalar metric as a DataFrame and
    :meth:`to_dict` the JSON-ready entry ``gaptools measure --json`` writes for a set.

    Parameters
    ----------
    document : dict
        One set's result, as :func:`measure` or :func:`gaptools.stream.measure_folder` return it.

    Examples
    --------
    >>> import gaptools
    >>> result = gaptools.measure(gaptools.planted_gap(200, 16, shift=0.5), bootstrap=100)
    >>> print(result)
    gaptools.measure of synthetic
      200 images, 200 captions, D=16; L2-normalised; 100 bootstrap resamples, seed 0
      centroid_gap     0.4349  [0.4277, 0.445]
      matched_cosine   0.8959  [0.8926, 0.898]
    ...
    >>> result.to_frame().loc["centroid_gap", ["value", "ci95_low", "ci95_high"]].round(3).tolist()
    [0.435, 0.428, 0.445]
    """

    def __init__(self, document: dict) -> None:
        self.document = document

    def __getitem__(self, key: str):
        return self.document["metrics"][key]["value"]

    def keys(self) -> list[str]:
        """The metric keys, in display order."""
        return list(self.document["metrics"])

    def ci95(self, key: str) -> tuple[float, float] | None:
        """The 95% bootstrap interval of metric ``key`` (None for subsample and whole-set metrics)."""
        interval = self.document["metrics"][key]["ci95"]
        return None if interval is None else (interval[0], interval[1])

    def to_dict(self) -> dict:
        """The JSON-ready result (the ``sets`` entry of a ``gaptools.measure`` document)."""
        return self.document

    def to_frame(self):
        """Every scalar metric as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            Indexed by metric key, with columns ``value``, ``ci95_low``, ``ci95_high`` (NaN
            without an interval) and ``n`` (the subsample or gallery size, where one applies).
            ``top_gap_dims`` is a list, not a scalar: it is left out (``result["top_gap_dims"]``).
        """
        import pandas as pd

        rows = {}
        for key, entry in self.document["metrics"].items():
            if isinstance(entry["value"], list):
                continue
            lo, hi = entry["ci95"] or (None, None)
            rows[key] = {"value": entry["value"], "ci95_low": lo, "ci95_high": hi,
                         "n": entry.get("n", entry.get("gallery_images"))}
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "ci95_low", "ci95_high", "n"])
        frame = frame.astype({"value": float, "ci95_low": float, "ci95_high": float, "n": "Int64"})
        frame.index.name = "metric"
        return frame

    def __str__(self) -> str:
        doc = self.document
        lines = [f"gaptools.measure of {doc['source']}",
                 f"  {doc['n_image']:,} images, {doc['n_text']:,} captions, D={doc['dim']}; "
                 f"{'L2-normalised' if doc['normalized'] else 'raw vectors'}; "
                 f"{doc['bootstrap']:,} bootstrap resamples, seed {doc['seed']}"]
        width = max(len(key) for key in doc["metrics"])
        for key, entry in doc["metrics"].items():
            lines.append(f"  {key:<{width}}  {_format_entry(entry)}")
        return "\n".join(lines)

    __repr__ = __str__


def _format_entry(entry: dict) -> str:
    """One metric as text: value (4 significant digits), its interval, its sample size, or why it is missing."""
    value = entry["value"]
    if value is None:
        return f"unavailable ({entry.get('unavailable', 'not computed')})"
    if isinstance(value, list):  # top_gap_dims: [[dim, share], ...]
        return ", ".join(f"dim {d}: {share:.0%}" for d, share in value[:3])
    text = f"{value:.4g}"
    if entry.get("ci95"):
        lo, hi = entry["ci95"]
        text += f"  [{lo:.4g}, {hi:.4g}]"
    if entry.get("n"):
        text += f"  (n={entry['n']})"
    return text
