"""open_clip backend: named models with pretrained tags, local checkpoints, custom configs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from gaptools.datasets.files import read_json
from gaptools.embed.encoders import Encoder, close_names
from gaptools.errors import InputError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")
CONFIG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")


class OpenClipEncoder(Encoder):
    """An open_clip ``CLIP``/``CustomTextCLIP`` with its tokenizer and eval transform."""

    backend = "open_clip"

    def __init__(self, module, preprocess, tokenizer, **kwargs) -> None:
        super().__init__(module, preprocess, **kwargs)
        self.tokenizer = tokenizer

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.module.encode_image(pixels)  # (B, D)

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(captions).to(self.device)  # (B, context_length)
        return self.module.encode_text(tokens)  # (B, D)


def _is_file_arg(value: str) -> bool:
    return value.startswith((".", "/", "~")) or Path(value).suffix.lower() in CHECKPOINT_SUFFIXES or Path(value).exists()


def _checkpoint(path: str) -> str:
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: checkpoint file not found")
    return path


def _load_weights(module, checkpoint: str, config_name: str) -> None:
    """Load a state_dict (``torch.load(weights_only=True)``) strictly into ``module``."""
    import open_clip

    try:
        open_clip.load_checkpoint(module, checkpoint, strict=True, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputError(
            f"{checkpoint}: not a plain state_dict ({str(exc).splitlines()[0]})",
            hint="gaptools loads checkpoints with torch.load(weights_only=True): save model.state_dict()",
        ) from None
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = "; ".join(lines[1:3]) or lines[0] if lines else str(exc)
        raise InputError(f"{checkpoint}: does not match the model config {config_name} ({detail[:300]})") from None
    except (EOFError, OSError, ValueError) as exc:
        raise InputError(f"{checkpoint}: not a readable checkpoint ({exc})") from None


def _from_config(config_path: str | os.PathLike, checkpoint: str | None, model_name: str | None) -> OpenClipEncoder:
    """Build ``open_clip.CLIP`` from an open_clip model-config JSON and load its checkpoint."""
    import open_clip
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

    cfg = read_json(config_path)
    if not isinstance(cfg, dict) or not all(k in cfg for k in CONFIG_KEYS):
        raise InputError(
            f"{config_path}: not an open_clip model config",
            hint="expected a JSON object with embed_dim, vision_cfg and text_cfg, as in open_clip's model_configs/*.json",
        )
    cfg = dict(cfg)
    text_cfg = cfg["text_cfg"]
    custom = cfg.pop("custom_text", False) or "hf_model_name" in text_cfg
    if "multimodal_cfg" in cfg:
        raise InputError(f"{config_path}: CoCa configs (multimodal_cfg) are not supported; use a CLIP config")
    cls = open_clip.CustomTextCLIP if custom else open_clip.CLIP
    try:
        module = cls(**cfg)
    except (TypeError, KeyError, ValueError, AssertionError) as exc:
        raise InputError(f"{config_path}: invalid open_clip model config ({type(exc).__name__}: {exc})") from None
    files = (str(config_path),)
    if checkpoint is not None:
        checkpoint = _checkpoint(checkpoint)
        _load_weights(module, checkpoint, str(config_path))
        files += (checkpoint,)
    context = text_cfg.get("context_length", 77)
    if text_cfg.get("hf_tokenizer_name"):
        tokenizer = HFTokenizer(text_cfg["hf_tokenizer_name"], context_length=context)
    else:
        tokenizer = SimpleTokenizer(context_length=context, **text_cfg.get("tokenizer_kwargs", {}))
    preprocess = open_clip.image_transform(module.visual.image_size, is_train=False)
    return OpenClipEncoder(
        module, preprocess, tokenizer, model_name=model_name or Path(config_path).stem,
        pretrained=checkpoint, model_config=str(config_path), files=files,
    )


def _from_name(model_name: str, pretrained: str | None, cache_dir: str | None) -> OpenClipEncoder:
    """A built-in (or ``hf-hub:``) open_clip model with a pretrained tag or a local checkpoint."""
    import open_clip

    builtin = not model_name.startswith(("hf-hub:", "local-dir:"))
    if builtin and model_name not in open_clip.list_models():
        raise InputError(f"unknown open_clip model {model_name!r}", hint=close_names(model_name, open_clip.list_models(), "models"))
    files: tuple[str, ...] = ()
    if builtin and pretrained is not None:
        if _is_file_arg(pretrained):
            pretrained = _checkpoint(pretrained)
            files = (pretrained,)
        elif pretrained not in open_clip.list_pretrained_tags_by_model(model_name):
            tags = open_clip.list_pretrained_tags_by_model(model_name)
            raise InputError(
                f"open_clip model {model_name!r} has no pretrained tag {pretrained!r}",
                hint=close_names(pretrained, tags, "tags") if tags else "it has no pretrained tags; pass a checkpoint file",
            )
    try:
        module, _, preprocess = open_clip.create_model_and_transforms(
            model_name, pretrained=None if files else pretrained, cache_dir=cache_dir, weights_only=True
        )
    except RuntimeError as exc:
        if "download" in str(exc).lower() or "hub" in str(exc).lower():
            raise InputError(
                f"could not download the weights of {model_name} / {pretrained} (no network?)",
                hint="run once where the internet is reachable to fill the cache, or pass --pretrained ./checkpoint.pt",
            ) from None
        raise
    if files:
        _load_weights(module, files[0], model_name)
    tokenizer = open_clip.get_tokenizer(model_name, cache_dir=cache_dir)
    return OpenClipEncoder(module, preprocess, tokenizer, model_name=model_name, pretrained=pretrained, files=files)


def load_openclip(
    model_name: str, pretrained: str | None, *, model_config: str | os.PathLike | None = None, cache_dir: str | None = None
) -> OpenClipEncoder:
    """Load an open_clip model on CPU (see :func:`gaptools.embed.load_encoder` for the arguments)."""
    if model_config is not None:
        if pretrained is not None and not _is_file_arg(pretrained):
            raise InputError(f"with --model-config, --pretrained must be a checkpoint file, got {pretrained!r}")
        return _from_config(model_config, pretrained, model_name)
    return _from_name(model_name, pretrained, cache_dir)
