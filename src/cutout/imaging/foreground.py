"""Edge colour decontamination: estimate the subject's own colours where alpha is soft.

A pixel at a soft edge is a mix ``I = alpha * F + (1 - alpha) * B`` of the subject's colour
``F`` and the old background's ``B``. Cutting it out with ``I`` as its colour drags ``B``
(a green lawn, a white wall) into the new picture as a fringe. The multi-level method of
Germer et al. (2020, "Fast Multi-Level Foreground Estimation", pymatting's
``estimate_foreground_ml``) solves for smooth ``F`` and ``B`` that explain ``I``, coarse to
fine.

:func:`estimate_foreground_ml` is that method at full resolution, vectorised with numpy
(Jacobi sweeps instead of the original's in-place Gauss-Seidel, so it runs a few more
sweeps per level). :func:`refine_foreground` is the fast path used by ``compose``: ``F``
and ``B`` only need to be right as smooth colour fields, so it solves on a copy of at
most ``work_size`` px per side, then finishes with one exact per-pixel solve at full
resolution, and only at the pixels whose alpha is strictly between 0 and 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from cutout.arrays import ByteArray, FloatArray
from cutout.imaging.parallel import map_strips, strip_bounds

__all__ = [
    "BIG_ITERATIONS",
    "GRADIENT_WEIGHT",
    "REGULARIZATION",
    "SMALL_ITERATIONS",
    "SMALL_SIZE",
    "SOFT_HIGH",
    "SOFT_LOW",
    "estimate_foreground_ml",
    "refine_foreground",
    "solve_prior",
]

IndexArray = npt.NDArray[np.intp]

REGULARIZATION = 1e-5
GRADIENT_WEIGHT = 1.0
SMALL_SIZE = 32
SMALL_ITERATIONS = 10
# Jacobi converges about half as fast as the reference's Gauss-Seidel sweeps (2 there).
BIG_ITERATIONS = 4
WORK_SIZE = 512
# alpha8 in 1..254 is a soft edge; 0 and 255 keep the photo's colour exactly
SOFT_LOW = 0.5 / 255.0
SOFT_HIGH = 1.0 - 0.5 / 255.0
# working memory of the full-resolution finish per soft pixel (sizes its strips)
_FINISH_BYTES = 200


def _nearest(array: FloatArray, height: int, width: int) -> FloatArray:
    """Nearest-neighbour resize with the reference's index rule (``x * w_src // w_dst``)."""
    rows = np.arange(height) * array.shape[0] // height
    cols = np.arange(width) * array.shape[1] // width
    result: FloatArray = array[rows[:, None], cols[None, :]]
    return result


def _neighbour_weights(
    alpha: FloatArray, regularization: float, gradient_weight: float
) -> FloatArray:
    """Weights of the 4 neighbours (left, right, up, down): ``eps + g * |alpha - alpha_n|``.

    Out-of-image neighbours are the pixel itself (edge clamp), so their gradient is 0.
    """
    padded = np.pad(alpha, 1, mode="edge")
    height, width = alpha.shape
    weights = np.empty((4, height, width), np.float32)
    shifts = ((1, 0), (1, 2), (0, 1), (2, 1))  # (row, col) offsets into the padded array
    for index, (row, col) in enumerate(shifts):
        neighbour = padded[row : row + height, col : col + width]
        weights[index] = regularization + gradient_weight * np.abs(alpha - neighbour)
    return weights


def _pull(fb: FloatArray, weights: FloatArray, out: FloatArray, scratch: FloatArray) -> None:
    """``out = sum_n weights[n] * fb[neighbour n]`` with edge-clamped neighbours.

    Slices instead of a padded copy: the out-of-image neighbour is the pixel itself.
    """
    left, right, up, down = weights
    np.multiply(left, fb, out=out)  # the clamped first column; overwritten below
    np.multiply(left[:, 1:], fb[:, :-1], out=out[:, 1:])
    np.multiply(right, fb, out=scratch)
    np.multiply(right[:, :-1], fb[:, 1:], out=scratch[:, :-1])
    out += scratch
    np.multiply(up, fb, out=scratch)
    np.multiply(up[1:], fb[:-1], out=scratch[1:])
    out += scratch
    np.multiply(down, fb, out=scratch)
    np.multiply(down[:-1], fb[1:], out=scratch[:-1])
    out += scratch


def _solve_level(
    image: FloatArray,
    alpha: FloatArray,
    fb: FloatArray,
    iterations: int,
    regularization: float,
    gradient_weight: float,
) -> FloatArray:
    """Jacobi sweeps of the per-pixel 2x2 system on one level; ``fb`` is H x W x 6 (F, B)."""
    weights = _neighbour_weights(alpha, regularization, gradient_weight)
    total = weights.sum(axis=0)
    a00 = alpha * alpha + total
    a11 = (1 - alpha) * (1 - alpha) + total
    a01 = alpha * (1 - alpha)
    inverse_det = 1.0 / (a00 * a11 - a01 * a01)
    b00 = (a11 * inverse_det)[..., None]
    b01 = (-a01 * inverse_det)[..., None]
    b11 = (a00 * inverse_det)[..., None]
    data = np.concatenate([alpha[..., None] * image, (1 - alpha)[..., None] * image], axis=2)
    neighbour_weights = weights[..., None]
    pulled = np.empty_like(fb)
    scratch = np.empty_like(fb)
    for _ in range(iterations):
        _pull(fb, neighbour_weights, pulled, scratch)
        pulled += data
        rhs_f, rhs_b = pulled[..., :3], pulled[..., 3:]
        fb = np.concatenate([b00 * rhs_f + b01 * rhs_b, b01 * rhs_f + b11 * rhs_b], axis=2)
        np.maximum(fb, 0.0, out=fb)
        np.minimum(fb, 1.0, out=fb)
    return fb


def estimate_foreground_ml(
    image: FloatArray,
    alpha: FloatArray,
    *,
    regularization: float = REGULARIZATION,
    gradient_weight: float = GRADIENT_WEIGHT,
    small_size: int = SMALL_SIZE,
    small_iterations: int = SMALL_ITERATIONS,
    big_iterations: int = BIG_ITERATIONS,
) -> tuple[FloatArray, FloatArray]:
    """Foreground and background colours (H x W x 3 in [0, 1]) of ``image`` under ``alpha``.

    ``image`` is H x W x 3 float in [0, 1], ``alpha`` H x W float in [0, 1]. Levels grow
    geometrically from 1 x 1 to the full size, as in the reference; each starts from the
    previous level's answer, resized nearest-neighbour.
    """
    image = np.asarray(image, np.float32)
    alpha = np.asarray(alpha, np.float32)
    height, width = alpha.shape
    levels = max(1, math.ceil(math.log2(max(height, width))))
    fb = np.zeros((1, 1, 6), np.float32)
    for level in range(levels + 1):
        level_height = round(height ** (level / levels))
        level_width = round(width ** (level / levels))
        level_image = _nearest(image, level_height, level_width)
        level_alpha = _nearest(alpha, level_height, level_width)
        fb = _nearest(fb, level_height, level_width)
        small = level_height <= small_size and level_width <= small_size
        fb = _solve_level(
            level_image,
            level_alpha,
            fb,
            small_iterations if small else big_iterations,
            regularization,
            gradient_weight,
        )
    return np.ascontiguousarray(fb[..., :3]), np.ascontiguousarray(fb[..., 3:])


def _resize_channels(
    array: FloatArray,
    size: tuple[int, int],
    resample: Image.Resampling,
    box: tuple[float, float, float, float] | None = None,
) -> list[FloatArray]:
    """Each channel of a float H x W x C array resized with Pillow ('F' mode)."""
    return [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(array[..., c]), mode="F").resize(
                size, resample, box=box
            ),
            np.float32,
        )
        for c in range(array.shape[2])
    ]


def _neighbour_total(
    alpha: FloatArray | ByteArray, flat: IndexArray, regularization: float, gradient_weight: float
) -> FloatArray:
    """Sum of the 4 neighbour weights at the pixels ``flat`` (edge-clamped)."""
    height, width = alpha.shape
    values = alpha.ravel()
    rows, cols = np.divmod(flat, width)
    centre = _unit(values[flat])
    total = np.full(flat.shape, 4 * regularization, np.float32)
    for neighbour in (
        flat - (cols > 0),
        flat + (cols < width - 1),
        flat - width * (rows > 0),
        flat + width * (rows < height - 1),
    ):
        total += gradient_weight * np.abs(centre - _unit(values[neighbour]))
    return total


def _unit(values: FloatArray | ByteArray) -> FloatArray:
    """Alpha values as float32 in [0, 1] (8-bit ones scaled as the edge stage scales them)."""
    if values.dtype == np.uint8:
        scaled: FloatArray = values.astype(np.float32) * np.float32(1.0 / 255.0)
        return scaled
    return np.asarray(values, np.float32)


@dataclass(frozen=True)
class _PriorGrid:
    """The low-resolution (F, B) upsampled (bilinear) to cells of ``step`` px over the
    bounding box of the soft pixels: six flat channels, read per pixel by :meth:`at`."""

    channels: list[FloatArray]
    top: int
    left: int
    step: int
    grid_width: int
    width: int

    def at(self, flat: IndexArray) -> tuple[FloatArray, FloatArray]:
        rows, cols = np.divmod(flat, self.width)
        local = ((rows - self.top) // self.step) * self.grid_width + (cols - self.left) // self.step
        sampled = [channel[local] for channel in self.channels]
        return np.stack(sampled[:3], axis=1), np.stack(sampled[3:], axis=1)


def _prior(fb_small: FloatArray, flat: IndexArray, height: int, width: int) -> _PriorGrid:
    """The grid the soft pixels ``flat`` read their (F, B) prior from.

    The answer is a smooth field on a grid ``factor`` times coarser than the photo, so it
    is upsampled only to a grid of cells of ``step`` px (half that factor), and only over
    the bounding box of ``flat``, then read per pixel with 1-D indices: far cheaper than
    full-resolution channels or 2-D fancy indexing of four corners per pixel.
    """
    small_height, small_width = fb_small.shape[:2]
    rows, cols = np.divmod(flat, width)
    top, left = int(rows.min()), int(cols.min())
    step = max(1, int(width / small_width) // 2)
    grid_width = (int(cols.max()) - left) // step + 1
    grid_height = (int(rows.max()) - top) // step + 1
    if (small_height, small_width) == (height, width):
        bottom, right = top + grid_height, left + grid_width
        channels = [fb_small[top:bottom, left:right, c] for c in range(6)]
    else:
        scale_x, scale_y = small_width / width, small_height / height
        box = (
            left * scale_x,
            top * scale_y,
            min(small_width, (left + grid_width * step) * scale_x),
            min(small_height, (top + grid_height * step) * scale_y),
        )
        channels = _resize_channels(
            fb_small, (grid_width, grid_height), Image.Resampling.BILINEAR, box
        )
    flat_channels = [np.ascontiguousarray(channel).ravel() for channel in channels]
    return _PriorGrid(flat_channels, top, left, step, grid_width, width)


def solve_prior(
    small_image: FloatArray,
    small_alpha: FloatArray,
    regularization: float = REGULARIZATION,
    gradient_weight: float = GRADIENT_WEIGHT,
) -> FloatArray:
    """The low-resolution (F, B) answer (H' x W' x 6) that :func:`refine_foreground`
    finishes at full resolution; a caller may solve it beside other work and hand it in."""
    fg_small, bg_small = estimate_foreground_ml(
        small_image, small_alpha, regularization=regularization, gradient_weight=gradient_weight
    )
    return np.concatenate([fg_small, bg_small], axis=2)


def refine_foreground(
    rgb: ByteArray,
    alpha: FloatArray | ByteArray,
    *,
    work_size: int = WORK_SIZE,
    regularization: float = REGULARIZATION,
    gradient_weight: float = GRADIENT_WEIGHT,
    prior: FloatArray | None = None,
) -> ByteArray:
    """``rgb`` with the old background's colour taken out of its soft-alpha pixels.

    ``alpha``: float in [0, 1], or uint8 (0-255). Pixels whose alpha rounds to 0 or 255
    are returned unchanged. ``prior``: the low-resolution answer :func:`solve_prior` gave,
    already solved by the caller (the edge stage solves it on its working copy, beside
    other work); without it, ``rgb`` and ``alpha`` are reduced to ``work_size`` and solved
    here.
    """
    height, width = alpha.shape
    result = rgb.copy()
    if alpha.dtype == np.uint8:
        # 8-bit alpha (the edge stage's): soft is 1..254, found without a float copy of
        # the whole image (uint8 wraps: 0 - 1 = 255)
        flat = np.flatnonzero((alpha - np.uint8(1)) < 254)
    else:
        alpha = np.asarray(alpha, np.float32)
        flat = np.flatnonzero((alpha > SOFT_LOW) & (alpha < SOFT_HIGH))
    if flat.size == 0:
        return result
    if prior is None:
        factor = max(1.0, max(height, width) / work_size)
        if factor > 1.0:
            small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
            small_rgb = Image.fromarray(rgb).resize(small_size, Image.Resampling.BOX)
            small_image = np.asarray(small_rgb, np.float32) / np.float32(255.0)
            unit = _unit(alpha)[..., None]
            small_alpha = _resize_channels(unit, small_size, Image.Resampling.BOX)[0]
        else:
            small_image = rgb.astype(np.float32) / np.float32(255.0)
            small_alpha = _unit(alpha)
        prior = solve_prior(small_image, small_alpha, regularization, gradient_weight)

    # Full-resolution finish at the soft pixels: the per-pixel system of the method's
    # last level, with the neighbours' F and B read from the smooth low-resolution answer.
    # Each soft pixel's system is its own: strips of them are solved on several cores.
    grid = _prior(prior, flat, height, width)
    pixels = result.reshape(-1, 3)

    def finish(first: int, end: int) -> None:
        part = flat[first:end]
        soft_alpha = _unit(alpha.ravel()[part])[:, None]
        total = _neighbour_total(alpha, part, regularization, gradient_weight)[:, None]
        prior_f, prior_b = grid.at(part)
        colour = pixels[part].astype(np.float32) / np.float32(255.0)
        a00 = soft_alpha * soft_alpha + total
        a11 = (1 - soft_alpha) * (1 - soft_alpha) + total
        a01 = soft_alpha * (1 - soft_alpha)
        rhs_f = soft_alpha * colour + total * prior_f
        rhs_b = (1 - soft_alpha) * colour + total * prior_b
        foreground = (a11 * rhs_f - a01 * rhs_b) / (a00 * a11 - a01 * a01)
        foreground *= 255.0
        foreground += 0.5
        np.maximum(foreground, 0.0, out=foreground)
        np.minimum(foreground, 255.0, out=foreground)
        pixels[part] = foreground.astype(np.uint8)

    map_strips(finish, strip_bounds(flat.size, flat.size * _FINISH_BYTES))
    return result
