"""The paper's claims, each quoted, tested against our rows with intervals, and a verdict the intervals decide.

A claim is one sentence of the paper (quoted verbatim in :attr:`Claim.quote`; the paper's
text is ``../shared/paper/unsupervised-clipcap.md``) read as one or more *comparisons* of
two rows of the captioning results (a row: one captioner and one input configuration,
scored on the same test images for every training seed). Where a sentence can be read two
ways, each reading is its own claim with the same :attr:`Claim.statement`, exactly one of
them marked primary; the reason for the choice is in :func:`paper_claims`.

Each comparison is paired: each bootstrap resample of the test images is applied to both
rows and every seed, the seed-mean of each row is taken, and the difference ``a − b`` of the
two seed-means is recorded. Its 95% percentile interval decides the comparison's verdict:

- ``greater`` (a > b): **holds** when the interval lies above 0, **does not hold** when it
  lies below 0, otherwise **inconclusive**.
- ``equal`` (a ≈ b, "roughly the same"): **holds** when the interval lies inside ±margin,
  **does not hold** when it lies wholly outside that band, otherwise **inconclusive**.
- ``at-most`` (a ≤ b, "nullifies any gain"): **does not hold** when the interval lies above
  0 (a gain is measured), **holds** when its upper end is at most +margin (any gain is
  uncertain and inside the band), otherwise **inconclusive**.
- ``well-above`` (a > b + margin, "does not come close", "drops to 0.0"): **holds** when
  the interval lies above +margin, **does not hold** when it lies below +margin, otherwise
  **inconclusive**.

The margin is a share of one row's score (:attr:`Claim.share` of row :attr:`Claim.share_of`;
10% of ``b`` unless a claim says otherwise): an equivalence band we chose, not the paper's.

A claim of several comparisons (every step of a sweep, every metric of a table) needs all
of them: it **holds** when every comparison holds, **does not hold** when any does not
hold, and is **inconclusive** otherwise. "Holds" is then an intersection-union test: each
step at its one-sided 2.5% level keeps the conjunction's false-"holds" rate at most 2.5%,
so no adjustment is needed. "Does not hold" is a union over steps: with K steps a true
claim can be refuted by chance with probability up to K × 2.5% (10% for the four steps of
the full λ sweep), so a refutation that rests on one step whose interval only just clears 0
is weak; the report lists every step.

What an interval covers: the choice of test images and the training seeds we ran (the
seed-mean enters every resample); it does not cover a new draw of the training data or of
the world. A verdict on the shapes world speaks for the shapes world only. The paper's own
figures (:mod:`gaptools.paper`) are shown beside each claim; the verdict is ours alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gaptools import paper

#: Metric the claims are judged on unless they name another.
CLAIM_METRIC = "CIDEr"
#: The mean of the metrics we score (caption.bootstrap.AVERAGE_KEY): the paper's §5 "average performance".
AVERAGE = "caption_average"
#: Half-width of the band of ``equal``, ``at-most`` and ``well-above`` claims, as a share of a row's score.
EQUAL_MARGIN = 0.10
#: Share of the image row's average an OT collapse must remove ("drops from 40.8 to 0.0").
COLLAPSE_SHARE = 0.90
VERDICTS = ("holds", "does not hold", "inconclusive")
RELATIONS = ("greater", "equal", "at-most", "well-above")
SYMBOLS = {"greater": ">", "equal": "≈", "at-most": "≤", "well-above": "≫"}
#: The paper's readings of each §5 correction first (the primary one first), then ours.
ROTATIONS = ("pca-rotation-paper", "pca-rotation")
TRANSPORTS = ("ot-paper", "ot-plan-images", "ot-exact")
FIG3 = "Fig. 3 (curves only: the text prints no figures)"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Row ``a`` against row ``b`` (keys ``captioner/configuration``) on ``metric`` (×100)."""

    a: str
    b: str
    metric: str = CLAIM_METRIC


@dataclasses.dataclass(frozen=True)
class Claim:
    """One reading of one sentence of the paper, as comparisons of result rows.

    Attributes
    ----------
    key : str
        Short identifier, unique.
    statement : str
        Identifier of what the sentence asserts; the readings of one statement share it.
    quote : str
        The paper's sentence, verbatim.
    where : str
        Where the paper says it.
    reading : str
        What we test, in words.
    comparisons : tuple of Comparison
        All must hold (see the module docstring).
    relation : {"greater", "equal", "at-most", "well-above"}
    primary : bool
        The reading we lead with (one per statement).
    paper : str or None
        The paper's figures for it (from :mod:`gaptools.paper`), or None.
    share : float
        Margin of the band, as a share of row ``share_of``'s score.
    share_of : {"a", "b"}
    """

    key: str
    statement: str
    quote: str
    where: str
    reading: str
    comparisons: tuple
    relation: str = "greater"
    primary: bool = True
    paper: str | None = None
    share: float = EQUAL_MARGIN
    share_of: str = "b"


# ----------------------------------------------------------------------------- the paper's sentences

LAGS = "However, it still lags a bit behind ClipCap which is trained with full supervision."
MATCHED = "We also see that removing matched captions significantly decreases the performance of Unsupervised-ClipCap."
MONOTONE = ("Unsupervised-ClipCap evaluated on text does very well, but as we shift the evaluation to images, "
            "performance monotonically decreases.")
HALF = ("ClipCap does well when evaluated on images but does even better on a mixed up image and text "
        "representation with λ=0.5.")
TILL_HALF = ("However, this only holds till λ=0.5 and afterwards, the effect of the distribution mismatch nullifies "
             "any gain from the image caption.")
ON_TEXT = ("When we evaluate ClipCap on text, the performance drops to roughly the same amount as when using "
           "Unsupervised-ClipCap.")
MEANS = paper.alignment_average("mean").quote
ROTATION = paper.alignment_average("rotation").quote
TRANSPORT = paper.alignment_average("ot").quote
BEST = ("We experiment with 3 ways to correct the distribution mismatch including via rotations and optimal "
        "transport and find that shifting the means of the different modalities performs the best in reducing the "
        "distribution mismatch.")


def _ordering(upper: str, lower: str, tables: tuple) -> str:
    """How many of the paper's printed metrics put ``upper`` above ``lower``, per table."""
    parts = []
    for table in tables:
        a, b = table.row(upper), table.row(lower)
        printed = [m for m in paper.METRICS if a.score(m) is not None and b.score(m) is not None]
        above = sum(a.score(m) > b.score(m) for m in printed)
        parts.append(f"{table.key}: above on {above} of {len(printed)} metrics (CIDEr {a.score('CIDEr'):.1f} vs "
                     f"{b.score('CIDEr'):.1f})")
    return "; ".join(parts)


def _average(*keys: str) -> str:
    return " → ".join(f"{paper.alignment_average(k).value:.1f}" for k in keys) + " (mean of 8 metrics)"


def paper_claims(*, aligners: tuple[str, ...], mixup: tuple[float, ...],
                 metrics: tuple[str, ...] = paper.OFFLINE_METRICS) -> list[Claim]:
    """The claims the reproduction tests, limited to the rows its plan produces, in the paper's order.

    Parameters
    ----------
    aligners : tuple of str
        Aligners evaluated with Unsupervised-ClipCap.
    mixup : tuple of float
        λ values of the mixup sweep (0 = image, 1 = the caption's own embedding).
    metrics : tuple of str
        The metrics of the paper's tables that our rows have (SPICE only where it ran).

    Notes
    -----
    The readings taken as primary, and why:

    - Tables 1 and 2: the ordering on *every* metric the paper prints that we score, not
      CIDEr alone (the tables show it on all eight). MAGIC and ESPER are the paper's rows,
      shown and not tested.
    - "monotonically decreases" (Fig. 3): every adjacent step of the λ sweep, from text
      towards images; λ = 1 against λ = 0 alone is the weaker reading.
    - "even better ... with λ=0.5": λ = 0.5 itself against λ = 0; the best of several λ
      would bias the comparison upward. "only holds till λ=0.5": ClipCap at every λ > 0.5
      at most its λ = 0 score.
    - "drops to roughly the same amount as when using Unsupervised-ClipCap": ClipCap on
      text ≈ Unsupervised-ClipCap on images (each evaluated across the gap from its
      training modality), the reading the paper's next sentence needs ("the distribution
      mismatch between training and inference ... may be the main cause"); the two on
      text is the other reading.
    - §5 rotation: the SVD of X as written (no centring, ``pca-rotation-paper``); PCA's
      centring (``pca-rotation``) is the other reading.
    - §5 optimal transport, "we multiply them by T*": ``ot-paper`` (each image becomes the
      plan's weighting of the texts, T*·X_txt: the reading under which the step moves images
      towards texts at all) is primary; ``ot-plan-images`` (the image matrix multiplied by the
      plan, T*ᵀ·X_img, each image becoming the images the plan sends to its caption) is the
      other; ``ot-exact`` (barycentric map, squared cost) is ours. "drops from 40.8 to 0.0":
      a collapse (the aligned average below 10% of the unaligned) is the primary reading,
      a drop of any size the weaker one.
    - The conclusion's "shifting the means ... performs the best": mean alignment above the
      paper's rotation and OT; above every rotation and OT variant we run is the other reading.
    """
    def row(captioner: str, configuration: str) -> str:
        return f"{captioner}/{configuration}"

    def lam(value: float) -> str:
        return f"mixup-{value:g}"

    uimg, cimg, mimg = row("uclipcap", "image"), row("clipcap", "image"), row("same-caption", "image")
    claims = [
        Claim("table-clipcap-above", "clipcap-above", LAGS, "§4, Tables 1 and 2",
              "ClipCap above Unsupervised-ClipCap on images, on every metric we score",
              tuple(Comparison(cimg, uimg, m) for m in metrics),
              paper=_ordering(paper.CLIPCAP, paper.UCLIPCAP, paper.TABLES)),
        Claim("table-matched-captions-help", "matched-help", MATCHED, "§4, Table 1",
              "Unsupervised-ClipCap above its − matched captions ablation (trained to decode the same caption) "
              "on images, on every metric we score",
              tuple(Comparison(uimg, mimg, m) for m in metrics),
              paper=_ordering(paper.UCLIPCAP, paper.MATCHED_ABLATION, (paper.TABLE_1,))),
    ]
    lams = sorted(set(mixup))
    if len(lams) >= 2 and lams[0] == 0.0 and lams[-1] == 1.0:
        steps = tuple(Comparison(row("uclipcap", lam(hi)), row("uclipcap", lam(lo))) for lo, hi in zip(lams, lams[1:]))
        claims += [
            Claim("fig3-monotone", "monotone", MONOTONE, "§5, Fig. 3",
                  "Unsupervised-ClipCap higher at every step of the λ sweep towards text (each adjacent pair)",
                  steps, paper=FIG3),
            Claim("fig3-monotone-endpoints", "monotone", MONOTONE, "§5, Fig. 3",
                  "Unsupervised-ClipCap higher on text (λ = 1) than on images (λ = 0) only",
                  (Comparison(row("uclipcap", lam(1.0)), row("uclipcap", lam(0.0))),), primary=False, paper=FIG3),
        ]
        if 0.5 in lams:
            claims.append(Claim("fig3-clipcap-half", "clipcap-half", HALF, "§5, Fig. 3",
                                "ClipCap higher at λ = 0.5 than on images (λ = 0)",
                                (Comparison(row("clipcap", lam(0.5)), row("clipcap", lam(0.0))),), paper=FIG3))
            claims.append(Claim("fig3-clipcap-only-till-half", "clipcap-till-half", TILL_HALF, "§5, Fig. 3",
                                "ClipCap at every λ > 0.5 not above its λ = 0 score (no gain measured, none beyond +10% of it)",
                                tuple(Comparison(row("clipcap", lam(v)), row("clipcap", lam(0.0)))
                                      for v in lams if v > 0.5), relation="at-most", paper=FIG3))
        claims += [
            Claim("fig3-clipcap-drops-on-text", "clipcap-drops", ON_TEXT, "§5, Fig. 3",
                  "ClipCap lower on text (λ = 1) than on images (λ = 0)",
                  (Comparison(row("clipcap", lam(0.0)), row("clipcap", lam(1.0))),), paper=FIG3),
            Claim("fig3-cross-gap-equal", "same-amount", ON_TEXT, "§5, Fig. 3",
                  "ClipCap on text (λ = 1) ≈ Unsupervised-ClipCap on images (λ = 0): both across the gap, "
                  "within ±10% of the latter",
                  (Comparison(row("clipcap", lam(1.0)), row("uclipcap", lam(0.0))),), relation="equal", paper=FIG3),
            Claim("fig3-equal-on-text", "same-amount", ON_TEXT, "§5, Fig. 3",
                  "ClipCap on text ≈ Unsupervised-ClipCap on text (both λ = 1), within ±10% of the latter",
                  (Comparison(row("clipcap", lam(1.0)), row("uclipcap", lam(1.0))),), relation="equal",
                  primary=False, paper=FIG3),
        ]
    aligned = lambda method: row("uclipcap", f"aligner-{method}")  # noqa: E731
    if "mean" in aligners:
        claims += [
            Claim("mean-alignment-helps", "mean-helps", MEANS, "§5, Aligning the means",
                  "Unsupervised-ClipCap's average higher with mean alignment than without",
                  (Comparison(aligned("mean"), uimg, AVERAGE),), paper=_average("image", "mean")),
            Claim("mean-alignment-not-close", "not-close", MEANS, "§5, Aligning the means",
                  "ClipCap's average above the mean-aligned Unsupervised-ClipCap's by more than 10% of the latter",
                  (Comparison(cimg, aligned("mean"), AVERAGE),), relation="well-above",
                  paper=f"{paper.alignment_average('mean').value:.1f} vs "
                        f"{paper.alignment_average('clipcap').value:.1f} (mean of 8 metrics; ClipCap's Table-1 row: "
                        f"{paper.printed(paper.TABLE_1.row(paper.CLIPCAP).mean())})"),
        ]
    rotations = [m for m in ROTATIONS if m in aligners]
    for method in rotations:
        claims.append(Claim(f"rotation-hurts-{method}", "rotation", ROTATION, "§5, Aligning via rotations",
                            f"Unsupervised-ClipCap's average lower after {_METHOD_WORDS[method]}",
                            (Comparison(uimg, aligned(method), AVERAGE),), primary=method == rotations[0],
                            paper=_average("image", "rotation")))
    transports = [m for m in TRANSPORTS if m in aligners]
    collapsing = [m for m in transports if m != "ot-exact"]
    for method in collapsing:
        claims.append(Claim(f"ot-collapses-{method}", "ot", TRANSPORT, "§5, Aligning via Optimal Transport",
                            f"Unsupervised-ClipCap's average after {_METHOD_WORDS[method]} below 10% of its "
                            "unaligned average (a collapse)",
                            (Comparison(uimg, aligned(method), AVERAGE),), relation="well-above",
                            primary=method == collapsing[0], share=COLLAPSE_SHARE, share_of="a",
                            paper=_average("image", "ot")))
    for method in transports:
        claims.append(Claim(f"ot-hurts-{method}", "ot", TRANSPORT, "§5, Aligning via Optimal Transport",
                            f"Unsupervised-ClipCap's average lower after {_METHOD_WORDS[method]} (a drop of any size)",
                            (Comparison(uimg, aligned(method), AVERAGE),), primary=not collapsing and method == transports[0],
                            paper=_average("image", "ot")))
    papers = [m for m in (ROTATIONS[0], TRANSPORTS[0]) if m in aligners]
    others = [m for m in (*ROTATIONS, *TRANSPORTS) if m in aligners]
    if "mean" in aligners and papers:
        claims.append(Claim("mean-best", "mean-best", BEST, "§6, Conclusion",
                            "Mean alignment's average above the paper's rotation and OT (as we read them)",
                            tuple(Comparison(aligned("mean"), aligned(m), AVERAGE) for m in papers),
                            paper=f"{paper.alignment_average('mean').value:.1f} vs "
                                  f"{paper.alignment_average('rotation').value:.1f} (rotation), "
                                  f"{paper.alignment_average('ot').value:.1f} (OT)"))
        if len(others) > len(papers):
            claims.append(Claim("mean-best-of-all", "mean-best", BEST, "§6, Conclusion",
                                "Mean alignment's average above every rotation and OT variant we run",
                                tuple(Comparison(aligned("mean"), aligned(m), AVERAGE) for m in others),
                                primary=False, paper=claims[-1].paper))
    return claims


#: How the claims name each correction.
_METHOD_WORDS = {
    "pca-rotation-paper": "the paper's rotation (SVD of X as written, uncentred: pca-rotation-paper)",
    "pca-rotation": "a centred PCA rotation plus the text mean (pca-rotation)",
    "ot-paper": "OT with each image replaced by T*·X_txt (ot-paper)",
    "ot-plan-images": "OT with the image matrix multiplied by the plan, T*ᵀ·X_img (ot-plan-images)",
    "ot-exact": "exact OT with the barycentric map (ot-exact)",
}


def verdict(interval: tuple[float, float], relation: str, margin: float | None = None) -> str:
    """The verdict of one comparison from the 95% interval of ``a − b`` (see the module docstring).

    Parameters
    ----------
    interval : (float, float)
        Lower and upper ends of the interval of the difference.
    relation : {"greater", "equal", "at-most", "well-above"}
    margin : float, optional
        Half-width of the band (every relation but ``greater``).
    """
    lo, hi = interval
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation {relation!r}")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if relation == "greater":
        return "holds" if lo > 0 else "does not hold" if hi < 0 else "inconclusive"
    if margin is None or margin < 0:
        raise ValueError(f"a {relation!r} claim needs a non-negative margin")
    if relation == "equal":
        if -margin <= lo and hi <= margin:
            return "holds"
        return "does not hold" if (lo > margin or hi < -margin) else "inconclusive"
    if relation == "at-most":
        return "does not hold" if lo > 0 else "holds" if hi <= margin else "inconclusive"
    return "holds" if lo > margin else "does not hold" if hi < margin else "inconclusive"


def all_of(verdicts: list[str]) -> str:
    """A claim's verdict from its comparisons': holds if all hold, does not hold if any does not, else inconclusive."""
    if not verdicts:
        raise ValueError("a claim needs at least one comparison")
    if all(v == "holds" for v in verdicts):
        return "holds"
    return "does not hold" if "does not hold" in verdicts else "inconclusive"


def judge_comparison(claim: Claim, comparison: Comparison, a_draws: np.ndarray, b_draws: np.ndarray, a_point: float,
            b_point: float) -> dict:
    """One comparison of a claim, judged.

    Parameters
    ----------
    claim : Claim
        For the relation and the band.
    comparison : Comparison
    a_draws, b_draws : ndarray, shape (n_boot,)
        The seed-means of rows ``a`` and ``b`` on the same image resamples.
    a_point, b_point : float
        Their seed-means on the test images themselves.

    Returns
    -------
    dict
        ``a, b, metric, ours_a, ours_b, difference, ci95, margin, verdict``.
    """
    diff = np.asarray(a_draws, dtype=np.float64) - np.asarray(b_draws, dtype=np.float64)
    diff = diff[np.isfinite(diff)]
    interval = tuple(float(v) for v in np.percentile(diff, [2.5, 97.5])) if diff.size else (np.nan, np.nan)
    margin = None
    if claim.relation != "greater":
        margin = claim.share * abs(a_point if claim.share_of == "a" else b_point)
    return {"a": comparison.a, "b": comparison.b, "metric": comparison.metric, "ours_a": float(a_point),
            "ours_b": float(b_point), "difference": float(a_point - b_point), "ci95": list(interval),
            "margin": margin, "verdict": verdict(interval, claim.relation, margin)}


def judge(claim: Claim, comparisons: list[dict]) -> dict:
    """One row of the claims table: the claim, its judged comparisons (:func:`judge_comparison`) and its verdict.

    Returns
    -------
    dict
        ``key, statement, quote, where, reading, primary, relation, symbol, paper, share, share_of,
        comparisons, verdict``.
    """
    return {"key": claim.key, "statement": claim.statement, "quote": claim.quote, "where": claim.where,
            "reading": claim.reading, "primary": claim.primary, "relation": claim.relation,
            "symbol": SYMBOLS[claim.relation], "paper": claim.paper,
            "share": claim.share, "share_of": claim.share_of, "comparisons": comparisons,
            "verdict": all_of([c["verdict"] for c in comparisons])}


def judge_claim(claim: Claim, draws: dict, points: dict) -> dict:
    """Judge every comparison of ``claim`` and the claim itself (:func:`judge`).

    Parameters
    ----------
    claim : Claim
    draws : dict
        Row key -> metric -> ndarray (n_boot,): the row's seed-mean on each image resample,
        the same resamples for every row.
    points : dict
        Row key -> metric -> the row's seed-mean on the test images themselves.
    """
    return judge(claim, [judge_comparison(claim, c, draws[c.a][c.metric], draws[c.b][c.metric],
                                          points[c.a][c.metric], points[c.b][c.metric]) for c in claim.comparisons])
