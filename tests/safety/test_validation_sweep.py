"""The hostile sweep's validation cases: each was an "Unexpected error", a misleading message or silent nonsense.

Every bad input here now gets one line naming the file or option, exit code 2; degenerate sets get
"unavailable (n too small)" instead of a crash.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from gaptools.align import fit_on_set, save_aligner
from gaptools.cli.caption import app as caption_app
from gaptools.cli.main import app
from gaptools.io import EmbeddingSet, save_set
from gaptools.synthetic import planted_gap

# --- files that are not what their name says -----------------------------------------------------------------


@pytest.mark.parametrize("content, message", [
    ("npy", "is a .npy array file, not an .npz archive"),
    (b'{"image": [[1, 2]]}', "is not an .npz archive (it starts with text"),
    (b"image,text\n1,2\n", "is not an .npz archive (it starts with text"),
    ("pickle", "holds a Python pickle, which gaptools never loads"),
    (b"", "is empty"),
])
def test_a_renamed_file_is_named_for_what_it_is(sweep, tmp_path, content, message):
    path = tmp_path / "set.npz"
    if content == "npy":
        with open(path, "wb") as fh:
            np.save(fh, np.ones((2, 3, 4), np.float32))
    elif content == "pickle":
        path.write_bytes(pickle.dumps({"image": [1, 2]}, protocol=4))
    else:
        path.write_bytes(content)
    result = sweep.invoke(app, "measure", path)
    sweep.refused(result, "set.npz", message)
    assert "holds pickled objects" not in result.output or content == "pickle"


def test_deeply_nested_json_is_refused_in_one_line(sweep, tmp_path):
    s = planted_gap(10, 4)
    deep = "[" * 100_000 + "]" * 100_000
    arrays = {"image": s.image, "text": s.text, "text_image": s.text_image, "meta": np.array(deep)}
    np.savez(tmp_path / "deep.npz", **arrays)
    sweep.refused(sweep.invoke(app, "measure", tmp_path / "deep.npz"), "'meta' is nested too deeply")
    (tmp_path / "deep.json").write_text('{"kind": "gaptools.measure", "version": 1, "sets": ' + deep + "}")
    sweep.refused(sweep.invoke(app, "report", tmp_path / "deep.json", "-o", tmp_path / "r"), "nested too deeply")


@pytest.mark.parametrize("doc, message", [
    ({"sets": None}, "'sets' must be a non-empty list"),
    ({"sets": [{"metrics": []}]}, "sets[0].metrics must be an object"),
    ({"sets": [{"metrics": {"centroid_gap": {"value": "0.4"}}}]}, "sets[0].metrics.centroid_gap.value must be"),
    ({"sets": [{"metrics": {"centroid_gap": {"value": 0.4, "ci95": "wide"}}}]}, "ci95 must be [low, high]"),
    ({"kind": ["gaptools.measure"]}, "unknown kind"),
])
def test_malformed_report_inputs_are_named(sweep, tmp_path, doc, message):
    path = tmp_path / "gap.json"
    path.write_text(json.dumps({"kind": "gaptools.measure", "version": 1, **doc}))
    sweep.refused(sweep.invoke(app, "report", path, "-o", tmp_path / "r"), message)
    assert not (tmp_path / "r").exists()


# --- embedding-set contents ------------------------------------------------------------------------------------


def test_a_uint64_index_overflow_is_reported_as_itself_not_as_a_negative_index(sweep, tmp_path):
    s = planted_gap(5, 4)
    big = np.uint64(2**63 + 5)
    np.savez(tmp_path / "u.npz", image=s.image, text=s.text, text_image=np.array([0, 1, 2, 3, big], np.uint64))
    result = sweep.invoke(app, "measure", tmp_path / "u.npz")
    sweep.refused(result, f"index {int(big)} at caption 4")
    assert "negative" not in result.output


def test_duplicate_image_ids_are_refused(sweep, tmp_path):
    s = planted_gap(4, 4)
    np.savez(tmp_path / "dup.npz", image=s.image, text=s.text, text_image=s.text_image,
             image_id=np.array(["a.png", "b.png", "a.png", "c.png"]))
    sweep.refused(sweep.invoke(app, "measure", tmp_path / "dup.npz"), "'image_id' repeats 'a.png' (first at row 0")


@pytest.mark.parametrize("scale, words", [(1e-30, "too small"), (1e20, "too large")])
def test_rows_whose_norm_under_or_overflows_are_refused_with_the_row(sweep, tmp_path, scale, words):
    s = planted_gap(6, 4)
    image = s.image.astype(np.float64)
    image[3] *= scale
    np.savez(tmp_path / "n.npz", image=image, text=s.text, text_image=s.text_image)
    for args in (["measure"], ["align", "fit", "--method", "coral", "-o", tmp_path / "c.aligner"]):
        sweep.refused(sweep.invoke(app, *args, tmp_path / "n.npz"), "'image' row 3 has norm about", f"1 row(s) {words}")


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_sets_report_unavailable_metrics_instead_of_crashing(sweep, tmp_path, n):
    path = save_set(planted_gap(n, 4), tmp_path / "tiny.npz")
    result = sweep.invoke(app, "measure", path, "--json", tmp_path / "m.json", "--bootstrap", 10)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())["sets"][0]["metrics"]
    assert metrics["linear_separability"]["value"] is None
    assert "n too small" in metrics["linear_separability"]["unavailable"]
    assert all(m["value"] is not None or "unavailable" in m for m in metrics.values())
    for method in ("pca-rotation", "coral", "procrustes", "mean"):
        result = sweep.invoke(app, "align", "fit", "--method", method, path, "-o", tmp_path / f"{method}.aligner")
        assert result.exit_code in (0, 2) and "Unexpected" not in result.output, result.output


# --- aligner files ------------------------------------------------------------------------------------------------


def _tamper(path, **changes):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays["header"]))
    header.pop("sha256")  # as written before checksums (which name any change): its values are checked one by one
    for key, value in changes.items():
        if key == "params":
            header["params"].update(value)
        else:
            arrays[key] = value
    arrays["header"] = np.array(json.dumps(header))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("method, changes, message", [
    ("mean", {"shift_": np.zeros((3, 4))}, "'shift_' has shape (3, 4)"),
    ("procrustes", {"weight_": np.eye(4)[:3]}, "'weight_' has shape (3, 4)"),
    ("ot-exact", {"displacement_img_": np.zeros((2, 4))}, "'displacement_img_' has shape (2, 4)"),
    ("procrustes", {"params": {"center": "no"}}, "parameter 'center' must be true or false, got 'no'"),
    ("ot-sinkhorn", {"params": {"reg": "0.05"}}, "parameter 'reg' must be a number, got '0.05'"),
])
def test_aligner_files_are_checked_array_by_array(sweep, tmp_path, method, changes, message):
    train = planted_gap(20, 4)
    path = save_aligner(fit_on_set(method, train), tmp_path / "a.aligner")
    _tamper(path, **changes)
    data = save_set(train, tmp_path / "s.npz")
    sweep.refused(sweep.invoke(app, "align", "apply", path, data, "-o", tmp_path / "out.npz"), "a.aligner", message)
    assert not (tmp_path / "out.npz").exists()


def test_non_boolean_flags_on_the_command_line_are_refused(sweep, planted, tmp_path):
    sweep.refused(sweep.invoke(app, "align", "fit", "--method", "procrustes", planted, "-o", tmp_path / "p.aligner",
                               "-p", "center=no"), "parameter 'center' must be true or false")


# --- options -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed, limit", [("-1", "greater than or equal to 0"), (str(2**40), "4294967295")])
def test_seeds_out_of_range_are_refused(sweep, planted, tmp_path, seed, limit):
    commands = (["measure", planted], ["align", "compare", planted, planted],
                ["world", "generate", "-o", tmp_path / "w"])
    for args in commands:
        result = sweep.invoke(app, *args, "--seed", seed)
        assert result.exit_code == 2 and "--seed" in result.output and limit in result.output, result.output


@pytest.mark.parametrize("option, value", [("--lr", "nan"), ("--lr", "inf"), ("--weight-decay", "nan"),
                                           ("--noise-variance", "nan"), ("--noise-variance", "inf"),
                                           ("--seed", str(2**70)), ("--max-tokens", "0"), ("--device", "cuda:7")])
def test_bad_training_settings_are_one_line_before_any_folder(sweep, caption_files, tmp_path, option, value):
    out = tmp_path / "run"
    result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", out,
                          *sweep.train_args(caption_files["decoder"]), option, value)
    sweep.refused(result, option.split("-")[-1] if option != "--device" else "cuda:7")
    assert not out.exists()


def test_world_clip_settings_are_checked(sweep, tmp_path):
    sweep.refused(sweep.invoke(app, "world", "train-clip", tmp_path, "-o", tmp_path / "c", "--lr", "nan"), "--lr")


# --- captioning: context length, empty captions, resuming ----------------------------------------------------------


def test_prefix_plus_tokens_beyond_the_decoders_positions_are_cut_up_front(sweep, caption_files, tmp_path):
    out = tmp_path / "run"  # the decoder has 32 positions, the prefix 2: training cuts targets at 30 tokens
    result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", out,
                          *sweep.train_args(caption_files["decoder"]), "--max-tokens", 40)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["train"]["max_tokens"] == 30
    rng = np.random.default_rng(0)
    long = save_set(EmbeddingSet(image=rng.normal(size=(2, 8)), text=rng.normal(size=(4, 8)), text_image=np.repeat(
        np.arange(2), 2), caption=np.array(["cat dog " * 20, "a cat", "a dog", "dog cat " * 20])), tmp_path / "l.npz")
    result = sweep.invoke(caption_app, "train", long, "-o", tmp_path / "long",
                          *sweep.train_args(caption_files["decoder"]))
    assert result.exit_code == 0, result.output
    assert "captions are cut at 30 tokens (2 of 4 captions are longer)" in " ".join(result.output.split())
    result = sweep.invoke(caption_app, "train", caption_files["set"], "-o", tmp_path / "run2",
                          *sweep.train_args(caption_files["decoder"]), "--prefix-length", 31)
    sweep.refused(result, "--prefix-length 31", "leaves 1 of the decoder's 32 positions")
    assert not (tmp_path / "run2").exists()
    result = sweep.invoke(caption_app, "eval", caption_files["run"], caption_files["set"], "-o", tmp_path / "ev",
                          "--max-length", 67, "--device", "cpu", "--bootstrap", 0)
    assert result.exit_code == 0, result.output
    assert "--max-length 67: the decoder has 32 positions, 30 after the prefix: captions are cut at 30 tokens" in \
        " ".join(result.output.split())
    assert json.loads((tmp_path / "ev" / "config.json").read_text())["eval"]["max_length"] == 30


def test_empty_captions_are_refused_for_training_and_as_references(sweep, caption_files, tmp_path):
    captions = np.array([""] + [f"a caption {i}" for i in range(11)])
    rng = np.random.default_rng(0)
    blank = save_set(EmbeddingSet(image=rng.normal(size=(6, 8)), text=rng.normal(size=(12, 8)),
                                  text_image=np.repeat(np.arange(6), 2), caption=captions), tmp_path / "blank.npz")
    result = sweep.invoke(caption_app, "train", blank, "-o", tmp_path / "run",
                          *sweep.train_args(caption_files["decoder"]))
    sweep.refused(result, "blank.npz", "1 empty caption(s), first at caption row 0")
    result = sweep.invoke(caption_app, "eval", caption_files["run"], blank, "-o", tmp_path / "ev", "--max-length", 4,
                          "--device", "cpu")
    sweep.refused(result, "blank.npz", "empty caption")


def test_resume_accepts_the_same_folder_and_data_spelled_absolute(sweep, caption_files, tmp_path, monkeypatch):
    from gaptools.caption.config import TrainConfig
    from gaptools.caption.train import train

    monkeypatch.chdir(tmp_path)
    (tmp_path / "set.npz").write_bytes(caption_files["set"].read_bytes())
    config = TrainConfig("set.npz", "run", decoder=str(caption_files["decoder"]), epochs=2, batch_size=4,
                         prefix_length=2, warmup=0, lr=1e-3, device="cpu")

    def stop(event):
        if event["step"] == 4:  # one step into epoch 2: the checkpoint of epoch 1 (step 3) is on disk
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, on_step=stop)
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and not (tmp_path / "run" / "final").exists()
    result = sweep.invoke(caption_app, "train", tmp_path / "set.npz", "-o", tmp_path / "run",
                          *sweep.train_args(caption_files["decoder"]), "--epochs", 2, "--log-every", 50, "--resume")
    assert result.exit_code == 0, result.output
    assert "Resuming" in result.output and (tmp_path / "run" / "final" / "model.pt").is_file()
