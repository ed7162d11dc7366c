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


def test_build_shapes_demo_writes_every_shipped_file_from_a_world_and_its_toy_clip(tmp_path):
    """The builder of gaptools/data/shapes/, end to end on a tiny world and a one-layer toy CLIP."""
    from gaptools.world import generate_world
    from gaptools.world.clip import TrainSettings, train_clip
    from gaptools.world.presets import DEFAULT_PRESET, get_preset
    from gaptools.world.shipped import build_shapes_demo

    preset = get_preset(DEFAULT_PRESET)
    params = WorldParams(**{**preset.world, "n_images": 36, "n_val": 3, "n_test": 6, "seed": 5})
    generate_world(tmp_path / "world", params)
    config = {**preset.model_config, "embed_dim": 32,
              "vision_cfg": {**preset.model_config["vision_cfg"], "layers": 1, "width": 32, "head_width": 16},
              "text_cfg": {**preset.model_config["text_cfg"], "layers": 1, "width": 32, "heads": 2}}
    settings = TrainSettings(**{**preset.training, "minutes": None, "max_steps": 3, "batch_size": 8, "warmup_steps": 1})
    train_clip(tmp_path / "world", tmp_path / "clip", settings, model_config=config)
    dest = tmp_path / "demo"
    recipe = build_shapes_demo(tmp_path / "world", tmp_path / "clip", dest, preset=DEFAULT_PRESET, train_images=4)
    assert sorted(p.name for p in dest.iterdir()) == ["checkpoint.pt", "model.json", "recipe.json", "test.npz",
                                                      "train_text.npz"]  # no staging file left behind
    assert json.loads((dest / "recipe.json").read_text()) == recipe
    assert recipe["preset"] == DEFAULT_PRESET and WorldParams(**recipe["world"]) == params
    assert recipe["test_pixels_sha256"] == pixels_sha256(params, "test")
    assert recipe["commands"][0] == f"gaptools world generate -o world --preset {DEFAULT_PRESET} --images 36 --seed 5"
    test, train = load_set(dest / "test.npz"), load_set(dest / "train_text.npz")
    assert (test.n_image, test.n_text, test.dim) == (6, 30, 32)
    assert (train.n_image, train.n_text) == (0, 20)
    assert list(test.caption) == [c for i in world_items(params, params.indices("test")) for c in i["captions"]]


def test_recipe_options_write_switches_as_flags():
    from gaptools.world.shipped import _options

    assert _options({"batch_size": 8, "minutes": None, "max_steps": 3, "fixed_projection": False}) == "--batch-size 8 --steps 3"
    assert _options({"lr": 0.001, "fixed_projection": True}) == "--lr 0.001 --fixed-projection"
