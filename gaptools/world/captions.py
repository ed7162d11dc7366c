"""Captions written the way people write them: templates, synonyms, orders, detail levels.

Each image gets ``captions_per_image`` captions from different templates. Within a
caption, objects come in a random order, each attribute word is a random synonym, and
sizes, positions (and rarely colours) may be left out, so the captions of one image
agree on the scene but differ in wording and detail.
"""

from __future__ import annotations

import numpy as np

from gaptools.world.vocab import FILLS, LOOKS, POSITIONS, SIZES, TEXTURES, palette

_SHAPES, _COLOURS, _TONES = palette("wide")  # every word the world has (a basic scene uses the basic ones)

_COUNT = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def _pick(rng: np.random.Generator, options) -> str:
    return str(options[int(rng.integers(len(options)))])


def _noun_phrase(obj: dict, rng: np.random.Generator, *, size: bool, colour: bool, fill: str | None = None) -> str:
    words = []
    if size:
        words.append(_pick(rng, SIZES[obj["size"]][1]))
    if colour:
        words.append(_pick(rng, _COLOURS[obj["colour"]][1]))
    words.append(_pick(rng, _SHAPES[obj["shape"]]))
    article = "an" if words[0][0] in "aeiou" else _pick(rng, ("a", "a", "one"))
    if fill:  # first, since scoring pairs a colour with the shape right after it; it starts with a consonant
        article, words = ("a" if article == "an" else article), [fill, *words]
    return f"{article} {' '.join(words)}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _position(obj: dict, rng: np.random.Generator) -> str:
    return _pick(rng, POSITIONS[obj["position"]][1])


def _background(scene: dict, rng: np.random.Generator) -> str:
    bg = scene["background"]
    return f"{_pick(rng, TEXTURES[bg['texture']])} {_pick(rng, _TONES[bg['tone']][1])} background"


def _t_list(objs, nps, scene, rng):
    return _join(nps)


def _t_located(objs, nps, scene, rng):
    return _join([f"{np_} {_position(o, rng)}" for o, np_ in zip(objs, nps)])


def _t_there_is(objs, nps, scene, rng):
    return "there is " + _join([f"{np_} {_position(o, rng)}" for o, np_ in zip(objs, nps)])


def _t_picture(objs, nps, scene, rng):
    return f"{_pick(rng, ('a picture of', 'an image showing', 'a drawing with'))} {_join(nps)}"


def _t_position_first(objs, nps, scene, rng):
    return ", ".join(f"{_position(o, rng)} {_pick(rng, ('is', 'there is'))} {np_}" for o, np_ in zip(objs, nps))


def _t_count(objs, nps, scene, rng):
    total = len(scene["objects"])  # the true count, also when the caption names fewer
    noun = "shape" if total == 1 else _pick(rng, ("shapes", "objects"))
    if len(objs) == total:
        return f"{_COUNT[total]} {noun}: {_join(nps)}"
    return f"{_COUNT[total]} {noun}, among them {_join(nps)}"


def _t_background(objs, nps, scene, rng):
    return f"{_join(nps)} on a {_background(scene, rng)}"


TEMPLATES = (_t_list, _t_located, _t_there_is, _t_picture, _t_position_first, _t_count, _t_background)

#: the ``rich`` style's openings and closings: wording that says nothing about the image
OPENINGS = ("in this image", "here we see", "this picture shows", "we can see", "the photo shows",
            "someone drew", "i think there is", "apparently", "look at this:", "a scene with", "what we have:",
            "the drawing has", "it shows", "my guess:")
CLOSINGS = ("i think", "in the picture", "as you can see", "drawn by hand", "nothing else", "that is all",
            "very nice", "quite clearly", "in my view", "on the page", "if i remember well", "so it seems")


def _rich(text: str, rng: np.random.Generator) -> str:
    """Wrap a caption in an opening and/or a closing (each with chance 0.6) that carry no content."""
    opening, closing = rng.random(2) < 0.6
    if opening:
        text = f"{_pick(rng, OPENINGS)} {text}"
    if closing:
        text = f"{text}, {_pick(rng, CLOSINGS)}"
    return text


def _look(scene: dict, rng: np.random.Generator) -> str:
    """The phrases naming the scene's look (its neutral values unnamed), or '' when all are neutral."""
    phrases = [_pick(rng, LOOKS[name][value]) for name, value in scene["look"].items() if LOOKS[name][value]]
    return " ".join(phrases)


def _fill_word(obj: dict, rng: np.random.Generator, chance: float) -> str | None:
    """A word naming the object's fill with chance ``chance`` (None for a solid one); one draw per object."""
    named = rng.random() < chance
    return _pick(rng, FILLS[obj["fill"]]) if named and FILLS[obj["fill"]] else None


def write_captions(scene: dict, n: int, rng: np.random.Generator, *, mention: float = 1.0,
                   style: str = "basic", name_looks: float = 0.0,
                   naming_rng: np.random.Generator | None = None, name_fills: float = 0.0,
                   fill_rng: np.random.Generator | None = None) -> list[str]:
    """``n`` captions of one scene, each from a different template.

    Parameters
    ----------
    scene : dict
        As returned by :func:`gaptools.world.scene.sample_scene`.
    n : int
        At most ``len(TEMPLATES)``.
    rng : numpy.random.Generator
        The image's caption stream.
    mention : float
        Chance that a caption names each object (at least one is always named); at 1.0 no
        random number is drawn for it, so captions are those of a world without the option.
    style : {"basic", "rich"}
        ``rich`` wraps captions in openings and closings that say nothing about the image
        (:data:`OPENINGS`, :data:`CLOSINGS`); ``basic`` draws no random number for them.
    name_looks : float
        Chance that a caption ends by naming the scene's look (``scene["look"]``).
    naming_rng : numpy.random.Generator, optional
        The image's naming stream, needed when ``name_looks`` > 0; ``rng`` draws exactly what it
        draws at 0, so the captions differ only by the look phrases.
    name_fills : float
        Chance that a noun phrase names its object's fill (``obj["fill"]``), as its first word.
    fill_rng : numpy.random.Generator, optional
        The image's fill-naming stream, needed when ``name_fills`` > 0; ``rng`` draws exactly
        what it draws at 0, so the captions differ only by the fill words (and "an" turned "a"
        before them).

    Returns
    -------
    list of str
    """
    captions = []
    for t in rng.permutation(len(TEMPLATES))[:n]:
        template = TEMPLATES[int(t)]
        objs = [scene["objects"][int(k)] for k in rng.permutation(len(scene["objects"]))]
        if mention < 1.0:  # name a subset (the first object of the random order always)
            keep = rng.random(len(objs)) < mention
            objs = [o for k, o in enumerate(objs) if k == 0 or keep[k]]
        with_size = rng.random() < 0.55
        fills = [_fill_word(o, fill_rng, name_fills) for o in objs] if name_fills else [None] * len(objs)
        nps = [_noun_phrase(o, rng, size=with_size, colour=rng.random() < 0.93, fill=f) for o, f in zip(objs, fills)]
        text = template(objs, nps, scene, rng)
        if name_looks and naming_rng.random() < name_looks:
            look = _look(scene, naming_rng)
            text = f"{text}, {look}" if look else text
        if style == "rich":
            text = _rich(text, rng)
        if rng.random() < 0.5:
            text = text[0].upper() + text[1:] + "."
        captions.append(text)
    return captions
