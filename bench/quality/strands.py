"""Fur, hair and whisker strands: tapering anti-aliased curves with exact partial alpha.

A strand is a polyline grown from a root, a width at each point (tapering towards the
tip), an opacity and a colour. Its alpha at a pixel is ``opacity * coverage``, where the
coverage of a segment is ``clip(w / 2 - d + 0.5, 0, 1)`` for a pixel centre at distance
``d`` from it and ``w`` the width interpolated along the segment (a one-pixel ramp, the
usual analytic anti-aliasing); a strand thinner than a pixel is drawn one pixel wide with
its coverage scaled by its width, so that its total coverage stays its area. A strand's
coverage is the largest over its segments (joints are not counted twice). Strands are
laid over the canvas one by one with the "over" operator on premultiplied colour, so the
result is an exact alpha and foreground colour: whatever is drawn is the ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.quality.filters import FloatArray

__all__ = ["Strand", "coverage", "draw", "grow", "taper"]

# a strand's width at its tip, as a share of its root width
TIP_WIDTH = 0.15


@dataclass(frozen=True)
class Strand:
    """A polyline ``points`` (n x 2, x then y, pixel centres at integers) and its look."""

    points: FloatArray
    widths: FloatArray
    opacity: float
    colour: FloatArray


def grow(
    root: tuple[float, float],
    angle: float,
    length: float,
    rng: np.random.Generator,
    *,
    curl: float = 0.0,
    gravity: float = 0.0,
    step: float = 3.0,
) -> FloatArray:
    """The points of a strand from ``root`` heading ``angle`` (radians, y down).

    The strand turns steadily by a total drawn with standard deviation ``curl`` (radians)
    and wiggles about as much again in small random turns, whatever its length or number
    of steps, so its shape does not depend on the scale; ``gravity`` pulls the heading
    towards +y (down) more and more along the strand, as long hair falls.
    """
    count = max(3, min(40, math.ceil(length / step)))
    step = length / count
    bend = rng.normal(0.0, curl) / count
    wiggles = rng.normal(0.0, curl / math.sqrt(count), count)
    points = np.empty((count + 1, 2))
    points[0] = root
    heading = angle
    for index in range(count):
        direction = np.array([math.cos(heading), math.sin(heading)])
        if gravity:
            direction[1] += gravity * (index + 1) / count
            direction /= np.linalg.norm(direction)
            heading = math.atan2(direction[1], direction[0])
        points[index + 1] = points[index] + step * direction
        heading += bend + wiggles[index]
    return points


def _segment_coverage(
    xs: FloatArray,
    ys: FloatArray,
    start: FloatArray,
    end: FloatArray,
    width_start: float,
    width_end: float,
) -> FloatArray:
    delta = end - start
    length_sq = float(delta @ delta)
    if length_sq == 0:
        along = np.zeros_like(xs)
    else:
        along = np.clip(((xs - start[0]) * delta[0] + (ys - start[1]) * delta[1]) / length_sq, 0, 1)
    distance = np.hypot(xs - (start[0] + along * delta[0]), ys - (start[1] + along * delta[1]))
    width = width_start + along * (width_end - width_start)
    drawn = np.maximum(width, 1.0)
    coverage: FloatArray = np.clip(drawn / 2 - distance + 0.5, 0, 1) * (width / drawn)
    return coverage


def coverage(strand: Strand, height: int, width: int) -> tuple[tuple[slice, slice], FloatArray]:
    """The strand's coverage on its bounding box within an H x W canvas: (box, values)."""
    reach = float(strand.widths.max()) / 2 + 1.5
    low = np.floor(strand.points.min(axis=0) - reach).astype(int)
    high = np.ceil(strand.points.max(axis=0) + reach).astype(int) + 1
    x0, y0 = max(0, int(low[0])), max(0, int(low[1]))
    x1, y1 = min(width, int(high[0])), min(height, int(high[1]))
    box = (slice(y0, max(y0, y1)), slice(x0, max(x0, x1)))
    values = np.zeros((max(0, y1 - y0), max(0, x1 - x0)))
    for index in range(len(strand.points) - 1):
        start, end = strand.points[index], strand.points[index + 1]
        seg_reach = max(strand.widths[index], strand.widths[index + 1]) / 2 + 1.5
        sx0 = max(x0, math.floor(min(start[0], end[0]) - seg_reach))
        sy0 = max(y0, math.floor(min(start[1], end[1]) - seg_reach))
        sx1 = min(x1, math.ceil(max(start[0], end[0]) + seg_reach) + 1)
        sy1 = min(y1, math.ceil(max(start[1], end[1]) + seg_reach) + 1)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        ys, xs = np.mgrid[sy0:sy1, sx0:sx1].astype(np.float64)
        part = _segment_coverage(
            xs, ys, start, end, float(strand.widths[index]), float(strand.widths[index + 1])
        )
        window = values[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
        np.maximum(window, part, out=window)
    return box, values


def draw(strand: Strand, premultiplied: FloatArray, alpha: FloatArray) -> None:
    """Lay ``strand`` over the canvas (premultiplied H x W x 3 colour and H x W alpha)."""
    box, values = coverage(strand, *alpha.shape)
    if values.size == 0:
        return
    layer = strand.opacity * values
    premultiplied[box] = (
        layer[..., None] * strand.colour + (1 - layer[..., None]) * premultiplied[box]
    )
    alpha[box] = layer + (1 - layer) * alpha[box]


def taper(root_width: float, count: int) -> FloatArray:
    """Widths along a strand of ``count`` points, from ``root_width`` to its tip's."""
    result: FloatArray = root_width * np.linspace(1.0, TIP_WIDTH, count)
    return result
