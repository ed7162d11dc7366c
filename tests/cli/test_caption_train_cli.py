"""`caption train` from the command line: a short real run, and every refusal as one line with exit 2."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from gaptools.caption.checkpoint import load_run
from gaptools.caption.model import init_decoder
from gaptools.caption.tokenizer import train_tokenizer
from gaptools.cli.caption import app
from gaptools.io import EmbeddingSet, save_set

runner = CliRunner()
CAPTIONS = [f"a {c} {s}" for c in ("red", "blue", "green") for s in ("circle", "square", "star", "heart")]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_train")
    tok = train_tokenizer(CAPTIONS, root / "gpt", vocab_size=280)
    torch.manual_seed(0)
    init_decoder(root / "gpt", tok, n_layer=1, n_embd=16, n_head=2, n_positions=32)
    rng = np.random.default_rng(0)
    full = EmbeddingSet(image=rng.normal(size=(6, 8)), text=rng.normal(size=(12, 8)),
                        text_image=np.repeat(np.arange(6), 2), caption=np.array(CAPTIONS))
    text_only = full.replace(image=np.zeros((0, 8)))
    no_captions = full.replace(caption=None)
    odd = full.replace(text=full.text[:11], text_image=full.text_image[:11], caption=full.caption[:11])  # image 5: 1
    return {"decoder": str(root / "gpt"), "full": str(save_set(full, root / "full.npz")),
            "text_only": str(save_set(text_only, root / "text_only.npz")),
            "no_captions": str(save_set(no_captions, root / "no_captions.npz")),
            "odd": str(save_set(odd, root / "odd.npz"))}


def _train(paths, data, out, *extra):
    return runner.invoke(app, ["train", paths[data], "-o", str(out), "--decoder", paths["decoder"], "--epochs", "1",
                               "--batch-size", "4", "--prefix-length", "2", "--warmup", "0", "--lr", "1e-3",
                               "--log-every", "1", "--device", "cpu", *extra])


def test_short_run_writes_a_loadable_run_folder(paths, tmp_path):
    result = _train(paths, "full", tmp_path / "run", "--source", "image", "--mapper", "transformer",
                    "--mapper-layers", "1", "--mapper-heads", "2", "--clip-length", "2")
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["source"] == "image" and config["target"] is None and config["train"]["mapper"] == "transformer"
    assert config["train"]["lr"] == 1e-3 and config["clip_dim"] == 8 and config["steps_per_epoch"] == 3
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and {"loss", "lr", "samples_per_s"} <= set(log[0])
    model, tok, _ = load_run(tmp_path / "run")
    assert model.config.mapper == "transformer" and tok.eos_token_id is not None


@pytest.mark.parametrize(
    "data, extra, message",
    [
        ("no_captions", [], "has no captions"),
        ("text_only", ["--source", "image"], "text-only set (0 image embeddings); --source image needs images"),
        ("full", ["--source", "image", "--target", "same"], "--target applies to --source text only"),
        ("full", ["--decoder", "./no/such-decoder"], "folder ./no/such-decoder does not exist"),
        ("full", ["--mapper", "rnn"], "unknown mapper 'rnn'"),
        ("full", ["--target", "other"], "unknown target 'other'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(paths, tmp_path, data, extra, message):
    result = _train(paths, data, tmp_path / "run", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_images_with_a_single_caption_are_counted_and_skipped_or_kept(paths, tmp_path):
    skipped = _train(paths, "odd", tmp_path / "skip")
    assert skipped.exit_code == 0 and "1 of 11 captions are the only caption of their image: skipped" in skipped.output
    kept = _train(paths, "odd", tmp_path / "same", "--single-caption", "same")
    assert kept.exit_code == 0 and "used as their own input" in kept.output
    n_pairs = [json.loads((tmp_path / r / "config.json").read_text())["n_pairs"] for r in ("skip", "same")]
    assert n_pairs == [10, 11]


def test_existing_run_and_corrupt_checkpoint_are_refused_without_loss(paths, tmp_path):
    run = tmp_path / "run"
    assert _train(paths, "full", run).exit_code == 0
    log = (run / "log.jsonl").read_text()
    again = _train(paths, "full", run)
    assert again.exit_code == 2 and "holds another run" in again.output and "--resume" in again.output
    assert (run / "log.jsonl").read_text() == log and (run / "final" / "model.pt").exists()
    done = _train(paths, "full", run, "--resume")
    assert done.exit_code == 0 and "already finished" in done.output
    import shutil

    shutil.rmtree(run / "final")
    (run / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    broken = _train(paths, "full", run, "--resume")
    assert broken.exit_code == 2 and "checkpoint.pt: corrupt" in broken.output
    assert (run / "checkpoint.pt").read_bytes() == b"PK\x03\x04 not a checkpoint"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    refused = _train(paths, "full", other, "--overwrite")
    assert refused.exit_code == 2 and "not a run folder" in refused.output
    assert (other / "notes.txt").read_text() == "mine"


def test_noise_variance_auto_is_the_gaps_noise_over_the_calibration_pairs(paths, tmp_path):
    # two pairs, x = e0 | e2 and y = e1 | e3: ‖x − y‖² = 2 per pair, ‖mean(x − y)‖² = 1, so (2 − 1) / D = 1/8
    pairs = np.zeros((2, 2, 8), np.float32)
    pairs[0, 0, 0] = pairs[1, 0, 1] = pairs[0, 1, 2] = pairs[1, 1, 3] = 1.0
    np.save(tmp_path / "pairs.npy", pairs)
    result = _train(paths, "full", tmp_path / "run", "--noise-variance", "auto", "--noise-pairs", str(tmp_path / "pairs.npy"))
    assert result.exit_code == 0, result.output
    assert "--noise-variance auto: 0.125" in result.output and "from 2 pairs of 2 images" in result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["noise_variance"] == pytest.approx(0.125) and config["train"]["noise_variance"] == "auto"
    estimate = config["noise_estimate"]
    assert estimate["value"] == pytest.approx(0.125) and estimate["n_pairs"] == 2 and len(estimate["ci95"]) == 2
    assert estimate["ci95"][0] <= 0.125 + 1e-9 and config["train"]["noise_pairs"] == str(tmp_path / "pairs.npy")


@pytest.mark.parametrize("make, extra, message", [
    (None, ["--noise-variance", "auto"], "--noise-variance auto needs --noise-pairs PAIRS"),
    ("one", ["--noise-variance", "auto"], "1 image-caption pair(s); the noise estimate needs at least 2"),
    ("text_only", ["--noise-variance", "auto"], "0 image-caption pair(s)"),
    ("wide", ["--noise-variance", "auto"], "--noise-pairs embeddings have dimension 6, the training set 8"),
    ("one", ["--noise-variance", "0.016"], "--noise-pairs is read by --noise-variance auto only"),
    (None, ["--noise-variance", "lots"], "expected a number (e.g. 0.016) or 'auto'"),
])
def test_bad_noise_calibration_is_one_line_and_writes_nothing(paths, tmp_path, make, extra, message):
    rng = np.random.default_rng(3)
    sets = {"one": EmbeddingSet(image=rng.normal(size=(1, 8)), text=rng.normal(size=(1, 8)), text_image=np.zeros(1, int)),
            "wide": EmbeddingSet(image=rng.normal(size=(3, 6)), text=rng.normal(size=(3, 6)), text_image=np.arange(3))}
    if make is not None:
        path = paths[make] if make in paths else str(save_set(sets[make], tmp_path / f"{make}.npz"))
        extra = [*extra, "--noise-pairs", path]
    result = _train(paths, "full", tmp_path / "run", *extra)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2
    assert not (tmp_path / "run").exists()


def test_each_validation_logs_the_captions_of_the_same_held_out_inputs(paths, tmp_path):
    from gaptools.caption.evaluate import plain_tokens

    result = _train(paths, "full", tmp_path / "run", "--val", paths["full"], "--log-captions", "3", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "3 held-out captions" in result.output
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    validations = [r for r in log if "val_loss" in r]
    assert len(validations) == 2
    # one epoch convention: the console's "epoch 2/2" is "epoch": 2 in log.jsonl (1-based everywhere)
    assert "epoch 1/2" in result.output and "epoch 2/2" in result.output
    assert [r["epoch"] for r in validations] == [1, 2] and {r["epoch"] for r in log} == {1, 2}
    rows = [[c["input"] for c in r["val_captions"]] for r in validations]
    assert rows[0] == rows[1] and len(set(rows[0])) == 3 and all(0 <= i < 12 for i in rows[0])
    for r in validations:
        captions = [plain_tokens(c["caption"]) for c in r["val_captions"]]
        assert r["val_distinct_fraction"] == pytest.approx(len(set(captions)) / 3)
    quiet = _train(paths, "full", tmp_path / "quiet", "--val", paths["full"], "--log-captions", "0")
    assert quiet.exit_code == 0 and "held-out" not in quiet.output
    assert all("val_captions" not in json.loads(line) for line in (tmp_path / "quiet" / "log.jsonl").read_text().splitlines())
