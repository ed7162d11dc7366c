"""Streaming ``measure``: every gap metric of a sharded folder from one pass of mergeable statistics.

The result is the document :func:`gaptools.measure.measure` returns (same keys, same
``kind``/``version`` when wrapped by :func:`gaptools.measure.measure_document`), with
``"path": "streaming"``. What each metric is computed from on this path:

- from the summed statistics, exactly as in memory (the same formulas,
  :data:`gaptools.metrics.SUMMABLE_FORMULAS`): centroid gap, Fréchet mean term, matched and
  random cosine, relative gap, image and text cones, alignment, the shares of ‖Δ‖² in the top
  2 and 10 coordinates, each with a 95% interval from the Poisson bootstrap
  (:mod:`gaptools.stream.stats`);
- from the merged means and covariances (no interval, as in memory): Fréchet distance and
  its covariance term, effective ranks, participation ratios of images and of captions,
  subspace agreement, top gap dimensions;
- not at all, with the reason: the centred and shifted matched cosines (:data:`NEEDS_SECOND_PASS`)
  and the pair residual's participation ratio (:data:`NEEDS_PAIR_MOMENTS`), as conformity is not;
- on the seeded hash sample of ``max_points`` images with one caption each (no interval,
  their size as ``n``): linear separability, MMD, Wasserstein-2 (raw and centred),
  uniformity of images and of captions (in memory uniformity draws its own subsample of
  each modality; here it reads the captions of the paired sample);
- on the hash gallery of ``max_gallery`` images with all their captions: recall@k, with
  Poisson-bootstrap intervals over the gallery's images (their weights are the ones the
  same images carry in the main bootstrap).

Groups: a caption's group is its image. In a clip-retrieval folder every row pair is its
own group (one caption per image); in a folder of ``.npz`` sets the groups are each set's
``text_image``, offset by the images of the shards before it. Random cosine and the cones
leave out the combinations within a group, as in memory: on row pairs that is the true pair
only (and for cones the item itself).
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from gaptools import metrics as M
from gaptools.measure import METRIC_KEYS, check_options, measure, subspace_entry
from gaptools.stream.engine import ProgressFn, map_reduce, require_scale
from gaptools.stream.shards import ShardFolder, open_folder
from gaptools.stream.stats import StatsConfig, StreamStats, merge_all, poisson_weights, shard_stats

PATH = "streaming"
_UNAVAILABLE = "not computed on the streaming path"
_TOO_FEW = "n too small (not defined on this few rows)"
#: Why the centred and shifted matched cosines are in memory only.
NEEDS_SECOND_PASS = ("a mean of per-pair cosines of vectors moved by the means: needs the means before the "
                     "pairs, a second pass over the shards (in memory only)")
#: Why the pair residual's participation ratio is in memory only.
NEEDS_PAIR_MOMENTS = ("needs the covariance of the pair residuals, which this pass does not gather "
                      "(in memory only)")
#: The in-memory defaults (one place: :func:`gaptools.measure.measure`'s signature).
_DEFAULTS = {name: p.default for name, p in inspect.signature(measure).parameters.items()
             if p.kind is p.KEYWORD_ONLY}


def measure_folder(
    path,
    *,
    normalize: bool | None = None,
    bootstrap: int | None = None,
    seed: int | None = None,
    max_points: int | None = None,
    max_gallery: int | None = None,
    dim_ablation: bool | None = None,
    subspace_k: int | None = None,
    client=None,
    progress: ProgressFn | None = None,
) -> dict:
    """Every gap metric of a sharded folder (or one ``.npz`` set), streamed on Dask.

    Parameters
    ----------
    path : path-like or ShardFolder
        A clip-retrieval folder, a folder of ``.npz`` sets, or one set.
    normalize, bootstrap, seed, max_points, max_gallery, dim_ablation, subspace_k
        As :func:`gaptools.measure.measure` (None: its default). ``bootstrap`` counts
        Poisson resamples here; the gallery (of recall and ``dim_ablation``) is the hash
        gallery.
    client : distributed.Client, optional
        None: Dask's threaded scheduler in this process.
    progress : callable, optional
        ``progress(done, total)`` after each shard.

    Returns
    -------
    dict
        The :func:`gaptools.measure.measure` result of the folder, plus ``"path":
        "streaming"`` and ``"streaming": {"layout", "shards", "sample", "bootstrap"}``.
        ``gaptools.MeasureResult(doc)`` prints it as a table (``gaptools.measure(folder)``
        returns that directly).

    Examples
    --------
    >>> import os, gaptools
    >>> os.makedirs("shards", exist_ok=True)
    >>> for k in range(3):  # a folder of three .npz sets
    ...     _ = gaptools.save_set(gaptools.planted_gap(200, 16, seed=k), f"shards/part{k}.npz")
    >>> doc = gaptools.measure_folder("shards", bootstrap=100)
    >>> doc["path"], round(doc["metrics"]["centroid_gap"]["value"], 2)
    ('streaming', 0.43)
    """
    require_scale()
    options = {k: _DEFAULTS[k] if v is None else v for k, v in
               dict(normalize=normalize, bootstrap=bootstrap, seed=seed, max_points=max_points,
                    max_gallery=max_gallery, dim_ablation=dim_ablation, subspace_k=subspace_k).items()}
    check_options(**{k: v for k, v in options.items() if k != "subspace_k"})
    folder = path if isinstance(path, ShardFolder) else open_folder(path)
    cfg = StatsConfig(normalize=options["normalize"], summable=True, bootstrap=options["bootstrap"],
                      max_points=options["max_points"], max_gallery=options["max_gallery"], seed=options["seed"])
    stats = map_reduce(functools.partial(shard_stats, cfg=cfg), folder.shards, merge_all,
                       client=client, progress=progress)
    return folder_document(stats, folder, cfg, dim_ablation=options["dim_ablation"], subspace_k=options["subspace_k"])


def folder_document(stats: StreamStats, folder: ShardFolder, cfg: StatsConfig, *, dim_ablation: bool = False,
                    subspace_k: int = _DEFAULTS["subspace_k"]) -> dict:
    """The measure document of a folder from its merged statistics."""
    out: dict[str, dict] = {}
    with np.errstate(invalid="ignore", divide="ignore"):  # undefined on tiny folders: reported as unavailable below
        out.update(_summable(stats))
        if stats.gallery is not None:
            out.update(_recall(stats, cfg))
        out.update(_fits(stats, subspace_k))
        if stats.sample is not None:
            out.update(_sampled(stats.sample.image, stats.sample.text, cfg.seed))
    metrics = {key: out.get(key, {"value": None, "ci95": None, "unavailable": _UNAVAILABLE}) for key in METRIC_KEYS}
    for entry in metrics.values():  # a statistic undefined on this few rows (a variance of one row, ...): say so
        if isinstance(entry["value"], float) and not np.isfinite(entry["value"]):
            entry.update(value=None, ci95=None, unavailable=entry.get("unavailable", _TOO_FEW))
    return {
        "source": folder.path,
        "meta": {"layout": folder.layout, "shards": len(folder.shards)},
        "n_image": folder.n_image,
        "n_text": folder.n_text,
        "dim": folder.dim,
        "normalized": cfg.normalize,
        "bootstrap": cfg.bootstrap,
        "seed": cfg.seed,
        "metrics": metrics,
        "dim_ablation": _ablation(stats, cfg) if dim_ablation and stats.gallery is not None else None,
        "path": PATH,
        "streaming": {
            "layout": folder.layout,
            "shards": len(folder.shards),
            "sample": "the images with the smallest hash of (seed, image id), one caption each",
            "bootstrap": "Poisson(1) weight per image from a hash of (seed, resample, image id)",
        },
    }


def _interval(values: np.ndarray) -> list[float] | None:
    """95% percentile interval of the finite bootstrap values."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def _summable(stats: StreamStats) -> dict:
    totals, resamples = stats.totals(), stats.resamples()
    return {name: {"value": float(f(totals)), "ci95": None if resamples is None else _interval(f(resamples))}
            for name, f in M.SUMMABLE_FORMULAS.items()}


def _recall(stats: StreamStats, cfg: StatsConfig) -> dict:
    gallery = stats.gallery
    hits = gallery.hits()
    totals = M.total(hits)
    resamples = None
    if cfg.bootstrap:
        weights = poisson_weights(cfg.seed, gallery.ids, cfg.bootstrap).astype(np.float64)  # (B, G)
        resamples = hits.map(lambda v: weights @ v)
    out = {}
    for direction in ("i2t", "t2i"):
        for k in M.RECALL_KS:
            f = functools.partial(M.recall_from_sums, direction=direction, k=k)
            out[f"recall@{k}_{direction}"] = {
                "value": float(f(totals)),
                "ci95": None if resamples is None else _interval(f(resamples)),
                "gallery_images": len(gallery.ids),
            }
    return out


def _ablation(stats: StreamStats, cfg: StatsConfig) -> dict:
    """:func:`gaptools.metrics.gap_dimension_ablation` on the hash gallery (unit vectors)."""
    gallery = stats.gallery
    return M.gap_dimension_ablation(gallery.image, gallery.text, gallery.caption_image, seed=cfg.seed).to_dict()


def _fits(stats: StreamStats, subspace_k: int) -> dict:
    """Metrics of the Gaussian fits (merged means and covariances)."""
    mean_img, cov_img = stats.image.mean_a, stats.image.cov()
    mean_txt, cov_txt = stats.text.mean_a, stats.text.cov()
    frechet = M.frechet_terms_from_fits(mean_img, cov_img, mean_txt, cov_txt)
    return {
        "effective_rank_image": {"value": M.effective_rank_from_cov(cov_img), "ci95": None},
        "effective_rank_text": {"value": M.effective_rank_from_cov(cov_txt), "ci95": None},
        "participation_ratio_image": {"value": M.participation_ratio_from_cov(cov_img), "ci95": None},
        "participation_ratio_text": {"value": M.participation_ratio_from_cov(cov_txt), "ci95": None},
        "subspace_agreement": subspace_entry(cov_img, cov_txt, subspace_k),
        "centred_matched_cosine": {"value": None, "ci95": None, "unavailable": NEEDS_SECOND_PASS},
        "shifted_matched_cosine": {"value": None, "ci95": None, "unavailable": NEEDS_SECOND_PASS},
        "participation_ratio_residual": {"value": None, "ci95": None, "unavailable": NEEDS_PAIR_MOMENTS},
        "frechet": {"value": frechet.distance, "ci95": None},
        "frechet_cov_term": {"value": frechet.cov_term, "ci95": None},
        # one row holding each mean: gap_vector of it is exactly mean_img − mean_txt
        "top_gap_dims": {"value": M.top_gap_dims(mean_img[None, :], mean_txt[None, :]), "ci95": None},
    }


def _sampled(xi: np.ndarray, xt: np.ndarray, seed: int) -> dict:
    """Metrics of the paired hash sample: images ``xi`` (n, D) and one caption each ``xt``."""
    n = len(xi)
    w2, w2_centred = M.wasserstein2_terms(xi, xt)
    values = {
        "linear_separability": M.linear_separability(xi, xt, seed=seed),
        "mmd_rbf": M.mmd_rbf(xi, xt),
        "wasserstein2": w2,
        "wasserstein2_centred": w2_centred,
        "uniformity_image": M.uniformity(xi),
        "uniformity_text": M.uniformity(xt),
    }
    out = {key: {"value": value, "ci95": None, "n": n} for key, value in values.items()}
    folds = M.linear_separability.__kwdefaults__["folds"]
    if n < folds:
        out["linear_separability"]["unavailable"] = f"n too small ({folds}-fold CV needs {folds} images)"
    return out
