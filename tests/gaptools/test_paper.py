"""The paper's constants: they equal its printed tables, and its §5 averages are checked against them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gaptools import paper

PAPER = Path(__file__).resolve().parents[2].parent / "shared" / "paper" / "unsupervised-clipcap.md"


@pytest.fixture
def paper_text() -> str:
    """The paper's text beside the project; skips where absent."""
    if not PAPER.is_file():
        pytest.skip("../shared/paper is absent (the paper's text is read only beside it)")
    return PAPER.read_text(encoding="utf-8")


def _printed_tables(text: str) -> list[list[tuple[str, list[float | None]]]]:
    """Each results table of the extracted text: (method cell, scores) per row, as printed
    (tab-separated; '22,2' is 22.2; '_' and '-' are dashes)."""
    tables, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Method\tBLEU@1"):
            rows = []
            for row in lines[i + 1:]:
                if not row.strip():
                    break
                name, *cells = row.split("\t")
                rows.append((name, [None if c.strip() in ("_", "-") else float(c.replace(",", ".")) for c in cells]))
            tables.append(rows)
    return tables


def test_the_constants_equal_the_printed_tables(paper_text):
    printed = _printed_tables(paper_text)
    assert len(printed) == 2
    for table, rows in zip(paper.TABLES, printed):
        assert len(rows) == len(table.rows), table.key
        for row, (name, scores) in zip(table.rows, rows):
            assert list(row.scores) == scores, (table.key, row.method)
            assert row.reported == name.endswith("*"), (table.key, name)
            assert row.method.lstrip("− ") in name, (table.key, name)  # "<li>matched captions</li>" for the ablation
            if row.cite:
                assert row.cite in name


def test_every_alignment_average_is_printed_in_its_sentence(paper_text):
    flat = re.sub(r"\s+", " ", paper_text).replace("\\*", "*")  # the extraction escapes "*"
    for average in paper.ALIGNMENT_AVERAGES:
        assert average.quote in flat, average.key
        assert f"{average.value:.1f}" in average.quote
    for table in paper.TABLES:
        assert table.caption in flat


def test_known_rows_hold_known_figures():
    assert paper.METRICS[-1] == "SPICE" and paper.OFFLINE_METRICS == paper.METRICS[:-1]
    row = paper.TABLE_1.row(paper.UCLIPCAP)
    assert row.as_dict()["CIDEr"] == 74.6 and row.score("METEOR") == 22.2  # printed '22,2'
    assert paper.TABLE_1.row(paper.ESPER).score("Bleu_1") is None and paper.TABLE_1.row(paper.ESPER).reported
    assert not paper.TABLE_2.row(paper.MAGIC).reported  # no '*' in Table 2
    assert paper.TABLE_1.row(paper.MAGIC).label == "MAGIC (Su et al. 2022)*"
    assert [r.method for r in paper.TABLE_2.rows] == [paper.MAGIC, paper.UCLIPCAP, paper.CLIPCAP]
    with pytest.raises(KeyError, match="ESPER"):
        paper.TABLE_2.row(paper.ESPER)


def test_row_means_by_hand():
    # 65.5 + 46.7 + 32.1 + 22.1 + 22.2 + 48.0 + 74.6 + 14.9 = 326.1; without SPICE 311.2
    assert paper.TABLE_1.row(paper.UCLIPCAP).mean() == pytest.approx(326.1 / 8)  # 40.7625
    assert paper.TABLE_1.row(paper.UCLIPCAP).mean(paper.OFFLINE_METRICS) == pytest.approx(311.2 / 7)  # 44.457
    # 74.0 + 57.2 + 42.7 + 31.5 + 26.8 + 54.7 + 106.6 + 19.9 = 413.4; without SPICE 393.5
    assert paper.TABLE_1.row(paper.CLIPCAP).mean() == pytest.approx(413.4 / 8)  # 51.675
    assert paper.TABLE_1.row(paper.CLIPCAP).mean(paper.OFFLINE_METRICS) == pytest.approx(393.5 / 7)  # 56.214
    assert paper.TABLE_1.row(paper.MAGIC).mean() is None  # dashes: no mean
    assert paper.TABLE_1.row(paper.MAGIC).mean(("Bleu_1", "Bleu_4")) == pytest.approx((56.8 + 12.9) / 2)


def test_40_8_is_the_table_mean_and_52_4_is_not():
    check = {c["method"]: c for c in paper.average_check()}
    assert check[paper.UCLIPCAP]["printed"] == 40.8 and check[paper.UCLIPCAP]["matches"]
    assert check[paper.CLIPCAP]["printed"] == 52.4 and not check[paper.CLIPCAP]["matches"]
    assert check[paper.CLIPCAP]["mean_8"] == pytest.approx(51.675)
    assert [a.value for a in paper.ALIGNMENT_AVERAGES] == [40.8, 42.1, 15.8, 0.0, 52.4]


def test_the_comparable_table_follows_the_dataset():
    assert paper.table_for("coco") is paper.TABLE_1 and paper.table_for("flickr30k") is paper.TABLE_2
    assert paper.table_for("shapes-world") is None and paper.table_for(None) is None
