"""Reports from real measure results and hand-made compare/eval documents."""

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from gaptools.cli.main import app
from gaptools.io import save_set
from gaptools.measure import RESULT_KIND, measure
from gaptools.reports import tables
from gaptools.reports.build import build_report
from gaptools.reports.inputs import load_inputs
from gaptools.synthetic import planted_gap

runner = CliRunner()
XSS_CAPTION = '<script>document.title="PWNED"</script>"><img src=x onerror="document.body.dataset.pwned=1">'


def _eval_folder(root, name, cider_by_lambda, images_dir=None):
    folder = root / name
    folder.mkdir()
    configurations = [{"input": "image", "aligner": None, "mixup": None, "beam": 1,
                       "metrics": {"Bleu_1": 50.0, "Bleu_4": 10.0 + len(name), "METEOR": 15.0, "ROUGE_L": 40.0,
                                   "CIDEr": 30.0 + len(name)},
                       "predictions": "predictions.json"},
                      {"input": "image", "aligner": "out/mean.aligner", "mixup": None, "beam": 1,
                       "metrics": {"Bleu_1": 52.0, "Bleu_4": 11.0, "METEOR": 16.0, "ROUGE_L": 41.0, "CIDEr": 35.0}}]
    configurations += [{"input": "image", "aligner": None, "mixup": lam, "beam": 1,
                        "metrics": {"Bleu_1": 1.0, "Bleu_4": 1.0, "METEOR": 1.0, "ROUGE_L": 1.0, "CIDEr": c}}
                       for lam, c in cider_by_lambda.items()]
    (folder / "metrics.json").write_text(json.dumps({"kind": "caption.eval", "version": 1, "run": f"runs/{name}",
                                                     "set": "test.npz", "configurations": configurations}))
    (folder / "predictions.json").write_text(json.dumps([{"image_id": "a.png", "caption": XSS_CAPTION},
                                                         {"image_id": "b.png", "caption": "a red square"}]))
    return folder


@pytest.fixture
def inputs(tmp_path):
    s = planted_gap(300, 16, shift=0.7, captions_per_image=2)
    s = s.replace(image_id=np.array(["a.png", "b.png"] + [f"i{i}.png" for i in range(298)]),
                  caption=np.array([XSS_CAPTION] * 600))
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    for name, colour in (("a.png", (255, 0, 0)), ("b.png", (0, 0, 255))):
        Image.new("RGB", (32, 32), colour).save(img_dir / name)
    set_path = save_set(s.replace(meta={**s.meta, "images": str(img_dir)}), tmp_path / "test.npz")
    gap = tmp_path / "gap.json"
    gap.write_text(json.dumps({"kind": RESULT_KIND, "version": 1, "sets": [measure(s, bootstrap=20)]}))
    compare = tmp_path / "compare.json"
    compare.write_text(json.dumps({
        "kind": "gaptools.align.compare", "version": 1, "train": "train.npz", "test": "test.npz",
        "direction": "image-to-text",
        "baseline": {"centroid_gap": 0.6, "matched_cosine": 0.7},
        "methods": {"mean": {"centroid_gap": 0.05, "matched_cosine": 0.8, "fit_seconds": 0.01},
                    "coral": {"centroid_gap": 0.2, "matched_cosine": 0.75, "fit_seconds": 0.02}}}))
    evals = [_eval_folder(tmp_path, "uclipcap", {0.0: 20.0, 0.5: 40.0, 1.0: 60.0}),
             _eval_folder(tmp_path, "clipcap", {0.0: 70.0, 1.0: 30.0})]
    return tmp_path, [gap, compare, *evals], set_path


def test_report_has_every_section_and_escapes_inputs(inputs):
    root, paths, set_path = inputs
    page = build_report(load_inputs(paths), root / "report", sets=[set_path], images=root / "images")
    text = page.read_text()
    for heading in ("Gap overview", "Geometry", "Alignment comparison", "Captioning", "Mixup", "Samples"):
        assert f"<h2>{heading}" in text
    assert "<script" not in text and "onerror=\"" not in text
    assert "&lt;script&gt;" in text
    assert "http://" not in text and "https://" not in text
    out = root / "report"
    assert (out / "report.md").exists() and list((out / "tables").glob("*.csv")) and list((out / "figures").glob("*.png"))
    md = (out / "report.md").read_text()
    assert "**" in md and "&lt;script&gt;" in md


def test_every_inlined_figure_decodes(inputs):
    root, paths, set_path = inputs
    page = build_report(load_inputs(paths), root / "report", sets=[set_path], images=root / "images").read_text()
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) >= 6
    for data in uris:
        import io
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            im.load()
            assert im.size[0] > 10


def test_best_values_are_marked_where_the_intervals_decide():
    evals = [{"_file": "x", "run": "r", "configurations": [
        {"input": "image", "metrics": {"CIDEr": 10.0, "Bleu_4": 5.0}, "ci95": {"CIDEr": [8.0, 12.0], "Bleu_4": [4.0, 6.0]}},
        {"input": "text", "metrics": {"CIDEr": 20.0, "Bleu_4": 3.0}, "ci95": {"CIDEr": [18.0, 22.0], "Bleu_4": [2.0, 4.5]}}]}]
    cap = tables.captioning_table(evals)
    best = tables.best_per_column(cap, tables.captioning_intervals(evals))
    assert best["CIDEr"].endswith("input=text") and "BLEU-4" not in best  # 5.0 [4, 6] vs 3.0 [2, 4.5]: overlap
    assert tables.best_per_column(cap, {}) == {}  # no intervals, no best


def test_mixup_table_is_lambda_by_run(inputs):
    root, paths, _ = inputs
    mix = tables.mixup_table(load_inputs(paths).evals)
    assert list(mix.columns) == ["uclipcap", "clipcap"]
    assert mix.loc[0.5, "uclipcap"] == 40.0 and np.isnan(mix.loc[0.5, "clipcap"])


def test_bad_inputs_are_refused_and_nothing_is_written(tmp_path, inputs):
    root, paths, _ = inputs
    unknown = tmp_path / "u.json"
    unknown.write_text(json.dumps({"kind": "something.else", "version": 1}))
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"kind": "gaptools.measure", "version": 99, "sets": []}))
    other = tmp_path / "holds_other"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    for args, message in (([str(unknown)], "unknown kind"), ([str(old)], "version 99"),
                          ([str(paths[0]), "-o", str(other)], "not a report folder written by gaptools")):
        if "-o" not in args:
            args = args + ["-o", str(tmp_path / "new_report")]
        result = runner.invoke(app, ["report", *args])
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "new_report").exists()
    assert (other / "thesis.tex").read_text() == "precious"


def test_rebuilding_replaces_an_earlier_report(inputs):
    root, paths, _ = inputs
    result = runner.invoke(app, ["report", str(paths[0]), "-o", str(root / "r")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", str(paths[1]), "-o", str(root / "r")])
    assert result.exit_code == 0, result.output
    assert "Alignment comparison" in (root / "r" / "index.html").read_text()
    assert [p.name for p in root.iterdir() if p.name.startswith(".r")] == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_page_renders_in_headless_chromium_without_running_input_scripts(inputs):
    root, paths, set_path = inputs
    page = build_report(load_inputs(paths), root / "report", sets=[set_path])
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={root / 'chrome-profile'}"]
    dom = subprocess.run(["chromium", *flags, "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "<h2>Captioning" in dom
    assert "PWNED" not in dom.split("<body")[0] and "data-pwned" not in dom
    shot = root / "shot.png"
    subprocess.run(["chromium", *flags, "--window-size=1000,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"))
    assert pixels.std() > 5  # something was drawn, not a blank page
