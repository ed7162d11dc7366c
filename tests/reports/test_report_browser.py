"""The report page laid out by Chromium at a 1280 px window: every table whole on screen, no number split.

A copy of the page gets a script (the page itself forbids scripts) that writes, into the DOM,
each table's scrollWidth and clientWidth, its right edge, and every interval or ``mean ± sd``
that the layout broke over two lines; ``chromium --dump-dom`` returns it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import gaptools
from gaptools import paper
from gaptools.measure import measure, measure_document
from gaptools.reports.build import build_report
from gaptools.reports.inputs import load_inputs
from gaptools.reproduce.claims import judge_claim, paper_claims
from gaptools.reproduce.results import PAPER_AVERAGES, PAPER_ROWS, RESULT_KIND, RESULT_VERSION, row_label

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")

WINDOW = 1280
METRICS = (*paper.OFFLINE_METRICS, "caption_average", "world_exact_scene", "world_object_f1")
#: row key -> planted seed-mean (×100): every captioner and input a full plan has, so every table is full width
ROWS = {"uclipcap/image": 40.0, "uclipcap/text": 55.0, "same-caption/image": 30.0, "capdec-noise/image": 31.0,
        "matched-noise/image": 41.0, "clipcap/image": 50.0, "clipcap/text": 38.0,
        **{f"uclipcap/aligner-{m}": 35.0 + i for i, m in enumerate(("mean", "ot-paper", "pca-rotation-paper",
                                                                  "memory-projection", "ot-plan-images"))},
        **{f"uclipcap/mixup-{lam:g}": 40.0 + 10 * lam for lam in (0.0, 0.25, 0.5, 0.75, 1.0)},
        **{f"clipcap/mixup-{lam:g}": 50.0 - 10 * lam for lam in (0.0, 0.25, 0.5, 0.75, 1.0)}}

#: Runs in the copy of the page: measures the layout and writes it into <body data-layout="...">.
PROBE = """<script>
const viewport = document.documentElement.clientWidth;
const tables = [...document.querySelectorAll("table")].map(t => ({
  caption: (t.previousElementSibling || {}).textContent || "", scroll: t.scrollWidth, client: t.clientWidth,
  right: t.getBoundingClientRect().right}));
const broken = [];
for (const td of document.querySelectorAll("td")) {
  const node = td.firstChild;
  if (!node || node.nodeType !== Node.TEXT_NODE) continue;
  for (const m of node.data.matchAll(/\\[[^\\]]*\\]|\\S+\\s±\\s\\S+|[-−+]?\\d[\\d.,]*/g)) {
    const range = document.createRange();
    range.setStart(node, m.index);
    range.setEnd(node, m.index + m[0].length);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    if (tops.size > 1) broken.push(m[0]);
  }
}
document.body.setAttribute("data-layout", JSON.stringify({
  viewport, page: document.documentElement.scrollWidth, tables, broken}));
</script>"""


def _row(key: str, score: float) -> dict:
    captioner, configuration = key.split("/")
    entry = {"mean": score, "sd": 0.45, "per_seed": [score - 0.3, score + 0.3], "ci95": [score - 1.27, score + 1.31]}
    return {"key": key, "captioner": captioner, "configuration": configuration, "label": row_label(captioner, configuration),
            "input": "text" if configuration == "text" else "image",
            "aligner": configuration[8:] if configuration.startswith("aligner-") else None,
            "mixup": float(configuration[6:]) if configuration.startswith("mixup-") else None,
            "references": "leave-one-out", "n_images": 500, "metrics": {m: dict(entry) for m in METRICS}}


def _results_doc() -> dict:
    """A reproduction's results: every row of a full plan, the claims judged on planted draws."""
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 5, 200)
    draws = {k: {m: v + shared + rng.normal(0, 0.5, 200) for m in METRICS} for k, v in ROWS.items()}
    points = {k: {m: v for m in METRICS} for k, v in ROWS.items()}
    aligners = tuple(k.split("aligner-")[1] for k in ROWS if "aligner-" in k)
    claims = [judge_claim(c, draws, points) for c in paper_claims(aligners=aligners, mixup=(0.0, 0.25, 0.5, 0.75, 1.0))
              if all(row in draws for cmp in c.comparisons for row in (cmp.a, cmp.b))]
    gains = [{"aligner": a, "label": row_label("uclipcap", f"aligner-{a}"), "gain": -2.5 + i, "ci95": [-4.0 + i, -1.0 + i],
              "separates": i != 2} for i, a in enumerate(aligners)]
    return {"kind": RESULT_KIND, "version": RESULT_VERSION, "seeds": [0, 1, 2], "quick": True,
            "bootstrap": {"resamples": 1000, "seed": 0, "unit": "test image"},
            "average_label": "mean of 7 (no SPICE)", "average_key": "caption_average",
            "splits": {"test": {"images": 500, "captions": 2500, "split": "test", "dataset": "shapes-world"}},
            "paper": {"dataset": "shapes-world", "rows": PAPER_ROWS,
                      "averages": {k: [r for r in v if r in ROWS] for k, v in PAPER_AVERAGES.items()}},
            "rows": [_row(k, v) for k, v in ROWS.items()], "claims": claims,
            "corrections": {"uclipcap": {"label": "Unsupervised-ClipCap", "gains": gains, "rank_correlation_with_cider": {
                "centroid_gap": {"rho": -0.43, "p": 0.21, "n": 5}}}}}


def _eval_folder(root, name: str, methods: list[str]) -> str:
    folder = root / name
    folder.mkdir()
    metrics = {m: 12.345 for m in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE",
                                   "world_exact_scene", "world_object_f1")}
    configurations = [{"input": "image", "aligner": None, "mixup": None, "beam": 1, "metrics": metrics}]
    configurations += [{"input": "image", "aligner": f"aligners/{m}.aligner", "mixup": None, "beam": 3, "metrics": metrics}
                       for m in methods]
    configurations += [{"input": "image", "aligner": None, "mixup": lam, "beam": 1, "metrics": metrics}
                       for lam in (0.0, 0.25, 0.5, 0.75, 1.0)]
    (folder / "metrics.json").write_text(json.dumps({"kind": "caption.eval", "version": 1,
                                                     "run": f"runs/a-long-run-name-{name}-seed-0",
                                                     "set": "test.npz", "configurations": configurations}))
    return folder


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A report with every kind of table: a reproduction, two measured sets, an alignment comparison, evals."""
    root = tmp_path_factory.mktemp("browser")
    (root / "results.json").write_text(json.dumps(_results_doc()))
    sets = [gaptools.planted_gap(200, 16, shift=s, captions_per_image=2, seed=i) for i, s in enumerate((0.5, 0.8))]
    sets = [s.replace(meta={"model": "ViT-B-16", "pretrained": "laion2b_s34b_b88k", "dataset": "coco", "split": split})
            for s, split in zip(sets, ("val", "test"))]
    (root / "gap.json").write_text(json.dumps(measure_document([measure(s, bootstrap=50) for s in sets])))
    fit, test = sets[0].split(test=0.5, seed=0)
    methods = ["mean", "center", "moment", "procrustes", "coral", "ot-paper"]
    result = gaptools.compare_aligners(fit, test, methods=methods, bootstrap=50, max_points=100, max_gallery=100)
    (root / "compare.json").write_text(json.dumps(result.to_dict()))
    evals = [_eval_folder(root, name, methods) for name in ("uclipcap", "clipcap")]
    return build_report(load_inputs([root / "results.json", root / "gap.json", root / "compare.json", *evals]),
                        root / "report")


def layout(page_path) -> dict:
    """The page laid out by headless Chromium at a 1280 px wide window (see :data:`PROBE`)."""
    text = page_path.read_text(encoding="utf-8")
    probe = page_path.with_name("probe.html")
    probe.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text).replace(
        "</body>", PROBE + "</body>"), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={page_path.parent.parent / 'chrome-profile'}", f"--window-size={WINDOW},900"]
    dom = subprocess.run(["chromium", *flags, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, f"the probe did not run: {dom[:300]!r}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.slow
def test_every_table_fits_a_1280px_window_and_no_number_is_split(page):
    seen = layout(page)
    assert len(seen["tables"]) >= 12  # claims, comparisons, paper tables, averages, seeds, alignment, Table 1, ...
    cut = [t["caption"] for t in seen["tables"] if t["scroll"] > t["client"] + 1 or t["right"] > seen["viewport"] + 1]
    assert cut == [], f"tables that scroll sideways at {WINDOW} px: {cut}"
    assert seen["page"] <= seen["viewport"] + 1
    assert seen["broken"] == []  # wrapped between numbers, never inside one or inside an interval


def test_a_quick_run_says_so_above_the_claims(page):
    text = page.read_text(encoding="utf-8")
    assert text.index("decide nothing") < text.index("The paper&#x27;s claims")
