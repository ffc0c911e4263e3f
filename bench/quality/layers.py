"""The layers of a case: the body's alpha, its outline, fluff, strands and whiskers.

Each function returns exact values (alpha, colours, strand geometry) drawn from the
case's random generator; :mod:`bench.quality.synth` stacks them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.quality.backgrounds import value_noise
from bench.quality.filters import BoolArray, FloatArray, dilate, gaussian_blur
from bench.quality.strands import Strand, grow, taper
from bench.quality.subjects import Ellipse, StrandStyle, Subject

__all__ = [
    "Frame",
    "body_alpha",
    "fluff_layer",
    "outline",
    "strands_for",
    "whiskers_for",
]

# the body's anti-aliased edge, px from alpha 0 to 1
EDGE_RAMP = 1.5
# outline pixels this close to the frame (where a crop cuts the body) grow nothing
FRAME_MARGIN = 4
# strands start this deep (px, at most) inside the body, and take their colour deeper
ROOT_INSET = 3.0
COLOUR_DEPTH = 4.0


@dataclass(frozen=True)
class Frame:
    """Where a case sits in its photo: the photo's size (px), the crop's corner, the scale."""

    photo_width: int
    photo_height: int
    left: float  # crop corner, photo px
    top: float
    scale: float  # case px per photo px

    @property
    def long_side(self) -> float:
        """The whole photo's long side in case pixels: the unit of lengths."""
        return max(self.photo_width, self.photo_height) * self.scale

    def to_case(self, x: float, y: float) -> FloatArray:
        """A position given as shares of the photo, in case pixels."""
        return np.array(
            [
                (x * self.photo_width - self.left) * self.scale,
                (y * self.photo_height - self.top) * self.scale,
            ]
        )

    def inside(self, region: Ellipse | None, points: FloatArray) -> BoolArray:
        """Which case-pixel ``points`` (n x 2) lie in ``region`` (shares of the photo)."""
        if region is None:
            return np.ones(len(points), bool)
        x = (points[:, 0] / self.scale + self.left) / self.photo_width
        y = (points[:, 1] / self.scale + self.top) / self.photo_height
        result: BoolArray = ((x - region.x) / region.radius_x) ** 2 + (
            (y - region.y) / region.radius_y
        ) ** 2 <= 1
        return result


def body_alpha(soft_mask: FloatArray, erode: float) -> FloatArray:
    """A clean, anti-aliased body from an enlarged binary mask.

    The mask is blurred (sigma 0.3 % of the long side and at least ``erode`` / 1.5 px)
    and cut at the level where a straight edge has moved ``erode`` px inwards; alpha
    then ramps linearly over ``EDGE_RAMP`` px across that level.
    """
    sigma = max(1.0, 0.003 * max(soft_mask.shape), erode / 1.5)
    blurred = gaussian_blur(soft_mask, sigma)
    level = 0.5 * (1 + math.erf(erode / (sigma * math.sqrt(2))))
    slope = math.exp(-0.5 * (erode / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    result: FloatArray = np.clip(0.5 + (blurred - level) / (slope * EDGE_RAMP), 0.0, 1.0)
    return result


def outline(alpha: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Outline pixels of the body (x, y) and their outward unit normals, off the frame."""
    body = alpha >= 0.5
    edge = body & dilate(~body, 1)
    smooth = gaussian_blur(alpha, 3.0)
    grad_y, grad_x = (np.asarray(g, np.float64) for g in np.gradient(smooth))
    height, width = alpha.shape
    ys, xs = np.nonzero(edge)
    keep = (
        (xs >= FRAME_MARGIN)
        & (ys >= FRAME_MARGIN)
        & (xs < width - FRAME_MARGIN)
        & (ys < height - FRAME_MARGIN)
    )
    xs, ys = xs[keep], ys[keep]
    normals = -np.stack([grad_x[ys, xs], grad_y[ys, xs]], axis=1)
    length = np.linalg.norm(normals, axis=1)
    steady = length > 1e-6
    points = np.stack([xs, ys], axis=1).astype(np.float64)[steady]
    return points, normals[steady] / length[steady, None]


def _sample(photo: FloatArray, points: FloatArray) -> FloatArray:
    height, width = photo.shape[:2]
    xs = np.clip(np.round(points[:, 0]).astype(int), 0, width - 1)
    ys = np.clip(np.round(points[:, 1]).astype(int), 0, height - 1)
    result: FloatArray = photo[ys, xs]
    return result


def strands_for(
    rng: np.random.Generator,
    style: StrandStyle,
    points: FloatArray,
    normals: FloatArray,
    photo: FloatArray,
    frame: Frame,
) -> list[Strand]:
    """``style``'s strands along the outline: roots, headings, lengths, widths, colours."""
    chosen = np.nonzero(frame.inside(style.region, points))[0]
    count = round(style.density * chosen.size)
    if count == 0:
        return []
    picks = rng.choice(chosen, size=count, replace=count > chosen.size)
    roots = points[picks] + rng.uniform(-0.5, 0.5, (count, 2))
    roots -= normals[picks] * rng.uniform(0.0, ROOT_INSET, (count, 1))
    colours = _sample(photo, roots - normals[picks] * COLOUR_DEPTH)
    colours = np.clip(colours * rng.uniform(0.9, 1.1, (count, 1)), 0, 255)
    headings = np.arctan2(normals[picks, 1], normals[picks, 0])
    headings += np.radians(rng.normal(0.0, style.spread, count))
    lengths = style.length * frame.long_side * rng.lognormal(0.0, style.length_spread, count)
    widths = rng.uniform(*style.width, count)
    opacities = rng.uniform(*style.opacity, count)
    strands = []
    for index in range(count):
        line = grow(
            (float(roots[index, 0]), float(roots[index, 1])),
            float(headings[index]),
            float(lengths[index]),
            rng,
            curl=math.radians(style.curl),
            gravity=style.gravity,
        )
        strands.append(
            Strand(
                line,
                taper(float(widths[index]), len(line)),
                float(opacities[index]),
                colours[index],
            )
        )
    return strands


def whiskers_for(rng: np.random.Generator, subject: Subject, frame: Frame) -> list[Strand]:
    """The subject's whisker tufts: near-straight, long, opaque, fanned out."""
    photo_long = frame.long_side
    strands = []
    for tuft in subject.tufts:
        anchor = frame.to_case(tuft.x, tuft.y)
        for index in range(tuft.count):
            share = index / max(1, tuft.count - 1) - 0.5
            angle = math.radians(tuft.angle + tuft.spread * share + rng.normal(0.0, 3.0))
            across = np.array([-math.sin(angle), math.cos(angle)])
            root = anchor + across * share * 0.025 * photo_long
            length = rng.uniform(*tuft.length) * photo_long
            line = grow(
                (float(root[0]), float(root[1])), angle, length, rng, curl=math.radians(8.0)
            )
            colour = np.clip(np.asarray(tuft.colour, np.float64) + rng.normal(0.0, 3.0, 3), 0, 255)
            width = rng.uniform(*tuft.width)
            strands.append(Strand(line, taper(width, len(line)), rng.uniform(0.85, 1.0), colour))
    return strands


def fluff_layer(
    rng: np.random.Generator,
    subject: Subject,
    body: BoolArray,
    photo: FloatArray,
    frame: Frame,
) -> tuple[FloatArray, FloatArray]:
    """Fluff alpha and colour: patchy wisps fading outwards from the outline.

    The colour is the body's near the outline, carried outwards by normalised
    convolution (blur of colour x body / blur of body, with the fade's own blur), so it
    is defined wherever the fluff's alpha is not 0.
    """
    fluff = subject.fluff
    assert fluff is not None
    height, width = body.shape
    unit = max(height, width) / 1200
    noise = (
        0.5 * value_noise(rng, height, width, 24 * unit)
        + 0.3 * value_noise(rng, height, width, 9 * unit)
        + 0.2 * value_noise(rng, height, width, 4 * unit)
    )
    wisps = np.clip((noise - 0.4) / 0.4, 0, 1) ** 1.5
    patches = value_noise(rng, height, width, 180 * unit)
    cut = float(np.quantile(patches, 1 - fluff.share))
    patches = np.clip((patches - cut) / 0.08, 0, 1)
    extent = fluff.extent * frame.long_side
    spread = gaussian_blur(body.astype(np.float64), extent)
    fade = np.clip(2 * spread, 0, 1)
    alpha = fluff.peak * wisps * patches * fade * ~body
    if fluff.region is not None:
        ys, xs = np.mgrid[0:height, 0:width]
        grid = np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1).astype(np.float64)
        inside = frame.inside(fluff.region, grid)
        alpha = alpha * inside.reshape(height, width)
    carried = gaussian_blur(photo * body[..., None], extent)
    colour = carried / np.maximum(spread, 1e-300)[..., None]
    colour[spread <= 0] = 0.0
    return alpha, np.clip(colour, 0, 255)
