"""`caption eval` and `caption score` from the command line: real runs, the table, one-line refusals."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from gaptools.caption.evaluate import tokenize
from gaptools.caption.model import init_decoder
from gaptools.caption.tokenizer import train_tokenizer
from gaptools.cli.caption import app
from gaptools.io import EmbeddingSet, save_set

runner = CliRunner()
WORDS = ["cat", "dog", "bird", "fish", "frog", "horse"]


@pytest.fixture(scope="module")
def run_and_sets(tmp_path_factory):
    """A text-trained run made with `caption train`, its 8-d set and a 6-d set."""
    root = tmp_path_factory.mktemp("cli_eval")
    rng = np.random.default_rng(1)
    captions = np.array([f"a {w} on the {p}" for w in WORDS for p in ("grass", "road")])
    eset = EmbeddingSet(image=rng.normal(size=(6, 8)), text=rng.normal(size=(12, 8)),
                        text_image=np.repeat(np.arange(6), 2), caption=captions)
    torch.manual_seed(0)
    init_decoder(root / "gpt", train_tokenizer(captions, root / "tok", vocab_size=270), n_layer=1, n_embd=16, n_head=2)
    data = str(save_set(eset, root / "set.npz"))
    trained = runner.invoke(app, ["train", data, "-o", str(root / "run"), "--decoder", str(root / "gpt"), "--epochs", "2",
                                  "--batch-size", "4", "--prefix-length", "2", "--warmup", "0", "--device", "cpu"])
    assert trained.exit_code == 0, trained.output
    other = save_set(eset.replace(image=eset.image[:, :6], text=eset.text[:, :6]), root / "d6.npz")
    return str(root / "run"), data, str(other)


@pytest.mark.slow
def test_eval_mixup_sweep_prints_a_table_and_writes_the_folder(run_and_sets, tmp_path):
    run, data, _ = run_and_sets
    out = tmp_path / "mix"
    result = runner.invoke(app, ["eval", run, data, "--mixup", "0,0.5,1", "--beam", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    for text in ("mixup-0.5", "BLEU-4", "ROUGE-L", "Wrote"):
        assert text in result.output
    doc = json.loads((out / "metrics.json").read_text())
    assert [c["mixup"] for c in doc["configurations"]] == [0.0, 0.5, 1.0]
    assert all(c["beam"] == 2 and (out / c["predictions"]).is_file() for c in doc["configurations"])
    assert (out / "config.json").is_file()


def test_eval_mixup_rule_renormalised_names_its_rows_and_records_the_rule(run_and_sets, tmp_path):
    run, data, _ = run_and_sets
    out = tmp_path / "renorm"
    result = runner.invoke(app, ["eval", run, data, "--mixup", "0.5", "--mixup-rule", "renormalised", "--limit", "2",
                                 "--bootstrap", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads((out / "metrics.json").read_text())["configurations"]
    assert entry["mixup"] == 0.5 and entry["mixup_rule"] == "renormalised" and entry["name"].endswith("-renormalised")


@pytest.mark.parametrize("args, message", [
    (["--mixup", "0,1.5"], "lambda must be in [0, 1]"),
    (["--mixup", "0.5", "--mixup-rule", "halfway"], "unknown mixup rule 'halfway'"),
    (["--mixup", "0,half"], "expected comma-separated numbers"),
    (["--input", "audio"], "unknown --input 'audio'"),
    (["--beam", "0"], "--beam must be at least 1"),
])
def test_bad_options_are_one_line_and_write_nothing(run_and_sets, tmp_path, args, message):
    run, data, _ = run_and_sets
    result = runner.invoke(app, ["eval", run, data, "-o", str(tmp_path / "never"), *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2
    assert not (tmp_path / "never").exists()


def test_bad_run_or_set_is_one_line(run_and_sets, tmp_path):
    run, data, other = run_and_sets
    result = runner.invoke(app, ["eval", run, other, "-o", str(tmp_path / "never")])
    assert result.exit_code == 2 and "dimension 6 but the run" in result.output
    (tmp_path / "empty_run").mkdir()
    result = runner.invoke(app, ["eval", str(tmp_path / "empty_run"), data, "-o", str(tmp_path / "never")])
    assert result.exit_code == 2 and "no finished model" in result.output
    assert not (tmp_path / "never").exists()


def test_score_writes_exactly_the_coco_keys(tmp_path):
    preds, refs, out = tmp_path / "p.json", tmp_path / "r.json", tmp_path / "s.json"
    preds.write_text(json.dumps([{"image_id": 1, "caption": "a dog runs on the grass"},
                                 {"image_id": 2, "caption": "a cat sleeps"}]))
    refs.write_text(json.dumps({"1": ["a dog runs on the grass", "a brown dog running"], "2": ["a cat is sleeping"]}))
    result = runner.invoke(app, ["score", str(preds), str(refs), "--json", str(out)])
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    diversity = scores.pop("diversity")
    assert (scores.pop("kind"), scores.pop("version")) == ("caption.score", 1)
    assert list(scores) == ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"]
    assert all(0 <= v <= 100 for k, v in scores.items() if k != "CIDEr") and scores["CIDEr"] >= 0  # CIDEr-D: 0..1000
    assert scores["Bleu_1"] > 50
    assert diversity["distinct_fraction"] == 1.0 and diversity["novel_fraction"] is None
    assert "mode collapse" not in result.output


def test_score_refuses_predictions_of_unknown_images(tmp_path):
    preds, coco, out = tmp_path / "p.json", tmp_path / "captions_val.json", tmp_path / "s.json"
    preds.write_text(json.dumps([{"image_id": 1, "caption": "a dog"}, {"image_id": 3, "caption": "a bird"}]))
    coco.write_text(json.dumps({"images": [{"id": 1}], "annotations": [{"id": 9, "image_id": 1, "caption": "a dog"}]}))
    result = runner.invoke(app, ["score", str(preds), str(coco), "--json", str(out)])
    assert result.exit_code == 2 and "have no references, first '3'" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_score_warns_of_a_collapse_and_counts_copies_of_the_training_captions(tmp_path):
    preds, refs, train, out = tmp_path / "p.json", tmp_path / "r.json", tmp_path / "train.txt", tmp_path / "s.json"
    preds.write_text(json.dumps([{"image_id": i, "caption": "A dog on the grass."} for i in range(6)]))
    refs.write_text(json.dumps({str(i): [f"a {w} on the grass"] for i, w in enumerate(WORDS)}))
    train.write_text("a dog on the grass\na cat\n")
    result = runner.invoke(app, ["score", str(preds), str(refs), "--train-captions", str(train), "--json", str(out)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "mode collapse" in line]
    assert warnings == ["p.json: mode collapse: 1 distinct caption for 6 images"]
    diversity = json.loads(out.read_text())["diversity"]
    assert diversity["distinct_fraction"] == pytest.approx(1 / 6) and diversity["novel_fraction"] == 0.0
    assert diversity["mode_collapse"] and diversity["reference_mean_length"] == 5.0
    missing = runner.invoke(app, ["score", str(preds), str(refs), "--train-captions", str(tmp_path / "none.txt")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_eval_reports_each_configurations_diversity_against_the_runs_training_captions(run_and_sets, tmp_path):
    run, data, _ = run_and_sets
    out = tmp_path / "ev"
    result = runner.invoke(app, ["eval", run, data, "--mixup", "0,1", "-o", str(out), "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "metrics.json").read_text())
    for entry in doc["configurations"]:
        d = entry["diversity"]
        predictions = json.loads((out / entry["predictions"]).read_text())
        assert d["n_captions"] == len(predictions) == 6
        assert d["distinct_captions"] == len(set(tokenize([p["caption"] for p in predictions])))
        assert 0.0 <= d["novel_fraction"] <= 1.0 and d["reference_mean_length"] == 5.0
        collapsed = [line for line in result.output.splitlines() if line.startswith(f"{entry['name']}: mode collapse")]
        assert len(collapsed) == (1 if d["mode_collapse"] else 0)
    assert json.loads((out / "config.json").read_text())["training_captions"] == data
