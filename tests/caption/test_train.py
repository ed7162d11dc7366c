"""Training on a tiny real GPT-2: pairs, overfitting, kill-and-resume, two-process DDP under torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gaptools.caption import checkpoint
from gaptools.caption.data import PairPlan, epoch_batches, shard
from gaptools.caption.model import init_decoder
from gaptools.caption.tokenizer import train_tokenizer
from gaptools.caption.train import TrainConfig, lr_factor, train
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, save_set

ROOT = Path(__file__).resolve().parents[2]
COLORS, SHAPES, PLACES = ["red", "blue", "green", "pink"], ["circle", "square", "star"], ["left", "top", "right"]
CAPTIONS = [f"a {c} {s} at the {p}" for c in COLORS for s in SHAPES for p in PLACES][:24]  # 8 images x 3


def planted_set(n_captions=24, per_image=3, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    n_images = n_captions // per_image
    return EmbeddingSet(image=rng.normal(size=(n_images, dim)), text=rng.normal(size=(n_captions, dim)),
                        text_image=np.repeat(np.arange(n_images), per_image), caption=np.array(CAPTIONS[:n_captions]),
                        meta={"dataset": "planted"})


@pytest.fixture(scope="module")
def decoder_dirs(tmp_path_factory):
    """Two tiny GPT-2 folders sharing one tokenizer trained here: with dropout 0.1 and without."""
    root = tmp_path_factory.mktemp("decoders")
    tok = train_tokenizer(CAPTIONS, root / "tok", vocab_size=300)
    torch.manual_seed(0)
    small = dict(n_layer=2, n_embd=32, n_head=2, n_positions=64)
    init_decoder(root / "dropout", tok, **small)
    init_decoder(root / "plain", tok, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **small)
    return {"dropout": str(root / "dropout"), "plain": str(root / "plain")}


@pytest.fixture(scope="module")
def set_path(tmp_path_factory):
    return str(save_set(planted_set(), tmp_path_factory.mktemp("data") / "train.npz"))


def test_matched_pairs_are_other_captions_of_the_same_image():
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])  # image 2 has a single caption
    plan = PairPlan(groups, "text", "matched", "skip", seed=3)
    inputs, targets = plan.pairs(0)
    assert plan.n_single == 1 and len(plan) == 9 and 5 not in targets
    assert (inputs != targets).all() and (groups[inputs] == groups[targets]).all()
    assert np.array_equal(plan.pairs(0)[0], inputs)  # deterministic from the seed
    assert any(not np.array_equal(plan.pairs(e)[0], inputs) for e in range(1, 5))  # fresh partners per epoch
    fallback = PairPlan(groups, "text", "matched", "same", seed=3).pairs(0)
    assert len(fallback[0]) == 10 and fallback[0][5] == 5
    same = PairPlan(groups, "text", "same").pairs(0)
    assert np.array_equal(same[0], same[1])
    image = PairPlan(groups, "image", "matched").pairs(0)
    assert np.array_equal(image[0], groups) and np.array_equal(image[1], np.arange(10))


def test_batches_cover_each_pair_once_and_shards_make_the_global_batch():
    batches = epoch_batches(10, 4, seed=0, epoch=1)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))
    assert np.array_equal(np.concatenate([shard(batches[0], r, 2) for r in range(2)]), batches[0])
    assert [len(b) for b in epoch_batches(9, 4, seed=0, epoch=1, world_size=2)] == [4, 4]  # 1 pair < 2 ranks
    assert lr_factor(0, warmup=10, total=110) == 0 and lr_factor(5, warmup=10, total=110) == 0.5
    assert lr_factor(60, warmup=10, total=110) == 0.5 and lr_factor(110, warmup=10, total=110) == 0


def _greedy(model, clip, eos, max_len=16):
    """Greedy decoding from the prefix, written out: the argmax token each step until EOS."""
    embed = model.decoder.get_input_embeddings()
    seq = model.embed_prefix(clip)  # (B, L, h)
    out = []
    for _ in range(max_len):
        nxt = model.decoder(inputs_embeds=seq).logits[:, -1].argmax(-1)  # (B,)
        out.append(nxt)
        seq = torch.cat([seq, embed(nxt)[:, None]], dim=1)
    rows = torch.stack(out, 1).tolist()
    return [r[: r.index(eos)] if eos in r else r for r in rows]


@pytest.mark.slow
def test_overfits_captions_until_greedy_decoding_reproduces_them(decoder_dirs, set_path, tmp_path):
    config = TrainConfig(set_path, str(tmp_path / "run"), source="text", target="same", decoder=decoder_dirs["plain"],
                         prefix_length=4, lr=1e-2, warmup=5, batch_size=12, epochs=150, log_every=30, seed=1)
    train(config, say=lambda _: None)
    model, tok, run_config = checkpoint.load_run(tmp_path / "run")
    assert run_config["target"] == "same" and run_config["clip_dim"] == 16 and run_config["data_meta"]["dataset"] == "planted"
    eset = planted_set()
    clip = torch.from_numpy(eset.text / np.linalg.norm(eset.text, axis=1, keepdims=True))
    with torch.no_grad():
        decoded = [tok.decode(ids) for ids in _greedy(model, clip, tok.eos_token_id)]
    assert decoded == list(eset.caption)
    losses = [r["loss"] for r in checkpoint.read_log(tmp_path / "run") if "loss" in r]
    assert losses[-1] < 0.05 * losses[0]


def _final_state(run):
    return torch.load(Path(run) / "final" / "model.pt", weights_only=True)


def _losses(run):
    return [(r["step"], r.get("loss"), r.get("val_loss")) for r in checkpoint.read_log(run)]


def test_killed_and_resumed_equals_uninterrupted(decoder_dirs, set_path, tmp_path):
    common = dict(source="text", target="matched", decoder=decoder_dirs["dropout"], noise_variance=0.016,
                  subtract_text_mean=True, prefix_length=3, lr=1e-3, warmup=3, batch_size=8, epochs=2,
                  save_every=2, log_every=1, val=set_path, device="cpu")
    train(TrainConfig(set_path, str(tmp_path / "whole"), **common), say=lambda _: None)

    def kill(event):
        if event["step"] == 5:  # mid-epoch 2, one step after the step-4 checkpoint
            raise KeyboardInterrupt

    cut = TrainConfig(set_path, str(tmp_path / "cut"), **common)
    with pytest.raises(KeyboardInterrupt):
        train(cut, say=lambda _: None, on_step=kill)
    assert not (tmp_path / "cut" / "final").exists()
    with pytest.raises(InputError, match="holds another run"):
        train(cut, say=lambda _: None)
    messages = []
    train(cut, resume=True, say=messages.append)
    assert "Resuming" in messages[0] and "at step 4" in messages[0]
    whole, resumed = _final_state(tmp_path / "whole"), _final_state(tmp_path / "cut")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert _losses(tmp_path / "whole") == _losses(tmp_path / "cut")
    assert sum(v is not None for _, _, v in _losses(tmp_path / "cut")) == 2  # one validation loss per epoch
    config = checkpoint.read_config(tmp_path / "cut")
    assert config["noise_variance"] == 0.016 and len(config["text_mean"]) == 16
    with pytest.raises(InputError, match="changed: lr"):
        train(TrainConfig(set_path, str(tmp_path / "cut"), **{**common, "lr": 2e-3}), resume=True, say=lambda _: None)


def test_matched_and_same_targets_train_on_different_pairs(decoder_dirs, set_path, tmp_path):
    runs = {}
    for target in ("matched", "same"):
        config = TrainConfig(set_path, str(tmp_path / target), target=target, decoder=decoder_dirs["plain"],
                             prefix_length=2, lr=1e-3, warmup=0, batch_size=24, epochs=1, log_every=1)
        train(config, say=lambda _: None)
        runs[target] = _losses(tmp_path / target)[0][1]
    assert runs["matched"] != runs["same"]  # same start, same batch order, other targets


def test_text_only_set_cannot_train_from_images(decoder_dirs, tmp_path):
    eset = planted_set()
    path = save_set(eset.replace(image=np.zeros((0, 16)), text_image=eset.text_image), tmp_path / "t.npz")
    with pytest.raises(InputError, match="text-only set.*--source image"):
        train(TrainConfig(str(path), str(tmp_path / "run"), source="image", decoder=decoder_dirs["plain"]))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_two_gloo_processes_follow_the_single_process_loss_curve(decoder_dirs, set_path, tmp_path):
    flags = ["--decoder", decoder_dirs["plain"], "--prefix-length", "3", "--lr", "1e-3", "--warmup", "2",
             "--batch-size", "8", "--epochs", "2", "--log-every", "1", "--device", "cpu", "--val", set_path]
    train(TrainConfig(set_path, str(tmp_path / "one"), decoder=decoder_dirs["plain"], prefix_length=3, lr=1e-3,
                      warmup=2, batch_size=8, epochs=2, log_every=1, device="cpu", val=set_path), say=lambda _: None)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "gaptools.cli.caption", "train", set_path, "-o", str(tmp_path / "two"), *flags]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert [s for s, _, _ in one] == [s for s, _, _ in two] and len(one) == 8  # 3 steps x 2 epochs + 2 val
    for (_, a, va), (_, b, vb) in zip(one, two):
        assert (a or va) == pytest.approx(b or vb, rel=1e-4)
    assert json.loads((tmp_path / "two" / "config.json").read_text())["world_size"] == 2
    w1, w2 = _final_state(tmp_path / "one"), _final_state(tmp_path / "two")
    assert all(torch.allclose(w1[k], w2[k], atol=1e-5) for k in w1)
