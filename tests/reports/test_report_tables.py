"""What the report's tables and labels say: one CSV per table, best only where intervals decide, honest labels."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import gaptools
from gaptools.cli.main import app
from gaptools.reports import figures, tables
from gaptools.reports.build import build_report
from gaptools.reports.inputs import load_inputs
from gaptools.reports.reproduction import QUICK_NOTICE, sections

runner = CliRunner()


def _compare(train: str, test: str, gap: dict, ci: dict | None) -> dict:
    """A compare document with the centroid gap of each method (and its interval, when ``ci``)."""
    def entry(name):
        out = {"centroid_gap": gap[name], "matched_cosine": 0.5, "fit_seconds": 0.01}
        if ci is not None:
            out["ci95"] = {"centroid_gap": ci[name]}
        return out
    return {"kind": "gaptools.align.compare", "version": 1, "train": train, "test": test, "direction": "image-to-text",
            "settings": {"bootstrap": 0 if ci is None else 200, "seed": 0},
            "baseline": entry("baseline"), "methods": {name: entry(name) for name in gap if name != "baseline"}}


def test_two_alignment_comparisons_give_two_csv_files(tmp_path):
    first = tmp_path / "a.json"
    second = tmp_path / "b.json"
    first.write_text(json.dumps(_compare("fitA.npz", "testA.npz", {"baseline": 0.9, "mean": 0.1}, None)))
    second.write_text(json.dumps(_compare("fitB.npz", "testB.npz", {"baseline": 0.8, "coral": 0.3}, None)))
    result = runner.invoke(app, ["report", str(first), str(second), "-o", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "report" / "tables").glob("alignment-comparison--*.csv"))
    assert [f.name for f in files] == ["alignment-comparison--gap-after-each-correction-2.csv",
                                       "alignment-comparison--gap-after-each-correction.csv"]
    first_table, second_table = (pd.read_csv(f, index_col=0) for f in reversed(files))
    assert list(first_table.index) == ["baseline (no correction)", "mean"]
    assert list(second_table.index) == ["baseline (no correction)", "coral"]
    assert first_table.loc["mean", "centroid gap"] == 0.1 and second_table.loc["coral", "centroid gap"] == 0.3


def test_best_is_marked_only_where_the_intervals_separate():
    gap = {"baseline": 0.9, "mean": 0.10, "coral": 0.12, "ot": 0.5}
    assert tables.alignment_best(_compare("f", "t", gap, None)) == {}  # no intervals, no best
    overlapping = {"baseline": [0.85, 0.95], "mean": [0.08, 0.13], "coral": [0.11, 0.14], "ot": [0.4, 0.6]}
    assert tables.alignment_best(_compare("f", "t", gap, overlapping)) == {}  # mean's interval touches coral's
    clear = {**overlapping, "coral": [0.135, 0.15]}
    assert tables.alignment_best(_compare("f", "t", gap, clear)) == {"centroid gap": "mean"}
    higher = {"baseline": 0.2, "mean": 0.7, "coral": 0.6, "ot": 0.1}  # a cosine: larger is closer
    doc = _compare("f", "t", gap, clear)
    for name, value in higher.items():
        row = doc["baseline"] if name == "baseline" else doc["methods"][name]
        row["matched_cosine"] = value
        row["ci95"]["matched_cosine"] = [value - 0.01, value + 0.01]
    assert tables.alignment_best(doc) == {"centroid gap": "mean", "matched cosine": "mean"}


def test_an_in_sample_comparison_is_flagged_on_the_page(tmp_path):
    fit, test = gaptools.planted_gap(120, 8, captions_per_image=2).split(test=0.5, seed=0)
    with pytest.warns(UserWarning, match="in sample"):
        doc = gaptools.compare_aligners(fit, fit, methods=["mean"], bootstrap=20, max_points=40, max_gallery=40)
    path = tmp_path / "in_sample.json"
    path.write_text(json.dumps(doc.to_dict()))
    page = build_report(load_inputs([path]), tmp_path / "report").read_text()
    assert 'class="notice"' in page and "share 60 image(s)" in page and "in sample" in page


def test_without_an_aligner_the_one_panel_says_what_it_is(monkeypatch):
    titles = []
    monkeypatch.setattr(figures.plt.Axes, "set_title", lambda ax, title, *a, **k: titles.append(title))
    eset = gaptools.planted_gap(60, 8)
    figures.projection_scatter(eset.image, eset.text)
    figures.conformity_histograms(eset.image, eset.text, eset.text_image)
    assert titles == [figures.NO_ALIGNER, figures.NO_ALIGNER] and "no aligner" in figures.NO_ALIGNER
    titles.clear()
    figures.projection_scatter(eset.image, eset.text, (eset.image, eset.text), after_label="after mean")
    assert titles == ["before", "after mean"]


def test_a_quick_run_opens_with_its_notice_and_a_full_run_does_not():
    doc = {"seeds": [0], "bootstrap": {"resamples": 100}, "splits": {"test": {"images": 30, "captions": 150}},
           "claims": [], "rows": [], "paper": {}, "quick": True}
    quick = sections(doc)
    assert quick[0].notice == QUICK_NOTICE and "decide nothing" in QUICK_NOTICE and "30 test images" in quick[0].note
    assert not any(s.notice for s in quick[1:])
    assert not any(s.notice for s in sections({**doc, "quick": False}))
    assert not any(s.notice for s in sections({k: v for k, v in doc.items() if k != "quick"}))  # before it was recorded
