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

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["estimate_foreground_ml", "refine_foreground"]

FloatArray = npt.NDArray[np.float32]
ByteArray = npt.NDArray[np.uint8]
IndexArray = npt.NDArray[np.intp]

REGULARIZATION = 1e-5
GRADIENT_WEIGHT = 1.0
SMALL_SIZE = 32
SMALL_ITERATIONS = 10
# Jacobi converges about half as fast as the reference's Gauss-Seidel sweeps (2 there).
BIG_ITERATIONS = 4
WORK_SIZE = 512
# alpha8 in 1..254 is a soft edge; 0 and 255 keep the photo's colour exactly
_SOFT_LOW = 0.5 / 255.0
_SOFT_HIGH = 1.0 - 0.5 / 255.0


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


def _solve_level(
    image: FloatArray,
    alpha: FloatArray,
    fb: FloatArray,
    iterations: int,
    regularization: float,
    gradient_weight: float,
) -> FloatArray:
    """Jacobi sweeps of the per-pixel 2x2 system on one level; ``fb`` is H x W x 6 (F, B)."""
    height, width = alpha.shape
    weights = _neighbour_weights(alpha, regularization, gradient_weight)
    total = weights.sum(axis=0)
    a00 = alpha * alpha + total
    a11 = (1 - alpha) * (1 - alpha) + total
    a01 = alpha * (1 - alpha)
    inverse_det = 1.0 / (a00 * a11 - a01 * a01)
    b00 = (a11 * inverse_det)[..., None]
    b01 = (-a01 * inverse_det)[..., None]
    b11 = (a00 * inverse_det)[..., None]
    data_f = alpha[..., None] * image
    data_b = (1 - alpha)[..., None] * image
    shifts = ((1, 0), (1, 2), (0, 1), (2, 1))
    for _ in range(iterations):
        padded = np.pad(fb, ((1, 1), (1, 1), (0, 0)), mode="edge")
        pulled = np.zeros_like(fb)
        for index, (row, col) in enumerate(shifts):
            pulled += weights[index][..., None] * padded[row : row + height, col : col + width]
        rhs_f = data_f + pulled[..., :3]
        rhs_b = data_b + pulled[..., 3:]
        fb = np.concatenate([b00 * rhs_f + b01 * rhs_b, b01 * rhs_f + b11 * rhs_b], axis=2)
        np.clip(fb, 0.0, 1.0, out=fb)
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


def _box_resize(array: FloatArray, width: int, height: int) -> FloatArray:
    """Area-average resize of a float H x W or H x W x C array (per channel, Pillow 'F')."""
    if array.ndim == 2:
        image = Image.fromarray(array, mode="F")
        return np.asarray(image.resize((width, height), Image.Resampling.BOX), np.float32)
    channels = [
        _box_resize(np.ascontiguousarray(array[..., c]), width, height)
        for c in range(array.shape[2])
    ]
    return np.stack(channels, axis=2)


def _sample_bilinear(grid: FloatArray, rows: FloatArray, cols: FloatArray) -> FloatArray:
    """``grid`` (h x w x C) sampled at fractional pixel-centre coordinates -> N x C."""
    height, width = grid.shape[:2]
    rows = np.clip(rows, 0, height - 1)
    cols = np.clip(cols, 0, width - 1)
    row0 = np.floor(rows).astype(np.intp)
    col0 = np.floor(cols).astype(np.intp)
    row1 = np.minimum(row0 + 1, height - 1)
    col1 = np.minimum(col0 + 1, width - 1)
    fy = (rows - row0)[:, None]
    fx = (cols - col0)[:, None]
    top = grid[row0, col0] * (1 - fx) + grid[row0, col1] * fx
    bottom = grid[row1, col0] * (1 - fx) + grid[row1, col1] * fx
    result: FloatArray = top * (1 - fy) + bottom * fy
    return result


def _soft_pixels(alpha: FloatArray) -> tuple[IndexArray, IndexArray]:
    soft = (alpha > _SOFT_LOW) & (alpha < _SOFT_HIGH)
    rows, cols = np.nonzero(soft)
    return rows, cols


def refine_foreground(
    rgb: ByteArray,
    alpha: FloatArray,
    *,
    work_size: int = WORK_SIZE,
    regularization: float = REGULARIZATION,
    gradient_weight: float = GRADIENT_WEIGHT,
) -> ByteArray:
    """``rgb`` with the old background's colour taken out of its soft-alpha pixels.

    Pixels whose alpha rounds to 0 or 255 are returned unchanged.
    """
    height, width = alpha.shape
    rows, cols = _soft_pixels(alpha)
    result = rgb.copy()
    if rows.size == 0:
        return result
    factor = max(1.0, max(height, width) / work_size)
    small_width = max(1, round(width / factor))
    small_height = max(1, round(height / factor))
    if factor > 1.0:
        small_image = np.asarray(
            Image.fromarray(rgb).resize((small_width, small_height), Image.Resampling.BOX),
            np.float32,
        ) / np.float32(255.0)
        small_alpha = _box_resize(alpha.astype(np.float32), small_width, small_height)
    else:
        small_image = rgb.astype(np.float32) / np.float32(255.0)
        small_alpha = alpha.astype(np.float32)
    fg_small, bg_small = estimate_foreground_ml(
        small_image, small_alpha, regularization=regularization, gradient_weight=gradient_weight
    )
    fb_small = np.concatenate([fg_small, bg_small], axis=2)

    # Full-resolution finish at the soft pixels: the per-pixel system of the method's
    # last level, with the neighbours' F and B read from the smooth low-resolution answer.
    soft_alpha = alpha[rows, cols].astype(np.float32)
    total = np.zeros_like(soft_alpha)
    for d_row, d_col in ((0, -1), (0, 1), (-1, 0), (1, 0)):
        neighbour = alpha[np.clip(rows + d_row, 0, height - 1), np.clip(cols + d_col, 0, width - 1)]
        total += regularization + gradient_weight * np.abs(soft_alpha - neighbour)
    scale_y = small_height / height
    scale_x = small_width / width
    prior = _sample_bilinear(
        fb_small,
        ((rows + 0.5) * scale_y - 0.5).astype(np.float32),
        ((cols + 0.5) * scale_x - 0.5).astype(np.float32),
    )
    colour = rgb[rows, cols].astype(np.float32) / np.float32(255.0)
    a00 = soft_alpha * soft_alpha + total
    a11 = (1 - soft_alpha) * (1 - soft_alpha) + total
    a01 = soft_alpha * (1 - soft_alpha)
    rhs_f = soft_alpha[:, None] * colour + total[:, None] * prior[:, :3]
    rhs_b = (1 - soft_alpha)[:, None] * colour + total[:, None] * prior[:, 3:]
    foreground = (a11[:, None] * rhs_f - a01[:, None] * rhs_b) / (a00 * a11 - a01 * a01)[:, None]
    result[rows, cols] = np.clip(foreground * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return result
