"""The demo data that ships inside the package, so commands run with no arguments.

``gaptools/data/shapes/`` holds a toy CLIP trained on the shapes world (seed 0) and two
embedding sets made with it; see :mod:`gaptools.world.shipped` for how they are built.
"""

from __future__ import annotations

import json
from pathlib import Path

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
