"""Length-grouped batches inside `caption train`: resume stays exact, runs recorded before the setting resume."""

import json

import numpy as np
import pytest
import torch

from caption import checkpoint
from caption.model import init_decoder
from caption.tokenizer import train_tokenizer
from caption.train import TrainConfig, train
from gaptools.errors import InputError
from gaptools.io import EmbeddingSet, save_set

# captions of very different lengths, so that grouping changes which captions share a batch
WORDS = ["red", "blue", "green", "big", "small", "round", "square", "bright", "dark", "soft"]
CAPTIONS = [" ".join(WORDS[(i + j) % 10] for j in range(1 + (i * 7) % 9)) for i in range(32)]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    return TrainConfig(setup["data"], str(folder), decoder=setup["decoder"], prefix_length=2, lr=1e-3, warmup=0,
                       batch_size=4, epochs=2, save_every=3, log_every=1, device="cpu", **settings)


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
