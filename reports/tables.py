"""Report tables as pandas DataFrames: gap overview, alignment comparison, captioning, mixup."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gaptools.errors import InputError
from gaptools.reports.inputs import EvalRow, eval_rows

CAPTION_METRICS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE",
                   "world_exact_scene", "world_object_f1")
CAPTION_HEADERS = {"Bleu_1": "BLEU-1", "Bleu_2": "BLEU-2", "Bleu_3": "BLEU-3", "Bleu_4": "BLEU-4",
                   "METEOR": "METEOR", "ROUGE_L": "ROUGE-L", "CIDEr": "CIDEr", "SPICE": "SPICE",
                   "world_exact_scene": "scene exact (world)", "world_object_f1": "object F1 (world)"}
#: Columns of the alignment table, in order (those a compare document has), with their labels.
ALIGNMENT_COLUMNS = {"centroid_gap": "centroid gap", "frechet_mean_term": "Fréchet mean term",
                     "frechet_cov_term": "Fréchet cov. term", "wasserstein2_centred": "W2 centred",
                     "matched_cosine": "matched cosine", "relative_gap": "relative gap",
                     "linear_separability": "linear separability", "wasserstein2": "W2",
                     "recall@1_i2t": "R@1 i→t", "recall@1_t2i": "R@1 t→i", "fit_seconds": "fit s",
                     "apply_seconds": "apply s"}
BASELINE_ROW = "baseline (no correction)"
#: Gap metrics where smaller means a smaller gap (the rest: larger is better aligned).
LOWER_IS_CLOSER = {"centroid_gap", "relative_gap", "linear_separability", "mmd_rbf", "wasserstein2", "frechet",
                   "frechet_mean_term", "frechet_cov_term", "wasserstein2_centred"}


def format_value(entry: dict) -> str:
    """A measure entry as text: value with its CI, or a dash."""
    value = entry.get("value")
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(f"{d}: {share:.0%}" for d, share in value[:3])
    text = f"{value:.4g}"
    if entry.get("ci95"):
        lo, hi = entry["ci95"]
        text += f" [{lo:.4g}, {hi:.4g}]"
    return text


def set_label(s: dict) -> str:
    """A short column label for one measured set: model and split from meta, else the file name."""
    meta = s.get("meta") or {}
    parts = [Path(str(meta[k])).name for k in ("model", "pretrained", "dataset", "split") if meta.get(k)]
    return " / ".join(parts) if parts else Path(str(s.get("source", "set"))).name


def gap_overview(measures: list[dict]) -> pd.DataFrame:
    """Metrics (rows) by measured set (columns), values with their 95% CIs."""
    sets = [s for doc in measures for s in doc["sets"]]
    keys = _overlapping([list(s["metrics"]) for s in sets], "measure results", [d["_file"] for d in measures])
    columns = _unique([set_label(s) for s in sets])
    return pd.DataFrame({col: [format_value(s["metrics"][k]) for k in keys] for col, s in zip(columns, sets)},
                        index=pd.Index(keys, name="metric"))


def alignment_table(compare: dict) -> pd.DataFrame:
    """One row per method (baseline first), the gap metrics after alignment and the timings as columns.

    Parameters
    ----------
    compare : dict
        A ``gaptools.align.compare`` document.

    Returns
    -------
    pandas.DataFrame
        Columns labelled by :data:`ALIGNMENT_COLUMNS` (those the document has).
    """
    rows = {BASELINE_ROW: compare["baseline"], **compare["methods"]}
    table = pd.DataFrame.from_dict({name: {label: metrics[key] for key, label in ALIGNMENT_COLUMNS.items()
                                           if key in metrics} for name, metrics in rows.items()}, orient="index")
    table.index.name = "method"
    return table


def alignment_best(compare: dict) -> dict[str, str]:
    """The best method of each gap metric of :func:`alignment_table`, by :func:`best_per_column`.

    Closest is the smallest gap (:data:`LOWER_IS_CLOSER`) or the largest cosine or recall; the
    intervals are the document's ``ci95`` (none with ``align compare --bootstrap 0``, none for the
    subsample metrics and the timings: no best there).

    Returns
    -------
    dict
        Column label -> row label of :func:`alignment_table`.
    """
    rows = {BASELINE_ROW: compare["baseline"], **compare["methods"]}
    intervals = {name: {ALIGNMENT_COLUMNS[k]: ci for k, ci in (m.get("ci95") or {}).items() if k in ALIGNMENT_COLUMNS}
                 for name, m in rows.items()}
    lower = {ALIGNMENT_COLUMNS[k] for k in LOWER_IS_CLOSER if k in ALIGNMENT_COLUMNS}
    return best_per_column(alignment_table(compare), intervals, lower)


def alignment_captioning_table(compare: dict, caption_by_method: dict[str, dict]) -> pd.DataFrame:
    """Captioning metrics of the test images after each method (rows as :func:`alignment_table`).

    Parameters
    ----------
    compare : dict
        A ``gaptools.align.compare`` document (for the rows and their order).
    caption_by_method : dict
        Method name (or ``"baseline"``) -> captioning metrics of evals that used it.

    Returns
    -------
    pandas.DataFrame
        Empty when no method of ``compare`` has captioning metrics.
    """
    rows = {}
    for name in ["baseline", *compare["methods"]]:
        metrics = caption_by_method.get(name)
        if metrics:
            rows[BASELINE_ROW if name == "baseline" else name] = {
                CAPTION_HEADERS[k]: metrics[k] for k in CAPTION_METRICS if k in metrics}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table


def captioning_table(evals: list[dict]) -> pd.DataFrame:
    """The paper's Table 1 layout: one row per run/configuration, captioning metrics as columns.

    A configuration whose captions collapsed (its eval's ``diversity.mode_collapse``) is flagged
    in its label with how many distinct captions it wrote.
    """
    rows, labels = [], []
    for doc in evals:
        for row in eval_rows(doc):
            rows.append({CAPTION_HEADERS[k]: row.metrics[k] for k in CAPTION_METRICS if k in row.metrics})
            d = row.diversity or {}
            flag = (f" ⚠ mode collapse: {d.get('distinct_captions')} distinct captions for {d.get('n_captions')} images"
                    if d.get("mode_collapse") else "")
            labels.append(configuration_label(row) + flag)
    if not rows:
        raise InputError("caption eval inputs hold no configurations")
    _overlapping([list(r) for r in rows], "caption eval results", [d["_file"] for d in evals])
    table = pd.DataFrame(rows, index=pd.Index(_unique(labels), name="run / configuration"))
    return table


def configuration_label(row: EvalRow) -> str:
    """``run · input · aligner · λ · beam`` for one eval configuration."""
    parts = [Path(row.run).name, f"input={row.input}"]
    if row.aligner:
        parts.append(f"aligner={row.method}")
    if row.mixup is not None:
        parts.append(f"λ={row.mixup:g}")
    if row.beam != 1:
        parts.append(f"beam={row.beam}")
    return " · ".join(parts)


def mixup_table(evals: list[dict], metric: str = "CIDEr") -> pd.DataFrame:
    """λ (rows) by run (columns) of one captioning metric, from configurations with mixup."""
    series = {}
    for doc in evals:
        points = {row.mixup: row.metrics[metric] for row in eval_rows(doc)
                  if row.mixup is not None and metric in row.metrics}
        if points:
            series[Path(str(doc.get("run", doc["_file"]))).name] = points
    table = pd.DataFrame(series).sort_index()
    table.index.name = "λ (text share)"
    return table


def best_per_column(table: pd.DataFrame, intervals: dict[str, dict[str, list]],
                    lower_is_better: set[str] = frozenset()) -> dict[str, object]:
    """Index label of the best value of each column, where the 95% intervals decide it.

    A row is best in a column when its value is the best (largest, or smallest for
    ``lower_is_better``) and its interval lies clear of every other row's interval. A column
    where any row with a value has no interval has no best: without intervals nothing is called best.

    Parameters
    ----------
    table : pandas.DataFrame
    intervals : dict
        Row label -> column -> ``[lo, hi]``.
    lower_is_better : set of str
        Columns where smaller is better.

    Returns
    -------
    dict
        Column -> row label.
    """
    best = {}
    for col in table.columns:
        values = pd.to_numeric(table[col], errors="coerce").dropna()
        if len(values) < 2:
            continue
        ci = {row: (intervals.get(row) or {}).get(col) for row in values.index}
        if any(interval is None for interval in ci.values()):
            continue
        winner = values.idxmin() if col in lower_is_better else values.idxmax()
        lo, hi = ci[winner]
        others = [interval for row, interval in ci.items() if row != winner]
        if all(hi < o_lo if col in lower_is_better else lo > o_hi for o_lo, o_hi in others):
            best[col] = winner
    return best


def captioning_intervals(evals: list[dict]) -> dict[str, dict[str, list]]:
    """The 95% intervals of :func:`captioning_table`'s cells (its row labels and column headers).

    From each eval configuration's ``ci95`` (``caption eval --bootstrap``); a configuration
    scored without intervals has none.
    """
    out = {}
    for label, configuration in zip(captioning_table(evals).index, (c for doc in evals for c in doc["configurations"])):
        out[label] = {CAPTION_HEADERS[k]: ci for k, ci in (configuration.get("ci95") or {}).items() if k in CAPTION_HEADERS}
    return out


def _overlapping(key_lists: list[list[str]], what: str, files: list[str]) -> list[str]:
    """Keys common to every input, in the first input's order; an error if none."""
    common = set(key_lists[0]).intersection(*map(set, key_lists[1:])) if key_lists else set()
    if not common:
        raise InputError(f"{what} share no metric: {', '.join(files)}")
    return [k for k in key_lists[0] if k in common]


def _unique(labels: list[str]) -> list[str]:
    """Make labels unique by numbering repeats."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out
