"""Tiny randomly initialised CLIPs, written the way users' own models are.

For tests and offline examples: an open_clip model-config JSON with its state_dict checkpoint
(loaded with ``--model-config`` / ``--pretrained``), and a Hugging Face ``CLIPModel`` folder with
a tokenizer and image processor (loaded with ``hf:<folder>``). Nothing is downloaded: the open_clip
tokenizer ships its vocabulary, and the Hugging Face tokenizer is a byte-level CLIP BPE with
no merges (every byte is a token), built here.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from gaptools.atomic import atomic_write, write_json

#: open_clip's model-config format (as in open_clip/model_configs/*.json), a few small layers.
TINY_OPENCLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def write_tiny_openclip(folder: str | os.PathLike, *, seed: int = 0) -> tuple[Path, Path]:
    """Write ``model.json`` (open_clip config) and ``checkpoint.pt`` (state_dict) of a random tiny CLIP.

    Returns
    -------
    config_path, checkpoint_path : Path
    """
    import open_clip

    folder = Path(folder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.CLIP(**TINY_OPENCLIP_CONFIG)
    config_path, checkpoint_path = folder / "model.json", folder / "checkpoint.pt"
    write_json(config_path, TINY_OPENCLIP_CONFIG)
    with atomic_write(checkpoint_path, "wb") as fh:
        torch.save(model.state_dict(), fh)
    return config_path, checkpoint_path


def tiny_clip_tokenizer():
    """A CLIP tokenizer whose vocabulary is the 256 byte symbols (plus end-of-word forms)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[])


def write_tiny_hf(folder: str | os.PathLike, *, seed: int = 0, image_size: int = 32) -> Path:
    """Write a random tiny transformers ``CLIPModel`` with tokenizer and image processor to ``folder``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    folder = Path(folder)
    tokenizer = tiny_clip_tokenizer()
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=32, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=8),
        projection_dim=16,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": image_size},
                                           crop_size={"height": image_size, "width": image_size}),
        tokenizer=tokenizer,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
