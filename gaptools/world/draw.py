"""Drawing a scene with Pillow: a plain, noisy or striped background and flat shapes.

The unnamed factors (clutter, jitter, rotation, lighting) draw their random numbers from the
image's drawing stream only when they are on, so a world without them draws the same pixels
as before they existed. A scene's look (tint, light, frame; blur, vignette, pixelation) is drawn
last and draws none.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

from gaptools.world.vocab import BACKGROUNDS, COLOURS, POSITIONS, SIZES, WIDE_BACKGROUNDS, WIDE_COLOURS

_TONES = {**BACKGROUNDS, **WIDE_BACKGROUNDS}
_COLOURS = {**COLOURS, **WIDE_COLOURS}


def draw_scene(scene: dict, size: int, rng: np.random.Generator, *, clutter: int = 0, jitter: float = 0.0,
               rotation: bool = False, lighting: float = 0.0) -> Image.Image:
    """Render one scene.

    Parameters
    ----------
    scene : dict
        As returned by :func:`gaptools.world.scene.sample_scene`.
    size : int
        Image side in pixels.
    rng : numpy.random.Generator
        Randomness of the texture and the clutter (the image's own drawing stream).
    clutter : int
        Most unnamed marks drawn behind the objects (uniform in [0, clutter]); at 0 no random
        number is drawn for them, so the image is that of a world without the option.
    jitter : float
        Each object's centre moves by up to ``jitter`` × size per axis, its radius scales by
        a factor in [1 - jitter, 1 + jitter] (0: nothing drawn).
    rotation : bool
        Each shape is turned by a random angle (False: nothing drawn).
    lighting : float
        Gain in [1 - lighting, 1 + lighting] and a colour cast up to ``lighting`` × 60 per
        channel over the whole image (0: nothing drawn).

    Returns
    -------
    PIL.Image.Image
        RGB image of shape (size, size).
    """
    image = Image.fromarray(_background(scene["background"], size, rng), mode="RGB")
    pen = ImageDraw.Draw(image)
    if clutter:
        _draw_clutter(pen, int(rng.integers(0, clutter + 1)), size, rng)
    for obj in scene["objects"]:
        (fx, fy), _, _ = POSITIONS[obj["position"]]
        radius = SIZES[obj["size"]][0] * size
        if jitter:
            dx, dy = rng.uniform(-jitter, jitter, size=2) * size
            fx, fy, radius = fx + dx / size, fy + dy / size, radius * rng.uniform(1 - jitter, 1 + jitter)
        angle = float(rng.uniform(0, 2 * math.pi)) if rotation else None
        rgb = _COLOURS[obj["colour"]][0]
        if obj.get("fill", "solid") == "solid":
            _draw_shape(pen, obj["shape"], (fx * size, fy * size), radius, rgb, angle)
        else:
            _draw_patterned(image, obj["fill"], obj["shape"], (fx * size, fy * size), radius, rgb, angle)
    if lighting:
        gain = rng.uniform(1 - lighting, 1 + lighting)
        cast = rng.uniform(-lighting, lighting, size=3) * 60
        image = _to_image(np.asarray(image, dtype=np.float64) * gain + cast)
    if "look" in scene:
        image = _apply_look(image, scene["look"])
    return image


#: the pixel change of each look value: tint colour shifts, light gains, frame widths (of the side),
#: blur widths (Gaussian sigma, of the side), vignette darkening at the corners, pixel block sizes (of the side)
_TINTS = {"warm": (30, 8, -30), "cool": (-30, 0, 30)}
_GAINS = {"normal": (1.0, 0.0), "dark": (0.65, 0.0), "bright": (1.15, 30.0)}
_FRAMES = {"thin": 0.03, "thick": 0.08}
_BLURS = {"soft": 0.01, "blurry": 0.025}
_VIGNETTE = 0.6
_BLOCK = 0.047


def _draw_patterned(image: Image.Image, fill: str, shape: str, centre: tuple[float, float], r: float, rgb,
                    angle: float | None) -> None:
    """Draw one shape with a fill (:data:`gaptools.world.vocab.FILLS`): the whole shape but for a 1-pixel
    hole (dotted), diagonal line (hatched) or row (lined) every 3 pixels, so that the shape stays
    readable and the pattern is faint."""
    mask = Image.new("L", image.size, 0)
    _draw_shape(ImageDraw.Draw(mask), shape, centre, r, 255, angle)
    area = np.asarray(mask) > 0
    y, x = np.indices(area.shape)
    if fill == "dotted":
        area &= (x % 3 != 1) | (y % 3 != 1)
    elif fill == "hatched":
        area &= (x + y) % 3 != 0
    elif fill == "lined":
        area &= y % 3 != 1
    else:
        raise ValueError(f"no drawing for fill {fill!r}")  # the vocabulary and this function go together
    image.paste(rgb, (0, 0, *image.size), Image.fromarray(area.astype(np.uint8) * 255))


def _apply_look(image: Image.Image, look: dict) -> Image.Image:
    """The image with its look: tint, light, then (extra looks) blur, vignette and pixelation, then a
    dark frame (no random number drawn)."""
    pixels = np.asarray(image, dtype=np.float64)
    if look["tint"] in _TINTS:
        pixels = pixels + np.array(_TINTS[look["tint"]], dtype=np.float64)
    elif look["tint"] == "sepia":
        grey = pixels @ np.array([0.299, 0.587, 0.114])
        pixels = grey[..., None] * np.array([1.07, 0.9, 0.7]) + np.array([12.0, 6.0, 0.0])
    elif look["tint"] == "faded":
        pixels = 0.55 * pixels + 0.45 * 200.0
    gain, offset = _GAINS[look["light"]]
    pixels = pixels * gain + offset
    side = pixels.shape[0]
    if look.get("blur") in _BLURS:
        pixels = gaussian_filter(pixels, sigma=(_BLURS[look["blur"]] * side,) * 2 + (0,), mode="nearest")
    if look.get("vignette") == "vignette":
        centred = (np.arange(side) - (side - 1) / 2) / ((side - 1) / 2)
        pixels = pixels * (1 - _VIGNETTE * (centred[:, None] ** 2 + centred[None, :] ** 2)[..., None] / 2)
    if look.get("pixels") == "pixelated":
        block = max(2, round(_BLOCK * side))
        cells = pixels[::block, ::block]
        pixels = np.repeat(np.repeat(cells, block, axis=0), block, axis=1)[:side, :side]
    if look["frame"] in _FRAMES:
        width = max(1, round(_FRAMES[look["frame"]] * side))
        pixels[:width], pixels[-width:], pixels[:, :width], pixels[:, -width:] = 40.0, 40.0, 40.0, 40.0
    return _to_image(pixels)


def _to_image(pixels: np.ndarray) -> Image.Image:
    """An RGB image of (S, S, 3) float pixels, rounded and clipped to [0, 255]."""
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), mode="RGB")


def _background(background: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) uint8 background pixels."""
    tone = np.array(_TONES[background["tone"]][0], dtype=np.int16)
    pixels = np.broadcast_to(tone, (size, size, 3)).copy()
    if background["texture"] == "noisy":
        pixels += rng.integers(-14, 15, size=(size, size, 1), dtype=np.int16)
    elif background["texture"] == "striped":
        period = int(rng.integers(4, 9))
        rows = (np.arange(size)[:, None] + np.arange(size)[None, :] * int(rng.integers(0, 2))) // period % 2
        pixels -= (rows[..., None] * 18).astype(np.int16)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _draw_clutter(pen: ImageDraw.ImageDraw, n: int, size: int, rng: np.random.Generator) -> None:
    """``n`` strokes and dots of random colour, place and length: content no caption names."""
    for _ in range(n):
        rgb = tuple(int(c) for c in rng.integers(0, 256, size=3))
        x, y = rng.uniform(0, size, size=2)
        if rng.random() < 0.5:
            r = rng.uniform(0.01, 0.03) * size
            pen.ellipse((x - r, y - r, x + r, y + r), fill=rgb)
        else:
            length, angle = rng.uniform(0.05, 0.25) * size, rng.uniform(0, math.pi)
            end = (x + length * math.cos(angle), y + length * math.sin(angle))
            pen.line([(x, y), end], fill=rgb, width=max(1, round(0.02 * size)))


def _regular(cx: float, cy: float, r: float, n: int, phase: float) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(phase + 2 * math.pi * k / n), cy + r * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)]


def _polygons(shape: str, cx: float, cy: float, r: float) -> list[list[tuple[float, float]]]:
    """The outline(s) of a shape that has corners or is drawn from the ``wide`` palette, unturned."""
    if shape == "square":
        h = 0.85 * r
        return [[(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]]
    if shape == "triangle":
        return [_regular(cx, cy + 0.15 * r, 1.1 * r, 3, -math.pi / 2)]
    if shape == "diamond":
        return [[(cx, cy - r), (cx + 0.7 * r, cy), (cx, cy + r), (cx - 0.7 * r, cy)]]
    if shape == "star":
        outer = _regular(cx, cy, 1.1 * r, 5, -math.pi / 2)
        inner = _regular(cx, cy, 0.45 * r, 5, -math.pi / 2 + math.pi / 5)
        return [[p for pair in zip(outer, inner) for p in pair]]
    if shape == "cross":
        w = 0.33 * r
        return [[(cx - r, cy - w), (cx + r, cy - w), (cx + r, cy + w), (cx - r, cy + w)],
                [(cx - w, cy - r), (cx + w, cy - r), (cx + w, cy + r), (cx - w, cy + r)]]
    if shape == "pentagon":
        return [_regular(cx, cy, r, 5, -math.pi / 2)]
    if shape == "hexagon":
        return [_regular(cx, cy, r, 6, 0.0)]
    if shape == "oval":
        return [[(cx + r * math.cos(t), cy + 0.55 * r * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]]
    if shape == "semicircle":
        return [[(cx + r * math.cos(t), cy + 0.3 * r - r * math.sin(t)) for t in np.linspace(0, math.pi, 13)]]
    if shape == "arrow":
        s, h = 0.3 * r, 0.6 * r
        return [[(cx - r, cy - s), (cx + 0.2 * r, cy - s), (cx + 0.2 * r, cy - h), (cx + r, cy),
                 (cx + 0.2 * r, cy + h), (cx + 0.2 * r, cy + s), (cx - r, cy + s)]]
    raise ValueError(f"no drawing for shape {shape!r}")  # the vocabulary and this function go together


def _turn(points: list[tuple[float, float]], cx: float, cy: float, angle: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + c * (x - cx) - s * (y - cy), cy + s * (x - cx) + c * (y - cy)) for x, y in points]


def _draw_shape(pen: ImageDraw.ImageDraw, shape: str, centre: tuple[float, float], r: float, rgb,
                angle: float | None = None) -> None:
    """Draw one shape, turned by ``angle`` (None: unturned, the squares and crosses as rectangles)."""
    cx, cy = centre
    if shape == "circle":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rgb)
    elif shape == "ring":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), outline=rgb, width=max(2, round(0.4 * r)))
    elif angle is None and shape in ("square", "cross"):
        for corners in _polygons(shape, cx, cy, r):
            pen.rectangle((*corners[0], *corners[2]), fill=rgb)
    else:
        for polygon in _polygons(shape, cx, cy, r):
            pen.polygon(polygon if angle is None else _turn(polygon, cx, cy, angle), fill=rgb)
