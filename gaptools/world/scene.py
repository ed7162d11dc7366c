"""Scene sampling: what is in each image of the world, as plain data.

Image ``i`` of a world with seed ``s`` is drawn from its own generators
``default_rng([s, i, stream])``, so any image can be regenerated alone and the world
does not depend on the order images are made in.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gaptools.errors import InputError
from gaptools.world.vocab import EXTRA_LOOKS, FILLS, LOOKS, PALETTES, POSITIONS, SIZES, TEXTURES, palette

SPLITS = ("train", "val", "test")
SCENE_STREAM, DRAW_STREAM, CAPTION_STREAM, LOOK_STREAM, NAMING_STREAM, FILL_STREAM, FILL_NAMING_STREAM = range(7)
MAX_CLUTTER = 64
STYLES = ("basic", "rich")


@dataclasses.dataclass(frozen=True)
class WorldParams:
    """Everything that defines a world; two worlds with equal params are identical.

    Attributes
    ----------
    n_images : int
        Images in the world (all splits).
    seed : int
        Seed of every random choice.
    min_objects, max_objects : int
        Objects per image, drawn uniformly in [min_objects, max_objects]; each object takes
        one of the five positions, so at most five fit.
    image_size : int
        Side of the square PNG images in pixels.
    captions_per_image : int
        Captions written for each image, each from a different template.
    n_val, n_test : int or None
        Images in the val and test splits (the last images of the world); None:
        ``n_images // 12`` each, at least 1.
    mention : float
        Chance that a caption names each object of its image (at least one is always
        named); 1.0: every caption names every object. Real captions name part of a scene.
    clutter : int
        Most marks (strokes and dots in any colour) drawn into an image that no caption
        names, drawn uniformly in [0, clutter]; 0: none. Images carry what captions omit.
    palette : {"basic", "wide"}
        The shapes, colours and background tones scenes draw from: ``basic`` 7 / 10 / 3,
        ``wide`` 12 / 16 / 6 (more independent named concepts).
    jitter : float
        Unnamed geometry: each object's centre moves by up to ``jitter`` of the image side on
        each axis and its radius scales by a factor in [1 - jitter, 1 + jitter]; 0: none.
    rotation : bool
        Unnamed orientation: each shape is drawn turned by a random angle.
    lighting : float
        Unnamed lighting: the whole image is scaled by a gain in [1 - lighting, 1 + lighting]
        and shifted by a colour cast of up to ``lighting`` × 60 per channel; 0: none.
    style : {"basic", "rich"}
        Caption wording: ``rich`` adds openings, closings and filler words that say nothing
        about the image (caption content no image carries).
    looks : bool
        Each image gets an image-wide look, a tint, a light level and a frame
        (:data:`gaptools.world.vocab.LOOKS`), drawn from its own stream, so the objects, the
        other factors and the captions are those of the world without it.
    name_looks : float
        Chance that a caption ends by naming its image's look (needs ``looks``); the choices
        come from their own stream, so captions differ from those at 0 only by that phrase.
        A toy CLIP can train on captions that name looks while a dataset's captions do not, as
        CLIP's web captions name a photo's style and COCO's captions do not.
    extra_looks : bool
        Each look also has a blur, a vignette and a pixelation (:data:`gaptools.world.vocab.EXTRA_LOOKS`),
        drawn after the others from the same stream, so the tint, light and frame stay those of
        the world without them (needs ``looks``): more directions only images carry.
    fills : bool
        Each object gets a fill, solid, dotted, hatched or lined (:data:`gaptools.world.vocab.FILLS`),
        drawn from its own stream, so the scenes, pixels of solid objects and captions are
        otherwise those of the world without it. At 64 pixels a small object's pattern is a few
        pixels: captions can name what images show faintly.
    name_fills : float
        Chance that a caption names the fill of each object it names (needs ``fills``; solid
        objects are never named so), from its own stream.
    """

    n_images: int = 6000
    seed: int = 0
    min_objects: int = 1
    max_objects: int = 3
    image_size: int = 64
    captions_per_image: int = 5
    n_val: int | None = None
    n_test: int | None = None
    mention: float = 1.0
    clutter: int = 0
    palette: str = "basic"
    jitter: float = 0.0
    rotation: bool = False
    lighting: float = 0.0
    style: str = "basic"
    looks: bool = False
    name_looks: float = 0.0
    extra_looks: bool = False
    fills: bool = False
    name_fills: float = 0.0

    def __post_init__(self) -> None:
        if self.n_images < 3:
            raise InputError(f"--images {self.n_images}: a world needs at least 3 images (one per split)")
        if not 1 <= self.min_objects <= self.max_objects:
            raise InputError(
                f"objects per image: need 1 <= min ({self.min_objects}) <= max ({self.max_objects})"
            )
        if self.max_objects > len(POSITIONS):
            raise InputError(
                f"--max-objects {self.max_objects}: at most {len(POSITIONS)} objects fit "
                f"(one per position: {', '.join(POSITIONS)})"
            )
        if self.image_size < 32:
            raise InputError(f"--image-size {self.image_size}: images must be at least 32 pixels wide")
        if not 1 <= self.captions_per_image <= 7:
            raise InputError(f"--captions {self.captions_per_image}: between 1 and 7 captions per image")
        if not 0.0 < self.mention <= 1.0:
            raise InputError(f"--mention {self.mention}: the chance of naming an object must be in (0, 1]")
        if not 0 <= self.clutter <= MAX_CLUTTER:
            raise InputError(f"--clutter {self.clutter}: between 0 and {MAX_CLUTTER} unnamed marks per image")
        if self.palette not in PALETTES:
            raise InputError(f"--palette {self.palette!r}: choose one of {', '.join(PALETTES)}")
        if self.style not in STYLES:
            raise InputError(f"--style {self.style!r}: choose one of {', '.join(STYLES)}")
        if not 0.0 <= self.jitter <= 0.5:
            raise InputError(f"--jitter {self.jitter}: between 0 and 0.5 of the image side")
        if not 0.0 <= self.lighting <= 0.5:
            raise InputError(f"--lighting {self.lighting}: between 0 and 0.5")
        if not 0.0 <= self.name_looks <= 1.0 or (self.name_looks and not self.looks):
            raise InputError(f"--name-looks {self.name_looks}: a chance in [0, 1], above 0 only with --looks")
        if self.extra_looks and not self.looks:
            raise InputError("--extra-looks: needs --looks (extra looks add to a look)")
        if not 0.0 <= self.name_fills <= 1.0 or (self.name_fills and not self.fills):
            raise InputError(f"--name-fills {self.name_fills}: a chance in [0, 1], above 0 only with --fills")
        val, test = self.split_sizes()
        if val < 1 or test < 1 or val + test >= self.n_images:
            raise InputError(
                f"splits: {val} val + {test} test images leave no training images out of {self.n_images}"
            )

    def split_sizes(self) -> tuple[int, int]:
        """(n_val, n_test) with the defaults filled in."""
        default = max(1, self.n_images // 12)
        return (default if self.n_val is None else self.n_val,
                default if self.n_test is None else self.n_test)

    def split_of(self, index: int) -> str:
        """Split of image ``index``: train first, then val, then test."""
        val, test = self.split_sizes()
        if index >= self.n_images - test:
            return "test"
        return "val" if index >= self.n_images - test - val else "train"

    def indices(self, split: str) -> range:
        """Image indices of one split."""
        if split not in SPLITS:
            raise InputError(f"unknown split '{split}'", hint=f"choose one of {', '.join(SPLITS)}")
        val, test = self.split_sizes()
        n_train = self.n_images - val - test
        start = {"train": 0, "val": n_train, "test": n_train + val}[split]
        stop = {"train": n_train, "val": n_train + val, "test": self.n_images}[split]
        return range(start, stop)

    def rng(self, index: int, stream: int) -> np.random.Generator:
        """The generator of one image's scene, drawing or captions."""
        return np.random.default_rng([self.seed, index, stream])


def filename(index: int) -> str:
    """File name of image ``index`` inside ``images/``."""
    return f"{index:06d}.png"


def sample_scene(params: WorldParams, index: int) -> dict:
    """The true content of image ``index``.

    Returns
    -------
    dict
        ``{"background": {"tone", "texture"}, "objects": [{"shape", "colour", "size", "position"}, ...]}``;
        objects have distinct positions and distinct (colour, shape) pairs. With ``params.looks``
        also ``"look": {"tint", "light", "frame"}`` (and ``"blur", "vignette", "pixels"`` with
        ``params.extra_looks``); with ``params.fills`` each object also has a ``"fill"``.
    """
    rng = params.rng(index, SCENE_STREAM)
    shapes, colours, tones = palette(params.palette)
    n = int(rng.integers(params.min_objects, params.max_objects + 1))
    positions = rng.choice(list(POSITIONS), size=n, replace=False)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        pair = (str(rng.choice(list(colours))), str(rng.choice(list(shapes))))
        if pair not in pairs:
            pairs.append(pair)
    objects = [
        {"shape": shape, "colour": colour, "size": str(rng.choice(list(SIZES))), "position": str(pos)}
        for (colour, shape), pos in zip(pairs, positions)
    ]
    background = {"tone": str(rng.choice(list(tones))), "texture": str(rng.choice(list(TEXTURES)))}
    scene = {"background": background, "objects": objects}
    if params.looks:
        look_rng = params.rng(index, LOOK_STREAM)
        scene["look"] = {name: str(look_rng.choice(list(values))) for name, values in LOOKS.items()
                         if params.extra_looks or name not in EXTRA_LOOKS}
    if params.fills:
        fill_rng = params.rng(index, FILL_STREAM)
        for obj in objects:
            obj["fill"] = str(fill_rng.choice(list(FILLS)))
    return scene
