"""`caption train` on a tiny GPT-2: length-grouped batches resume exactly, runs recorded before the
setting resume, and checkpoints cross devices.

Cross devices without a GPU: a checkpoint is re-saved with every storage tagged ``cuda:0``, as
``torch.save`` writes it on a GPU machine (torch then refuses to load it on a CPU-only machine
without ``map_location``); and a CPU file is loaded onto another device type (``meta``, and cuda
where present).
"""

import json

import numpy as np
import pytest
import torch

from gaptools import checksums
from gaptools.caption import checkpoint
from gaptools.caption.model import init_decoder
from gaptools.caption.tokenizer import train_tokenizer
from gaptools.caption.train import TrainConfig, train
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, read_torch, save_set

# captions of very different lengths, so that grouping changes which captions share a batch
WORDS = ["red", "blue", "green", "big", "small", "round", "square", "bright", "dark", "soft"]
CAPTIONS = [" ".join(WORDS[(i + j) % 10] for j in range(1 + (i * 7) % 9)) for i in range(32)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("grouped")
    tok = train_tokenizer(CAPTIONS, root / "tok", vocab_size=200)
    torch.manual_seed(0)
    init_decoder(root / "decoder", tok, n_layer=1, n_embd=16, n_head=2, n_positions=64)
    rng = np.random.default_rng(0)
    eset = EmbeddingSet(image=rng.normal(size=(8, 8)), text=rng.normal(size=(32, 8)),
                        text_image=np.repeat(np.arange(8), 4), caption=np.array(CAPTIONS), meta={"dataset": "planted"})
    return {"data": str(save_set(eset, root / "train.npz")), "decoder": str(root / "decoder")}


def _run(setup, folder, **settings):
    base = dict(decoder=setup["decoder"], prefix_length=2, lr=1e-3, warmup=0, batch_size=4, epochs=2, save_every=3,
                log_every=1, device="cpu")
    return TrainConfig(setup["data"], str(folder), **{**base, **settings})


def _kill_at(step):
    def on_step(event):
        if event["step"] == step:
            raise KeyboardInterrupt
    return on_step


def _weights(folder):
    return torch.load(folder / "final" / "model.pt", weights_only=True)


def test_grouped_run_differs_from_plain_and_resumes_exactly(setup, tmp_path):
    train(_run(setup, tmp_path / "plain", length_window=0), say=lambda _: None)
    train(_run(setup, tmp_path / "whole", length_window=4), say=lambda _: None)
    with pytest.raises(KeyboardInterrupt):
        train(_run(setup, tmp_path / "cut", length_window=4), say=lambda _: None, on_step=_kill_at(11))
    train(_run(setup, tmp_path / "cut", length_window=4), resume=True, say=lambda _: None)
    whole, cut, plain = _weights(tmp_path / "whole"), _weights(tmp_path / "cut"), _weights(tmp_path / "plain")
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    assert not all(torch.equal(whole[k], plain[k]) for k in whole)  # other batches, other weights


def test_run_recorded_before_length_grouping_resumes_with_window_zero(setup, tmp_path):
    folder = tmp_path / "old"
    with pytest.raises(KeyboardInterrupt):
        train(_run(setup, folder, length_window=0), say=lambda _: None, on_step=_kill_at(5))
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    del config["train"]["length_window"]  # as written before the setting existed
    config_file.write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"length_window: 0 -> 16"):
        train(_run(setup, folder), resume=True, say=lambda _: None)
    train(_run(setup, folder, length_window=0), resume=True, say=lambda _: None)
    assert (folder / checkpoint.FINAL).is_dir()


# --- checkpoints cross devices ------------------------------------------------------------------------


def _device_run(setup, folder):
    return _run(setup, folder, save_every=2, epochs=1)


def _as_if_saved_on_cuda(path, monkeypatch):
    """Rewrite the torch file at ``path`` with its storages tagged cuda:0 (what a GPU run writes).

    A run's ``final/checksums.json`` is rewritten with the new file's digest, as a GPU run writes it.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(state, path)
    manifest = path.parent / checksums.MANIFEST
    if manifest.exists():
        doc = json.loads(manifest.read_text())
        doc["sha256"][f"{path.parent.name}/{path.name}"] = checksums.file_sha256(path)
        manifest.write_text(json.dumps(doc))
    return state


def test_checkpoint_written_on_cuda_resumes_on_the_cpu(setup, tmp_path, monkeypatch):
    train(_device_run(setup, tmp_path / "whole"), say=lambda _: None)

    def kill(event):
        if event["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_device_run(setup, tmp_path / "cut"), say=lambda _: None, on_step=kill)
    path = tmp_path / "cut" / checkpoint.CHECKPOINT
    saved = _as_if_saved_on_cuda(path, monkeypatch)
    if not torch.cuda.is_available():  # the file really says cuda: without map_location it cannot load here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    loaded = checkpoint.load_checkpoint(tmp_path / "cut", "cpu")
    assert loaded["step"] == 2 and all(t.device.type == "cpu" for t in loaded["model"].values())
    assert all(torch.equal(saved["model"][k], loaded["model"][k]) for k in saved["model"])
    train(_device_run(setup, tmp_path / "cut"), resume=True, say=lambda _: None)
    whole = read_torch(tmp_path / "whole" / "final" / "model.pt")
    resumed = read_torch(tmp_path / "cut" / "final" / "model.pt")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_final_model_written_on_cuda_loads_on_the_cpu(setup, tmp_path, monkeypatch):
    train(_device_run(setup, tmp_path / "run"), say=lambda _: None)
    saved = _as_if_saved_on_cuda(tmp_path / "run" / "final" / "model.pt", monkeypatch)
    model, _, _ = checkpoint.load_run(tmp_path / "run", device="cpu")
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_cpu_checkpoint_loads_onto_another_device_type(setup, tmp_path):
    train(_device_run(setup, tmp_path / "run"), say=lambda _: None)
    targets = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in targets:
        state = checkpoint.load_checkpoint(tmp_path / "run", device)
        assert {t.device.type for t in state["model"].values()} == {device}
