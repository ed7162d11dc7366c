"""CLIP embeddings of image–caption datasets with any open_clip or Hugging Face CLIP.

>>> from gaptools.datasets import read_coco, resolve_images
>>> from gaptools.embed import load_encoder, embed_dataset
>>> records, _ = resolve_images(read_coco("dataset_coco.json", split="test"), "/data/coco")
>>> encoder = load_encoder("ViT-B-32", "openai")
>>> embed_dataset(records, encoder, "coco_test.npz")

See :func:`load_encoder` (open_clip names/tags/checkpoints/custom configs, ``hf:`` models) and
:func:`embed_dataset` (batched, resumable, torchrun-aware loop).
"""

from gaptools.embed.encoders import Encoder, load_encoder
from gaptools.embed.run import embed_dataset

__all__ = ["Encoder", "embed_dataset", "load_encoder"]
