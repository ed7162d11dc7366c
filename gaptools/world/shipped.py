"""Building the shapes-world demo that ships inside the package (``gaptools/data/shapes/``).

Files:

==================  ===============================================================
``model.json``      the toy CLIP's open_clip model config
``checkpoint.pt``   its weights only, float16 (``{"state_dict": ...}``)
``test.npz``        embedding set of the world's test split: images and captions
``train_text.npz``  text-only set (0 image rows) of the first train images' captions,
                    grouped by image (``text_image``), for text-only captioners
``recipe.json``     the world's params, the training settings and metrics, the number of
                    train images kept, and a SHA-256 of the test images' pixels
==================  ===============================================================

The world (images and captions) is a pure function of its params, so it regenerates
identically anywhere; the trained weights depend on the machine's arithmetic and need not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np

from gaptools.atomic import write_json
from gaptools.datasets.files import read_json
from gaptools.world.generate import CAPTIONS, IMAGES, read_manifest, world_items, world_params
from gaptools.world.scene import WorldParams, filename

RECIPE = "recipe.json"


def pixels_sha256(params: WorldParams, split: str = "test") -> str:
    """SHA-256 of the RGB pixels of one split's images, in order (regenerated in memory)."""
    digest = hashlib.sha256()
    for item in world_items(params, params.indices(split)):
        digest.update(np.asarray(item["image"], dtype=np.uint8).tobytes())
    return digest.hexdigest()


def _files(params: WorldParams, split: str) -> list[str]:
    return [filename(i) for i in params.indices(split)]


def _options(settings: dict) -> str:
    """The ``train-clip`` options that give ``settings`` (a switch only when on)."""
    words = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-").replace("max-steps", "steps")
        if isinstance(value, bool):
            words += [flag] if value else []
        elif value is not None:
            words.append(f"{flag} {value}")
    return " ".join(words)


def build_shapes_demo(world: str | os.PathLike, clip: str | os.PathLike, dest: str | os.PathLike,
                      *, preset: str, train_images: int = 1000) -> dict:
    """Export the toy CLIP (float16) and embed the world's test split and train captions with it.

    Parameters
    ----------
    world : path-like
        A world folder (``gaptools world generate``).
    clip : path-like
        A training folder (``gaptools world train-clip``) trained on that world.
    dest : path-like
        Folder receiving the files listed in the module docstring.
    preset : str
        The :mod:`gaptools.world.presets` name the world and the toy CLIP were made with (the
        recipe's commands start from it).
    train_images : int
        Train images whose captions go into ``train_text.npz`` (keeps the package small).

    Returns
    -------
    dict
        The content of ``recipe.json``.
    """
    from gaptools.datasets import read_coco, resolve_images
    from gaptools.embed import embed_dataset, load_encoder
    from gaptools.world.clip import CHECKPOINT, METRICS, MODEL_CONFIG, export_float16

    world, clip, dest = Path(world), Path(clip), Path(dest)
    params = world_params(world)
    export_float16(clip, dest)
    encoder = load_encoder("shapes-toy-clip", str(dest / CHECKPOINT), model_config=dest / MODEL_CONFIG, device="cpu")
    # provenance relative to the shipped folder and the regenerated world, not this machine's paths
    meta = {"world_seed": params.seed, "world_images": params.n_images,
            "model_config": MODEL_CONFIG, "pretrained": CHECKPOINT}
    records = dataclasses.replace(read_coco(world / CAPTIONS, dataset="shapes-world"), source=f"world/{CAPTIONS}")
    test, _ = resolve_images(records.select_images(np.isin(records.image_id, _files(params, "test"))), world / IMAGES)
    test = dataclasses.replace(test, split="test")
    train = records.select_images(np.isin(records.image_id, _files(params, "train")[:train_images]))
    train = dataclasses.replace(train, split="train")
    for name, split, text_only in (("test.npz", test, False), ("train_text.npz", train, True)):
        embed_dataset(split, encoder, dest / name, text_only=text_only, float16=True, compress=True, progress=False,
                      num_workers=0, meta=meta)  # compress: deflates the caption strings
    metrics = read_json(clip / METRICS)
    recipe = {
        "preset": preset,
        "world": read_manifest(world)["params"],
        "train_text_images": train_images,
        "test_pixels_sha256": pixels_sha256(params, "test"),
        "training": {k: metrics[k] for k in ("settings", "steps", "train_seconds", "logit_scale", "test_retrieval")},
        "commands": [
            f"gaptools world generate -o world --preset {preset} --images {params.n_images} --seed {params.seed}",
            f"gaptools world train-clip world -o toyclip --preset {preset} " + _options(metrics["settings"]),
        ],
        "note": "the world regenerates identically from its params; trained weights may differ across machines",
    }
    write_json(dest / RECIPE, recipe)
    return recipe
