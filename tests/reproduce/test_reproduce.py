"""`gaptools reproduce`: the cached step runner, and the whole plan at toy size."""

import json

import pytest
from typer.testing import CliRunner

from gaptools.cli.main import app
from gaptools.errors import InputError
from gaptools.io import load_set
from gaptools.reproduce.steps import STEPS_FILE, StepRunner

runner = CliRunner()


def test_steps_run_once_and_resume_skips_them(tmp_path):
    calls = []
    first = StepRunner(tmp_path / "x", {"a": 1}, resume=False)
    assert first.run("one", lambda: calls.append(1)) is True
    again = StepRunner(tmp_path / "x", {"a": 1}, resume=True)
    assert again.run("one", lambda: calls.append(2)) is False
    assert again.run("two", lambda: calls.append(3)) is True
    assert calls == [1, 3] and list(again.timings()) == ["one", "two"]


def test_steps_refuse_other_settings_or_foreign_folders(tmp_path):
    StepRunner(tmp_path / "x", {"a": 1}, resume=False)
    with pytest.raises(InputError, match="add --resume"):
        StepRunner(tmp_path / "x", {"a": 1}, resume=False)
    with pytest.raises(InputError, match=r"other settings \(a\)"):
        StepRunner(tmp_path / "x", {"a": 2}, resume=True)
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an experiment folder written by gaptools"):
        StepRunner(tmp_path / "y", {"a": 1}, resume=False)


def test_a_folder_from_before_a_setting_existed_resumes_at_its_default(tmp_path):
    StepRunner(tmp_path / "x", {"a": 1}, resume=False)  # written before "quick" existed
    StepRunner(tmp_path / "x", {"a": 1, "quick": False}, resume=True, added={"quick": False})
    with pytest.raises(InputError, match=r"other settings \(quick\)"):
        StepRunner(tmp_path / "x", {"a": 1, "quick": True}, resume=True, added={"quick": False})
    with pytest.raises(InputError, match=r"other settings \(quick\)"):
        StepRunner(tmp_path / "x", {"a": 1, "quick": False}, resume=True)  # without added: refused, as before


def test_a_failed_step_is_not_recorded(tmp_path):
    steps = StepRunner(tmp_path / "x", {}, resume=False)
    with pytest.raises(RuntimeError):
        steps.run("boom", lambda: (_ for _ in ()).throw(RuntimeError("x")))
    assert "boom" not in json.loads((tmp_path / "x" / STEPS_FILE).read_text())["steps"]


@pytest.mark.slow
def test_quick_shapes_reproduction_end_to_end_and_resume(tmp_path):
    out = tmp_path / "shapes"
    quick = ["reproduce", "shapes", "--quick", "-o", str(out), "--device", "cpu", "--seeds", "2", "--bootstrap", "50"]
    result = runner.invoke(app, quick)
    assert result.exit_code == 0, result.output
    steps = json.loads((out / STEPS_FILE).read_text())["steps"]
    for step in ("world", "decoder", "embed", "measure", "align", "train uclipcap s0", "train clipcap s1",
                 "train matched-noise s1", "eval uclipcap-aligned s0", "eval uclipcap-mixup s1",
                 "eval clipcap-image s0", "combine seeds"):
        assert step in steps
    page = (out / "report" / "index.html").read_text()
    for heading in ("Gap overview", "Gap dimensions removed", "Alignment comparison", "Captioning", "Mixup",
                    "Samples", "Results over seeds", "The paper&#x27;s tables beside ours",
                    "The paper&#x27;s claims", "Corrections for Unsupervised-ClipCap", "Mixup over seeds"):
        assert f"<h2>{heading}" in page
    md = (out / "report" / "report.md").read_text()
    assert md.index("## The paper's claims") < md.index("## The paper's tables beside ours") < md.index("## Gap overview")
    for printed in ("| Unsupervised-ClipCap | paper (MS-COCO) | 65.5 | 46.7 |", "ESPER (Yu et al. 2022)\\*",
                    "Unsupervised-ClipCap, images + mean alignment", "monotonically decreases", "context, not targets"):
        assert printed in md, printed
    metrics = json.loads((out / "evals" / "s0" / "uclipcap-image" / "metrics.json").read_text())
    assert {"Bleu_4", "CIDEr", "METEOR"} <= set(metrics["configurations"][0]["metrics"])
    doc = json.loads((out / "results" / "captioning.json").read_text())
    assert doc["seeds"] == [0, 1] and doc["splits"]["test"]["images"] == load_set(out / "sets" / "test.npz").n_image
    rows = {row["key"]: row for row in doc["rows"]}
    for key, row in rows.items():  # images: all references; a test caption in the input (or compared with it): loo
        loo = row["input"] != "image" or row["mixup"] is not None or key.endswith("@loo")
        assert row["references"] == ("leave-one-out" if loo else "all"), key
    assert rows["uclipcap/mixup-0"]["input"] == "image" and rows["uclipcap/mixup-1"]["input"] == "text"
    assert {"uclipcap/aligner-mean@loo", "uclipcap/mixup-0.5-renormalised", "clipcap/mixup-1-renormalised"} <= set(rows)
    grid = {cell["key"]: cell for cell in doc["ot_grid"]}
    assert len(grid) == 2 * (2 * 4 + 1)  # two methods x (val, test) x (renorm, raw), the control; fed both ways
    paper_cell = grid["uclipcap/aligner-ot-paper.test.raw@unnormalised"]
    assert paper_cell["paper_cell"] and not paper_cell["captioner_normalises"] and paper_cell["samples"]
    assert grid["uclipcap/aligner-ot-paper.test.renorm"]["leaks_test_captions"]
    cider = rows["uclipcap/image"]["metrics"]["CIDEr"]
    assert cider["ci95"] and cider["ci95_images"]
    cider = rows["clipcap/image"]["metrics"]["CIDEr"]
    assert len(cider["per_seed"]) == 2 and cider["ci95"][0] <= cider["mean"] <= cider["ci95"][1]
    assert {"uclipcap/aligner-mean", "uclipcap/aligner-memory-projection", "uclipcap/aligner-pca-rotation-paper",
            "uclipcap/aligner-ot-paper", "uclipcap/aligner-ot-plan-images"} <= set(rows)
    assert rows["uclipcap/aligner-mean"]["label"] == "Unsupervised-ClipCap, images + mean alignment"
    assert {c["verdict"] for c in doc["claims"]} <= {"holds", "mixed", "does not hold", "inconclusive"}
    assert {"table-clipcap-above", "fig3-monotone", "fig3-clipcap-half", "fig3-cross-gap-equal", "mean-alignment-helps",
            "mean-alignment-not-close", "rotation-hurts-pca-rotation-paper", "ot-collapses-ot-paper",
            "ot-collapses-ot-plan-images", "mean-best", "ot-collapses-in-sample", "intro-mean-not-corrected",
            "overall-mean-slightly", "fig3-monotone-average"} <= {c["key"] for c in doc["claims"]}
    assert "Optimal transport as the paper does it" in md and "leaks the test captions" in md
    assert doc["paper"]["dataset"] == "shapes-world"
    weights = (out / "runs" / "s0" / "uclipcap" / "final" / "model.pt").stat().st_mtime_ns

    again = runner.invoke(app, [*quick, "--resume"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / STEPS_FILE).read_text())["steps"] == steps
    assert (out / "runs" / "s0" / "uclipcap" / "final" / "model.pt").stat().st_mtime_ns == weights

    refused = runner.invoke(app, ["reproduce", "shapes", "--quick", "-o", str(out)])
    assert refused.exit_code == 2 and "--resume" in refused.output


def test_coco_with_missing_inputs_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "coco"
    result = runner.invoke(app, ["reproduce", "coco", "--annotations", str(tmp_path / "nope.json"),
                                 "--images", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 2 and "no such annotations file" in result.output
    assert not out.exists()


def _karpathy_world(tmp_path, dataset: str):
    """A small world with a tiny decoder; for Flickr30k its captions file takes that dataset's Karpathy layout."""
    from gaptools.caption.model import init_decoder
    from gaptools.caption.tokenizer import train_tokenizer
    from gaptools.world import WorldParams, generate_world, load_captions

    world = tmp_path / "world"
    generate_world(world, WorldParams(n_images=60, seed=3))
    texts = [s["raw"] for item in load_captions(world) for s in item["sentences"]]
    init_decoder(tmp_path / "decoder", train_tokenizer(texts, tmp_path / "decoder", vocab_size=300),
                 n_layer=1, n_embd=32, n_head=2, n_positions=80)
    annotations = world / "captions.json"
    if dataset == "flickr30k":  # dataset_flickr30k.json: no filepath, images in one folder
        doc = json.loads(annotations.read_text())
        doc["dataset"] = "flickr30k"
        for image in doc["images"]:
            image.pop("filepath", None)
        annotations = tmp_path / "dataset_flickr30k.json"
        annotations.write_text(json.dumps(doc))
    return annotations, world / "images", tmp_path / "decoder"


@pytest.mark.slow
@pytest.mark.parametrize("dataset, train_split", [("coco", "train+restval"), ("flickr30k", "train")])
def test_quick_real_dataset_paths_on_the_world(tmp_path, dataset, train_split):
    from gaptools.demo import SHAPES_DIR

    annotations, images, decoder = _karpathy_world(tmp_path, dataset)
    out = tmp_path / dataset
    result = runner.invoke(app, [
        "reproduce", dataset, "--quick", "--annotations", str(annotations), "--images", str(images),
        "--model-config", str(SHAPES_DIR / "model.json"), "--pretrained", str(SHAPES_DIR / "checkpoint.pt"),
        "--decoder", str(decoder), "-o", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (out / "report" / "index.html").exists()
    doc = json.loads((out / "evals" / "s0" / "clipcap-mixup" / "metrics.json").read_text())
    assert [c["mixup"] for c in doc["configurations"]] == [0.0, 1.0]
    assert [c["input"] for c in doc["configurations"]] == ["image", "text"]
    assert {c["references"] for c in doc["configurations"]} == {"leave-one-out"}  # one protocol per sweep
    results = json.loads((out / "results" / "captioning.json").read_text())
    rows = {row["key"]: row for row in results["rows"]}
    assert rows["uclipcap/image"]["references"] == "all" and rows["uclipcap/aligner-mean@loo"]["references"] == \
        "leave-one-out"
    assert {c["key"] for c in results["claims"]} >= {"intro-mean-not-corrected", "table-matched-captions-help-average"}
    sizes = json.loads((out / "results" / "captioning.json").read_text())["splits"]
    assert sizes["train"]["split"] == train_split  # COCO's usual training set is train+restval
