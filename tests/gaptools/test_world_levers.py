"""The second-order calibration's content levers (issue 28): each changes only what it says.

Off (the defaults) they draw no random number, so every existing preset draws the same world
(the presets' own tests check their pixels); on, each changes its own part of the world.
"""

import dataclasses

import numpy as np
import pytest

from gaptools.errors import InputError
from gaptools.world import WorldParams, score_captions, world_items
from gaptools.world.captions import CLOSINGS, OPENINGS
from gaptools.world.draw import draw_scene
from gaptools.world.scene import DRAW_STREAM
from gaptools.world.vocab import EXTRA_LOOKS, FILLS, LEXICON, LOOKS, WIDE_COLOURS, WIDE_SHAPES

BASE = WorldParams(n_images=60, seed=5, max_objects=4, mention=0.75, clutter=3)


def _items(params: WorldParams) -> list[dict]:
    return list(world_items(params, range(40)))


def _pixels(items: list[dict]) -> list[np.ndarray]:
    return [np.asarray(item["image"]) for item in items]


@pytest.mark.parametrize("lever", [{"jitter": 0.1}, {"rotation": True}, {"lighting": 0.2}])
def test_unnamed_factors_change_pixels_not_scenes_or_captions(lever):
    plain, varied = _items(BASE), _items(dataclasses.replace(BASE, **lever))
    assert [a["scene"] for a in plain] == [b["scene"] for b in varied]
    assert [a["captions"] for a in plain] == [b["captions"] for b in varied]
    changed = sum(not np.array_equal(a, b) for a, b in zip(_pixels(plain), _pixels(varied)))
    assert changed >= 36  # a circle-only scene turned is the same picture; nearly every image moves


def test_rich_style_changes_wording_only_and_every_word_stays_true():
    plain, rich = _items(BASE), _items(dataclasses.replace(BASE, style="rich"))
    assert [a["scene"] for a in plain] == [b["scene"] for b in rich]
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(plain), _pixels(rich)))
    rich = _items(dataclasses.replace(BASE, style="rich", palette="wide"))
    captions = [c for item in rich for c in item["captions"]]
    wrapped = [any(c.lower().startswith(o) for o in OPENINGS) or any(c.rstrip(".").endswith(e) for e in CLOSINGS)
               for c in captions]
    assert 0.7 < np.mean(wrapped) < 0.95  # 1 - 0.4² of captions carry an opening or a closing
    scenes = [{**item["scene"], "imgid": item["imgid"], "filename": item["filename"]} for item in rich]
    report = score_captions(scenes, [{"image_id": item["imgid"], "caption": c} for item in rich for c in item["captions"]])
    for attribute in ("colour", "shape", "size", "position"):  # no filler or background word reads as content
        assert report["attributes"][attribute]["precision"] == 1.0, attribute


def test_wide_palette_draws_the_new_shapes_and_colours_and_scoring_reads_them():
    wide = list(world_items(dataclasses.replace(BASE, palette="wide", n_images=400), range(300)))
    shapes = {o["shape"] for item in wide for o in item["scene"]["objects"]}
    colours = {o["colour"] for item in wide for o in item["scene"]["objects"]}
    assert set(WIDE_SHAPES) <= shapes and set(WIDE_COLOURS) <= colours
    assert all(w in LEXICON["shape"] for words in WIDE_SHAPES.values() for w in words)
    basic = _items(BASE)
    assert not {o["shape"] for item in basic for o in item["scene"]["objects"]} & set(WIDE_SHAPES)


def test_looks_change_pixels_only_and_a_neutral_look_draws_the_plain_image():
    plain, looked = _items(BASE), _items(dataclasses.replace(BASE, looks=True))
    assert [a["scene"] for a in plain] == [{k: v for k, v in b["scene"].items() if k != "look"} for b in looked]
    assert [a["captions"] for a in plain] == [b["captions"] for b in looked]
    looks = [b["scene"]["look"] for b in looked]
    for name, values in LOOKS.items():  # every value of every basic attribute is drawn, no extra one
        assert {look.get(name) for look in looks} == ({None} if name in EXTRA_LOOKS else set(values)), name
    for a, b, look in zip(_pixels(plain), _pixels(looked), looks):
        neutral = look == {"tint": "none", "light": "normal", "frame": "none"}
        assert np.array_equal(a, b) == neutral, look
        if look["frame"] != "none":  # a dark frame of 2 (thin) or 5 (thick) pixels at 64 pixels
            width = {"thin": 2, "thick": 5}[look["frame"]]
            assert (b[:width] == 40).all() and (b[-width:] == 40).all() and not (b[width:-width, width:-width] == 40).all()
    scene = {**plain[0]["scene"], "look": {"tint": "none", "light": "normal", "frame": "none"}}
    neutral = draw_scene(scene, 64, BASE.rng(0, DRAW_STREAM), clutter=BASE.clutter)
    assert np.array_equal(np.asarray(neutral), _pixels(plain)[0])


def test_extra_looks_keep_the_basic_look_and_a_neutral_extra_draws_the_looked_image():
    looked = _items(dataclasses.replace(BASE, looks=True))
    extra = _items(dataclasses.replace(BASE, looks=True, extra_looks=True))
    assert [a["scene"] for a in looked] == [{**b["scene"], "look": {k: v for k, v in b["scene"]["look"].items()
                                                                     if k not in EXTRA_LOOKS}} for b in extra]
    assert [a["captions"] for a in looked] == [b["captions"] for b in extra]
    more = list(world_items(dataclasses.replace(BASE, looks=True, extra_looks=True, n_images=400), range(300)))
    for name in EXTRA_LOOKS:  # every value is drawn
        assert {b["scene"]["look"][name] for b in more} == set(LOOKS[name]), name
    for a, b, item in zip(_pixels(looked), _pixels(extra), extra):
        neutral = all(item["scene"]["look"][name] == "none" for name in EXTRA_LOOKS)
        assert np.array_equal(a, b) == neutral, item["scene"]["look"]
    blocky = [np.asarray(item["image"]) for item in more[:60]
              if item["scene"]["look"]["pixels"] == "pixelated" and item["scene"]["look"]["frame"] == "none"]
    assert blocky
    for pixels in blocky:  # a pixelated image is constant on its blocks (3 pixels at 64)
        assert (pixels[:63:3] == pixels[1:63:3]).all() and (pixels[:, :63:3] == pixels[:, 2:63:3]).all()


@pytest.mark.parametrize("extra_looks", [False, True])
def test_named_looks_add_a_phrase_to_captions_and_nothing_else(extra_looks):
    unnamed = _items(dataclasses.replace(BASE, looks=True, extra_looks=extra_looks))
    named = _items(dataclasses.replace(BASE, looks=True, extra_looks=extra_looks, name_looks=0.5))
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(unnamed), _pixels(named)))
    added = 0
    for a, b in zip(unnamed, named):
        phrases = [p for name, value in b["scene"]["look"].items() for p in LOOKS[name][value]]
        for plain, with_look in zip(a["captions"], b["captions"]):
            stem, dot = (plain[:-1], ".") if plain.endswith(".") else (plain, "")
            if with_look != plain:
                assert with_look.startswith(stem + ", ") and with_look.endswith(dot), (plain, with_look)
                rest = with_look[len(stem) + 2:len(with_look) - len(dot)]
                assert any(rest.startswith(p) for p in phrases), rest
                added += 1
    total = sum(len(a["captions"]) for a in unnamed)
    neutral = sum(len(a["captions"]) for a in named if all(not LOOKS[n][v] for n, v in a["scene"]["look"].items()))
    assert 0.35 * (total - neutral) < added < 0.65 * (total - neutral)  # about half of the captions that can name one
    scenes = [{**item["scene"], "imgid": item["imgid"], "filename": item["filename"]} for item in named]
    report = score_captions(scenes, [{"image_id": item["imgid"], "caption": c} for item in named for c in item["captions"]])
    for attribute in ("colour", "shape", "size", "position"):  # no look word reads as an object's attribute
        assert report["attributes"][attribute]["precision"] == 1.0, attribute


def test_fills_change_the_filled_objects_pixels_only_and_solid_objects_draw_as_before():
    looked = dataclasses.replace(BASE, looks=True, name_looks=0.3)
    plain, filled = _items(looked), _items(dataclasses.replace(looked, fills=True))
    assert [a["scene"] for a in plain] == [{**b["scene"], "objects": [{k: v for k, v in o.items() if k != "fill"}
                                                                       for o in b["scene"]["objects"]]} for b in filled]
    assert [a["captions"] for a in plain] == [b["captions"] for b in filled]  # unnamed: captions unchanged
    many = list(world_items(dataclasses.replace(looked, fills=True, n_images=400), range(300)))
    assert {o["fill"] for item in many for o in item["scene"]["objects"]} == set(FILLS)  # every fill is drawn
    for a, b, item in zip(_pixels(plain), _pixels(filled), filled):
        solid = all(o["fill"] == "solid" for o in item["scene"]["objects"])
        assert np.array_equal(a, b) == solid, item["scene"]["objects"]


@pytest.mark.parametrize("fill, kept", [("dotted", 8 / 9), ("hatched", 2 / 3), ("lined", 2 / 3)])
def test_a_fill_leaves_its_share_of_the_shape_in_its_colour(fill, kept):
    scene = {"background": {"tone": "white", "texture": "plain"},
             "objects": [{"shape": "square", "colour": "blue", "size": "large", "position": "centre", "fill": fill}]}
    solid = {**scene, "objects": [{**scene["objects"][0], "fill": "solid"}]}
    blue = np.array([30, 60, 210])
    pixels = [np.asarray(draw_scene(s, 96, BASE.rng(0, DRAW_STREAM))) for s in (scene, solid)]
    area = (pixels[1] == blue).all(-1)
    painted = (pixels[0] == blue).all(-1)
    assert area.sum() > 500 and not (painted & ~area).any()  # a pattern only takes pixels from its shape
    assert abs(painted.sum() / area.sum() - kept) < 0.03
    assert ((pixels[0] == 245).all(-1) & area).sum() == area.sum() - painted.sum()  # the rest shows the background


def test_named_fills_add_a_first_word_to_noun_phrases_and_scoring_still_reads_every_object():
    base = dataclasses.replace(BASE, fills=True)
    plain, named = _items(base), _items(dataclasses.replace(base, name_fills=0.5))
    assert all(np.array_equal(a, b) for a, b in zip(_pixels(plain), _pixels(named)))
    fill_words = {w for words in FILLS.values() for w in words}
    assert not fill_words & {w for table in LEXICON.values() for w in table}
    said = [w for item in named for c in item["captions"] for w in c.lower().rstrip(".").split() if w in fill_words]
    assert len(said) > 20
    for a, b in zip(plain, named):  # each caption is its plain caption with fill words added ("an" turned "a")
        for x, y in zip(a["captions"], b["captions"]):
            kept, words = [w for w in y.lower().split() if w not in fill_words], x.lower().split()
            assert len(kept) == len(words) and all(k == w or (w, k) == ("an", "a") for k, w in zip(kept, words)), (x, y)
    scenes = [{**item["scene"], "imgid": item["imgid"], "filename": item["filename"]} for item in named]
    preds = [{"image_id": item["imgid"], "caption": c} for item in named for c in item["captions"]]
    report, before = score_captions(scenes, preds), score_captions(scenes, [
        {"image_id": item["imgid"], "caption": c} for item in plain for c in item["captions"]])
    for attribute in ("colour", "shape", "size", "position", "object"):  # a fill word reads as nothing
        assert report["attributes"][attribute] == before["attributes"][attribute], attribute


@pytest.mark.parametrize("kw", [{"palette": "huge"}, {"style": "poetic"}, {"jitter": -0.1}, {"jitter": 0.9},
                                {"lighting": 0.6}, {"name_looks": 0.5}, {"looks": True, "name_looks": 1.5},
                                {"extra_looks": True}, {"name_fills": 0.5}, {"fills": True, "name_fills": -0.1}])
def test_bad_lever_values_are_refused(kw):
    with pytest.raises(InputError):
        WorldParams(**kw)
