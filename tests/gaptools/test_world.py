"""The shapes world: generation, determinism, refusals, caption reading and scoring."""

import json

import numpy as np
import pytest
from PIL import Image

from gaptools.errors import InputError
from gaptools.world import WorldParams, generate_world, load_scenes, score_captions, world_items
from gaptools.world.score import load_predictions, read_caption
from gaptools.world.vocab import COLOURS, POSITIONS, SHAPES, SIZES

TINY = WorldParams(n_images=20, seed=7, n_val=2, n_test=3)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("w") / "world"
    assert generate_world(out, TINY) is True
    return out


def test_layout_is_karpathy_with_splits_scenes_and_pngs(world):
    doc = json.loads((world / "captions.json").read_text())
    images = doc["images"]
    assert [e["split"] for e in images] == ["train"] * 15 + ["val"] * 2 + ["test"] * 3
    for n, e in enumerate(images):
        assert e["imgid"] == n and e["filename"] == f"{n:06d}.png" and e["filepath"] == ""
        assert len(e["sentences"]) == 5 and len({s["raw"] for s in e["sentences"]}) == 5
        with Image.open(world / "images" / e["filename"]) as im:
            assert im.size == (64, 64) and im.mode == "RGB"
    scenes = load_scenes(world)
    assert [s["filename"] for s in scenes] == [e["filename"] for e in images]
    for s in scenes:
        assert 1 <= len(s["objects"]) <= 3
        assert len({o["position"] for o in s["objects"]}) == len(s["objects"])
    manifest = json.loads((world / "world.json").read_text())
    assert manifest["params"]["seed"] == 7 and manifest["splits"] == {"train": 15, "val": 2, "test": 3}


def test_same_seed_same_world_and_images_do_not_depend_on_order(world, tmp_path):
    again = tmp_path / "again"
    generate_world(again, TINY)
    for name in ("captions.json", "scenes.json"):
        assert (again / name).read_bytes() == (world / name).read_bytes()
    for n in range(TINY.n_images):
        a = np.asarray(Image.open(world / "images" / f"{n:06d}.png"))
        b = np.asarray(Image.open(again / "images" / f"{n:06d}.png"))
        assert np.array_equal(a, b)
    (alone,) = world_items(TINY, [13])  # one image made alone equals the same image in the full world
    assert np.array_equal(np.asarray(alone["image"]), np.asarray(Image.open(world / "images" / "000013.png")))
    other = list(world_items(WorldParams(n_images=20, seed=8, n_val=2, n_test=3), range(5)))
    assert [o["captions"] for o in other] != [i["captions"] for i in world_items(TINY, range(5))]


def test_the_world_uses_every_attribute_value():
    scenes = [item["scene"] for item in world_items(WorldParams(n_images=300, seed=0), range(300))]
    objects = [o for s in scenes for o in s["objects"]]
    assert {o["shape"] for o in objects} == set(SHAPES) and len(SHAPES) >= 6
    assert {o["colour"] for o in objects} == set(COLOURS) and len(COLOURS) >= 8
    assert {o["size"] for o in objects} == set(SIZES) and {o["position"] for o in objects} == set(POSITIONS)
    assert {len(s["objects"]) for s in scenes} == {1, 2, 3}


def test_same_world_is_not_rewritten_and_a_different_one_is_refused(world, tmp_path):
    before = {p.name: p.stat().st_mtime_ns for p in world.iterdir()}
    assert generate_world(world, TINY) is False
    with pytest.raises(InputError, match="holds a different world.*seed=7 there, 8 asked"):
        generate_world(world, WorldParams(n_images=20, seed=8, n_val=2, n_test=3))
    assert {p.name: p.stat().st_mtime_ns for p in world.iterdir()} == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a world folder written by gaptools"):
        generate_world(other, TINY)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_images=0), "at least 3 images"),
        (dict(max_objects=6), "at most 5 objects fit"),
        (dict(min_objects=3, max_objects=2), "min"),
        (dict(n_images=10, n_val=5, n_test=5), "leave no training images"),
        (dict(captions_per_image=8), "between 1 and 7"),
    ],
)
def test_impossible_params_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        WorldParams(**kwargs)


def test_unknown_split_is_refused():
    with pytest.raises(InputError, match="unknown split 'dev'"):
        TINY.indices("dev")


def test_reading_the_worlds_own_captions_finds_only_true_attributes(world):
    scenes = load_scenes(world)
    captions = json.loads((world / "captions.json").read_text())["images"]
    predictions = [{"image_id": e["imgid"], "caption": s["raw"]} for e in captions for s in e["sentences"]]
    scores = score_captions(scenes, predictions)
    assert scores["n_captions"] == 100 and scores["n_images"] == 20
    for attribute in ("colour", "shape", "size", "position"):
        assert scores["attributes"][attribute]["precision"] == 1.0  # captions never say anything false
    assert scores["attributes"]["shape"]["recall"] == 1.0  # every caption names every object's shape
    assert scores["attributes"]["size"]["recall"] < 1.0  # some captions leave sizes out


SCENE = {"imgid": 4, "filename": "000004.png", "objects": [
    {"shape": "circle", "colour": "red", "size": "large", "position": "left"},
    {"shape": "square", "colour": "blue", "size": "small", "position": "top"},
]}


def test_planted_captions_give_the_derived_scores():
    perfect = "A big red disc on the left and a little blue box at the top."
    wrong = "a red circle and a green square"  # colour: said {red, green}, true {red, blue}
    scores = score_captions([SCENE], [{"image_id": "000004.png", "caption": perfect}])
    assert scores["exact_scene"] == 1.0
    assert all(a["precision"] == 1.0 and a["recall"] == 1.0 for a in scores["attributes"].values())
    scores = score_captions([SCENE], [{"image_id": 4, "caption": wrong}])
    colour, obj = scores["attributes"]["colour"], scores["attributes"]["object"]
    assert (colour["precision"], colour["recall"], colour["n_said"], colour["n_true"]) == (0.5, 0.5, 2, 2)
    assert (obj["precision"], obj["recall"]) == (0.5, 0.5)
    assert scores["attributes"]["shape"]["f1"] == 1.0
    assert scores["attributes"]["size"]["precision"] is None and scores["attributes"]["size"]["recall"] == 0.0
    assert scores["exact_scene"] == 0.0
    both = score_captions([SCENE], [{"image_id": "000004", "caption": perfect}, {"image_id": "4", "caption": wrong}])
    assert both["exact_scene"] == 0.5 and both["attributes"]["colour"]["precision"] == 0.75


def test_read_caption_handles_plurals_synonyms_and_missing_colours():
    said = read_caption("Two tiny violet rhombuses, one donut and three crosses in the middle")
    assert said["colour"] == {"purple"} and said["size"] == {"small"} and said["position"] == {"centre"}
    assert said["object"] == {("purple", "diamond"), (None, "ring"), (None, "cross")}


def test_unknown_image_and_bad_prediction_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="image_id 'nope.png' is not an image of this world"):
        score_captions([SCENE], [{"image_id": "nope.png", "caption": "x"}])
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"image_id": 1}))
    with pytest.raises(InputError, match="expected a JSON list"):
        load_predictions(bad)
    bad.write_text(json.dumps([{"image_id": 1, "caption": 3}]))
    with pytest.raises(InputError, match="entry 0"):
        load_predictions(bad)
