"""Hugging Face transformers backend: a ``CLIPModel`` from the hub or a local folder."""

from __future__ import annotations

from pathlib import Path

import torch

from gaptools.embed.encoders import Encoder
from gaptools.errors import InputError


class HFPreprocess:
    """PIL image -> pixel tensor (3, H, W) with the model's image processor (picklable)."""

    def __init__(self, image_processor) -> None:
        self.image_processor = image_processor

    def __call__(self, image) -> torch.Tensor:
        return self.image_processor(images=image, return_tensors="pt")["pixel_values"][0]


def _features(output) -> torch.Tensor:
    """transformers 4 returns the projected features; 5 returns an output with them pooled."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class HFClipEncoder(Encoder):
    """A transformers ``CLIPModel`` with its tokenizer and image processor."""

    backend = "hf"

    def __init__(self, module, preprocess, tokenizer, **kwargs) -> None:
        super().__init__(module, preprocess, **kwargs)
        self.tokenizer = tokenizer
        self.max_length = module.config.text_config.max_position_embeddings

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return _features(self.module.get_image_features(pixel_values=pixels))  # (B, D)

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        batch = self.tokenizer(captions, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        return _features(self.module.get_text_features(**batch))  # (B, D)


def load_hf(ident: str, *, cache_dir: str | None = None) -> HFClipEncoder:
    """Load ``CLIPModel``, tokenizer and image processor from a hub id or a local folder (on CPU)."""
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, CLIPModel

    local = Path(ident).expanduser()
    if ident.startswith((".", "/", "~")) and not local.is_dir():
        raise InputError(f"{ident}: Hugging Face model folder not found")
    source = str(local) if local.is_dir() else ident
    try:
        config = AutoConfig.from_pretrained(source, cache_dir=cache_dir)
    except (OSError, ValueError) as exc:
        where = "folder" if local.is_dir() else "hub id (no network, or not in the cache?)"
        raise InputError(
            f"could not load the Hugging Face model {ident!r}: {str(exc).splitlines()[0][:200]}",
            hint=f"check the {where}; a folder needs config.json, the weights, tokenizer and preprocessor files",
        ) from None
    if config.model_type != "clip":
        raise InputError(f"{ident}: a {config.model_type!r} model; the hf backend loads CLIP models (model_type 'clip')")
    try:
        module = CLIPModel.from_pretrained(source, cache_dir=cache_dir)
        tokenizer = AutoTokenizer.from_pretrained(source, cache_dir=cache_dir)
        image_processor = AutoImageProcessor.from_pretrained(source, cache_dir=cache_dir)
    except (OSError, ValueError) as exc:
        raise InputError(f"could not load the Hugging Face model {ident!r}: {str(exc).splitlines()[0][:200]}") from None
    files = tuple(str(p) for p in sorted(local.iterdir()) if p.is_file()) if local.is_dir() else ()
    return HFClipEncoder(
        module, HFPreprocess(image_processor), tokenizer,
        model_name=f"hf:{source}", pretrained=None, files=files,
    )
