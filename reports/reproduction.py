"""Report sections of a reproduction's results document (``gaptools.reproduce.results``).

The document combines every training seed (see ``reproduce/results.py``): per row the mean ± sd
over seeds and a 95% interval over test images of the seed-mean; the paper's claims with the
verdict their intervals decide; and, per text-trained captioner, what each correction gains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports import figures
from reports.render import Figure, Section
from reports.tables import CAPTION_HEADERS

#: Columns of the seeds table, in order (those the rows have).
SEED_COLUMNS = ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "caption_average", "world_exact_scene", "world_object_f1")


def cell(entry: dict | None, *, interval: bool = True) -> str:
    """``mean ± sd [lo, hi]`` of one metric of one row (sd and interval where known)."""
    if not entry:
        return "—"
    text = f"{entry['mean']:.1f}"
    if entry.get("sd") is not None:
        text += f" ± {entry['sd']:.1f}"
    if interval and entry.get("ci95"):
        lo, hi = entry["ci95"]
        text += f" [{lo:.1f}, {hi:.1f}]"
    return text


def seeds_table(doc: dict) -> pd.DataFrame:
    """One row per captioner and input, in the paper's Table 1 layout: mean ± sd over seeds [95% CI]."""
    headers = {**CAPTION_HEADERS, "caption_average": doc.get("average_label", "average")}
    rows, index = [], []
    for row in doc["rows"]:
        label = row["key"] + (" (leave-one-out refs)" if row.get("references") == "leave-one-out" else "")
        if row.get("chosen"):
            label += f" = {row['chosen']}"
        index.append(label)
        rows.append({headers[k]: cell(row["metrics"].get(k)) for k in SEED_COLUMNS if k in row["metrics"]})
    table = pd.DataFrame(rows, index=pd.Index(index, name="captioner / input"))
    return table


def claims_table(doc: dict) -> pd.DataFrame:
    """Each claim of the paper: its figure, ours (a vs b), the difference with its interval, the verdict."""
    rows = []
    for c in doc["claims"]:
        lo, hi = c["ci95"]
        relation = "≈" if c["relation"] == "equal" else ">"
        rows.append({"claim": c["text"], "where": c["where"], "paper": c["paper"] or "—",
                     "tested": f"{c['a']} {relation} {c['b']} ({c['metric']})",
                     "ours": f"{c['ours_a']:.1f} vs {c['ours_b']:.1f}",
                     "difference [95% CI]": f"{c['difference']:+.1f} [{lo:+.1f}, {hi:+.1f}]"
                     + (f" (band ±{c['margin']:.1f})" if c.get("margin") is not None else ""),
                     "verdict": c["verdict"]})
    return pd.DataFrame(rows).set_index("claim") if rows else pd.DataFrame()


def corrections_table(doc: dict, captioner: str) -> pd.DataFrame:
    """CIDEr gained over the uncorrected image input by each aligner, best first, with its paired interval."""
    gains = doc["corrections"][captioner]["gains"]
    return pd.DataFrame([{"aligner": g["aligner"], "CIDEr gain": f"{g['gain']:+.1f}",
                          "95% CI": f"[{g['ci95'][0]:+.1f}, {g['ci95'][1]:+.1f}]",
                          "interval excludes 0": "yes" if g["separates"] else "no"} for g in gains]).set_index("aligner")


def correlation_note(doc: dict, captioner: str) -> str:
    """Spearman's rank correlation of CIDEr with each gap measure across aligners, in words."""
    corr = doc["corrections"][captioner]["rank_correlation_with_cider"]
    if not corr:
        return "Too few aligners with gap measures for a rank correlation."
    parts = [f"{term}: ρ = {c['rho']:+.2f} (p = {c['p']:.2g}, n = {c['n']} aligners)" for term, c in corr.items()]
    return ("Spearman rank correlation across aligners of the held-out gap measure (align compare on the test "
            "split) with CIDEr: " + "; ".join(parts) + ". With this few points only a large |ρ| means anything.")


def mixup_means(doc: dict, metric: str = "CIDEr") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Seed-mean of ``metric`` by λ (rows) and captioner (columns), with the interval's ends."""
    mean, lo, hi = {}, {}, {}
    for row in doc["rows"]:
        if row.get("mixup") is None or row.get("chosen") or metric not in row["metrics"]:
            continue
        entry = row["metrics"][metric]
        for table, value in ((mean, entry["mean"]), (lo, (entry.get("ci95") or [np.nan, np.nan])[0]),
                             (hi, (entry.get("ci95") or [np.nan, np.nan])[1])):
            table.setdefault(row["captioner"], {})[row["mixup"]] = value
    frames = [pd.DataFrame(t).sort_index() for t in (mean, lo, hi)]
    for f in frames:
        f.index.name = "λ (text share)"
    return frames[0], frames[1], frames[2]


def sections(doc: dict) -> list[Section]:
    """The reproduction's sections: Table 1 over seeds, the claims, the corrections, Fig. 3 with intervals."""
    seeds = doc["seeds"]
    boot = doc["bootstrap"]
    splits = "; ".join(f"{name} ({s.get('split')}): {s['images']} images, {s['captions']} captions"
                       for name, s in doc.get("splits", {}).items())
    out = [Section("Results over seeds",
                   f"Scores ×100. Mean ± sd over {len(seeds)} training seed(s) {seeds} [95% interval over test images "
                   f"of the seed-mean, {boot['resamples']} resamples]. Rows marked leave-one-out feed a test caption's "
                   f"embedding and are scored against that image's other references. Splits: {splits}.",
                   tables=[("Captioning, all seeds (Table 1 layout)", seeds_table(doc), {})])]
    claims = claims_table(doc)
    if not claims.empty:
        out.append(Section("The paper's claims",
                           "Each claim as a paired comparison of two rows on the same image resamples; the verdict "
                           "is decided by the 95% interval of the difference (holds: it excludes 0 in the claimed "
                           "direction; does not hold: in the other; inconclusive: it contains 0). 'Roughly equal' "
                           "holds when the interval lies inside ±10% of the second row. Paper figures are shown "
                           "only where we have them.", tables=[("Claims", claims, {})]))
    for captioner in doc.get("corrections", {}):
        out.append(Section(f"Corrections for {captioner}", correlation_note(doc, captioner),
                           tables=[(f"CIDEr gain by aligner ({captioner})", corrections_table(doc, captioner), {})]))
    mean, lo, hi = mixup_means(doc)
    if not mean.empty:
        out.append(Section("Mixup over seeds", "CIDEr against λ: seed-mean with its 95% interval over test images.",
                           figures=[Figure("mixup_seeds.png", figures.mixup_curve(mean, "CIDEr", low=lo, high=hi),
                                           "CIDEr against mixup λ, seed-mean and 95% interval")]))
    return out
