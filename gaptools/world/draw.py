"""Drawing a scene with Pillow: a plain, noisy or striped background and flat shapes."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from gaptools.world.vocab import BACKGROUNDS, COLOURS, POSITIONS, SIZES


def draw_scene(scene: dict, size: int, rng: np.random.Generator, *, clutter: int = 0) -> Image.Image:
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
        _draw_shape(pen, obj["shape"], (fx * size, fy * size), radius, COLOURS[obj["colour"]][0])
    return image


def _background(background: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) uint8 background pixels."""
    tone = np.array(BACKGROUNDS[background["tone"]][0], dtype=np.int16)
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


def _draw_shape(pen: ImageDraw.ImageDraw, shape: str, centre: tuple[float, float], r: float, rgb) -> None:
    cx, cy = centre
    if shape == "circle":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rgb)
    elif shape == "ring":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), outline=rgb, width=max(2, round(0.4 * r)))
    elif shape == "square":
        h = 0.85 * r
        pen.rectangle((cx - h, cy - h, cx + h, cy + h), fill=rgb)
    elif shape == "triangle":
        pen.polygon(_regular(cx, cy + 0.15 * r, 1.1 * r, 3, -math.pi / 2), fill=rgb)
    elif shape == "diamond":
        pen.polygon([(cx, cy - r), (cx + 0.7 * r, cy), (cx, cy + r), (cx - 0.7 * r, cy)], fill=rgb)
    elif shape == "star":
        outer = _regular(cx, cy, 1.1 * r, 5, -math.pi / 2)
        inner = _regular(cx, cy, 0.45 * r, 5, -math.pi / 2 + math.pi / 5)
        pen.polygon([p for pair in zip(outer, inner) for p in pair], fill=rgb)
    elif shape == "cross":
        w = 0.33 * r
        pen.rectangle((cx - r, cy - w, cx + r, cy + w), fill=rgb)
        pen.rectangle((cx - w, cy - r, cx + w, cy + r), fill=rgb)
    else:  # the vocabulary and this function go together
        raise ValueError(f"no drawing for shape {shape!r}")
