"""The paper's claims, each tested against our rows with intervals, and a verdict the intervals decide.

A claim compares two rows of the captioning results (a row is one captioner and one input
configuration, scored on the same test images for every training seed). The comparison is
paired: each bootstrap resample of the test images is applied to both rows and every seed, the
seed-mean of each row is taken, and the difference ``a - b`` of the two seed-means is recorded.
Its 95% percentile interval decides the verdict:

- ``a > b`` claims: **holds** when the interval lies above 0, **does not hold** when it lies
  below 0, otherwise **inconclusive**.
- ``a ≈ b`` claims ("roughly equal"): **holds** when the interval lies inside ±``margin``
  (an equivalence margin we chose: 10% of ``b``'s score), **does not hold** when it lies
  wholly outside that band, otherwise **inconclusive**.

What the interval covers: the choice of test images and the training seeds we ran (the
seed-mean enters every resample); it does not cover a new draw of the training data or of
the world. A verdict on the shapes world speaks for the shapes world only.

The paper's own numbers are known to us only where issue #13 quotes them (the paper's text
was not at hand offline): the average of its eight caption metrics rising from 40.8 to 42.1
with mean alignment, and CIDEr collapsing to 0.0 with optimal transport. Every other "paper"
cell is empty, never estimated.
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: Metric the claims are judged on unless they name another.
CLAIM_METRIC = "CIDEr"
#: Half-width of the "roughly equal" band, as a share of the second row's score.
EQUAL_MARGIN = 0.10
VERDICTS = ("holds", "does not hold", "inconclusive")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the paper as a comparison of two result rows.

    Attributes
    ----------
    key : str
        Short identifier.
    text : str
        The claim, in our words.
    where : str
        Where the paper makes it (table, figure, section).
    a, b : str
        Row keys ``captioner/configuration`` compared as ``a`` against ``b``.
    relation : {"greater", "equal"}
        ``a > b``, or ``a ≈ b`` within :data:`EQUAL_MARGIN`.
    metric : str
        Caption metric judged (x100).
    paper : str or None
        The paper's figures for this claim, where known (see the module docstring), else None.
    """

    key: str
    text: str
    where: str
    a: str
    b: str
    relation: str = "greater"
    metric: str = CLAIM_METRIC
    paper: str | None = None


def paper_claims(*, aligners: tuple[str, ...], mixup: tuple[float, ...]) -> list[Claim]:
    """The claims the reproduction tests, limited to the rows its plan produces.

    Parameters
    ----------
    aligners : tuple of str
        Aligners evaluated with the text-trained captioners.
    mixup : tuple of float
        λ values of the mixup sweep (0 = image, 1 = the caption's own embedding).
    """
    claims = [
        Claim("supervised-above-text-only", "Supervised ClipCap captions images better than Unsupervised-ClipCap",
              "Table 1", "clipcap/image", "uclipcap/image"),
        Claim("text-only-works", "Unsupervised-ClipCap, trained on text only, captions images better than the "
              "same-caption ablation (matched captions help)", "Table 1 (matched-captions ablation)",
              "uclipcap/image", "same-caption/image"),
    ]
    if "mean" in aligners:
        claims.append(Claim("mean-alignment-helps", "Mean alignment improves Unsupervised-ClipCap on images",
                            "alignment results", "uclipcap/aligner-mean", "uclipcap/image", metric="caption_average",
                            paper="average of 8 metrics 40.8 → 42.1 (as quoted in issue #13)"))
    for method, label in (("pca-rotation-paper", "the paper's rotation (principal directions only)"),
                          ("pca-rotation", "our centred rotation")):
        if method in aligners:
            claims.append(Claim(f"{method}-hurts", f"Rotation alignment ({label}) hurts Unsupervised-ClipCap",
                                "alignment results", "uclipcap/image", f"uclipcap/aligner-{method}"))
    for method, label, paper in (("ot-paper", "the paper's OT, T* applied as written", "CIDEr 0.0 (as quoted in "
                                  "issue #13)"), ("ot-exact", "our exact OT, barycentric map", None)):
        if method in aligners:
            claims.append(Claim(f"{method}-hurts", f"Optimal-transport alignment ({label}) hurts Unsupervised-ClipCap",
                                "alignment results", "uclipcap/image", f"uclipcap/aligner-{method}", paper=paper))
    lams = sorted(set(mixup))
    if 0.0 in lams and 1.0 in lams:
        claims.append(Claim("uclipcap-improves-towards-text", "Unsupervised-ClipCap improves as the input moves "
                            "towards text (λ = 1 above λ = 0)", "Fig. 3", "uclipcap/mixup-1", "uclipcap/mixup-0"))
        claims.append(Claim("equal-on-text", "ClipCap and Unsupervised-ClipCap are roughly equal on text (λ = 1)",
                            "Fig. 3", "uclipcap/mixup-1", "clipcap/mixup-1", relation="equal"))
    middle = [lam for lam in lams if 0.0 < lam < 1.0]
    if middle and 0.0 in lams:
        claims.append(Claim("clipcap-intermediate-above-images", "ClipCap does better at an intermediate λ than on "
                            "images (λ = 0)", "Fig. 3", "clipcap/mixup-best-intermediate", "clipcap/mixup-0"))
    if middle and 1.0 in lams:
        claims.append(Claim("clipcap-intermediate-above-text", "ClipCap is best at an intermediate λ (above λ = 1)",
                            "Fig. 3", "clipcap/mixup-best-intermediate", "clipcap/mixup-1"))
    return claims


def verdict(interval: tuple[float, float], relation: str, margin: float | None = None) -> str:
    """The verdict of a claim from the 95% interval of ``a - b`` (see the module docstring).

    Parameters
    ----------
    interval : (float, float)
        Lower and upper ends of the interval of the difference.
    relation : {"greater", "equal"}
    margin : float, optional
        Half-width of the equivalence band (``relation="equal"`` only).
    """
    lo, hi = interval
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if relation == "greater":
        return "holds" if lo > 0 else "does not hold" if hi < 0 else "inconclusive"
    if relation == "equal":
        if margin is None or margin < 0:
            raise ValueError("an 'equal' claim needs a non-negative margin")
        if -margin <= lo and hi <= margin:
            return "holds"
        return "does not hold" if (lo > margin or hi < -margin) else "inconclusive"
    raise ValueError(f"unknown relation {relation!r}")


def judge(claim: Claim, a_draws: np.ndarray, b_draws: np.ndarray, a_point: float, b_point: float) -> dict:
    """One row of the claims table.

    Parameters
    ----------
    claim : Claim
    a_draws, b_draws : ndarray, shape (n_boot,)
        The seed-means of rows ``a`` and ``b`` on the same image resamples.
    a_point, b_point : float
        Their seed-means on the test images themselves.

    Returns
    -------
    dict
        ``key, text, where, metric, a, b, paper, ours_a, ours_b, difference, ci95, margin, verdict``.
    """
    diff = np.asarray(a_draws, dtype=np.float64) - np.asarray(b_draws, dtype=np.float64)
    diff = diff[np.isfinite(diff)]
    interval = tuple(float(v) for v in np.percentile(diff, [2.5, 97.5])) if diff.size else (np.nan, np.nan)
    margin = EQUAL_MARGIN * abs(b_point) if claim.relation == "equal" else None
    return {"key": claim.key, "text": claim.text, "where": claim.where, "metric": claim.metric, "a": claim.a,
            "b": claim.b, "relation": claim.relation, "paper": claim.paper, "ours_a": float(a_point),
            "ours_b": float(b_point), "difference": float(a_point - b_point), "ci95": list(interval),
            "margin": margin, "verdict": verdict(interval, claim.relation, margin)}
