"""The attributes of the shapes world and the words captions use for them.

Each attribute value has a canonical name (used in ``scenes.json`` and by scoring) and
the words a caption may use for it. Scoring reads captions back with the same tables,
so a synonym written here is understood there.
"""

from __future__ import annotations

#: shape -> words a caption may use for it (first = canonical)
SHAPES: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "disc"),
    "square": ("square", "box"),
    "triangle": ("triangle",),
    "diamond": ("diamond", "rhombus"),
    "star": ("star",),
    "cross": ("cross", "plus"),
    "ring": ("ring", "donut"),
}

#: colour -> (RGB, words)
COLOURS: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {
    "red": ((220, 30, 30), ("red",)),
    "orange": ((245, 130, 20), ("orange",)),
    "yellow": ((235, 205, 15), ("yellow",)),
    "green": ((35, 150, 45), ("green",)),
    "cyan": ((20, 185, 200), ("cyan", "turquoise")),
    "blue": ((30, 60, 210), ("blue",)),
    "purple": ((125, 40, 170), ("purple", "violet")),
    "pink": ((240, 110, 180), ("pink",)),
    "brown": ((115, 65, 25), ("brown",)),
    "black": ((20, 20, 20), ("black",)),
}

#: size -> (radius as a fraction of the image side, words)
SIZES: dict[str, tuple[float, tuple[str, ...]]] = {
    "small": (0.085, ("small", "little", "tiny")),
    "large": (0.15, ("large", "big")),
}

#: position -> (centre (x, y) as fractions of the image side, phrases, words scoring reads)
POSITIONS: dict[str, tuple[tuple[float, float], tuple[str, ...], tuple[str, ...]]] = {
    "centre": ((0.5, 0.5), ("in the centre", "in the middle", "at the center"), ("centre", "center", "middle")),
    "left": ((0.19, 0.5), ("on the left", "at the left", "on the left side"), ("left",)),
    "right": ((0.81, 0.5), ("on the right", "at the right", "on the right side"), ("right",)),
    "top": ((0.5, 0.19), ("at the top", "near the top", "in the upper part"), ("top", "upper")),
    "bottom": ((0.5, 0.81), ("at the bottom", "near the bottom", "in the lower part"), ("bottom", "lower")),
}

#: background tone -> (RGB, words)
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {
    "white": ((245, 245, 245), ("white",)),
    "grey": ((190, 190, 190), ("grey", "gray")),
    "beige": ((228, 215, 185), ("beige", "cream")),
}

#: background texture -> words
TEXTURES: dict[str, tuple[str, ...]] = {
    "plain": ("plain",),
    "noisy": ("noisy", "grainy"),
    "striped": ("striped",),
}

#: the ``wide`` palette's shapes, colours and background tones beyond the basic ones (drawn only
#: by worlds with ``palette="wide"``; the basic tables, and so the basic worlds, are unchanged)
WIDE_SHAPES: dict[str, tuple[str, ...]] = {
    "pentagon": ("pentagon",),
    "hexagon": ("hexagon",),
    "oval": ("oval", "ellipse"),
    "semicircle": ("semicircle", "dome"),
    "arrow": ("arrow",),
}
WIDE_COLOURS: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {
    "navy": ((20, 30, 100), ("navy",)),
    "olive": ((128, 128, 0), ("olive",)),
    "teal": ((0, 120, 120), ("teal",)),
    "magenta": ((215, 0, 215), ("magenta",)),
    "lime": ((150, 230, 40), ("lime",)),
    "maroon": ((120, 0, 30), ("maroon",)),
}
WIDE_BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {
    "sky": ((200, 225, 245), ("sky", "azure")),
    "mint": ((205, 240, 215), ("mint", "sage")),
    "rose": ((245, 215, 220), ("rose", "blush")),
}
PALETTES = ("basic", "wide")

#: image-wide looks (drawn only by worlds with ``looks=True``; see :data:`EXTRA_LOOKS`): attribute ->
#: value -> the phrases a caption may name it with. Each attribute's first value is neutral and never
#: named. No word is a colour, shape, size or position word, so scoring never reads a look as an
#: object attribute.
LOOKS: dict[str, dict[str, tuple[str, ...]]] = {
    "tint": {"none": (), "warm": ("with a warm tint", "in warm tones"), "cool": ("with a cool tint", "in cold tones"),
             "sepia": ("in sepia", "with a sepia tint"), "faded": ("faded", "washed out")},
    "light": {"normal": (), "dark": ("in dim light", "darkly lit"), "bright": ("in bright light", "brightly lit")},
    "frame": {"none": (), "thin": ("with a thin border", "in a thin frame"),
              "thick": ("with a thick border", "in a heavy frame")},
    "blur": {"none": (), "soft": ("slightly blurred", "in soft focus"), "blurry": ("blurry", "out of focus")},
    "vignette": {"none": (), "vignette": ("with dim corners", "vignetted")},
    "pixels": {"none": (), "pixelated": ("pixelated", "blocky")},
}
#: the look attributes drawn only by worlds with ``extra_looks=True`` (after the others, so a
#: world without them draws the same tint, light and frame)
EXTRA_LOOKS = ("blur", "vignette", "pixels")

#: object fills (drawn only by worlds with ``fills=True``): fill -> the words a caption may name it
#: with. The first is neutral and never named. Every word starts with a consonant and none is a
#: colour, shape, size or position word, so scoring never reads a fill as an object attribute.
FILLS: dict[str, tuple[str, ...]] = {
    "solid": (),
    "dotted": ("dotted", "spotted"),
    "hatched": ("hatched", "shaded"),
    "lined": ("lined", "ruled"),
}


def palette(name: str) -> tuple[dict, dict, dict]:
    """(shapes, colours, background tones) of a palette, in the order scenes draw from them."""
    if name == "wide":
        return {**SHAPES, **WIDE_SHAPES}, {**COLOURS, **WIDE_COLOURS}, {**BACKGROUNDS, **WIDE_BACKGROUNDS}
    return SHAPES, COLOURS, BACKGROUNDS


#: scored attribute -> {word: canonical value}
LEXICON: dict[str, dict[str, str]] = {
    "colour": {w: c for c, (_, words) in {**COLOURS, **WIDE_COLOURS}.items() for w in words},
    "shape": {w: s for s, words in {**SHAPES, **WIDE_SHAPES}.items() for w in words},
    "size": {w: s for s, (_, words) in SIZES.items() for w in words},
    "position": {w: p for p, (_, _, words) in POSITIONS.items() for w in words},
}

ATTRIBUTES = tuple(LEXICON)
