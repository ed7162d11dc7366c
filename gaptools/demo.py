"""The demo data that ships inside the package, so commands run with no arguments.

``gaptools/data/shapes/`` holds a toy CLIP trained on the shapes world (seed 0) and two
embedding sets made with it; see :mod:`gaptools.world.shipped` for how they are built.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).parent / "data"
SHAPES_DIR = DATA_DIR / "shapes"
SHAPES_TEST = SHAPES_DIR / "test.npz"
SHAPES_TRAIN_TEXT = SHAPES_DIR / "train_text.npz"
SHAPES_RECIPE = SHAPES_DIR / "recipe.json"


def default_set() -> Path:
    """Path of the embedding set `gaptools measure` uses when given none: the shapes-world test split."""
    return SHAPES_TEST


def describe() -> str:
    """Where the default set came from, for the console."""
    recipe = json.loads(SHAPES_RECIPE.read_text(encoding="utf-8"))
    world, training = recipe["world"], recipe["training"]
    return (f"shapes-world test split (`gaptools world generate --images {world['n_images']} --seed {world['seed']}`), "
            f"embedded by the shipped toy CLIP {SHAPES_DIR / 'checkpoint.pt'} "
            f"(open_clip, trained {training['steps']} steps on the world's train split)")


def world_params(**changes):
    """The :class:`gaptools.world.WorldParams` of the shipped demo's world (``recipe.json``), with ``changes``."""
    from gaptools.world import WorldParams

    recipe = json.loads(SHAPES_RECIPE.read_text(encoding="utf-8"))
    fields = {f.name for f in dataclasses.fields(WorldParams)}
    return WorldParams(**{k: v for k, v in {**recipe["world"], **changes}.items() if k in fields})


def world_scenes(eset) -> list[dict] | None:
    """The true scenes of a set's images when it is of the shipped demo's world, else None.

    The world is a pure function of its params, so the scenes are regenerated in memory from
    ``recipe.json`` (half a second for the 500 test images), no world folder needed. They are
    trusted only when the captions regenerated with them are exactly the set's captions, image
    by image; any other set (another world, another seed, edited captions) gets None.

    Parameters
    ----------
    eset : gaptools.EmbeddingSet
        A shapes-world set (``meta["dataset"] == "shapes-world"``) whose ``image_id`` are the
        world's file names (``005500.png``).

    Returns
    -------
    list of dict or None
        ``scenes.json`` entries (``filename``, ``imgid``, ``split``, ``background``, ``objects``).
    """
    from gaptools.world import world_items

    params = world_params()
    meta = eset.meta
    if (meta.get("dataset") != "shapes-world" or meta.get("world_seed") != params.seed
            or meta.get("world_images") != params.n_images or eset.image_id is None or eset.caption is None):
        return None
    stems = [Path(str(i)).stem for i in eset.image_id]
    if not all(s.isdigit() and int(s) < params.n_images for s in stems):
        return None
    rows = np.argsort(eset.text_image, kind="stable")
    starts = np.searchsorted(eset.text_image[rows], np.arange(len(stems) + 1))
    scenes = []
    for j, item in enumerate(world_items(params, [int(s) for s in stems])):
        if [str(eset.caption[r]) for r in rows[starts[j]:starts[j + 1]]] != item["captions"]:
            return None
        scenes.append({"filename": item["filename"], "imgid": item["imgid"], "split": item["split"], **item["scene"]})
    return scenes
