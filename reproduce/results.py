"""The reproduction's results across training seeds: one document with every row, the claims and the corrections.

A *row* is one captioner with one input configuration (``uclipcap/image``,
``uclipcap/aligner-mean``, ``clipcap/mixup-0.5``, ...), with a label in words
(:func:`row_label`). An image-fed row scored against leave-one-out references has a key ending
in ``@loo``; a row fed to the captioner without its input normalisation (the OT grid) one ending
in ``@unnormalised``. Each eval folder saves, per configuration, the per-image statistics of
its scores (:mod:`gaptools.caption.bootstrap`); a row combines the files of every training seed:
mean ± sd over seeds, a 95% interval over seeds and test images of the seed-mean (hierarchical
bootstrap, ``ci95``) and one over test images with the seeds fixed (``ci95_images``)
(:func:`gaptools.caption.bootstrap.combine_seeds`; :data:`gaptools.caption.bootstrap.INTERVALS`
says what each covers). The paper's claims are then judged on paired resamples
(:mod:`gaptools.reproduce.claims`), the OT grid is summarised cell by cell (:func:`ot_grid`),
and the aligners are ranked by what they do for the
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
from gaptools.checksums import verify_manifest
from gaptools.datasets.files import read_json
from gaptools.errors import InputError
from gaptools.reproduce.claims import CLAIM_METRIC, LOO, PAPER_OT_CELL, judge_claim, paper_claims
from gaptools.reproduce.experiment import CAPTIONERS

RESULT_KIND = "gaptools.reproduce.results"
RESULT_VERSION = 3
#: eval folder suffixes of the plan (``<captioner>-<suffix>``), longest first
SUFFIXES = ("-mixup-renormalised", "-otgrid-unnormalised", "-otgrid", "-image", "-text", "-aligned", "-mixup", "-loo")
#: Sample captions kept per row (the first test images, the first seed).
SAMPLES = 3
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
    "ot": (f"uclipcap/{PAPER_OT_CELL}", "uclipcap/aligner-ot-paper", "uclipcap/aligner-ot-plan-images",
           "uclipcap/aligner-ot-exact"),
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


#: What the OT grid's names mean, in words (:data:`gaptools.reproduce.experiment.OT_GRID`).
GRID_WORDS = {"val": "fitted on val, applied out of sample", "test": "fitted in sample on the test set",
              "renorm": "output renormalised", "raw": "output not renormalised (1/n mass kept)",
              "control": "control: normalise(x − x_nn) alone"}
UNNORMALISED = "@unnormalised"


def row_label(captioner: str, configuration: str) -> str:
    """A row in words: ``Unsupervised-ClipCap, images + mean alignment``."""
    who = CAPTIONERS[captioner].label if captioner in CAPTIONERS else captioner
    base, _, tags = configuration.partition("@")
    if base == "image":
        what = "images"
    elif base == "text":
        what = "its own caption's embedding"
    elif base.startswith("aligner-") and base.count(".") == 2:
        method, where, output = base[len("aligner-"):].split(".")
        what = (f"images + {ALIGNER_LABELS.get(method, method)} [{GRID_WORDS[where]}; {GRID_WORDS[output]}"
                if output != "control" else f"images + {GRID_WORDS[output]} [{GRID_WORDS[where]}")
        what += "; captioner input not normalised]" if "unnormalised" in tags else "; captioner input normalised]"
        return f"{who}, {what}"
    elif base.startswith("aligner-"):
        method = base[len("aligner-"):]
        what = "images + " + ALIGNER_LABELS.get(method, f"{method} alignment")
    elif base.startswith("mixup-"):
        value, _, rule = base[len("mixup-"):].partition("-")
        what = f"mixup λ = {value}" + (" (renormalised, our reading)" if rule else "")
    else:
        what = base
    if tags == "loo":
        what += " (leave-one-out references)"
    return f"{who}, {what}"


def captioner_of(folder_name: str) -> str:
    """``uclipcap-aligned`` -> ``uclipcap``."""
    for suffix in SUFFIXES:
        if folder_name.endswith(suffix):
            return folder_name[: -len(suffix)]
    raise InputError(f"{folder_name}: not an eval folder of the reproduction plan")


def row_key(captioner: str, conf: dict) -> str:
    """``captioner/name``, with ``@loo`` for an image-fed row on leave-one-out references and ``@unnormalised``
    for a non-mixup row fed without the captioner's input normalisation."""
    key = f"{captioner}/{conf['name']}"
    if conf.get("mixup") is None and conf.get("normalize") is False:
        key += UNNORMALISED
    if conf.get("mixup") is None and conf.get("input", "image") == "image" and conf.get("references") == "leave-one-out":
        key += LOO
    return key


def collect_rows(folders_by_seed: dict[int, list[Path]]) -> dict[str, dict]:
    """Row key -> ``{"captioner", "configuration", "label", "input", "aligner", "mixup", "mixup_rule",
    "normalize", "references", "n_images", "stats": [path per seed], "scores", "diversity": [per seed],
    "samples": [...]}``.

    Raises
    ------
    InputError
        A configuration without saved per-image statistics, a row missing for some seed, or an
        eval folder whose files differ from its ``checksums.json``.
    """
    rows: dict[str, dict] = {}
    seeds = sorted(folders_by_seed)
    for seed in seeds:
        for folder in folders_by_seed[seed]:
            verify_manifest(folder)  # an eval folder changed after it was written is named, not combined
            doc = read_json(Path(folder) / "metrics.json")
            for conf in doc["configurations"]:
                if not conf.get("image_stats"):
                    raise InputError(f"{folder}: configuration {conf['name']} has no per-image statistics")
                captioner = captioner_of(Path(folder).name)
                key = row_key(captioner, conf)
                config = key.split("/", 1)[1]
                row = rows.setdefault(key, {
                    "captioner": captioner, "configuration": config, "label": row_label(captioner, config),
                    "input": conf.get("input", "image"), "aligner": Path(conf["aligner"]).stem if conf.get("aligner") else None,
                    "mixup": conf.get("mixup"), "mixup_rule": conf.get("mixup_rule"), "normalize": conf.get("normalize"),
                    "references": conf.get("references", "all"), "n_images": doc.get("n_images"), "stats": [],
                    "scores": [], "diversity": [], "samples": _samples(Path(folder), conf)})
                row["stats"].append(str(Path(folder) / conf["image_stats"]))
                row["scores"].append(conf["metrics"])
                row["diversity"].append(conf.get("diversity"))
    missing = [k for k, r in rows.items() if len(r["stats"]) != len(seeds)]
    if missing:
        raise InputError(f"rows missing for some seeds: {', '.join(missing[:5])}")
    return rows


def _samples(folder: Path, conf: dict) -> list[dict]:
    """The first :data:`SAMPLES` captions of a configuration (``{"image_id", "caption"}``), [] when unreadable."""
    name = conf.get("predictions")
    if not name or not (folder / name).is_file():
        return []
    predictions = read_json(folder / name)
    return predictions[:SAMPLES] if isinstance(predictions, list) else []


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
    from gaptools.caption.bootstrap import AVERAGE_KEY, INTERVALS, average_label, combine_seeds, load_image_stats

    rows = collect_rows(folders_by_seed)
    stats = {key: [load_image_stats(p) for p in row["stats"]] for key, row in rows.items()}
    for key, row in rows.items():
        row["metrics"] = combine_seeds(stats[key], exp.bootstrap, exp.seed)
        row["metrics"].update(_seed_only(row.pop("scores"), exclude=row["metrics"]))
    draws, image_draws = _seed_mean_draws(stats, exp.bootstrap, exp.seed)
    some = next(iter(rows.values()))["metrics"]
    scored = tuple(m for m in paper.METRICS if m in some)
    points = {key: {m: entry["mean"] for m, entry in row["metrics"].items()} for key, row in rows.items()}
    claims = [judge_claim(c, draws, points, image_draws)
              for c in paper_claims(aligners=exp.methods(), mixup=tuple(exp.mixup), metrics=scored)
              if all(row in draws and cmp.metric in draws[row] for cmp in c.comparisons for row in (cmp.a, cmp.b))]
    splits = _split_sizes(sets)
    return _json_safe({
        "kind": RESULT_KIND, "version": RESULT_VERSION, "seeds": exp.training_seeds(), "quick": exp.quick,
        "bootstrap": {"resamples": exp.bootstrap, "seed": exp.seed, "unit": "training seed, then test image",
                      "intervals": INTERVALS},
        "average_label": average_label(some), "average_key": AVERAGE_KEY,
        "splits": splits,
        "paper": {"dataset": splits.get("test", {}).get("dataset"), "rows": PAPER_ROWS,
                  "averages": {k: [r for r in v if r in rows] for k, v in PAPER_AVERAGES.items()}},
        "rows": [{"key": key, **{k: v for k, v in row.items() if k != "stats"}} for key, row in rows.items()],
        "claims": claims,
        "corrections": _corrections(rows, draws, image_draws, compare),
        "ot_grid": ot_grid(rows),
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


def _seed_mean_draws(stats: dict, n_boot: int, seed: int) -> tuple[dict, dict]:
    """Row key -> metric -> seed-mean of the row on each of the same ``n_boot`` resamples, two ways.

    One call resamples every row and seed together, so resample r holds the same images in
    every row (each file's images are put in the order of the first) and, for the first dict,
    the same drawn seeds (:func:`gaptools.caption.bootstrap.seed_weights`): any two rows pair.

    Returns
    -------
    draws : dict
        Seeds and test images resampled (the primary, hierarchical interval).
    image_draws : dict
        Test images resampled, every seed in every resample.
    """
    from gaptools.caption.bootstrap import bootstrap_draws, seed_mean_draws, seed_weights

    keys = list(stats)
    n_seeds = {len(stats[key]) for key in keys}
    if len(n_seeds) != 1:
        raise InputError(f"rows have different numbers of seeds ({sorted(n_seeds)})")
    weights = seed_weights(n_seeds.pop(), n_boot, seed)
    flat = bootstrap_draws([s for key in keys for s in stats[key]], n_boot, seed)
    draws, image_draws, start = {}, {}, 0
    for key in keys:
        part, start = flat[start:start + len(stats[key])], start + len(stats[key])
        draws[key], image_draws[key] = seed_mean_draws(part, weights)
    return draws, image_draws


def ot_grid(rows: dict) -> list[dict]:
    """The OT grid's cells: what each is, its average and CIDEr, the captions' diversity, a few samples.

    Returns
    -------
    list of dict
        One per grid row (``aligner-<method>.<fit>.<output>``, fed normalised or not), in plan
        order: ``key, label, method, fit, output, captioner_normalises, paper_cell, leaks_test_captions,
        metrics`` (average and CIDEr entries of the row), ``distinct_fraction`` and ``mode_collapse``
        (mean over seeds; any seed), ``samples``.
    """
    out = []
    for key, row in rows.items():
        base = row["configuration"].split("@")[0]
        if not (base.startswith("aligner-") and base.count(".") == 2):
            continue
        method, fit, output = base[len("aligner-"):].split(".")
        diversity = [d for d in row.get("diversity", []) if d]
        out.append({
            "key": key, "label": row["label"], "method": method, "fit": fit, "output": output,
            "captioner_normalises": row.get("normalize") is not False,
            "paper_cell": row["configuration"] == PAPER_OT_CELL,
            "leaks_test_captions": method == "ot-paper" and fit == "test" and output == "renorm",
            "metrics": {m: row["metrics"][m] for m in ("caption_average", CLAIM_METRIC) if m in row["metrics"]},
            "distinct_fraction": float(np.mean([d["distinct_fraction"] for d in diversity])) if diversity else None,
            "mode_collapse": any(d.get("mode_collapse") for d in diversity) if diversity else None,
            "samples": row.get("samples", [])})
    return out


def _corrections(rows: dict, draws: dict, image_draws: dict, compare) -> dict:
    """For each text-trained captioner: CIDEr gained by each aligner (paired intervals: over seeds and images,
    and over images only), best first; and across aligners, Spearman's rank correlation of CIDEr with each
    held-out gap measure. The OT grid's and leave-one-out rows are left out (they are reported on their own)."""
    from scipy.stats import spearmanr

    from gaptools.caption.bootstrap import percentile_interval

    gaps = {}
    if compare is not None and Path(compare).is_file():
        gaps = read_json(compare).get("methods", {})
    out = {}
    present = {r["captioner"] for r in rows.values()}
    for captioner in [*(c for c in CAPTIONERS if c in present), *sorted(present - set(CAPTIONERS))]:
        base = f"{captioner}/image"
        aligned = [k for k, r in rows.items() if r["captioner"] == captioner and r["aligner"] and "@" not in k
                   and "." not in r["aligner"]]
        if base not in rows or not aligned:
            continue
        gains = []
        for key in aligned:
            lo, hi = percentile_interval(draws[key][CLAIM_METRIC] - draws[base][CLAIM_METRIC]) or (np.nan, np.nan)
            images = percentile_interval(image_draws[key][CLAIM_METRIC] - image_draws[base][CLAIM_METRIC])
            gain = rows[key]["metrics"][CLAIM_METRIC]["mean"] - rows[base]["metrics"][CLAIM_METRIC]["mean"]
            gains.append({"aligner": rows[key]["aligner"], "label": ALIGNER_LABELS.get(rows[key]["aligner"]),
                          "gain": float(gain), "ci95": [float(lo), float(hi)],
                          "ci95_images": None if images is None else list(images),
                          "separates": bool(lo > 0 or hi < 0)})
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
