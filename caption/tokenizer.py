"""Tokenizers for the caption decoder: loading (offline-safe errors), tokenising once, training a small one.

Every target caption ends with the tokenizer's end-of-sequence token, so a trained model
learns where to stop (the ClipCap reference code trains without one and its captions trail off).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from gaptools.caption.hub import from_pretrained
from gaptools.errors import InputError


def load_tokenizer(name_or_dir: str | os.PathLike):
    """Load a Hugging Face tokenizer by hub id or local folder and check it has an EOS token.

    Parameters
    ----------
    name_or_dir : str or path-like
        A hub id (``"gpt2"``, read from the local cache when there) or a folder written by
        ``save_pretrained``.

    Returns
    -------
    transformers.PreTrainedTokenizerBase
    """
    from transformers import AutoTokenizer

    tok = from_pretrained(AutoTokenizer, name_or_dir, "tokenizer")
    if tok.eos_token_id is None:
        raise InputError(f"tokenizer '{name_or_dir}' has no end-of-sequence token; captions need one to stop")
    return tok


def encode_captions(tokenizer, captions: Iterable[str], *, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Tokenise every caption once, append EOS, and pack the ids into one right-padded matrix.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerBase
    captions : iterable of str, length N
    max_tokens : int
        Longest target kept, EOS included; longer captions are cut to ``max_tokens - 1``
        tokens before the EOS.

    Returns
    -------
    ids : ndarray, shape (N, T_max), int32
        Token ids, padded on the right with EOS (padding is masked by ``lengths``, never by id).
    lengths : ndarray, shape (N,), int64
        Tokens of each target, EOS included (at least 1).
    """
    if max_tokens < 2:
        raise InputError(f"--max-tokens must be at least 2 (one token and EOS), got {max_tokens}")
    captions = [str(c) for c in captions]
    encoded = tokenizer(captions, add_special_tokens=False)["input_ids"] if captions else []
    eos = tokenizer.eos_token_id
    lengths = np.array([min(len(e), max_tokens - 1) + 1 for e in encoded], dtype=np.int64)
    ids = np.full((len(encoded), int(lengths.max(initial=1))), eos, dtype=np.int32)
    for row, (e, n) in enumerate(zip(encoded, lengths)):
        ids[row, : n - 1] = e[: n - 1]
    return ids, lengths


def train_tokenizer(texts: Iterable[str], folder: str | os.PathLike | None, *, vocab_size: int = 1000):
    """Train a byte-level BPE tokenizer (GPT-2 style) on ``texts`` and save it to ``folder``.

    Useful for small worlds (the shapes world) and for tests: it needs no download. The same
    texts give the same tokenizer, in another process too (tested).

    Parameters
    ----------
    texts : iterable of str
    folder : path-like or None
        Written with ``save_pretrained``; load it back with :func:`load_tokenizer`. None: not saved.
    vocab_size : int
        Target vocabulary size (the 256 byte symbols and ``<|endoftext|>`` included).

    Returns
    -------
    transformers.PreTrainedTokenizerFast
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    eos = "<|endoftext|>"
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[eos], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(list(texts), trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=eos, bos_token=eos, unk_token=eos)
    if folder is not None:
        tok.save_pretrained(str(Path(folder)))
    return tok
