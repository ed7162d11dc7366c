"""The reproduction's results across training seeds: one document with every row, the claims and the corrections.

A *row* is one captioner with one input configuration (``uclipcap/image``,
``uclipcap/aligner-mean``, ``clipcap/mixup-0.5``, ...), with a label in words
(:func:`row_label`). Each eval folder saves, per configuration, the per-image statistics of
its scores (:mod:`gaptools.caption.bootstrap`); a row combines the files of every training seed:
mean ± sd over seeds and a 95% interval over test images of the seed-mean
(:func:`gaptools.caption.bootstrap.combine_seeds`). The paper's claims are then judged on paired
resamples (:mod:`gaptools.reproduce.claims`), and the aligners are ranked by what they do for the
text-trained captioners, beside a rank correlation of their held-out gap measures with CIDEr.
The document names which of our rows stand beside which of the paper's
(:data:`PAPER_ROWS`, :data:`PAPER_AVERAGES`; the figures themselves are :mod:`gaptools.paper`)
and the dataset, which decides whether they are comparable (:func:`gaptools.paper.table_for`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gaptools import paper
from gaptools.datasets.files import read_json
from gaptools.errors import InputError
from gaptools.reproduce.claims import CLAIM_METRIC, judge_claim, paper_claims
from gaptools.reproduce.experiment import CAPTIONERS

RESULT_KIND = "gaptools.reproduce.results"
RESULT_VERSION = 2
#: eval folder suffixes of the plan (``<captioner>-<suffix>``)
SUFFIXES = ("-image", "-text", "-aligned", "-mixup")
#: gap measures of ``align compare`` correlated with CIDEr across aligners: the centroid part, the rest
GAP_TERMS = ("centroid_gap", "frechet_mean_term", "frechet_cov_term", "wasserstein2_centred")
#: The paper's table rows (:mod:`gaptools.paper`) -> our row beside each.
PAPER_ROWS = {paper.UCLIPCAP: "uclipcap/image", paper.MATCHED_ABLATION: "same-caption/image",
              paper.CLIPCAP: "clipcap/image"}
#: The paper's §5 averages (:data:`gaptools.paper.ALIGNMENT_AVERAGES`) -> our rows beside each, the
#: primary reading first (:func:`gaptools.reproduce.claims.paper_claims` says why).
PAPER_AVERAGES = {
    "image": ("uclipcap/image",), "mean": ("uclipcap/aligner-mean",),
    "rotation": ("uclipcap/aligner-pca-rotation-paper", "uclipcap/aligner-pca-rotation"),
    "ot": ("uclipcap/aligner-ot-paper", "uclipcap/aligner-ot-plan-images", "uclipcap/aligner-ot-exact"),
    "clipcap": ("clipcap/image",),
}
#: How row labels name each aligner (others: "<name> alignment").
ALIGNER_LABELS = {
    "mean": "mean alignment", "center": "centring", "standardize": "standardisation", "moment": "moment matching",
    "realign": "ReAlign", "pca-rotation": "centred PCA rotation",
    "pca-rotation-paper": "the paper's rotation (uncentred SVD)", "procrustes": "Procrustes (true pairs)",
    "coral": "CORAL", "ot-exact": "exact OT, barycentric map", "ot-sinkhorn": "Sinkhorn OT, barycentric map",
    "ot-paper": "the paper's OT, texts multiplied by T*",
    "ot-plan-images": "the paper's OT, images multiplied by T* (other reading)",
    "memory-projection": "memory projection (DeCap)",
}


def row_label(captioner: str, configuration: str) -> str:
    """A row in words: ``Unsupervised-ClipCap, images + mean alignment``."""
    who = CAPTIONERS[captioner].label if captioner in CAPTIONERS else captioner
    if configuration == "image":
        what = "images"
    elif configuration == "text":
        what = "its own caption's embedding"
    elif configuration.startswith("aligner-"):
        method = configuration[len("aligner-"):]
        what = "images + " + ALIGNER_LABELS.get(method, f"{method} alignment")
    elif configuration.startswith("mixup-"):
        what = f"mixup λ = {configuration[len('mixup-'):]}"
    else:
        what = configuration
    return f"{who}, {what}"


def captioner_of(folder_name: str) -> str:
    """``uclipcap-aligned`` -> ``uclipcap``."""
    for suffix in SUFFIXES:
        if folder_name.endswith(suffix):
            return folder_name[: -len(suffix)]
    raise InputError(f"{folder_name}: not an eval folder of the reproduction plan")


def collect_rows(folders_by_seed: dict[int, list[Path]]) -> dict[str, dict]:
    """Row key -> ``{"captioner", "configuration", "label", "input", "aligner", "mixup", "references",
    "stats": [path per seed]}``.

    Raises
    ------
    InputError
        A configuration without saved per-image statistics, or a row missing for some seed.
    """
    rows: dict[str, dict] = {}
    seeds = sorted(folders_by_seed)
    for seed in seeds:
        for folder in folders_by_seed[seed]:
            doc = read_json(Path(folder) / "metrics.json")
            for conf in doc["configurations"]:
                if not conf.get("image_stats"):
                    raise InputError(f"{folder}: configuration {conf['name']} has no per-image statistics")
                captioner = captioner_of(Path(folder).name)
                key = f"{captioner}/{conf['name']}"
                row = rows.setdefault(key, {
                    "captioner": captioner, "configuration": conf["name"], "label": row_label(captioner, conf["name"]),
                    "input": conf.get("input", "image"), "aligner": Path(conf["aligner"]).stem if conf.get("aligner") else None,
                    "mixup": conf.get("mixup"), "references": conf.get("references", "all"),
                    "n_images": doc.get("n_images"), "stats": [], "scores": []})
                row["stats"].append(str(Path(folder) / conf["image_stats"]))
                row["scores"].append(conf["metrics"])
    missing = [k for k, r in rows.items() if len(r["stats"]) != len(seeds)]
    if missing:
        raise InputError(f"rows missing for some seeds: {', '.join(missing[:5])}")
    return rows


def combine(exp, folders_by_seed: dict[int, list[Path]], *, sets: dict, compare: str | os.PathLike | None = None
            ) -> dict:
    """The results document: rows over seeds, the claims judged, the corrections ranked.

    Parameters
    ----------
    exp : reproduce.experiment.Experiment
        For the seeds, bootstrap size and the evaluated aligners and λ values.
    folders_by_seed : dict of int to list of Path
        The eval folders of each training seed.
    sets : dict of str to Path
        The embedded splits (``train``, ``fit``, ``test``), for their sizes and the dataset.
    compare : path-like, optional
        ``align compare`` results on the test split, for the gap measures of each aligner.
    """
    from gaptools.caption.bootstrap import AVERAGE_KEY, average_label, combine_seeds, load_image_stats

    rows = collect_rows(folders_by_seed)
    stats = {key: [load_image_stats(p) for p in row["stats"]] for key, row in rows.items()}
    for key, row in rows.items():
        row["metrics"] = combine_seeds(stats[key], exp.bootstrap, exp.seed)
        row["metrics"].update(_seed_only(row.pop("scores"), exclude=row["metrics"]))
    draws = _seed_mean_draws(stats, exp.bootstrap, exp.seed)
    some = next(iter(rows.values()))["metrics"]
    scored = tuple(m for m in paper.METRICS if m in some)
    points = {key: {m: entry["mean"] for m, entry in row["metrics"].items()} for key, row in rows.items()}
    claims = [judge_claim(c, draws, points)
              for c in paper_claims(aligners=exp.methods(), mixup=tuple(exp.mixup), metrics=scored)
              if all(row in draws and cmp.metric in draws[row] for cmp in c.comparisons for row in (cmp.a, cmp.b))]
    splits = _split_sizes(sets)
    return _json_safe({
        "kind": RESULT_KIND, "version": RESULT_VERSION, "seeds": exp.training_seeds(), "quick": exp.quick,
        "bootstrap": {"resamples": exp.bootstrap, "seed": exp.seed, "unit": "test image"},
        "average_label": average_label(some), "average_key": AVERAGE_KEY,
        "splits": splits,
        "paper": {"dataset": splits.get("test", {}).get("dataset"), "rows": PAPER_ROWS,
                  "averages": {k: [r for r in v if r in rows] for k, v in PAPER_AVERAGES.items()}},
        "rows": [{"key": key, **{k: v for k, v in row.items() if k != "stats"}} for key, row in rows.items()],
        "claims": claims,
        "corrections": _corrections(rows, draws, compare),
    })


def _json_safe(obj):
    """NaN and infinities (an interval over too few images, a score of nothing) become None."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _seed_only(scores: list[dict], exclude: dict) -> dict:
    """Mean ± sd over seeds of the scores that have no per-image statistics (the shapes world's scene checks)."""
    out = {}
    for key in scores[0]:
        values = [s.get(key) for s in scores]
        if key in exclude or not all(isinstance(v, (int, float)) for v in values):
            continue
        values = np.array(values, dtype=np.float64)
        out[key] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
                    "per_seed": values.tolist(), "ci95": None}
    return out


def _seed_mean_draws(stats: dict, n_boot: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Row key -> metric -> seed-mean of the row on each of the same ``n_boot`` image resamples.

    One call resamples every row and seed together, so resample r holds the same images in
    every row (each file's images are put in the order of the first): any two rows pair.
    """
    from gaptools.caption.bootstrap import bootstrap_draws

    keys = list(stats)
    flat = bootstrap_draws([s for key in keys for s in stats[key]], n_boot, seed)
    out, start = {}, 0
    for key in keys:
        part, start = flat[start:start + len(stats[key])], start + len(stats[key])
        out[key] = {metric: np.mean([d[metric] for d in part], axis=0) for metric in part[0]}
    return out


def _corrections(rows: dict, draws: dict, compare) -> dict:
    """For each text-trained captioner: CIDEr gained by each aligner (paired interval), best first;
    and across aligners, Spearman's rank correlation of CIDEr with each held-out gap measure."""
    from scipy.stats import spearmanr

    gaps = {}
    if compare is not None and Path(compare).is_file():
        gaps = read_json(compare).get("methods", {})
    out = {}
    present = {r["captioner"] for r in rows.values()}
    for captioner in [*(c for c in CAPTIONERS if c in present), *sorted(present - set(CAPTIONERS))]:
        base = f"{captioner}/image"
        aligned = [k for k, r in rows.items() if r["captioner"] == captioner and r["aligner"]]
        if base not in rows or not aligned:
            continue
        gains = []
        for key in aligned:
            diff = draws[key][CLAIM_METRIC] - draws[base][CLAIM_METRIC]
            lo, hi = np.percentile(diff[np.isfinite(diff)], [2.5, 97.5])
            gain = rows[key]["metrics"][CLAIM_METRIC]["mean"] - rows[base]["metrics"][CLAIM_METRIC]["mean"]
            gains.append({"aligner": rows[key]["aligner"], "label": ALIGNER_LABELS.get(rows[key]["aligner"]),
                          "gain": float(gain), "ci95": [float(lo), float(hi)], "separates": bool(lo > 0 or hi < 0)})
        gains.sort(key=lambda g: -g["gain"])
        correlations = {}
        points = [g for g in gains if g["aligner"] in gaps]
        cider = [rows[f"{captioner}/aligner-{g['aligner']}"]["metrics"][CLAIM_METRIC]["mean"] for g in points]
        for term in GAP_TERMS:
            values = [gaps[g["aligner"]].get(term) for g in points]
            usable = [(c, v) for c, v in zip(cider, values) if isinstance(v, (int, float)) and np.isfinite(v)]
            if len(usable) >= 3 and len({v for _, v in usable}) > 1 and len({c for c, _ in usable}) > 1:
                rho, p = spearmanr([c for c, _ in usable], [v for _, v in usable])
                correlations[term] = {"rho": float(rho), "p": float(p), "n": len(usable)}
        out[captioner] = {"label": CAPTIONERS[captioner].label if captioner in CAPTIONERS else captioner,
                          "gains": gains, "rank_correlation_with_cider": correlations}
    return out


def _split_sizes(sets: dict) -> dict:
    from gaptools.io import load_set

    sizes = {}
    for name in ("train", "fit", "test"):
        if name in sets and Path(sets[name]).is_file():
            eset = load_set(sets[name])
            sizes[name] = {"images": eset.n_image, "captions": eset.n_text, "split": eset.meta.get("split"),
                           "dataset": eset.meta.get("dataset")}
    return sizes
