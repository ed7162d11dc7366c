"""`gaptools reproduce`: the cached step runner, and the whole plan at toy size."""

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from gaptools.errors import InputError
from reproduce.steps import STEPS_FILE, StepRunner

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
    with pytest.raises(InputError, match="something other"):
        StepRunner(tmp_path / "y", {"a": 1}, resume=False)


def test_a_failed_step_is_not_recorded(tmp_path):
    steps = StepRunner(tmp_path / "x", {}, resume=False)
    with pytest.raises(RuntimeError):
        steps.run("boom", lambda: (_ for _ in ()).throw(RuntimeError("x")))
    assert "boom" not in json.loads((tmp_path / "x" / STEPS_FILE).read_text())["steps"]


@pytest.mark.slow
def test_quick_shapes_reproduction_end_to_end_and_resume(tmp_path):
    out = tmp_path / "shapes"
    result = runner.invoke(app, ["reproduce", "shapes", "--quick", "-o", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    steps = json.loads((out / STEPS_FILE).read_text())["steps"]
    for step in ("world", "decoder", "embed", "measure", "align", "train uclipcap", "train clipcap",
                 "eval uclipcap-aligned", "eval uclipcap-mixup", "eval clipcap-image"):
        assert step in steps
    page = (out / "report" / "index.html").read_text()
    for heading in ("Gap overview", "Alignment comparison", "Captioning", "Mixup", "Samples"):
        assert f"<h2>{heading}" in page
    metrics = json.loads((out / "evals" / "uclipcap-image" / "metrics.json").read_text())
    assert {"Bleu_4", "CIDEr", "METEOR"} <= set(metrics["configurations"][0]["metrics"])
    weights = (out / "runs" / "uclipcap" / "final" / "model.pt").stat().st_mtime_ns

    again = runner.invoke(app, ["reproduce", "shapes", "--quick", "-o", str(out), "--device", "cpu", "--resume"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / STEPS_FILE).read_text())["steps"] == steps
    assert (out / "runs" / "uclipcap" / "final" / "model.pt").stat().st_mtime_ns == weights

    refused = runner.invoke(app, ["reproduce", "shapes", "--quick", "-o", str(out)])
    assert refused.exit_code == 2 and "--resume" in refused.output


def test_coco_with_missing_inputs_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "coco"
    result = runner.invoke(app, ["reproduce", "coco", "--annotations", str(tmp_path / "nope.json"),
                                 "--images", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 2 and "no such annotations file" in result.output
    assert not out.exists()


@pytest.mark.slow
def test_quick_coco_path_on_the_world_as_a_coco_format_set(tmp_path):
    from caption.model import init_decoder
    from caption.tokenizer import train_tokenizer
    from gaptools.demo import SHAPES_DIR
    from gaptools.world import WorldParams, generate_world, load_captions

    world = tmp_path / "world"
    generate_world(world, WorldParams(n_images=60, seed=3))
    texts = [s["raw"] for item in load_captions(world) for s in item["sentences"]]
    init_decoder(tmp_path / "decoder", train_tokenizer(texts, tmp_path / "decoder", vocab_size=300),
                 n_layer=1, n_embd=32, n_head=2, n_positions=80)
    out = tmp_path / "coco"
    result = runner.invoke(app, [
        "reproduce", "coco", "--quick", "--annotations", str(world / "captions.json"), "--images", str(world / "images"),
        "--model-config", str(SHAPES_DIR / "model.json"), "--pretrained", str(SHAPES_DIR / "checkpoint.pt"),
        "--decoder", str(tmp_path / "decoder"), "-o", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (out / "report" / "index.html").exists()
    doc = json.loads((out / "evals" / "clipcap-mixup" / "metrics.json").read_text())
    assert [c["mixup"] for c in doc["configurations"]] == [0.0, 1.0]
