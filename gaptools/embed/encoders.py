"""The encoder interface and :func:`load_encoder`, which picks the backend.

An :class:`Encoder` wraps a frozen CLIP: ``preprocess`` turns a PIL image into a tensor
(it runs in DataLoader workers, so it is picklable), ``encode_images`` and ``encode_texts``
return raw (unnormalised) embeddings. Backends: :mod:`gaptools.embed.openclip` (open_clip)
and :mod:`gaptools.embed.hf` (Hugging Face transformers).
"""

from __future__ import annotations

import difflib
import os
from typing import Callable

import torch

from gaptools.device import resolve_device
from gaptools.errors import InputError

HF_PREFIX = "hf:"
BACKENDS = ("auto", "open_clip", "hf")


class Encoder:
    """A frozen image/text encoder.

    Attributes
    ----------
    backend : str
        ``"open_clip"`` or ``"hf"``.
    model_name : str
    pretrained : str or None
        Pretrained tag, checkpoint file, or None for random initialisation.
    model_config : str or None
        Custom model-config JSON, if any.
    preprocess : callable
        PIL image -> tensor of shape (3, H, W); picklable.
    module : torch.nn.Module
        The model, in eval mode.
    """

    backend = "?"

    def __init__(self, module, preprocess: Callable, *, model_name: str, pretrained: str | None,
                 model_config: str | None = None, files: tuple[str, ...] = ()) -> None:
        self.module = module.eval().requires_grad_(False)
        self.preprocess = preprocess
        self.model_name = model_name
        self.pretrained = pretrained
        self.model_config = model_config
        self._files = files

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def to(self, device: str | torch.device) -> "Encoder":
        self.module.to(device)
        return self

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """Image embeddings, shape (B, D), from pixels of shape (B, 3, H, W)."""
        raise NotImplementedError

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        """Caption embeddings, shape (B, D), for B caption strings."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What goes into an embedding set's ``meta``."""
        return {"encoder": self.backend, "model": self.model_name, "pretrained": self.pretrained,
                "model_config": self.model_config}

    def identity(self) -> dict:
        """:meth:`describe` plus size and mtime of local weight files (a changed file is a new run)."""
        stats = {}
        for f in self._files:
            st = os.stat(f)
            stats[f] = [st.st_size, st.st_mtime_ns]
        return {**self.describe(), "files": stats}


def close_names(name: str, valid: list[str], what: str) -> str:
    """A hint listing the valid names closest to ``name``."""
    close = difflib.get_close_matches(name, valid, n=6, cutoff=0.4)
    if close:
        return f"close {what}: {', '.join(close)}"
    return f"valid {what}: {', '.join(valid[:12])}" + (" ..." if len(valid) > 12 else "")


def load_encoder(
    model: str = "ViT-B-32",
    pretrained: str | None = "openai",
    *,
    model_config: str | os.PathLike | None = None,
    device: str | None = None,
    backend: str = "auto",
    cache_dir: str | None = None,
) -> Encoder:
    """Load a frozen CLIP from open_clip or Hugging Face transformers.

    Parameters
    ----------
    model : str
        open_clip: a model name (``ViT-B-32``) or ``hf-hub:org/repo``. Hugging Face: ``hf:<hub id>``
        or ``hf:<local folder>`` (or the bare id/folder with ``backend="hf"``).
    pretrained : str or None
        open_clip only: a pretrained tag (``openai``, ``laion2b_s34b_b79k``), a local checkpoint
        file (a state_dict), or None for random initialisation.
    model_config : path-like, optional
        open_clip only: a model-config JSON in open_clip's format (``embed_dim``, ``vision_cfg``,
        ``text_cfg``) for a custom model; ``pretrained`` is then its checkpoint file.
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:1``...; default: CUDA when present.
    backend : {"auto", "open_clip", "hf"}
        ``auto``: Hugging Face when ``model`` starts with ``hf:``.
    cache_dir : str, optional
        Where downloads go (default: the libraries' own caches).

    Returns
    -------
    Encoder
        On ``device``, in eval mode.
    """
    if backend not in BACKENDS:
        raise InputError(f"--backend {backend!r} is not one of {', '.join(BACKENDS)}")
    dev = resolve_device(device)
    if backend == "hf" or (backend == "auto" and model.startswith(HF_PREFIX)):
        if model_config is not None:
            raise InputError("--model-config is for open_clip models; a Hugging Face model folder holds its config")
        from gaptools.embed.hf import load_hf

        encoder = load_hf(model.removeprefix(HF_PREFIX), cache_dir=cache_dir)
    else:
        from gaptools.embed.openclip import load_openclip

        encoder = load_openclip(model, pretrained, model_config=model_config, cache_dir=cache_dir)
    return encoder.to(dev)

