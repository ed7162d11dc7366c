"""Tiny inputs for the hostile sweep: a planted set, a 1-step captioning run, a tiny decoder.

Everything is small enough that a test file runs in seconds; the run is trained once per module.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gaptools.io import EmbeddingSet, save_set
from gaptools.synthetic import planted_gap


def _load_helpers():
    """tests/safety/sweep.py as a module (tests run with --import-mode=importlib: no sibling imports)."""
    spec = importlib.util.spec_from_file_location("safety_sweep", Path(__file__).with_name("sweep.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SWEEP = _load_helpers()


@pytest.fixture
def sweep():
    """The sweep's helpers: ``invoke``, ``refused``, ``train_args``, ``CAPTIONS``."""
    return SWEEP


@pytest.fixture
def planted(tmp_path):
    """A small paired set with captions, saved as ``set.npz``."""
    s = planted_gap(40, 8, shift=0.6, captions_per_image=2)
    return save_set(s, tmp_path / "set.npz")


@pytest.fixture(scope="module")
def caption_files(tmp_path_factory):
    """A tiny GPT-2 folder, a captioned 8-d set and a finished 1-epoch text-trained run."""
    import torch

    from gaptools.caption.model import init_decoder
    from gaptools.caption.tokenizer import train_tokenizer
    from gaptools.cli.caption import app

    root = tmp_path_factory.mktemp("safety_caption")
    rng = np.random.default_rng(1)
    eset = EmbeddingSet(image=rng.normal(size=(6, 8)), text=rng.normal(size=(12, 8)),
                        text_image=np.repeat(np.arange(6), 2), caption=SWEEP.CAPTIONS)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        init_decoder(root / "gpt", train_tokenizer(SWEEP.CAPTIONS, root / "tok", vocab_size=270),
                     n_layer=1, n_embd=16, n_head=2, n_positions=32)
    data = save_set(eset, root / "set.npz")
    result = SWEEP.invoke(app, "train", data, "-o", root / "run", *SWEEP.train_args(root / "gpt"))
    assert result.exit_code == 0, result.output
    return {"root": root, "decoder": root / "gpt", "set": data, "run": root / "run"}
