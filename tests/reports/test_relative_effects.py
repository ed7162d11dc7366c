"""The relative-effects table: the paper's ratios from its tables, ours from the rows' seed-means."""

import pytest

from gaptools.reports.reproduction import relative_effects


def _row(key, cider, average):
    return {"key": key, "metrics": {"CIDEr": {"mean": cider}, "caption_average": {"mean": average}}}


def test_ratios_of_the_paper_and_of_planted_rows():
    doc = {"average_key": "caption_average", "paper": {"dataset": "shapes-world"},
           "rows": [_row("uclipcap/image", 60.0, 40.0), _row("clipcap/image", 80.0, 50.0),
                    _row("same-caption/image", 30.0, 20.0), _row("uclipcap/aligner-mean", 66.0, 44.0)]}
    table = relative_effects(doc)
    first = table.loc["Unsupervised-ClipCap ÷ ClipCap, images"]
    assert first["paper, MS-COCO"] == f"{74.6 / 106.6:.2f}" == "0.70"
    assert first["paper, Flickr30k"] == f"{36.5 / 57.9:.2f}" == "0.63"
    assert first["ours (shapes-world)"] == "0.75"
    ablation = table.loc["same caption ÷ matched captions (Unsupervised-ClipCap), images"]
    assert ablation["paper, MS-COCO"] == f"{33.7 / 74.6:.2f}" and ablation["paper, Flickr30k"] == "—"
    assert ablation["ours (shapes-world)"] == "0.50"
    mean = table.loc["mean-aligned ÷ raw images (Unsupervised-ClipCap)"]
    assert mean["paper, MS-COCO"] == f"{42.1 / 40.8:.2f}" and mean["ours (shapes-world)"] == "1.10"
    assert table.loc["rotated ÷ raw images (the paper's rotation)", "paper, MS-COCO"] == f"{15.8 / 40.8:.2f}"
    assert table.loc["rotated ÷ raw images (the paper's rotation)", "ours (shapes-world)"] == "—"  # row not run
    assert float(table.loc["optimal transport ÷ raw images (the paper's OT, T*·X_txt)", "paper, MS-COCO"]) == pytest.approx(0)
