"""Report sections of a reproduction's results document (``gaptools.reproduce.results``).

The document combines every training seed (see ``reproduce/results.py``): per row the mean ± sd
over seeds, a 95% interval of the seed-mean over seeds and test images (hierarchical bootstrap,
the primary one) and one over test images with the seeds fixed (shown beside it, labelled); the
paper's claims, each quoted, with the verdict the primary intervals decide, the verdict at other
bands where a band decides it; the OT grid cell by cell; the rows that stand beside the paper's
(whose figures are :mod:`gaptools.paper`); and, per text-trained captioner, what each
correction gains. The sections open with the answer: the claims, then the paper's tables
beside ours, then every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gaptools import paper
from gaptools.reports import figures
from gaptools.reports.render import Figure, Section
from gaptools.reports.tables import CAPTION_HEADERS

#: Columns of the seeds table, in order (those the rows have).
SEED_COLUMNS = ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "caption_average", "world_exact_scene", "world_object_f1")
MEAN_8, MEAN_7 = "mean of 8", "mean of 7 (no SPICE)"
#: What the two intervals cover, as the tables' notes say it.
INTERVAL_NOTE = ("[95% interval over training seeds and test images: a hierarchical bootstrap that draws the seeds "
                 "with replacement, then resamples the test images (one image resample for every drawn seed); "
                 "\"images only\": over test images with the trained seeds fixed, which leaves out the between-seed "
                 "variance]")
QUICK_NOTICE = ("This is a quick run (reproduce --quick): toy-size data and training that check that every step runs. "
                "Its scores, intervals and verdicts decide nothing about the paper's claims.")


def cell(entry: dict | None, *, interval: bool = True) -> str:
    """``mean ± sd [lo, hi]`` of one metric of one row (sd and the primary interval where known)."""
    if not entry:
        return "—"
    text = f"{entry['mean']:.1f}"
    if entry.get("sd") is not None:
        text += f" ± {entry['sd']:.1f}"
    if interval and entry.get("ci95"):
        lo, hi = entry["ci95"]
        text += f" [{lo:.1f}, {hi:.1f}]"
    return text


def images_only(entry: dict | None) -> str:
    """``[lo, hi]`` of the image-only interval (the seeds fixed), or —."""
    if not entry or not entry.get("ci95_images"):
        return "—"
    lo, hi = entry["ci95_images"]
    return f"[{lo:.1f}, {hi:.1f}]"


def _labels(doc: dict) -> dict[str, str]:
    """Row key -> its label in words (the key where a document has none)."""
    return {row["key"]: row.get("label") or row["key"] for row in doc["rows"]}


def _header(doc: dict, metric: str) -> str:
    return doc.get("average_label", "average") if metric == doc.get("average_key") else CAPTION_HEADERS.get(metric, metric)


def dataset_note(doc: dict) -> str:
    """Whether our rows are comparable with the paper's, in words (from the test split's dataset)."""
    info = doc.get("paper", {})
    dataset = info.get("dataset") or "an unnamed dataset"
    table = paper.table_for(info.get("dataset"))
    if table is None:
        return (f"Our rows are on {dataset}, not on MS-COCO or Flickr30k: the paper's figures are context, not "
                "targets, and each verdict speaks for this data only.")
    return (f"Our rows are on {table.dataset}, like the paper's {table.key}: row for row comparable (rows fed images "
            "are scored against all references, the COCO protocol the paper cites), except that SPICE is scored "
            "only where it could run.")


REFERENCES_NOTE = ("References: rows fed images are scored against every reference of their image (the COCO "
                   "protocol the paper cites); rows whose input holds a test caption's embedding (text, every λ of a "
                   "mixup sweep) against the other references of their image (leave-one-out), and so is an image row "
                   "compared with them (labelled \"leave-one-out references\").")


# ----------------------------------------------------------------------------- the claims


def signed(value: float | None) -> str:
    """A difference: one decimal, or two significant digits when it would print as ±0.0 without being 0."""
    if value is None:
        return "—"
    return f"{value:+.2g}" if 0 < abs(value) < 0.05 else f"{value:+.1f}"


def difference(comparison: dict, relation: str) -> str:
    """``+d [lo, hi]`` of one comparison (the primary interval), with its band where it has one."""
    lo, hi = comparison["ci95"]
    text = f"{signed(comparison['difference'])} [{signed(lo)}, {signed(hi)}]"
    if comparison.get("margin") is not None:
        text += f" (band {'±' if relation == 'equal' else '+'}{comparison['margin']:.1f})"
    return text


def _images_interval(comparison: dict) -> str:
    interval = comparison.get("ci95_images")
    return "—" if not interval else f"[{signed(interval[0])}, {signed(interval[1])}]"


def _ours(claim: dict) -> str:
    """Our side of a claim: the two rows, the difference with its interval (and band), or the count of steps."""
    comparisons = claim["comparisons"]
    if len(comparisons) == 1:
        c = comparisons[0]
        return f"{c['ours_a']:.1f} vs {c['ours_b']:.1f}: {difference(c, claim['relation'])}"
    counts = {v: sum(c["verdict"] == v for c in comparisons) for v in ("holds", "does not hold", "inconclusive")}
    parts = [f"{counts['holds']} of {len(comparisons)} comparisons hold"]
    if counts["does not hold"]:
        parts.append(f"{counts['does not hold']} do{'es' if counts['does not hold'] == 1 else ''} not")
    if counts["inconclusive"]:
        parts.append(f"{counts['inconclusive']} inconclusive")
    return ", ".join(parts) + " (each below)"


def _bands(claim: dict) -> str:
    """The verdict at the other bands (``5%: holds; 20%: holds``), or — where no band decides it."""
    bands = claim.get("bands") or {}
    return "; ".join(f"{label}: {v}" for label, v in bands.items()) or "—"


def claims_table(doc: dict) -> pd.DataFrame:
    """Each claim: the paper's sentence, the reading tested, the paper's figure, ours with its intervals, the verdict.

    A sentence read two ways gets one row per reading, the primary one first and marked, and the
    readings of one statement stay together (in the order the claims list first names each
    statement), so that "″" always repeats the row above. Beside the verdict: the image-only
    interval of a single comparison (the seeds fixed) and the verdict at the other bands of a
    banded claim.
    """
    rows, index, seen = [], [], set()
    readings, order = {}, {}
    for k, c in enumerate(doc["claims"]):
        readings[c["statement"]] = readings.get(c["statement"], 0) + 1
        order.setdefault(c["statement"], k)
    for c in sorted(doc["claims"], key=lambda c: order[c["statement"]]):  # stable: readings keep their order
        first = c["statement"] not in seen
        seen.add(c["statement"])
        index.append(f"“{c['quote']}” ({c['where']})" if first else "″ (the same sentence, another reading)")
        marker = (" [primary reading]" if c["primary"] else " [other reading]") if readings[c["statement"]] > 1 else ""
        single = c["comparisons"][0] if len(c["comparisons"]) == 1 else None
        rows.append({"reading tested": c["reading"] + marker, "paper": c["paper"] or "—",
                     "ours [95% CI, seeds and images]": _ours(c),
                     "95% CI, images only": _images_interval(single) if single else "(each below)",
                     "verdict": c["verdict"], "verdict at other bands": _bands(c)})
    return pd.DataFrame(rows, index=pd.Index(index, name="the paper says")) if rows else pd.DataFrame()


def comparisons_table(doc: dict) -> pd.DataFrame:
    """Every comparison of the claims made of several (each step of a sweep, each metric of a table)."""
    labels = _labels(doc)
    rows, index = [], []
    for c in doc["claims"]:
        if len(c["comparisons"]) < 2:
            continue
        for k in c["comparisons"]:
            index.append(c["reading"])
            rows.append({"compared": f"{labels.get(k['a'], k['a'])} {c['symbol']} {labels.get(k['b'], k['b'])}",
                         "metric": _header(doc, k["metric"]), "ours": f"{k['ours_a']:.1f} vs {k['ours_b']:.1f}",
                         "difference [95% CI, seeds and images]": difference(k, c["relation"]),
                         "95% CI, images only": _images_interval(k), "verdict": k["verdict"]})
    return pd.DataFrame(rows, index=pd.Index(index, name="claim")) if rows else pd.DataFrame()


# ----------------------------------------------------------------------------- the paper's tables beside ours


def _ours_in(doc: dict) -> str:
    """The paper table our rows stand beside: the comparable one, else Table 1 as context."""
    table = paper.table_for(doc.get("paper", {}).get("dataset"))
    return (table or paper.TABLE_1).key


def paper_table(doc: dict, table: paper.PaperTable) -> pd.DataFrame:
    """The paper's ``table`` in its layout, our rows beside the paper's where they belong (:func:`_ours_in`).

    Paper cells as printed (— for a dash); ours mean ± sd over seeds. The two means are over
    all eight metrics and over the seven without SPICE (a mean with a dash in it is —).
    """
    by_key = {row["key"]: row for row in doc["rows"]}
    ours = doc.get("paper", {}).get("rows", {}) if table.key == _ours_in(doc) else {}
    where = doc.get("paper", {}).get("dataset") or "ours"
    n_seeds = len(doc.get("seeds", []))
    rows, index = [], []
    for prow in table.rows:
        values = {CAPTION_HEADERS[m]: ("—" if v is None else f"{v:.1f}") for m, v in prow.as_dict().items()}
        for name, mean in ((MEAN_8, prow.mean()), (MEAN_7, prow.mean(paper.OFFLINE_METRICS))):
            values[name] = "—" if mean is None else paper.printed(mean)
        rows.append({"source": f"paper ({table.dataset})", **values})
        index.append(prow.label)
        key = ours.get(prow.method)
        if key in by_key:
            metrics = by_key[key]["metrics"]
            values = {CAPTION_HEADERS[m]: cell(metrics.get(m), interval=False) for m in paper.METRICS}
            for name, subset in ((MEAN_8, paper.METRICS), (MEAN_7, paper.OFFLINE_METRICS)):
                present = [metrics[m]["mean"] for m in subset if m in metrics]
                values[name] = f"{np.mean(present):.2f}" if len(present) == len(subset) else "—"
            scored = tuple(m for m in paper.METRICS if m in metrics)  # what our average is the mean of
            column = {paper.METRICS: MEAN_8, paper.OFFLINE_METRICS: MEAN_7}.get(scored)
            if column and doc.get("average_key") in metrics:  # our average with its sd, in the column it matches
                values[column] = cell(metrics[doc["average_key"]], interval=False)
            rows.append({"source": f"ours ({where}, {n_seeds} seed{'s' if n_seeds != 1 else ''})", **values})
            index.append(by_key[key].get("label") or key)
    return pd.DataFrame(rows, index=pd.Index(index, name="method"))


def averages_note() -> str:
    """The paper's §5 averages checked against its own Table 1, in words."""
    parts = []
    for check in paper.average_check():
        text = f"{check['method']}'s {check['printed']:.1f} is"
        parts.append(f"{text} the mean of its eight Table-1 metrics ({paper.printed(check['mean_8'])})" if check["matches"]
                     else f"{text} not the mean of its eight Table-1 metrics ({paper.printed(check['mean_8'])}), and "
                     "the paper does not say how it was computed")
    sevens = " and ".join(f"{paper.printed(c['mean_7'])} ({c['method']})" for c in paper.average_check())
    return ("§5 compares the corrections by an \"average performance\" it does not define, on a dataset it does not "
            "name (Table 1's MS-COCO, by the 40.8); reading it as the mean of the table metrics is our inference. "
            "We checked: "
            + "; ".join(parts) + ". Our average leaves out SPICE (it cannot run offline); on that scale, the mean of the "
            f"seven other metrics, the paper's Table-1 rows give {sevens}. The corrected rows' averages (42.1, 15.8, "
            "0.0) have no per-metric row in the paper: they are its \"average performance\" as printed.")


def averages_table(doc: dict) -> pd.DataFrame:
    """The paper's §5 averages, each beside our rows for it (several where the paper's method reads several ways)."""
    by_key = {row["key"]: row for row in doc["rows"]}
    mapping = doc.get("paper", {}).get("averages", {})
    checks = {c["method"]: c for c in paper.average_check()}
    table_row = {"image": paper.UCLIPCAP, "clipcap": paper.CLIPCAP}
    ours_header = f"ours: {doc.get('average_label', 'average')} [95% CI]"
    rows, index = [], []
    for average in paper.ALIGNMENT_AVERAGES:
        check = checks.get(table_row.get(average.key))
        own = f"{paper.printed(check['mean_8'])} | {paper.printed(check['mean_7'])}" if check else "—"
        keys = [k for k in mapping.get(average.key, []) if k in by_key] or [None]
        for key in keys:
            index.append(average.label)
            rows.append({"paper: average performance (§5)": f"{average.value:.1f}",
                         "paper's Table-1 row, our means: of 8 | of 7": own,
                         "ours": by_key[key].get("label", key) if key else "— (not in this plan)",
                         ours_header: cell(by_key[key]["metrics"].get(doc.get("average_key"))) if key else "—"})
    return pd.DataFrame(rows, index=pd.Index(index, name="the paper's figure for"))


#: The paper's comparisons as ratios: (what, metric, our numerator rows (first present is used), our
#: denominator row, the paper's numerator and denominator for Table 1 (MS-COCO) and Table 2 (Flickr30k)).
#: A paper figure is (table, method, metric) or a §5 average key; None where the paper has none.
RELATIVE_EFFECTS = (
    ("Unsupervised-ClipCap ÷ ClipCap, images", "CIDEr", ("uclipcap/image",), "clipcap/image",
     (("Table 1", paper.UCLIPCAP), ("Table 1", paper.CLIPCAP)), (("Table 2", paper.UCLIPCAP), ("Table 2", paper.CLIPCAP))),
    ("same caption ÷ matched captions (Unsupervised-ClipCap), images", "CIDEr", ("same-caption/image",),
     "uclipcap/image", (("Table 1", paper.MATCHED_ABLATION), ("Table 1", paper.UCLIPCAP)), None),
    ("mean-aligned ÷ raw images (Unsupervised-ClipCap)", "average", ("uclipcap/aligner-mean",), "uclipcap/image",
     ("mean", "image"), None),
    ("rotated ÷ raw images (the paper's rotation)", "average", ("uclipcap/aligner-pca-rotation-paper",),
     "uclipcap/image", ("rotation", "image"), None),
    ("optimal transport ÷ raw images (the paper's OT, T*·X_txt)", "average", ("uclipcap/aligner-ot-paper",),
     "uclipcap/image", ("ot", "image"), None),
    ("optimal transport ÷ raw images (T*ᵀ·X_img, the literal reading)", "average", ("uclipcap/aligner-ot-plan-images",),
     "uclipcap/image", ("ot", "image"), None),
    ("optimal transport ÷ raw images (the paper's OT in sample: T*·X_txt, 1/n mass, nothing renormalised)", "average",
     ("uclipcap/aligner-ot-paper.test.raw@unnormalised",), "uclipcap/image", ("ot", "image"), None),
    ("same caption + mean shift ÷ ClipCap, images", "average", ("same-caption/aligner-mean",), "clipcap/image",
     None, None),
)


def _paper_ratio(pair) -> float | None:
    if pair is None:
        return None
    if isinstance(pair[0], str):  # two §5 averages
        return paper.alignment_average(pair[0]).value / paper.alignment_average(pair[1]).value
    (t_num, m_num), (t_den, m_den) = pair
    tables = {t.key: t for t in paper.TABLES}
    return tables[t_num].row(m_num).score("CIDEr") / tables[t_den].row(m_den).score("CIDEr")


def relative_effects(doc: dict) -> pd.DataFrame:
    """Each of the paper's comparisons as a ratio: the paper's on MS-COCO and Flickr30k, and this run's.

    Ratios of seed-means (no interval: the claims table carries the intervals). "average" is
    §5's average performance for the paper (Table 1's scale) and this run's ``average_key``.
    """
    by_key = {row["key"]: row for row in doc["rows"]}

    def ours(keys, den, metric):
        metric = doc.get("average_key") if metric == "average" else metric
        num = next((by_key[k] for k in keys if k in by_key), None)
        if num is None or den not in by_key or metric not in num["metrics"] or metric not in by_key[den]["metrics"]:
            return "—"
        below = by_key[den]["metrics"][metric]["mean"]
        return f"{num['metrics'][metric]['mean'] / below:.2f}" if below > 0 else "— (0 below)"

    rows, index = [], []
    for what, metric, keys, den, coco, flickr in RELATIVE_EFFECTS:
        index.append(what)
        rows.append({"metric": metric,
                     "paper, MS-COCO": "—" if coco is None else f"{_paper_ratio(coco):.2f}",
                     "paper, Flickr30k": "—" if flickr is None else f"{_paper_ratio(flickr):.2f}",
                     f"ours ({doc.get('paper', {}).get('dataset') or 'this run'})": ours(keys, den, metric)})
    return pd.DataFrame(rows, index=pd.Index(index, name="comparison"))


# ----------------------------------------------------------------------------- every row, the corrections, Fig. 3


def seeds_table(doc: dict) -> pd.DataFrame:
    """One row per captioner and input: mean ± sd over seeds [95% CI over seeds and images], the references it is
    scored against, and the image-only intervals of CIDEr and the average."""
    rows, index = [], []
    average = doc.get("average_key")
    for row in doc["rows"]:
        index.append(row.get("label") or row["key"])
        values = {_header(doc, k): cell(row["metrics"].get(k)) for k in SEED_COLUMNS if k in row["metrics"]}
        for key in ("CIDEr", average):
            if key in row["metrics"]:
                values[f"{_header(doc, key)}: 95% CI, images only"] = images_only(row["metrics"][key])
        values["references"] = row.get("references", "all")
        rows.append(values)
    return pd.DataFrame(rows, index=pd.Index(index, name="captioner, test input"))


def corrections_table(doc: dict, captioner: str) -> pd.DataFrame:
    """CIDEr gained over the uncorrected image input by each aligner, best first, with its paired interval."""
    gains = doc["corrections"][captioner]["gains"]
    return pd.DataFrame([{"aligner": g.get("label") or g["aligner"], "method": g["aligner"],
                          "CIDEr gain": f"{g['gain']:+.1f}",
                          "95% CI, seeds and images": f"[{g['ci95'][0]:+.1f}, {g['ci95'][1]:+.1f}]",
                          "95% CI, images only": "—" if not g.get("ci95_images") else
                          f"[{g['ci95_images'][0]:+.1f}, {g['ci95_images'][1]:+.1f}]",
                          "interval excludes 0": "yes" if g["separates"] else "no"} for g in gains]).set_index("aligner")


def ot_grid_table(doc: dict) -> pd.DataFrame:
    """The OT grid, cell by cell: average and CIDEr [95% CI], distinct captions, mode collapse, sample captions."""
    average = doc.get("average_key")
    rows, index = [], []
    for c in doc.get("ot_grid", []):
        index.append(c["label"] + (" ← the paper's cell (our reading)" if c["paper_cell"] else "")
                     + (" (leaks the test captions)" if c["leaks_test_captions"] else ""))
        rows.append({_header(doc, average): cell(c["metrics"].get(average)), "CIDEr": cell(c["metrics"].get("CIDEr")),
                     "distinct captions (share)": "—" if c["distinct_fraction"] is None else f"{c['distinct_fraction']:.2f}",
                     "mode collapse": {True: "yes", False: "no", None: "—"}[c["mode_collapse"]],
                     "sample captions (first seed)": " | ".join(str(p.get("caption", "")) for p in c["samples"]) or "—"})
    return pd.DataFrame(rows, index=pd.Index(index, name="cell")) if rows else pd.DataFrame()


OT_GRID_NOTE = ("The paper fits T* on \"N ... image/caption pairs\" and multiplies them by it: no out-of-sample step. "
                "Each cell crosses where T* is fitted (on the val split, applied to the test images through the "
                "nearest fitted image; or in sample, on the test images and their captions), whether the aligner "
                "renormalises its output, and whether the captioner normalises its input; the control is "
                "normalise(x − x_nn), the out-of-sample residual alone. The paper's cell as we read it: in sample, "
                "T* with its 1/n mass, nothing renormalised; the claims table decides \"drops to 0.0\" on it. "
                "In sample, renormalised, ot-paper hands the captioner a weighting of the test captions it is scored "
                "against: a leak of the references, not a correction.")


def correlation_note(doc: dict, captioner: str) -> str:
    """Spearman's rank correlation of CIDEr with each gap measure across aligners, in words."""
    corr = doc["corrections"][captioner]["rank_correlation_with_cider"]
    if not corr:
        return "Too few aligners with gap measures for a rank correlation."
    parts = [f"{term}: ρ = {c['rho']:+.2f} (p = {c['p']:.2g}, n = {c['n']} aligners)" for term, c in corr.items()]
    return ("Spearman rank correlation across aligners of the held-out gap measure (align compare on the test "
            "split) with CIDEr: " + "; ".join(parts) + ". With this few points only a large |ρ| means anything.")


def mixup_means(doc: dict, metric: str = "CIDEr", rule: str = "paper") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Seed-mean of ``metric`` by λ (rows) and captioner (columns), with the primary interval's ends, for one
    mixup reading (``paper``: λ x_t + (1−λ) x_i as written; ``renormalised``: ours)."""
    mean, lo, hi = {}, {}, {}
    for row in doc["rows"]:
        if row.get("mixup") is None or metric not in row["metrics"] or (row.get("mixup_rule") or "paper") != rule:
            continue
        entry = row["metrics"][metric]
        for table, value in ((mean, entry["mean"]), (lo, (entry.get("ci95") or [np.nan, np.nan])[0]),
                             (hi, (entry.get("ci95") or [np.nan, np.nan])[1])):
            table.setdefault(row["captioner"], {})[row["mixup"]] = value
    frames = [pd.DataFrame(t).sort_index() for t in (mean, lo, hi)]
    for f in frames:
        f.index.name = "λ (text share)"
    return frames[0], frames[1], frames[2]


def mixup_readings(doc: dict, metric: str = "CIDEr") -> pd.DataFrame:
    """Seed-mean of ``metric`` by λ, each captioner in both mixup readings (the paper's first)."""
    columns = {}
    for rule, words in (("paper", "as written"), ("renormalised", "renormalised")):
        mean = mixup_means(doc, metric, rule)[0]
        for captioner in mean.columns:
            columns[f"{captioner}, {words}"] = mean[captioner].map(lambda v: f"{v:.1f}")
    frame = pd.DataFrame(columns)
    frame.index.name = "λ (text share)"
    return frame


def sections(doc: dict) -> list[Section]:
    """The reproduction's sections: the claims, the paper's tables beside ours, every row, the corrections, Fig. 3."""
    seeds = doc["seeds"]
    boot = doc["bootstrap"]
    splits = "; ".join(f"{name} ({s.get('split')}): {s['images']} images, {s['captions']} captions"
                       for name, s in doc.get("splits", {}).items())
    out = []
    if doc.get("quick"):
        test = doc.get("splits", {}).get("test", {})
        out.append(Section("A quick run", notice=QUICK_NOTICE, note=(
            f"Settings of reproduce --quick: {test.get('images', '?')} test images, {len(seeds)} seed(s), "
            f"{boot['resamples']} resamples; run the same command without --quick for results.")))
    claims = claims_table(doc)
    if not claims.empty:
        steps = comparisons_table(doc)
        out.append(Section(
            "The paper's claims",
            f"{dataset_note(doc)} Each claim is a sentence of the paper, read as paired comparisons of our rows on "
            f"the same {boot['resamples']} resamples; the primary 95% interval of each difference resamples the "
            f"{len(seeds)} training seeds (drawn with replacement) and the test images, the second (\"images "
            "only\") holds the seeds fixed. The primary interval decides: '>' holds when it lies above 0, does not "
            "hold below 0, else inconclusive; '≈' holds inside ±10% of the second row, does not hold wholly outside; "
            "'at most' does not hold when it lies above 0 and holds when it stays under +10%; 'well above' holds "
            "when it lies above the band; 'slightly above' holds when it lies inside (0, +10%]. The bands are ours, "
            "not the paper's, so each banded verdict is also shown at 5% and 20% (for the collapse: below 5% and "
            "below 20% of the unaligned average). A claim of several comparisons holds when all hold; when some "
            "hold and others are reversed it is mixed (unless the sentence needs every step: monotone, only till "
            "λ = 0.5, performs the best), does not hold when comparisons are reversed and none holds, else is "
            "inconclusive (with K comparisons a true claim is refuted by chance with probability up to K × 2.5%). "
            "Claims judged on several metrics or on CIDEr also have a reading on the average. Where a sentence "
            "reads two ways both readings are tested, the primary one first. The paper column is the paper's "
            f"figure for the claim; the verdict is ours. {REFERENCES_NOTE}",
            tables=[("Claims", claims, {})] + ([("Each comparison of the claims made of several", steps, {})]
                                               if not steps.empty else [])))
    out.append(Section(
        "The paper's tables beside ours",
        f"{dataset_note(doc)} Scores ×100; the paper's as printed (— for a dash; * numbers the paper reports from "
        f"the cited work), ours mean ± sd over {len(seeds)} seed(s). MAGIC and ESPER are the paper's rows, shown, "
        f"not tested. {averages_note()}",
        tables=[(f"{t.key} layout: {t.dataset}" + (" (with our rows)" if t.key == _ours_in(doc) else ""),
                 paper_table(doc, t), {}) for t in paper.TABLES]
        + [("§5 average performance, the paper's and ours", averages_table(doc), {})]))
    out.append(Section(
        "Relative effects",
        "Each comparison of the paper as a ratio of two rows, the paper's beside ours: how much of one row's score the "
        "other keeps. A world that behaves like CLIP shows the paper's ratios as a result of training, not a target. "
        "Ratios of seed-means; the intervals are the claims table's.",
        tables=[("Relative effects", relative_effects(doc), {})]))
    out.append(Section("Results over seeds",
                       f"Scores ×100. Mean ± sd over {len(seeds)} training seed(s) {seeds} {INTERVAL_NOTE}, "
                       f"{boot['resamples']} resamples. {REFERENCES_NOTE} Splits: {splits}.",
                       tables=[("Captioning, all seeds", seeds_table(doc), {})]))
    grid = ot_grid_table(doc)
    if not grid.empty:
        out.append(Section("Optimal transport as the paper does it: the grid", OT_GRID_NOTE,
                           tables=[("The OT grid (Unsupervised-ClipCap, test images)", grid, {})]))
    for captioner, entry in doc.get("corrections", {}).items():
        label = entry.get("label") or captioner
        out.append(Section(f"Corrections for {label}", correlation_note(doc, captioner),
                           tables=[(f"CIDEr gain by aligner ({label})", corrections_table(doc, captioner), {})]))
    mean, lo, hi = mixup_means(doc)
    if not mean.empty:
        readings = mixup_readings(doc)
        out.append(Section("Mixup over seeds", "CIDEr against λ: seed-mean with its 95% interval over seeds and test "
                           "images (the paper's Fig. 3), the paper's mixup λ x_t + (1−λ) x_i fed as written (each end "
                           "normalised as the captioner would, the mix not renormalised); the table shows it beside "
                           "our renormalised reading. Every λ of a sweep is scored against leave-one-out references.",
                           tables=[("Mixup, both readings (CIDEr)", readings, {})] if len(readings.columns) else [],
                           figures=[Figure("mixup_seeds.png", figures.mixup_curve(mean, "CIDEr", low=lo, high=hi),
                                           "CIDEr against mixup λ (as written), seed-mean and 95% interval")]))
    return out
