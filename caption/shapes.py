"""The shapes world's caption decoder: a tiny GPT-2 initialised from a seed, with a byte-level BPE
tokenizer trained on the world's captions.

No pretrained language model exists for the world, so every shapes-world captioner starts from
this one and trains it (fine-tuned, as the paper fine-tunes GPT-2). It is built here, in about a
second and with no download, by :func:`build_decoder` — the one home of that recipe:

- ``reproduce shapes`` builds it into ``OUT/decoder`` from its world's training captions;
- ``caption train`` on a shapes-world set (``meta["dataset"] == "shapes-world"``) builds it in
  memory when ``--decoder`` is left out (or given as :data:`NAME`), with the tokenizer trained on
  the training captions shipped with the demo (``gaptools/data/shapes/train_text.npz``) and the
  weights initialised from the run's ``--seed``. The run folder keeps the tokenizer and the
  decoder's config, so ``caption eval`` needs nothing else.

Both are deterministic: the same captions give the same tokenizer (tested across processes) and
the same seed the same initial weights (on the CPU).
"""

from __future__ import annotations

import os

import numpy as np

from gaptools.caption.config import DECODER

#: ``--decoder`` value naming the shapes world's decoder built by :func:`build_decoder`.
NAME = "shapes-world"
#: The world decoder's GPT-2 shape (``transformers.GPT2Config`` fields); ``n_positions`` holds the
#: prefix and the longest target (64 tokens, ``caption train --max-tokens``).
GPT2 = dict(n_layer=3, n_embd=128, n_head=4, n_positions=80)
#: Its tokenizer's vocabulary (the 256 byte symbols and ``<|endoftext|>`` included).
VOCAB_SIZE = 400


def is_world_set(meta: dict) -> bool:
    """True for an embedding set of the shapes world (its ``meta["dataset"]``)."""
    from gaptools.caption.eval_run import WORLD_DATASET

    return meta.get("dataset") == WORLD_DATASET


def default_decoder(meta: dict) -> str:
    """The decoder a run uses when none is given: :data:`NAME` on a shapes-world set, else ``"gpt2"``."""
    return NAME if is_world_set(meta) else DECODER


def describe(seed: int) -> str:
    """One line saying what the built-in decoder is, for the console."""
    shape = GPT2
    return (f"decoder: the shapes world's own tiny GPT-2 ({shape['n_layer']} layers, width {shape['n_embd']}, "
            f"initialised from seed {seed}; BPE tokenizer of {VOCAB_SIZE} trained on the demo's captions), "
            f"built here with no download; real data uses --decoder {DECODER}")


def build_decoder(texts, *, seed: int, vocab_size: int = VOCAB_SIZE, folder: str | os.PathLike | None = None,
                  **gpt2):
    """Train the world's tokenizer on ``texts`` and initialise a GPT-2 for it from ``seed``.

    Parameters
    ----------
    texts : iterable of str
        Captions the tokenizer is trained on (the world's training captions).
    seed : int
        Seed of the decoder's initial weights (the global torch generator is left as it was).
    vocab_size : int
        The tokenizer's target vocabulary.
    folder : path-like, optional
        Also save both there (``save_pretrained``), usable as ``--decoder FOLDER``.
    **gpt2
        ``transformers.GPT2Config`` fields; default :data:`GPT2`.

    Returns
    -------
    tokenizer : transformers.PreTrainedTokenizerFast
    decoder : transformers.GPT2LMHeadModel
    """
    import torch

    from gaptools.caption.model import init_decoder
    from gaptools.caption.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(texts, folder, vocab_size=vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        decoder = init_decoder(folder, tokenizer, **(gpt2 or GPT2))
    return tokenizer, decoder


def shipped_captions() -> list[str]:
    """The training captions shipped with the demo (``gaptools/data/shapes/train_text.npz``), in order."""
    from gaptools.demo import SHAPES_TRAIN_TEXT

    with np.load(SHAPES_TRAIN_TEXT, allow_pickle=False) as data:
        return [str(c) for c in data["caption"]]


def builtin_decoder(seed: int):
    """The decoder :data:`NAME` stands for: :func:`build_decoder` on :func:`shipped_captions`.

    Returns
    -------
    tokenizer, decoder
        As :func:`build_decoder`.
    """
    return build_decoder(shipped_captions(), seed=seed)
