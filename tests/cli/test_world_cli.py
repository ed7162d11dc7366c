"""`gaptools world generate | train-clip | score` through the command line."""

import json

import pytest
from typer.testing import CliRunner

from gaptools.cli.main import app

runner = CliRunner()
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
GENERATE = ["world", "generate", "--images", "12", "--seed", "2", "--val", "2", "--test", "2"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("w") / "world"
    result = runner.invoke(app, [*GENERATE, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "12 images (8 train, 2 val, 2 test), 60 captions, seed 2" in result.output
    return out


def test_generating_the_same_world_again_writes_nothing(world):
    before = (world / "captions.json").stat().st_mtime_ns
    result = runner.invoke(app, [*GENERATE, "-o", str(world)])
    assert result.exit_code == 0 and "already holds this world" in result.output
    assert (world / "captions.json").stat().st_mtime_ns == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--images", "0"], "at least 3 images"),
        (["--max-objects", "6"], "at most 5 objects fit"),
        (["--images", "12", "--seed", "3", "--val", "2", "--test", "2"], "holds a different world"),
        (["--palette", "neon"], "--palette 'neon': choose one of basic, wide"),
        (["--lighting", "0.9"], "--lighting 0.9: between 0 and 0.5"),
        (["--no-looks", "--name-looks", "0.5"], "--name-looks 0.5: a chance in [0, 1], above 0 only with --looks"),
        (["--no-looks", "--name-looks", "0", "--extra-looks"], "--extra-looks: needs --looks"),
        (["--name-fills", "0.5"], "--name-fills 0.5: a chance in [0, 1], above 0 only with --fills"),
    ],
)
def test_bad_generate_input_is_one_line_exit_2(world, args, message):
    before = sorted(p.name for p in world.iterdir())
    result = runner.invoke(app, ["world", "generate", "-o", str(world), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in world.iterdir()) == before


def test_score_prints_a_table_and_writes_json(world, tmp_path):
    captions = json.loads((world / "captions.json").read_text())["images"]
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps([{"image_id": e["filename"], "caption": e["sentences"][0]["raw"]} for e in captions]))
    out = tmp_path / "scores.json"
    result = runner.invoke(app, ["world", "score", str(world), str(preds), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "exact scene" in result.output and "position" in result.output
    doc = json.loads(out.read_text())
    assert doc["kind"] == "gaptools.world.score" and doc["n_captions"] == 12
    assert doc["attributes"]["colour"]["precision"] == 1.0


def test_score_of_an_unknown_image_is_refused(world, tmp_path):
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps([{"image_id": 999, "caption": "a red circle"}]))
    out = tmp_path / "never.json"
    result = runner.invoke(app, ["world", "score", str(world), str(preds), "--json", str(out)])
    assert result.exit_code == 2 and "image_id 999 is not an image of this world" in result.output
    assert not out.exists()


@pytest.fixture
def keep_torch_threads():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # --threads sets a process-wide torch setting


def test_train_clip_then_resume_with_another_config_is_refused(world, tmp_path, keep_torch_threads):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY_CONFIG))
    out = tmp_path / "clip"
    base = ["world", "train-clip", str(world), "-o", str(out), "--batch-size", "4", "--model-config", str(config),
            "--threads", "1"]
    result = runner.invoke(app, [*base, "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output and "recall@1" in result.output
    assert json.loads((out / "model.json").read_text()) == TINY_CONFIG
    before = (out / "checkpoint.pt").read_bytes()
    config.write_text(json.dumps({**TINY_CONFIG, "embed_dim": 8}))
    result = runner.invoke(app, [*base, "--steps", "4", "--resume"])
    assert result.exit_code == 2 and "another model config" in result.output
    assert (out / "checkpoint.pt").read_bytes() == before


def test_train_clip_fixed_projection_is_a_switch_with_a_one_line_refusal(world, tmp_path, keep_torch_threads):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY_CONFIG))  # embed_dim 16, towers 32 wide: no identity fits
    base = ["world", "train-clip", str(world), "--batch-size", "4", "--steps", "1", "--threads", "1", "--fixed-projection"]
    result = runner.invoke(app, [*base, "-o", str(tmp_path / "a"), "--model-config", str(config)])
    assert result.exit_code == 2 and "equal to both tower widths" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    config.write_text(json.dumps({**TINY_CONFIG, "embed_dim": 32}))
    result = runner.invoke(app, [*base, "-o", str(tmp_path / "b"), "--model-config", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["settings"]["fixed_projection"] is True


def test_generate_sets_the_content_levers_a_preset_leaves_off(tmp_path):
    from gaptools.world import WorldParams
    from gaptools.world.generate import read_manifest

    out = tmp_path / "levers"
    result = runner.invoke(app, [*GENERATE, "-o", str(out), "--palette", "wide", "--style", "rich", "--jitter", "0.1",
                                 "--rotation", "--lighting", "0.2", "--looks", "--name-looks", "0.3",
                                 "--extra-looks", "--fills", "--name-fills", "0.4"])
    assert result.exit_code == 0, result.output
    params = WorldParams(**read_manifest(out)["params"])
    assert (params.palette, params.style, params.jitter, params.rotation, params.lighting) == ("wide", "rich", 0.1,
                                                                                                True, 0.2)
    assert (params.looks, params.name_looks, params.extra_looks) == (True, 0.3, True)
    assert (params.fills, params.name_fills) == (True, 0.4)


def test_train_clip_name_looks_on_a_world_without_looks_is_one_line_and_writes_nothing(tmp_path, keep_torch_threads):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY_CONFIG))
    plain, out = tmp_path / "plain", tmp_path / "clip"
    assert runner.invoke(app, [*GENERATE, "-o", str(plain), "--preset", "clip-like-v2"]).exit_code == 0
    result = runner.invoke(app, ["world", "train-clip", str(plain), "-o", str(out), "--model-config", str(config),
                                 "--batch-size", "4", "--steps", "1", "--threads", "1", "--name-looks", "0.5"])
    assert result.exit_code == 2 and "needs a world with looks" in result.output and "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())
