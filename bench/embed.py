"""Speed of `gaptools embed` against the reference-style loop, on this machine.

ViT-B-32 with random weights (speed does not depend on them; nothing is downloaded) embeds
N generated images with C captions each, twice:

* reference loop: for every caption, load and encode its image and encode the caption,
  batch size 1 (what the usual reference code does: each image encoded once per caption);
* gaptools: :func:`gaptools.embed.embed_dataset` (each image once, captions in large batches,
  DataLoader workers decoding images).

Prints images/s and captions/s of the dataset for both and the ratio. Usage::

    .venv/bin/python bench/embed.py --images 16 --captions 5   # ~3 min on a loaded 2-core CPU
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gaptools.datasets import group_captions, resolve_images
from gaptools.embed import embed_dataset, load_encoder


def make_dataset(folder: Path, n_images: int, n_captions: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(n_images):
        pixels = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
        entries += [(f"{i}.jpg", f"{i}.jpg", f"a photo of object {i} seen from side {j} on a sunny day", "") for j in range(n_captions)]
    records, _ = resolve_images(group_captions(entries, dataset="bench", source=str(folder / "bench.csv")), folder)
    return records


def reference_loop(encoder, records) -> float:
    """One (image, caption) pair at a time, batch 1, each image re-encoded per caption."""
    start = time.perf_counter()
    with torch.inference_mode():
        for caption, row in zip(records.caption, records.text_image):
            with Image.open(records.image_file[row]) as image:
                pixels = encoder.preprocess(image.convert("RGB"))[None]
            image_feature = torch.nn.functional.normalize(encoder.encode_images(pixels), dim=-1)
            text_feature = torch.nn.functional.normalize(encoder.encode_texts([caption]), dim=-1)
            _ = (image_feature.numpy(), text_feature.numpy())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--captions", type=int, default=5, help="captions per image")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    encoder = load_encoder("ViT-B-32", None, device="cpu")  # random init, no download
    print(f"torch threads: {torch.get_num_threads()}; ViT-B-32 random init; "
          f"{args.images} images x {args.captions} captions")
    with tempfile.TemporaryDirectory() as tmp:
        records = make_dataset(Path(tmp), args.images, args.captions)
        t_ref = reference_loop(encoder, records)
        start = time.perf_counter()
        embed_dataset(records, encoder, Path(tmp) / "out.npz", num_workers=args.workers, progress=False)
        t_ours = time.perf_counter() - start
    rows = [("reference loop (batch 1, image per caption)", t_ref), ("gaptools embed_dataset", t_ours)]
    for name, seconds in rows:
        print(f"{name:45s} {seconds:7.1f} s  {records.n_image / seconds:7.2f} images/s  "
              f"{records.n_text / seconds:7.2f} captions/s")
    print(f"speed-up on images/s of dataset: {t_ref / t_ours:.1f}x (goal >= 5x)")


if __name__ == "__main__":
    main()
