"""Scoring generated captions against the true scenes of a world.

A caption is read with the world's own word tables (:mod:`gaptools.world.vocab`):
the colours, shapes, sizes and positions it mentions, and the objects it names (a shape
word with the colour word just before it, e.g. "a small *red* *circle*"). Against the
true scene of its image this gives, per attribute, precision (mentioned values that are
in the scene) and recall (scene values that are mentioned), micro-averaged over captions,
and the exact-scene accuracy: the share of captions whose named (colour, shape) objects
are exactly the scene's objects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gaptools.datasets.coco import read_coco_results
from gaptools.errors import InputError
from gaptools.world.vocab import ATTRIBUTES, LEXICON

SCORE_KIND = "gaptools.world.score"
SCORE_VERSION = 1
_ADJECTIVES = ("colour", "size")


def _lemma(word: str) -> str | None:
    """The lexicon word a (possibly plural) word stands for, or None."""
    for candidate in (word, word[:-1] if word.endswith("s") else None, word[:-2] if word.endswith("es") else None):
        if candidate and any(candidate in LEXICON[a] for a in ATTRIBUTES):
            return candidate
    return None


def read_caption(caption: str) -> dict:
    """What a caption says, in canonical values.

    Returns
    -------
    dict
        ``{"colour": set, "shape": set, "size": set, "position": set, "object": set of (colour, shape)}``;
        an object whose colour is not said has colour None.
    """
    words = [_lemma(w) for w in re.findall(r"[a-z]+", caption.lower())]
    said: dict[str, set] = {a: set() for a in (*ATTRIBUTES, "object")}
    for j, word in enumerate(words):
        if word is None:
            continue
        for attribute in ATTRIBUTES:
            if word in LEXICON[attribute]:
                said[attribute].add(LEXICON[attribute][word])
        if word in LEXICON["shape"]:
            colour, k = None, j - 1
            while k >= 0 and words[k] is not None and any(words[k] in LEXICON[a] for a in _ADJECTIVES):
                colour = colour or LEXICON["colour"].get(words[k])
                k -= 1
            said["object"].add((colour, LEXICON["shape"][word]))
    return said


def scene_facts(scene: dict) -> dict:
    """The true values of a scene, in the layout of :func:`read_caption`."""
    objects = scene["objects"]
    facts = {a: {o[a] for o in objects} for a in ATTRIBUTES}
    facts["object"] = {(o["colour"], o["shape"]) for o in objects}
    return facts


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def score_captions(scenes: list[dict], predictions: list[dict], *, source: str = "predictions") -> dict:
    """Precision/recall of mentioned attributes and exact-scene accuracy.

    Parameters
    ----------
    scenes : list of dict
        Entries of ``scenes.json`` (each with ``imgid``, ``filename`` and ``objects``).
    predictions : list of dict
        COCO results layout ``[{"image_id", "caption"}, ...]``; ``image_id`` is the image's
        ``imgid`` (int) or its file name (e.g. ``"005512.png"``, with or without ``.png``).
        Several captions for one image are all scored.
    source : str
        Name of the predictions for error messages.

    Returns
    -------
    dict
        ``{"kind", "version", "n_captions", "n_images", "exact_scene",
        "attributes": {colour|shape|size|position|object: {"precision", "recall", "f1", "n_said", "n_true"}}}``;
        ``object`` counts (colour, shape) pairs. A ratio with a zero denominator is None.
    """
    by_key = {}
    for scene in scenes:
        by_key[scene["imgid"]] = scene
        by_key[scene["filename"]] = scene
        by_key[Path(scene["filename"]).stem] = scene
    if not predictions:
        raise InputError(f"{source}: no predictions")
    counts = {a: [0, 0, 0] for a in (*ATTRIBUTES, "object")}  # [true positives, said, true]
    exact, images = 0, set()
    for n, pred in enumerate(predictions):
        key = pred["image_id"]
        if isinstance(key, str) and key.isdigit() and key not in by_key:
            key = int(key)
        if key not in by_key:
            raise InputError(f"{source}: entry {n}: image_id {pred['image_id']!r} is not an image of this world",
                             hint="use the image's imgid or file name from captions.json")
        scene = by_key[key]
        images.add(scene["imgid"])
        said, true = read_caption(pred["caption"]), scene_facts(scene)
        for attribute, c in counts.items():
            c[0] += len(said[attribute] & true[attribute])
            c[1] += len(said[attribute])
            c[2] += len(true[attribute])
        exact += said["object"] == true["object"]
    attributes = {}
    for attribute, (tp, n_said, n_true) in counts.items():
        p, r = _ratio(tp, n_said), _ratio(tp, n_true)
        f1 = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
        attributes[attribute] = {"precision": p, "recall": r, "f1": f1, "n_said": n_said, "n_true": n_true}
    return {
        "kind": SCORE_KIND,
        "version": SCORE_VERSION,
        "n_captions": len(predictions),
        "n_images": len(images),
        "exact_scene": exact / len(predictions),
        "attributes": attributes,
    }


def load_predictions(path: str | os.PathLike) -> list[dict]:
    """Read a COCO results file ``[{"image_id": int | str, "caption": str}, ...]``."""
    return read_coco_results(path)
