"""Matting metrics against exact ground truth: pure numpy functions.

All mattes are float arrays in [0, 1] (H x W); colours are float arrays in 0-255 levels
(H x W x 3). ``region`` is a boolean H x W mask; ``None`` means the whole image. The
definitions follow the Composition-1k evaluation code (Xu et al., Deep Image Matting,
2017), itself after alphamatting.com (Rhemann et al., CVPR 2009); see docs/quality.md.

* **SAD** (:func:`sad`): ``sum |pred - truth|`` over the region, reported /1000;
* **MSE** (:func:`mse`): ``mean (pred - truth)^2`` over the region's pixels;
* **Grad** (:func:`gradient_error`): ``sum (|grad pred| - |grad truth|)^2`` over the
  region, reported /1000, with Gaussian-derivative gradients of sigma 1.4;
* **Conn** (:func:`connectivity_error`): ``sum |phi(pred) - phi(truth)|`` over the region,
  reported /1000 (see :func:`connectivity_levels`);
* **re-composite error** (:func:`recomposite_error`): the cut-out and the truth placed on
  a new background, mean absolute difference in 0-255 levels;
* :func:`edge_band`: where edge metrics are taken; :func:`spearman`: rank correlation,
  for a per-image confidence score; :func:`outside_band_change`: how much a matte
  changed away from the band, for property tests of an edge-refinement stage.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.quality.filters import BoolArray, FloatArray, dilate, gaussian_gradient
from bench.quality.filters import largest_component as _largest_component

__all__ = [
    "PARTIAL_EPSILON",
    "BandChange",
    "band_radius",
    "connectivity_error",
    "connectivity_error_map",
    "connectivity_levels",
    "connectivity_phi",
    "edge_band",
    "gradient_error",
    "gradient_error_map",
    "mse",
    "outside_band_change",
    "recomposite",
    "recomposite_error",
    "sad",
    "spearman",
    "unknown_region",
]

# alpha strictly between these is "partial": visible as neither 0 nor 255 in 8 bits
PARTIAL_EPSILON = 0.5 / 255
GRADIENT_SIGMA = 1.4
CONNECTIVITY_STEP = 0.1
CONNECTIVITY_MIN_DISTANCE = 0.15


def _pair(pred: npt.ArrayLike, truth: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    pred_array = np.asarray(pred, np.float64)
    truth_array = np.asarray(truth, np.float64)
    if pred_array.shape != truth_array.shape:
        raise ValueError(f"shapes differ: {pred_array.shape} != {truth_array.shape}")
    return pred_array, truth_array


def _in_region(values: FloatArray, region: BoolArray | None) -> FloatArray:
    if region is None:
        return values.reshape(-1)
    result: FloatArray = values[np.asarray(region, bool)]
    return result


def unknown_region(truth: npt.ArrayLike, epsilon: float = PARTIAL_EPSILON) -> BoolArray:
    """Pixels whose true alpha is partial: ``epsilon < alpha < 1 - epsilon``.

    The synthetic counterpart of a trimap's unknown region; ``epsilon`` (half an 8-bit
    level) keeps the far tails of soft structures, invisible in any 8-bit output, out.
    """
    alpha = np.asarray(truth, np.float64)
    result: BoolArray = (alpha > epsilon) & (alpha < 1 - epsilon)
    return result


def band_radius(width: int, height: int) -> int:
    """The band's dilation radius: 1 % of the long side, at least 3 px (12 px at 1200)."""
    return max(3, round(max(width, height) / 100))


def edge_band(truth: npt.ArrayLike, radius: int) -> BoolArray:
    """The edge band: the unknown region dilated by ``radius`` px (Chebyshev distance).

    It holds every partial pixel of the truth (fur, hair, fluff, the anti-aliased body
    outline) and the pixels next to them, so a method that leaves a halo or loses a
    strand is charged where it happens, and the flat inside and far background, where
    every method is right, do not dilute the score.
    """
    return dilate(unknown_region(truth), radius)


def sad(pred: npt.ArrayLike, truth: npt.ArrayLike, region: BoolArray | None = None) -> float:
    """Sum of absolute differences over the region, /1000 (the convention)."""
    pred_array, truth_array = _pair(pred, truth)
    return float(np.sum(np.abs(_in_region(pred_array - truth_array, region)))) / 1000


def mse(pred: npt.ArrayLike, truth: npt.ArrayLike, region: BoolArray | None = None) -> float:
    """Mean squared difference over the region's pixels (0 for an empty region)."""
    pred_array, truth_array = _pair(pred, truth)
    values = _in_region(pred_array - truth_array, region)
    return float(np.mean(values**2)) if values.size else 0.0


def gradient_error_map(pred: npt.ArrayLike, truth: npt.ArrayLike) -> FloatArray:
    """Per-pixel ``(|grad pred| - |grad truth|)^2``, gradients as in
    :func:`bench.quality.filters.gaussian_gradient` with sigma 1.4."""
    pred_array, truth_array = _pair(pred, truth)
    pred_x, pred_y = gaussian_gradient(pred_array, GRADIENT_SIGMA)
    truth_x, truth_y = gaussian_gradient(truth_array, GRADIENT_SIGMA)
    result: FloatArray = (np.hypot(pred_x, pred_y) - np.hypot(truth_x, truth_y)) ** 2
    return result


def gradient_error(
    pred: npt.ArrayLike, truth: npt.ArrayLike, region: BoolArray | None = None
) -> float:
    """Gradient error: ``sum (|grad pred| - |grad truth|)^2`` over the region, /1000."""
    return float(np.sum(_in_region(gradient_error_map(pred, truth), region))) / 1000


def connectivity_levels(pred: npt.ArrayLike, truth: npt.ArrayLike) -> FloatArray:
    """The level ``l`` at which each pixel loses its connection to the source region.

    For thresholds ``t_i = 0.1 i`` (i = 1..10), the source at ``t_i`` is the largest
    4-connected component of the pixels where both mattes are >= ``t_i``; a pixel outside
    it, not yet assigned, gets ``l = t_(i-1)``; pixels in every source get ``l = 1``
    (the Composition-1k evaluation code, after Rhemann et al. 2009).
    """
    pred_array, truth_array = _pair(pred, truth)
    levels = np.full(pred_array.shape, -1.0)
    steps = round(1 / CONNECTIVITY_STEP)
    for index in range(1, steps + 1):
        threshold = index / steps
        source = _largest_component((pred_array >= threshold) & (truth_array >= threshold))
        levels[(levels == -1) & ~source] = (index - 1) / steps
    levels[levels == -1] = 1.0
    return levels


def connectivity_phi(alpha: npt.ArrayLike, levels: FloatArray) -> FloatArray:
    """``phi = 1 - d * [d >= 0.15]`` with ``d = alpha - l``: 1 for a well-connected pixel."""
    distance = np.asarray(alpha, np.float64) - levels
    result: FloatArray = 1 - distance * (distance >= CONNECTIVITY_MIN_DISTANCE)
    return result


def connectivity_error_map(pred: npt.ArrayLike, truth: npt.ArrayLike) -> FloatArray:
    """Per-pixel ``|phi(pred) - phi(truth)|``, both ``phi`` on the pair's levels
    (:func:`connectivity_levels`)."""
    pred_array, truth_array = _pair(pred, truth)
    levels = connectivity_levels(pred_array, truth_array)
    result: FloatArray = np.abs(
        connectivity_phi(pred_array, levels) - connectivity_phi(truth_array, levels)
    )
    return result


def connectivity_error(
    pred: npt.ArrayLike, truth: npt.ArrayLike, region: BoolArray | None = None
) -> float:
    """Connectivity error: ``sum |phi(pred) - phi(truth)|`` over the region, /1000.

    Alpha that a method puts in an island cut off from the subject is charged, alpha
    that is connected to it is not.
    """
    return float(np.sum(_in_region(connectivity_error_map(pred, truth), region))) / 1000


def recomposite(
    alpha: npt.ArrayLike, foreground: npt.ArrayLike, background: npt.ArrayLike
) -> FloatArray:
    """``alpha F + (1 - alpha) B`` in float levels; ``B`` may be an RGB triple."""
    alpha_array = np.asarray(alpha, np.float64)[..., None]
    result: FloatArray = alpha_array * np.asarray(foreground, np.float64) + (
        1 - alpha_array
    ) * np.asarray(background, np.float64)
    return result


def recomposite_error(
    pred_alpha: npt.ArrayLike,
    pred_foreground: npt.ArrayLike,
    alpha: npt.ArrayLike,
    foreground: npt.ArrayLike,
    background: npt.ArrayLike,
    region: BoolArray | None = None,
) -> float:
    """Mean ``|pred_alpha pred_F + (1 - pred_alpha) B' - (alpha F + (1 - alpha) B')|``.

    In 0-255 levels, averaged over the region's pixels and the three channels. ``pred_F``
    is the cut-out's straight (not premultiplied) RGB, as stored in its PNG; ``B'`` is the
    new background (an H x W x 3 image or an RGB triple). A halo, the old background's
    colour kept under a soft alpha, and lost or extra alpha all show here as a customer
    sees them.
    """
    pred_alpha_array, alpha_array = _pair(pred_alpha, alpha)
    difference = np.abs(
        recomposite(pred_alpha_array, pred_foreground, background)
        - recomposite(alpha_array, foreground, background)
    )
    values = _in_region(difference.mean(axis=2), region)
    return float(np.mean(values)) if values.size else 0.0


def _ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, np.float64)
    sorted_values = values[order]
    boundaries = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1], [True]))
    starts = np.nonzero(boundaries)[0]
    for first, end in itertools.pairwise(starts):
        ranks[order[first:end]] = (first + end + 1) / 2
    return ranks


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's rank correlation (Pearson's on average ranks); NaN when undefined.

    For a per-image confidence score: ``spearman(1 - confidence, band SAD)`` near 1 means
    the images the score doubts are the ones that came out worst.
    """
    x_array = np.asarray(x, np.float64).reshape(-1)
    y_array = np.asarray(y, np.float64).reshape(-1)
    if x_array.size != y_array.size:
        raise ValueError(f"lengths differ: {x_array.size} != {y_array.size}")
    if x_array.size < 2:
        return float("nan")
    x_ranks = _ranks(x_array) - (x_array.size + 1) / 2
    y_ranks = _ranks(y_array) - (y_array.size + 1) / 2
    denominator = np.sqrt(np.sum(x_ranks**2) * np.sum(y_ranks**2))
    if denominator == 0:
        return float("nan")
    return float(np.sum(x_ranks * y_ranks) / denominator)


@dataclass(frozen=True)
class BandChange:
    """How much a matte changed outside the band: share of pixels and largest change."""

    fraction: float
    largest: float


def outside_band_change(
    before: npt.ArrayLike,
    after: npt.ArrayLike,
    band: BoolArray,
    tolerance: float = PARTIAL_EPSILON,
) -> BandChange:
    """Changes of alpha outside ``band`` between two mattes of the same image.

    ``fraction`` is the share of the outside pixels whose alpha moved by more than
    ``tolerance`` (half an 8-bit level by default), ``largest`` the largest move there.
    An edge-refinement stage should leave both at 0 away from the edges.
    """
    before_array, after_array = _pair(before, after)
    outside = ~np.asarray(band, bool)
    change = np.abs(after_array - before_array)[outside]
    if change.size == 0:
        return BandChange(0.0, 0.0)
    return BandChange(float(np.mean(change > tolerance)), float(change.max()))
