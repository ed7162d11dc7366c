"""The shapes-world demo shipped in gaptools/data/shapes/: it loads, and its world regenerates exactly.

The images and captions are a pure function of the recipe, so they must match anywhere; the
weights came from one training run and other machines' arithmetic may train different ones,
so the test checks the shipped weights against the shipped embeddings, not a retraining.
"""

import json

import numpy as np
import pytest

from gaptools import demo
from gaptools.io import load_set
from gaptools.world import WorldParams, world_items
from gaptools.world.shipped import pixels_sha256

RECIPE = json.loads(demo.SHAPES_RECIPE.read_text())
PARAMS = WorldParams(**RECIPE["world"])


def test_the_shipped_sets_load_with_the_expected_shapes():
    test = load_set(demo.SHAPES_TEST)
    n_test = len(PARAMS.indices("test"))
    assert test.n_image == n_test and test.n_text == 5 * n_test and test.meta["split"] == "test"
    train = load_set(demo.SHAPES_TRAIN_TEXT)
    assert train.n_image == 0 and train.n_text == 5 * RECIPE["train_text_images"]
    assert np.array_equal(train.text_image, np.repeat(np.arange(RECIPE["train_text_images"]), 5))
    assert demo.default_set() == demo.SHAPES_TEST and "shapes-world" in demo.describe()


def test_regenerating_the_world_from_its_seed_gives_the_shipped_images_and_captions():
    test = load_set(demo.SHAPES_TEST)
    items = list(world_items(PARAMS, PARAMS.indices("test")))
    assert list(test.image_id) == [i["filename"] for i in items]
    assert list(test.caption) == [c for i in items for c in i["captions"]]
    assert pixels_sha256(PARAMS, "test") == RECIPE["test_pixels_sha256"]
    train = load_set(demo.SHAPES_TRAIN_TEXT)
    first = PARAMS.indices("train")[: RECIPE["train_text_images"]]
    assert list(train.caption) == [c for i in world_items(PARAMS, first) for c in i["captions"]]


def test_the_shipped_checkpoint_loads_with_open_clip_and_reproduces_the_shipped_embeddings():
    import open_clip
    import torch

    config = json.loads((demo.SHAPES_DIR / "model.json").read_text())
    model = open_clip.CLIP(**config).eval()
    open_clip.load_checkpoint(model, str(demo.SHAPES_DIR / "checkpoint.pt"), strict=True, weights_only=True)
    test = load_set(demo.SHAPES_TEST)
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=config["text_cfg"]["context_length"])
    with torch.no_grad():
        text = model.encode_text(tokenizer(list(test.caption[:20])), normalize=True).numpy()
    assert np.abs(text - test.text[:20]).max() < 2e-2  # float16 storage; arithmetic may differ by machine


def test_the_shipped_toy_clip_retrieves_far_above_chance():
    from gaptools.world.clip import retrieval_recall

    test = load_set(demo.SHAPES_TEST)
    r = retrieval_recall(test.image, test.text, test.text_image)
    assert r["r1_image_to_text"] > 20 * r["chance_image_to_text"]
    assert r["r1_text_to_image"] > 20 * r["chance_text_to_image"]
    assert r == pytest.approx(RECIPE["training"]["test_retrieval"], abs=0.02)
