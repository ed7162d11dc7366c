"""Claims of the paper: verdicts decided by intervals, on planted bootstrap draws."""

from __future__ import annotations

import numpy as np
import pytest

from reproduce.claims import EQUAL_MARGIN, Claim, judge, paper_claims, verdict


@pytest.mark.parametrize("interval, expected", [((0.5, 2.0), "holds"), ((-2.0, -0.1), "does not hold"),
                                                ((-1.0, 1.0), "inconclusive"), ((0.0, 1.0), "inconclusive"),
                                                ((np.nan, 1.0), "inconclusive")])
def test_greater_verdicts_follow_the_interval(interval, expected):
    assert verdict(interval, "greater") == expected


@pytest.mark.parametrize("interval, expected", [((-1.0, 1.0), "holds"), ((-3.0, 1.0), "inconclusive"),
                                                ((2.5, 4.0), "does not hold"), ((-4.0, -2.5), "does not hold")])
def test_equal_verdicts_use_the_band(interval, expected):
    assert verdict(interval, "equal", margin=2.0) == expected


def test_an_equal_claim_needs_a_margin():
    with pytest.raises(ValueError):
        verdict((0.0, 1.0), "equal")


def test_judge_on_planted_draws():
    rng = np.random.default_rng(0)
    claim = Claim("k", "a above b", "Table 1", "x/image", "y/image")
    a = 50 + rng.normal(0, 1, 1000)
    shared = rng.normal(0, 5, 1000)  # a common image effect: pairing removes it from the difference
    row = judge(claim, a + shared, 45 + shared + rng.normal(0, 1, 1000), 50.0, 45.0)
    assert row["verdict"] == "holds" and row["difference"] == 5.0
    lo, hi = row["ci95"]
    assert 5 - 4 < lo < 5 < hi < 5 + 4  # the difference of two N(0, 1): sd √2, half-width ≈ 2.8
    worse = judge(claim, 40 + shared, 45 + shared, 40.0, 45.0)
    assert worse["verdict"] == "does not hold"


def test_equal_claim_margin_is_a_share_of_the_second_row():
    claim = Claim("k", "roughly equal", "Fig. 3", "a", "b", relation="equal")
    row = judge(claim, np.full(10, 101.0), np.full(10, 100.0), 101.0, 100.0)
    assert row["margin"] == pytest.approx(EQUAL_MARGIN * 100.0) and row["verdict"] == "holds"


def test_claims_follow_the_plan():
    names = {c.key for c in paper_claims(aligners=("mean",), mixup=(0.0, 1.0))}
    assert {"supervised-above-text-only", "mean-alignment-helps", "equal-on-text"} <= names
    assert not any("intermediate" in n or "rotation" in n for n in names)
    full = {c.key for c in paper_claims(aligners=("mean", "ot-paper", "pca-rotation-paper"),
                                        mixup=(0.0, 0.25, 0.5, 1.0))}
    assert {"ot-paper-hurts", "pca-rotation-paper-hurts", "clipcap-intermediate-above-images"} <= full
    quoted = [c.paper for c in paper_claims(aligners=("mean", "ot-paper"), mixup=()) if c.paper]
    assert all("issue #13" in q for q in quoted)  # the paper's numbers only where quoted to us
