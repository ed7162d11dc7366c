"""The reproduction's report sections from a hand-made results document: the answer first, the paper beside ours."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gaptools import paper
from gaptools.reports import reproduction
from gaptools.reports.build import build_report
from gaptools.reports.inputs import load_inputs
from gaptools.reproduce.claims import judge_claim, paper_claims
from gaptools.reproduce.results import PAPER_AVERAGES, PAPER_ROWS, RESULT_KIND, RESULT_VERSION, row_label

#: row key -> planted seed-mean of every metric (×100)
SCORES = {"uclipcap/image": 40.0, "same-caption/image": 30.0, "clipcap/image": 50.0, "uclipcap/aligner-mean": 41.0,
          "uclipcap/aligner-ot-paper": 5.0, "uclipcap/mixup-0": 40.0, "uclipcap/mixup-0.5": 45.0,
          "uclipcap/mixup-1": 50.0, "clipcap/mixup-0": 50.0, "clipcap/mixup-0.5": 52.0, "clipcap/mixup-1": 38.0,
          "uclipcap/mixup-0-renormalised": 40.0, "uclipcap/mixup-1-renormalised": 50.0,
          "uclipcap/aligner-ot-paper.test.raw@unnormalised": 0.5}
METRICS = (*paper.OFFLINE_METRICS, "caption_average")


def _row(key: str, score: float) -> dict:
    captioner, configuration = key.split("/")
    entry = {"mean": score, "sd": 0.5, "per_seed": [score - 0.35, score + 0.35], "ci95": [score - 1.0, score + 1.0],
             "ci95_images": [score - 0.5, score + 0.5]}
    mixup = configuration.startswith("mixup-")
    return {"key": key, "captioner": captioner, "configuration": configuration, "label": row_label(captioner, configuration),
            "input": "image", "aligner": configuration[8:].split("@")[0] if configuration.startswith("aligner-") else None,
            "mixup": float(configuration[6:].split("-")[0]) if mixup else None,
            "mixup_rule": ("renormalised" if configuration.endswith("renormalised") else "paper") if mixup else None,
            "references": "leave-one-out" if mixup else "all", "n_images": 30,
            "metrics": {m: dict(entry) for m in METRICS}}


def results_doc(dataset: str) -> dict:
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 5, 500)
    draws = {k: {m: v + shared + rng.normal(0, 0.5, 500) for m in METRICS} for k, v in SCORES.items()}
    points = {k: {m: v for m in METRICS} for k, v in SCORES.items()}
    images = {k: {m: v + shared for m, v in d.items()} for k, d in points.items()}
    claims = [judge_claim(c, draws, points, images) for c in paper_claims(aligners=("mean", "ot-paper"), mixup=(0.0, 0.5, 1.0))
              if all(r in SCORES for k in c.comparisons for r in (k.a, k.b))]
    return {"kind": RESULT_KIND, "version": RESULT_VERSION, "seeds": [0, 1],
            "bootstrap": {"resamples": 500, "seed": 0, "unit": "test image"},
            "average_label": "mean of 7 (no SPICE)", "average_key": "caption_average",
            "splits": {"test": {"images": 30, "captions": 150, "split": "test", "dataset": dataset}},
            "paper": {"dataset": dataset, "rows": PAPER_ROWS,
                      "averages": {k: [r for r in v if r in SCORES] for k, v in PAPER_AVERAGES.items()}},
            "rows": [_row(k, v) for k, v in SCORES.items()], "claims": claims,
            "corrections": {"uclipcap": {"label": "Unsupervised-ClipCap", "rank_correlation_with_cider": {}, "gains": [
                {"aligner": "mean", "label": "mean alignment", "gain": 1.0, "ci95": [-1.0, 3.0],
                 "ci95_images": [0.0, 2.0], "separates": False}]}},
            "ot_grid": [{"key": "uclipcap/aligner-ot-paper.test.raw@unnormalised", "method": "ot-paper", "fit": "test",
                         "output": "raw", "captioner_normalises": False, "paper_cell": True,
                         "leaks_test_captions": False,
                         "label": row_label("uclipcap", "aligner-ot-paper.test.raw@unnormalised"),
                         "metrics": {m: _row("x/y", 0.5)["metrics"][m] for m in ("caption_average", "CIDEr")},
                         "distinct_fraction": 0.03, "mode_collapse": True,
                         "samples": [{"image_id": "a", "caption": "a a a a"}]}]}


@pytest.fixture
def report_md(tmp_path):
    def build(dataset: str) -> str:
        path = tmp_path / f"{dataset}.json"
        path.write_text(json.dumps(results_doc(dataset)))
        build_report(load_inputs([path]), tmp_path / f"report-{dataset}")
        return (tmp_path / f"report-{dataset}" / "report.md").read_text()
    return build


def test_the_page_opens_with_the_claims_then_the_papers_tables(report_md):
    md = report_md("shapes-world")
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:4] == ["## The paper's claims", "## The paper's tables beside ours", "## Relative effects",
                            "## Results over seeds"]
    assert "## Corrections for Unsupervised-ClipCap" in headings
    claims = md.split("## The paper's claims")[1].split("\n## ")[0]
    assert "monotonically decreases" in claims and "[primary reading]" in claims and "[other reading]" in claims
    assert "40.8 → 42.1 (average performance; our inference: mean of the table metrics)" in claims
    assert "mean of 8 metrics" not in md  # our inference, never the paper's label
    for verdict in ("holds", "does not hold"):
        assert f"| {verdict} |" in claims
    assert "95% CI, images only" in claims and "verdict at other bands" in claims
    assert "| 5%: " in claims and "20%: " in claims  # the band sensitivity beside a banded verdict
    assert "hierarchical bootstrap" in md and "with the trained seeds fixed" in md  # what each interval covers
    assert "context, not targets" in claims  # the shapes world is not COCO


def test_the_papers_rows_stand_beside_ours_with_words_for_labels(report_md):
    md = report_md("shapes-world")
    for printed in ("65.5", "106.6", "22.2", "MAGIC (Su et al. 2022)\\*", "ESPER (Yu et al. 2022)\\*", "36.5",
                    "57.9", "| Unsupervised-ClipCap, images | ours (shapes-world, 2 seeds) | 40.0 ± 0.5 |"):
        assert printed in md, printed
    assert "| − matched captions | paper (MS-COCO) | 50.3 |" in md
    assert "Unsupervised-ClipCap, images + mean alignment" in md
    assert "uclipcap/" not in md  # row keys stay in the JSON
    assert "40.76" in md and "51.68" in md and "44.46" in md and "56.21" in md  # the paper's means, checked
    assert "52.4 is not the mean of its eight Table-1 metrics (51.68), and the paper does not say how" in md
    for gone in ("could not be consulted", "as quoted in issue", "quoted to us"):
        assert gone not in md


def test_the_comparable_table_gets_our_rows(report_md):
    doc = results_doc("flickr30k")
    tables = {t.key: reproduction.paper_table(doc, t) for t in paper.TABLES}
    assert not tables["Table 1"]["source"].str.startswith("ours").any()
    assert list(tables["Table 2"].index[tables["Table 2"]["source"].str.startswith("ours")]) == [
        "Unsupervised-ClipCap, images", "ClipCap (supervised), images"]
    ours = tables["Table 2"].loc["ClipCap (supervised), images"]
    assert ours["CIDEr"] == "50.0 ± 0.5" and ours["SPICE"] == "—" and ours["mean of 7 (no SPICE)"] == "50.0 ± 0.5"
    assert "row for row comparable" in reproduction.dataset_note(doc) and "all references" in reproduction.dataset_note(doc)
    md = report_md("coco")
    assert "Table 1 layout: MS-COCO (with our rows)" in md and "Table 2 layout: Flickr30k (with our rows)" not in md


def test_the_averages_table_names_each_reading():
    table = reproduction.averages_table(results_doc("shapes-world")).set_index("ours")
    paper_column, own = "paper: average performance (§5)", "paper's Table-1 row, our means: of 8 | of 7"
    assert table.loc["Unsupervised-ClipCap, images", paper_column] == "40.8"
    assert table.loc["Unsupervised-ClipCap, images", own] == "40.76 | 44.46"
    assert table.loc["ClipCap (supervised), images", own] == "51.68 | 56.21"
    ot = table.loc["Unsupervised-ClipCap, images + the paper's OT, texts multiplied by T*"]
    assert ot[paper_column] == "0.0" and ot["ours: mean of 7 (no SPICE) [95% CI]"] == "5.0 ± 0.5 [4.0, 6.0]"
    assert table.loc["— (not in this plan)", paper_column] == "15.8"  # no rotation row was evaluated
    in_sample = [k for k in table.index if "fitted in sample" in k]
    assert in_sample and table.index.get_loc(in_sample[0]) < table.index.get_loc(
        "Unsupervised-ClipCap, images + the paper's OT, texts multiplied by T*")  # the paper's cell first


def test_the_ot_grid_mixup_readings_and_image_only_intervals_are_shown(report_md):
    doc = results_doc("shapes-world")
    grid = reproduction.ot_grid_table(doc)
    (label,) = grid.index
    assert "the paper's cell" in label and "captioner input not normalised" in label
    assert grid.iloc[0]["mode collapse"] == "yes" and grid.iloc[0]["sample captions (first seed)"] == "a a a a"
    readings = reproduction.mixup_readings(doc)
    assert list(readings.columns) == ["uclipcap, as written", "clipcap, as written", "uclipcap, renormalised"]
    seeds = reproduction.seeds_table(doc)
    assert seeds.loc["Unsupervised-ClipCap, images", "CIDEr: 95% CI, images only"] == "[39.5, 40.5]"
    assert seeds.loc["Unsupervised-ClipCap, images", "references"] == "all"
    md = report_md("shapes-world")
    assert "## Optimal transport as the paper does it: the grid" in md and "leak of the references" in md


def test_the_readings_of_one_statement_sit_together_so_the_ditto_mark_repeats_the_row_above():
    def claim(statement, quote, primary, reading):
        comparison = {"ours_a": 2.0, "ours_b": 1.0, "difference": 1.0, "ci95": [0.5, 1.5], "ci95_images": [0.6, 1.4]}
        return {"statement": statement, "quote": quote, "where": "§4", "primary": primary, "reading": reading,
                "paper": None, "relation": "greater", "comparisons": [comparison], "verdict": "holds"}

    doc = {"claims": [claim("a", "A.", True, "a on every metric"), claim("b", "B.", True, "b on every metric"),
                      claim("a", "A.", False, "a on the average"), claim("b", "B.", False, "b on the average")]}
    table = reproduction.claims_table(doc)
    assert list(table.index) == ["“A.” (§4)", "″ (the same sentence, another reading)",
                                 "“B.” (§4)", "″ (the same sentence, another reading)"]
    assert list(table["reading tested"]) == ["a on every metric [primary reading]", "a on the average [other reading]",
                                             "b on every metric [primary reading]", "b on the average [other reading]"]
