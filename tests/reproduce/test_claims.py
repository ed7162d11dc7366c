"""Claims of the paper: verdicts decided by intervals, each claim's wording checked on planted draws.

Planted draws: every row's seed-mean on resample r is its planted score plus an image effect
shared by all rows on that resample (pairing removes it from every difference) plus a little
noise of its own (sd 0.5: a difference has sd ≈ 0.7, a 95% interval half-width ≈ 1.4).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gaptools import paper
from gaptools.reproduce.claims import (
    AVERAGE,
    EQUAL_MARGIN,
    Claim,
    Comparison,
    all_of,
    judge_claim,
    judge_comparison,
    paper_claims,
    verdict,
)

PAPER = Path(__file__).resolve().parents[2].parent / "shared" / "paper" / "unsupervised-clipcap.md"
ALL_ALIGNERS = ("mean", "pca-rotation-paper", "pca-rotation", "ot-paper", "ot-plan-images", "ot-exact",
                "memory-projection")
SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)
N_BOOT = 2000


def planted(scores: dict[str, float], seed: int = 0, noise: float = 0.5) -> tuple[dict, dict]:
    """``draws`` and ``points`` of rows with the planted seed-mean ``scores[row]`` on every metric."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 5, N_BOOT)
    metrics = (*paper.OFFLINE_METRICS, AVERAGE)
    draws = {row: {m: value + shared + rng.normal(0, noise, N_BOOT) for m in metrics} for row, value in scores.items()}
    points = {row: {m: value for m in metrics} for row, value in scores.items()}
    return draws, points


def claim(key: str, aligners=ALL_ALIGNERS, mixup=SWEEP) -> Claim:
    return next(c for c in paper_claims(aligners=aligners, mixup=mixup) if c.key == key)


def verdict_of(key: str, scores: dict[str, float], noise: float = 0.5, **plan) -> str:
    draws, points = planted(scores, noise=noise)
    return judge_claim(claim(key, **plan), draws, points)["verdict"]


def sweep(captioner: str, values) -> dict[str, float]:
    return {f"{captioner}/mixup-{lam:g}": v for lam, v in zip(SWEEP, values)}


# ----------------------------------------------------------------------------- the verdict rules


@pytest.mark.parametrize("interval, expected", [((0.5, 2.0), "holds"), ((-2.0, -0.1), "does not hold"),
                                                ((-1.0, 1.0), "inconclusive"), ((0.0, 1.0), "inconclusive"),
                                                ((np.nan, 1.0), "inconclusive")])
def test_greater_verdicts_follow_the_interval(interval, expected):
    assert verdict(interval, "greater") == expected


@pytest.mark.parametrize("relation, interval, expected", [
    ("equal", (-1.0, 1.0), "holds"), ("equal", (-3.0, 1.0), "inconclusive"), ("equal", (2.5, 4.0), "does not hold"),
    ("equal", (-4.0, -2.5), "does not hold"),
    ("at-most", (-5.0, -1.0), "holds"), ("at-most", (-1.0, 1.5), "holds"), ("at-most", (0.5, 1.5), "does not hold"),
    ("at-most", (-1.0, 3.0), "inconclusive"),
    ("well-above", (2.5, 4.0), "holds"), ("well-above", (0.5, 1.5), "does not hold"),
    ("well-above", (1.0, 3.0), "inconclusive")])
def test_banded_verdicts_use_the_band(relation, interval, expected):
    assert verdict(interval, relation, margin=2.0) == expected


def test_a_banded_claim_needs_a_margin_and_a_known_relation():
    with pytest.raises(ValueError, match="margin"):
        verdict((0.0, 1.0), "equal")
    with pytest.raises(ValueError, match="unknown relation"):
        verdict((0.0, 1.0), "above")


@pytest.mark.parametrize("verdicts, needs_all, expected", [
    (["holds"] * 3, False, "holds"), (["holds", "inconclusive"], False, "inconclusive"),
    (["holds", "does not hold", "inconclusive"], False, "mixed"),
    (["holds", "does not hold", "inconclusive"], True, "does not hold"),
    (["does not hold", "inconclusive"], False, "does not hold")])
def test_a_claim_of_several_comparisons(verdicts, needs_all, expected):
    assert all_of(verdicts, needs_all=needs_all) == expected


@pytest.mark.parametrize("interval, expected", [((0.5, 1.5), "holds"), ((2.5, 4.0), "does not hold"),
                                                ((-1.0, -0.1), "does not hold"), ((-0.5, 1.0), "inconclusive"),
                                                ((1.0, 3.0), "inconclusive")])
def test_slightly_above_needs_a_gain_inside_the_band(interval, expected):
    assert verdict(interval, "slightly-above", margin=2.0) == expected


def test_pairing_removes_the_shared_image_effect():
    c = Claim("k", "s", "q", "Table 1", "a above b", (Comparison("x/image", "y/image"),))
    draws, _ = planted({"x/image": 50.0, "y/image": 45.0})
    row = judge_comparison(c, c.comparisons[0], draws["x/image"]["CIDEr"], draws["y/image"]["CIDEr"], 50.0, 45.0)
    assert row["verdict"] == "holds" and row["difference"] == 5.0 and row["margin"] is None
    lo, hi = row["ci95"]
    assert 5 - 2.5 < lo < 5 < hi < 5 + 2.5  # the shared sd-5 effect would make it ±10 unpaired


def test_the_band_is_a_share_of_the_named_row():
    c = Claim("k", "s", "q", "Fig. 3", "roughly equal", (Comparison("a", "b"),), relation="equal")
    row = judge_comparison(c, c.comparisons[0], np.full(10, 101.0), np.full(10, 100.0), 101.0, 100.0)
    assert row["margin"] == pytest.approx(EQUAL_MARGIN * 100.0) and row["verdict"] == "holds"
    of_a = Claim("k", "s", "q", "§5", "collapse", (Comparison("a", "b"),), relation="well-above", share=0.9,
                 share_of="a")
    collapse = judge_comparison(of_a, of_a.comparisons[0], np.full(10, 40.0), np.full(10, 1.0), 40.0, 1.0)
    assert collapse["margin"] == pytest.approx(36.0) and collapse["verdict"] == "holds"  # 39 > 36


# ----------------------------------------------------------------------------- Fig. 3, as worded


def test_monotone_sweep_holds_only_when_every_step_rises():
    assert verdict_of("fig3-monotone", sweep("uclipcap", [40, 42, 44, 46, 48])) == "holds"
    dip = sweep("uclipcap", [40, 44, 50, 47, 48])  # peaks at λ = 0.5, as on the shapes world
    assert verdict_of("fig3-monotone", dip) == "does not hold"  # monotone needs every step: never "mixed"
    assert verdict_of("fig3-monotone-endpoints", dip) == "holds"  # the weaker reading misses the dip
    flat_step = sweep("uclipcap", [40, 42, 44, 44.2, 48])  # one step within the noise
    assert verdict_of("fig3-monotone", flat_step) == "inconclusive"


def test_the_sweep_compares_adjacent_steps_from_text_towards_images():
    c = claim("fig3-monotone")
    assert [(k.a, k.b) for k in c.comparisons] == [
        (f"uclipcap/mixup-{hi:g}", f"uclipcap/mixup-{lo:g}") for lo, hi in zip(SWEEP, SWEEP[1:])]
    assert len(claim("fig3-monotone", mixup=(0.0, 0.5, 1.0)).comparisons) == 2


def test_clipcap_is_judged_at_lambda_half_itself_not_at_the_best_lambda():
    best_elsewhere = sweep("clipcap", [60, 70, 60.2, 55, 40])  # λ = 0.25 is best; λ = 0.5 ties λ = 0
    assert verdict_of("fig3-clipcap-half", best_elsewhere) == "inconclusive"
    assert verdict_of("fig3-clipcap-half", sweep("clipcap", [60, 62, 65, 55, 40])) == "holds"
    assert verdict_of("fig3-clipcap-half", sweep("clipcap", [60, 70, 55, 55, 40])) == "does not hold"
    c = claim("fig3-clipcap-half")
    assert [(k.a, k.b) for k in c.comparisons] == [("clipcap/mixup-0.5", "clipcap/mixup-0")]


def test_only_till_half_needs_every_lambda_above_half_not_above_images():
    assert verdict_of("fig3-clipcap-only-till-half", sweep("clipcap", [60, 62, 65, 59, 40])) == "holds"
    assert verdict_of("fig3-clipcap-only-till-half", sweep("clipcap", [60, 62, 65, 61, 40])) == "holds"  # +1 < +6
    assert verdict_of("fig3-clipcap-only-till-half", sweep("clipcap", [60, 62, 65, 64, 40])) == "does not hold"
    assert [k.a for k in claim("fig3-clipcap-only-till-half").comparisons] == ["clipcap/mixup-0.75", "clipcap/mixup-1"]


def test_cross_gap_equality_is_clipcap_on_text_against_uclipcap_on_images():
    scores = {**sweep("clipcap", [60, 60, 60, 50, 41]), **sweep("uclipcap", [40, 45, 50, 55, 60])}
    assert verdict_of("fig3-cross-gap-equal", scores) == "holds"  # 41 vs 40, band ±4
    assert verdict_of("fig3-equal-on-text", scores) == "does not hold"  # 41 vs 60 on text
    assert verdict_of("fig3-clipcap-drops-on-text", scores) == "holds"
    c = claim("fig3-cross-gap-equal")
    assert c.primary and not claim("fig3-equal-on-text").primary
    assert [(k.a, k.b) for k in c.comparisons] == [("clipcap/mixup-1", "uclipcap/mixup-0")]


# ----------------------------------------------------------------------------- tables and §5, as worded


def test_table_orderings_need_every_metric_and_a_reversed_metric_is_mixed():
    rows = {"clipcap/image": 50.0, "uclipcap/image": 45.0, "same-caption/image": 30.0}
    assert verdict_of("table-clipcap-above", rows) == "holds"
    assert verdict_of("table-matched-captions-help", rows) == "holds"
    draws, points = planted(rows)
    draws["clipcap/image"]["METEOR"] = draws["uclipcap/image"]["METEOR"] - 3  # below on one metric
    points["clipcap/image"]["METEOR"] = 42.0
    judged = judge_claim(claim("table-clipcap-above"), draws, points)
    assert judged["verdict"] == "mixed"  # six metrics hold, one is reversed
    assert [k["metric"] for k in judged["comparisons"] if k["verdict"] != "holds"] == ["METEOR"]


def test_removing_matched_captions_planted_as_on_the_shapes_world_is_mixed_with_an_average_reading():
    """CIDEr, METEOR and ROUGE-L hold, BLEU-1..4 reversed: mixed; the average reading decides on its own."""
    draws, points = planted({"uclipcap/image": 40.0, "same-caption/image": 35.0})
    for metric in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"):
        draws["same-caption/image"][metric] = draws["uclipcap/image"][metric] + 5
        points["same-caption/image"][metric] = 45.0
    judged = judge_claim(claim("table-matched-captions-help"), draws, points)
    assert judged["verdict"] == "mixed"
    assert sorted(k["metric"] for k in judged["comparisons"] if k["verdict"] == "holds") == ["CIDEr", "METEOR",
                                                                                           "ROUGE_L"]
    average = claim("table-matched-captions-help-average")
    assert not average.primary and [k.metric for k in average.comparisons] == [AVERAGE]
    assert judge_claim(average, draws, points)["verdict"] == "holds"  # 40 vs 35 on the planted average


def test_fig3_rows_name_their_metric_and_have_an_average_reading():
    for c in paper_claims(aligners=ALL_ALIGNERS, mixup=SWEEP):
        if c.where.endswith("Fig. 3"):
            metric = c.comparisons[0].metric
            assert ("(on CIDEr)" if metric == "CIDEr" else "(on the average of the metrics)") in c.reading, c.key
            assert c.primary is False or metric == "CIDEr"
    assert [k.metric for k in claim("fig3-monotone-average").comparisons] == [AVERAGE] * 4
    scores = sweep("uclipcap", [40, 42, 44, 46, 48])
    assert verdict_of("fig3-monotone-average", scores) == "holds"


def test_a_banded_verdict_is_shown_at_the_other_bands():
    """ClipCap on text 46 against Unsupervised-ClipCap on images 40 (+15%): outside ±5% and ±10%, inside ±20%."""
    scores = {**sweep("clipcap", [60, 60, 60, 50, 46]), **sweep("uclipcap", [40, 45, 50, 55, 60])}
    draws, points = planted(scores, noise=0.2)
    judged = judge_claim(claim("fig3-cross-gap-equal"), draws, points)
    assert judged["verdict"] == "does not hold"  # band ±4
    assert judged["bands"] == {"5%": "does not hold", "20%": "holds"}  # ±2, ±8
    assert judged["comparisons"][0]["bands"] == judged["bands"]
    assert judge_claim(claim("fig3-monotone"), *planted(sweep("uclipcap", SWEEP)))["bands"] == {}  # '>' has no band
    collapse = judge_claim(claim("ot-collapses-ot-paper"), *planted({"uclipcap/image": 40.0,
                                                                     "uclipcap/aligner-ot-paper": 6.0}, noise=0.2))
    assert collapse["verdict"] == "does not hold"  # 6 is 15% of 40: not below 10%
    assert collapse["bands"] == {"below 5%": "does not hold", "below 20%": "holds"}


def test_the_image_only_interval_is_kept_beside_the_primary_one():
    draws, points = planted({"x": 50.0, "y": 45.0})
    rng = np.random.default_rng(1)  # the seeds' part: each row's own, not shared, so pairing cannot remove it
    wide = {row: {m: v + rng.normal(0, 4, N_BOOT) for m, v in d.items()} for row, d in draws.items()}
    c = Claim("k", "s", "q", "Table 1", "x above y", (Comparison("x", "y"),))
    judged = judge_claim(c, wide, points, image_draws=draws)
    k = judged["comparisons"][0]
    assert k["ci95_images"][1] - k["ci95_images"][0] < k["ci95"][1] - k["ci95"][0]
    assert judged["verdict_images"] == "holds" and judged["verdict"] in {"holds", "inconclusive"}
    assert judge_claim(c, draws, points)["verdict_images"] is None
    assert {k.metric for k in claim("table-clipcap-above").comparisons} == set(paper.OFFLINE_METRICS)


def test_mean_alignment_helps_but_stays_far_from_clipcap():
    rows = {"uclipcap/image": 40.8, "uclipcap/aligner-mean": 42.1, "clipcap/image": 52.4}  # the paper's figures
    # +1.3 against a difference of sd 0.2·√2 (interval ±0.55): holds; of sd 0.5·√2 (±1.39): inconclusive
    assert verdict_of("mean-alignment-helps", rows, noise=0.2) == "holds"
    assert verdict_of("mean-alignment-helps", rows, noise=0.5) == "inconclusive"
    assert verdict_of("mean-alignment-not-close", rows) == "holds"  # +10.3 > 10% of 42.1
    assert verdict_of("mean-alignment-not-close", {**rows, "clipcap/image": 43.0}) == "does not hold"
    assert all(k.metric == AVERAGE for k in claim("mean-alignment-helps").comparisons)


def test_the_mismatch_is_not_corrected_and_the_mean_gain_is_slight():
    """The §1 and §5 sentences the table used to leave out, on planted rows."""
    rows = {"uclipcap/image": 40.0, "uclipcap/aligner-mean": 42.0, "uclipcap/aligner-mean@loo": 41.0,
            "uclipcap/text": 50.0}
    for where in ("intro", "overall"):
        assert verdict_of(f"{where}-mean-not-corrected", rows, noise=0.2) == "holds"
        assert verdict_of(f"{where}-mean-not-corrected", {**rows, "uclipcap/text": 38.0}, noise=0.2) == "does not hold"
        assert verdict_of(f"{where}-mean-slightly", rows, noise=0.2) == "holds"  # +2 of 40: inside (0, +4]
        assert verdict_of(f"{where}-mean-slightly", {**rows, "uclipcap/aligner-mean": 52.0}, noise=0.2) == "does not hold"
        assert verdict_of(f"{where}-mean-slightly", {**rows, "uclipcap/aligner-mean": 39.0}, noise=0.2) == "does not hold"
    not_corrected = claim("intro-mean-not-corrected")
    assert [(k.a, k.b) for k in not_corrected.comparisons] == [("uclipcap/text", "uclipcap/aligner-mean@loo")]
    assert claim("overall-mean-slightly").quote.startswith("Overall, we find that though none of the three methods")
    assert "+3.2%" in claim("intro-mean-slightly").reading  # the paper's own 40.8 → 42.1


def test_rotation_and_ot_as_the_paper_reports_them():
    rows = {"uclipcap/image": 40.8, "uclipcap/aligner-mean": 42.1, "uclipcap/aligner-pca-rotation-paper": 15.8,
            "uclipcap/aligner-pca-rotation": 15.8, "uclipcap/aligner-ot-paper": 0.0,
            "uclipcap/aligner-ot-plan-images": 20.0, "uclipcap/aligner-ot-exact": 38.0}
    assert verdict_of("rotation-hurts-pca-rotation-paper", rows) == "holds"
    assert verdict_of("ot-collapses-ot-paper", rows) == "holds"  # 40.8 → 0.0
    cell = {**rows, "uclipcap/aligner-ot-paper.test.raw@unnormalised": 0.0}
    assert verdict_of("ot-collapses-in-sample", cell) == "holds"
    assert verdict_of("ot-collapses-in-sample", {**cell, "uclipcap/aligner-ot-paper.test.raw@unnormalised": 30.0}) \
        == "does not hold"
    assert verdict_of("ot-collapses-ot-plan-images", rows) == "does not hold"  # halved is not a collapse
    assert verdict_of("ot-hurts-ot-plan-images", rows) == "holds"
    assert verdict_of("mean-best", rows) == "holds"
    assert verdict_of("mean-best", {**rows, "uclipcap/aligner-pca-rotation-paper": 45.0}) == "does not hold"


# ----------------------------------------------------------------------------- the claims themselves


def test_claims_follow_the_plan():
    names = {c.key for c in paper_claims(aligners=("mean",), mixup=(0.0, 1.0))}
    assert {"table-clipcap-above", "mean-alignment-helps", "fig3-cross-gap-equal", "fig3-monotone"} <= names
    assert not any("half" in n or "rotation" in n or n.startswith("ot-") for n in names)
    assert "mean-best" not in names  # nothing to be best of
    full = {c.key for c in paper_claims(aligners=ALL_ALIGNERS, mixup=SWEEP)}
    assert {"ot-collapses-ot-paper", "ot-hurts-ot-exact", "rotation-hurts-pca-rotation", "fig3-clipcap-half",
            "mean-best-of-all"} <= full
    assert {c.key for c in paper_claims(aligners=(), mixup=())} == {
        "table-clipcap-above", "table-matched-captions-help", "table-clipcap-above-average",
        "table-matched-captions-help-average"}
    assert {"intro-mean-not-corrected", "intro-mean-slightly", "overall-mean-not-corrected", "overall-mean-slightly",
            "ot-collapses-in-sample"} <= full


def test_one_primary_reading_per_statement():
    claims = paper_claims(aligners=ALL_ALIGNERS, mixup=SWEEP)
    assert len({c.key for c in claims}) == len(claims)
    for statement in {c.statement for c in claims}:
        readings = [c for c in claims if c.statement == statement]
        assert sum(c.primary for c in readings) == 1, statement
        assert len({c.quote for c in readings}) == 1, statement
    assert claim("ot-collapses-in-sample").primary and claim("rotation-hurts-pca-rotation-paper").primary
    assert not claim("ot-hurts-ot-paper").primary and not claim("ot-collapses-ot-paper").primary
    only_exact = paper_claims(aligners=("ot-exact",), mixup=())
    assert [c.primary for c in only_exact if c.statement == "ot"] == [True]


def test_the_paper_figures_come_from_its_tables():
    assert "Table 1: above on 8 of 8 metrics (CIDEr 106.6 vs 74.6)" in claim("table-clipcap-above").paper
    assert "Table 2: above on 8 of 8" in claim("table-clipcap-above").paper
    assert claim("mean-alignment-helps").paper.startswith("40.8 → 42.1")
    assert claim("ot-collapses-ot-paper").paper.startswith("40.8 → 0.0")
    assert "ClipCap's Table-1 row does not match: 51.68" in claim("mean-alignment-not-close").paper  # 51.675, half-up
    for c in paper_claims(aligners=ALL_ALIGNERS, mixup=SWEEP):  # the mean of 8 is ours, never the paper's words
        assert "mean of 8" not in (c.paper or ""), c.key


def test_every_quote_is_the_papers_sentence():
    if not PAPER.is_file():
        pytest.skip("../shared/paper is absent (the paper's text is read only beside it)")
    text = PAPER.read_text(encoding="utf-8")
    text = re.sub(r"\$\s*\\lambda\s*=\s*0\.5\s*\$", "λ=0.5", text)
    text = re.sub(r"\s+([.,])", r"\1", re.sub(r"\s+", " ", text))
    for c in paper_claims(aligners=ALL_ALIGNERS, mixup=SWEEP):
        assert c.quote in text, c.key
