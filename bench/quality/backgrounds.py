"""Backgrounds chosen to hurt: a low-contrast backdrop, a dark one, a busy texture.

* ``light``: a low-contrast studio backdrop, a light neutral (cream, white, light grey)
  tinted 15 % towards the subject's own tone (the median colour just inside its
  outline): light fur of nearly the backdrop's colour, and the shop's usual setting;
* ``dark``: a near-black backdrop: any light fringe the old background leaves shows;
* ``busy``: a photo (enlarged a little, at a random offset) or procedural grass, thin
  blades of the colours of dry and green grass, as fine and as busy as the fur.

Backdrops get a gentle vertical light fall-off, low-frequency mottling and a little grain,
as a photographed backdrop has. Everything is drawn from the case's random generator.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from bench.quality.filters import FloatArray

__all__ = ["KINDS", "backdrop", "grass", "photo", "value_noise"]

KINDS = ("light", "dark", "busy")
# the light backdrop: this share of the subject's tone, the rest its neutral
TINT = 0.15
DARK = (20.0, 19.0, 22.0)
_GRASS_PALETTE = (
    (150, 160, 62),
    (192, 172, 104),
    (58, 86, 34),
    (116, 94, 52),
    (214, 200, 150),
)


def value_noise(rng: np.random.Generator, height: int, width: int, scale: float) -> FloatArray:
    """Smooth noise in [0, 1]: a random grid every ``scale`` px, bicubic in between."""
    grid_h = max(2, math.ceil(height / scale) + 2)
    grid_w = max(2, math.ceil(width / scale) + 2)
    grid = Image.fromarray(rng.random((grid_h, grid_w)).astype(np.float32), mode="F")
    box = (0.5, 0.5, grid_w - 1.5, grid_h - 1.5)
    smooth = grid.resize((width, height), Image.Resampling.BICUBIC, box=box)
    return np.clip(np.asarray(smooth, np.float64), 0.0, 1.0)


def backdrop(
    rng: np.random.Generator, height: int, width: int, colour: tuple[float, float, float]
) -> FloatArray:
    """A plain backdrop of ``colour``: fall-off, mottling, grain (float levels)."""
    rows = np.linspace(-0.5, 0.5, height)[:, None, None]
    shade = 1.0 - 0.05 * rows + 0.02 * (value_noise(rng, height, width, 250.0)[..., None] - 0.5)
    grain = rng.normal(0.0, 1.2, (height, width, 1))
    result: FloatArray = np.clip(np.asarray(colour) * shade + grain, 0, 255)
    return result


def photo(rng: np.random.Generator, path: str, height: int, width: int) -> FloatArray:
    """The photo at ``path`` covering the canvas, enlarged 1-1.25x at a random offset."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    scale = max(width / image.width, height / image.height) * rng.uniform(1.0, 1.25)
    scaled_w = max(width, round(image.width * scale))
    scaled_h = max(height, round(image.height * scale))
    left = int(rng.integers(0, scaled_w - width + 1))
    top = int(rng.integers(0, scaled_h - height + 1))
    box = (left / scale, top / scale, (left + width) / scale, (top + height) / scale)
    resized = image.resize((width, height), Image.Resampling.LANCZOS, box=box)
    return np.asarray(resized, np.float64)


def grass(rng: np.random.Generator, height: int, width: int) -> FloatArray:
    """Procedural grass: thousands of thin blades drawn at 2x and reduced (anti-aliased)."""
    big_w, big_h = 2 * width, 2 * height
    base = backdrop(rng, big_h, big_w, (70.0, 74.0, 40.0))
    image = Image.fromarray(base.round().astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    count = big_w * big_h // 90
    roots_y = np.sort(rng.uniform(-0.1, 1.15, count)) * big_h  # far blades first
    for root_y in roots_y:
        root_x = rng.uniform(-20, big_w + 20)
        length = rng.uniform(20, 130)
        angle = math.radians(-90 + rng.normal(0, 22))
        bend = rng.normal(0, 0.25)
        points = [(root_x, root_y)]
        for step in range(1, 4):
            heading = angle + bend * step / 3
            last = points[-1]
            points.append(
                (last[0] + length / 3 * math.cos(heading), last[1] + length / 3 * math.sin(heading))
            )
        tone = np.array(_GRASS_PALETTE[int(rng.integers(len(_GRASS_PALETTE)))], float)
        shade = np.clip(tone * rng.uniform(0.7, 1.15), 0, 255).round().astype(int)
        draw.line(
            points,
            fill=(int(shade[0]), int(shade[1]), int(shade[2])),
            width=int(rng.integers(1, 5)),
        )
    reduced = image.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(reduced, np.float64)
