"""Edge refinement: from a model's coarse matte to a fine alpha, clean edge colours and a
confidence score.

Salient-object models see the photo at 320-1024 px, so their matte is a soft, blurred
outline: fur and hair strands come out as a grey haze, and the old background's colour
stays in every partly transparent pixel (a halo on a new background). This stage uses the
photo itself, at a working resolution, in a band around the matte's outline:

1. **Trimap from the matte.** Pixels where the matte is confident (>= 0.97, a little
   inside the outline) are foreground; pixels where it is ~0 and at least ``band`` away
   from the outline are background; the rest of the band is unknown.
2. **Colour samples.** For each unknown pixel, foreground colour candidates are the
   colour of the nearest foreground pixel and a smooth fill of the foreground (pyramid
   push-pull); background candidates likewise. Each (F, B) pair explains the pixel as
   ``I = a F + (1 - a) B``; ``a`` is the projection of ``I - B`` on ``F - B``. The pair with
   the smallest compositing residual (plus a penalty for pairs too close in colour to
   tell apart) wins (sampling-based matting, as in Bayesian / shared matting).
3. **Confidence per pixel** ``k = |F-B|^2 / (|F-B|^2 + cw) * exp(-residual / rs)``: low
   when the colours cannot tell subject from background (white fur on a cream blanket)
   or when no pair explains the pixel; there the model's matte keeps its say:
   ``alpha = k a + (1 - k) matte``.
4. **Local linear smoothing.** A colour guided filter (He et al.) fits ``alpha = A . I + b``
   in small windows, which removes the per-pixel noise of step 2 and follows strands the
   samples missed. When the working copy is smaller than the photo, ``A`` and ``b`` are
   upsampled and applied to the full-resolution photo (the "fast guided filter"), so
   strands keep their full-resolution detail.
5. **Foreground colours** under the new alpha, so no old background colour remains
   (:func:`cutout.imaging.foreground.refine_foreground`).

Pixels farther than the band from the matte's outline keep the matte's value exactly;
alpha stays in [0, 1]; an input's own transparency (``keep``) is never made more opaque.

The confidence score of an image (0-1) says how much of the subject's outline the colours
could not decide: 1 minus the share of the outline's unknown band where the per-pixel
confidence is low and the model's matte was undecided too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from cutout.arrays import ByteArray, FloatArray
from cutout.imaging.foreground import refine_foreground, solve_prior
from cutout.imaging.parallel import run_all
from cutout.options import EdgeLevel

__all__ = [
    "LEVELS",
    "MATTE_BACKGROUND",
    "MATTE_FOREGROUND",
    "MIN_SIDE",
    "UNDECIDED",
    "EdgeParams",
    "EdgeRefiner",
    "Edges",
    "Geometry",
    "checked_matte",
    "keep_ceiling",
    "matte_confidence",
    "refine_edges",
]

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class EdgeParams:
    """How one level refines. Sizes are fractions of the working copy's long side."""

    work_pixels: int  # the working copy's size: the photo is area-reduced to at most this
    passes: int = 1  # each pass takes its trimap from the previous pass's alpha
    band: float = 0.02  # background samples start this far outside the outline
    reach: float = 0.06  # pixels farther than this from the outline keep the matte's value
    erode: float = 0.0025  # foreground samples start this far inside the outline
    guide_radius: float = 0.0033  # guided filter window radius
    guide_eps: float = 1e-4
    contrast: float = 0.01  # cw: |F-B|^2 at which colour and matte count equally
    residual: float = 0.001  # rs: residual (squared, 0-1 colour units) that halves trust
    separation: float = 5e-6  # penalty weight for pairs too close in colour
    colour_size: int = 256  # long side at which edge colours are solved before the full-size finish


# every level but "off"
LEVELS: dict[EdgeLevel, EdgeParams] = {
    "fast": EdgeParams(work_pixels=300_000),
    "balanced": EdgeParams(work_pixels=500_000, passes=2, reach=0.08),
    "best": EdgeParams(work_pixels=1_500_000, passes=3, reach=0.08, colour_size=512),
}

# the matte's own certainty: inside these it counts as foreground / background
MATTE_FOREGROUND = 0.97
MATTE_BACKGROUND = 0.03
# points per row of a cv2.remap map
_MAP_WIDTH = 4096
# smaller images are returned as they are (no room for a band)
MIN_SIDE = 8
# the outline pixels whose model matte is this far from 0 and 1 count as undecided
UNDECIDED = 0.1


@dataclass(frozen=True)
class Edges:
    """The refined alpha (H x W uint8), the colours to compose with (the photo with the old
    background taken out of soft pixels, or the photo itself) and the image's confidence."""

    alpha: ByteArray
    rgb: ByteArray
    confidence: float


class EdgeRefiner(Protocol):
    """What the engine's edge stage calls: :func:`refine_edges` itself, or the same
    refinement on the model's GPU (:mod:`cutout.backends.edges`)."""

    def __call__(
        self,
        rgb: ByteArray,
        matte: ByteArray | FloatArray,
        level: EdgeLevel = "balanced",
        *,
        colours: bool = True,
        keep: ByteArray | None = None,
    ) -> Edges: ...


def refine_edges(
    rgb: ByteArray,
    matte: ByteArray | FloatArray,
    level: EdgeLevel = "balanced",
    *,
    colours: bool = True,
    keep: ByteArray | None = None,
) -> Edges:
    """Refine ``matte`` (H x W, uint8 0-255 or float 0-1) against the photo ``rgb``.

    ``colours``: also estimate edge colours (not needed for a mask). ``keep``: the input's
    own alpha (uint8), a ceiling for the result.
    """
    matte8 = checked_matte(rgb, matte)
    if level == "off" or min(matte8.shape) < MIN_SIDE:
        return Edges(alpha=keep_ceiling(matte8, keep), rgb=rgb, confidence=matte_confidence(matte8))
    params = LEVELS[level]
    # the colours' low-resolution solve can run beside the full-size finish when the
    # answer will not be lowered afterwards by ``keep``
    refined = _refine(rgb, matte8, params, solve_colours=colours and keep is None)
    alpha8 = keep_ceiling(refined.alpha, keep)
    out_rgb = rgb
    if colours:
        out_rgb = refine_foreground(
            rgb, alpha8, work_size=params.colour_size, prior=refined.colour_prior
        )
    return Edges(alpha=alpha8, rgb=out_rgb, confidence=refined.confidence)


# -- the refinement ---------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    """Distances of one working copy, in its pixels."""

    band: int
    reach: int
    erode: int
    radius: int

    @classmethod
    def of(cls, params: EdgeParams, long_side: int) -> Geometry:
        band = max(2, round(params.band * long_side))
        return cls(
            band=band,
            reach=max(band, round(params.reach * long_side)),
            erode=max(1, round(params.erode * long_side)),
            radius=max(1, round(params.guide_radius * long_side)),
        )


@dataclass
class _Pass:
    """One pass's answer at the working size."""

    alpha: FloatArray  # the refined alpha (the matte outside ``region``)
    region: BoolArray  # the pixels this pass estimated
    coeff: FloatArray  # H x W x 4: the guided filter's A (3) and b, for full-size detail
    trust: FloatArray  # per estimated pixel: how far the colours decided it
    prior: FloatArray  # per estimated pixel: the matte's value


@dataclass(frozen=True)
class _Refined:
    alpha: ByteArray
    confidence: float
    # the edge colours' low-resolution answer (foreground.solve_prior), when solved here
    colour_prior: FloatArray | None


def _refine(
    rgb: ByteArray, matte8: ByteArray, params: EdgeParams, *, solve_colours: bool
) -> _Refined:
    height, width = matte8.shape
    scale = min(1.0, math.sqrt(params.work_pixels / (height * width)))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale < 1.0:
        image = _area_reduce(rgb, size)
        small8 = _area_reduce(matte8, size)
    else:
        image, small8 = rgb, matte8
    pixels = image.astype(np.float32) * np.float32(1.0 / 255.0)
    matte = small8.astype(np.float32) * np.float32(1.0 / 255.0)
    geometry = Geometry.of(params, max(size))
    near = _within(matte, geometry.reach)
    result = _estimate(pixels, matte, near, geometry, params)
    if result is None:
        return _Refined(matte8, matte_confidence(matte8), None)
    confidence = _confidence(result.trust, result.prior)
    for _ in range(params.passes - 1):
        again = _estimate(pixels, result.alpha, near, geometry, params)
        if again is None:
            break
        result = again
    if scale == 1.0:
        return _Refined(_to_byte(result.alpha), confidence, None)
    if not solve_colours:
        return _Refined(_full_size(rgb, matte8, near, result), confidence, None)
    # the colours' solve on the working copy, beside the full-size finish
    full, prior = run_all(
        [
            lambda: _full_size(rgb, matte8, near, result),
            lambda: solve_prior(*_reduced(pixels, result.alpha, params.colour_size)),
        ]
    )
    return _Refined(np.asarray(full, np.uint8), confidence, np.asarray(prior, np.float32))


def _estimate(
    pixels: FloatArray,
    matte: FloatArray,
    near: BoolArray,
    geometry: Geometry,
    params: EdgeParams,
) -> _Pass | None:
    """One pass at the working size: trimap from ``matte``, samples, guided filter."""
    core = (matte >= 0.5).astype(np.uint8)
    dist_out = cv2.distanceTransform(1 - core, cv2.DIST_L2, 3)
    dist_in = cv2.distanceTransform(core, cv2.DIST_L2, 3)
    foreground = (matte >= MATTE_FOREGROUND) & (dist_in > geometry.erode)
    background = (matte <= MATTE_BACKGROUND) & (dist_out > geometry.band)
    unknown = near & ~foreground & ~background
    if not unknown.any() or not foreground.any() or not background.any():
        return None

    flat = np.flatnonzero(unknown)
    colour = pixels.reshape(-1, 3)[flat]
    prior = matte.ravel()[flat]
    # the foreground's and the background's samples are independent
    fg_candidates, bg_candidates = run_all(
        [
            lambda: _candidates(pixels, foreground, flat),
            lambda: _candidates(pixels, background, flat),
        ]
    )
    estimate, trust = _select(colour, fg_candidates, bg_candidates, params)
    target = matte.copy()
    target[foreground] = 1.0
    target[background] = 0.0
    target.ravel()[flat] = trust * estimate + (1.0 - trust) * prior

    rows, cols = _bounds(unknown, geometry.radius * 2 + 1)
    coeff = np.zeros((*matte.shape, 4), np.float32)
    coeff[rows, cols] = _guided_coefficients(
        pixels[rows, cols], target[rows, cols], geometry.radius, params.guide_eps
    )
    alpha = matte.copy()
    alpha[near & foreground] = 1.0
    values = np.einsum("ij,ij->i", coeff.reshape(-1, 4)[flat, :3], colour)
    values += coeff.reshape(-1, 4)[flat, 3]
    alpha.ravel()[flat] = np.clip(values, 0.0, 1.0)
    return _Pass(alpha=alpha, region=unknown, coeff=coeff, trust=trust, prior=prior)


def _full_size(rgb: ByteArray, matte8: ByteArray, near: BoolArray, result: _Pass) -> ByteArray:
    """The working-size answer at the photo's size: hard pixels from the working alpha,
    soft ones from the guided filter's coefficients applied to the full-size photo."""
    height, width = matte8.shape
    work8 = _to_byte(result.alpha)
    up8 = cv2.resize(work8, (width, height), interpolation=cv2.INTER_NEAREST)
    near_up = _resize_mask(near, width, height)
    alpha8 = matte8.copy()
    np.copyto(alpha8, up8, where=near_up)
    # soft: estimated pixels whose working alpha is strictly between 0 and 1, and their
    # neighbours (a strand one working pixel wide spans several photo pixels)
    soft = result.region & (work8 > 0) & (work8 < 255)
    soft = cv2.dilate(soft.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    soft &= result.region
    flat = np.flatnonzero(_resize_mask(soft, width, height))
    if flat.size == 0:
        return alpha8
    coeff = _bilinear_at(result.coeff, flat, width, height)
    photo = rgb.reshape(-1, 3)[flat].astype(np.float32) * np.float32(1.0 / 255.0)
    values = np.einsum("ij,ij->i", coeff[:, :3], photo) + coeff[:, 3]
    alpha8.ravel()[flat] = _to_byte(np.clip(values, 0.0, 1.0))
    return alpha8


def _bilinear_at(
    array: FloatArray, flat: npt.NDArray[np.intp], width: int, height: int
) -> FloatArray:
    """``array`` (h x w x C) resized bilinearly to ``width`` x ``height`` (pixel centres
    aligned, as cv2.resize does), evaluated only at the flat indices ``flat``."""
    small_h, small_w = array.shape[:2]
    rows, cols = np.divmod(flat, width)
    # remap wants a 2-D map under 32767 per side: the points as rows of _MAP_WIDTH
    count = flat.size
    padded = -(-count // _MAP_WIDTH) * _MAP_WIDTH
    map_y = np.zeros(padded, np.float32)
    map_x = np.zeros(padded, np.float32)
    map_y[:count] = (rows + 0.5) * (small_h / height) - 0.5
    map_x[:count] = (cols + 0.5) * (small_w / width) - 0.5
    shape = (padded // _MAP_WIDTH, _MAP_WIDTH)
    sampled = cv2.remap(
        array,
        map_x.reshape(shape),
        map_y.reshape(shape),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(sampled, np.float32).reshape(padded, array.shape[2])[:count]


def _bounds(mask: BoolArray, pad: int) -> tuple[slice, slice]:
    """Row and column slices of ``mask``'s bounding box grown by ``pad``."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    height, width = mask.shape
    return (
        slice(max(0, int(rows[0]) - pad), min(height, int(rows[-1]) + pad + 1)),
        slice(max(0, int(cols[0]) - pad), min(width, int(cols[-1]) + pad + 1)),
    )


def _candidates(
    pixels: FloatArray, known: BoolArray, flat: npt.NDArray[np.intp]
) -> list[FloatArray]:
    """Colour candidates at the pixels ``flat``: the nearest known pixel's colour and a
    smooth fill of the known region."""
    return [_nearest_colour(pixels, known, flat), _fill_at(pixels, known, flat)]


def _nearest_colour(pixels: FloatArray, known: BoolArray, flat: npt.NDArray[np.intp]) -> FloatArray:
    source = np.where(known, np.uint8(0), np.uint8(1))
    _, labels = cv2.distanceTransformWithLabels(
        source, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    colours = pixels.reshape(-1, 3)
    known_flat = np.flatnonzero(known)
    nearest = labels.ravel()[flat]
    # OpenCV numbers the known pixels 1..N in raster order; check the ends, else map
    ends = labels.ravel()[known_flat[[0, -1]]]
    if ends[0] == 1 and ends[1] == known_flat.size:
        result: FloatArray = colours[known_flat[nearest - 1]]
        return result
    table = np.zeros((int(labels.max()) + 1, 3), np.float32)
    table[labels.ravel()[known_flat]] = colours[known_flat]
    mapped: FloatArray = table[nearest]
    return mapped


def _fill_at(pixels: FloatArray, known: BoolArray, flat: npt.NDArray[np.intp]) -> FloatArray:
    """Known colours spread smoothly over the unknown (pyramid push-pull), read at the
    pixels ``flat``. The fill is smooth, so it is built from the half-size level up."""
    weight = np.asarray(cv2.pyrDown(known.astype(np.float32)), np.float32)
    weights = [weight]
    values = [np.asarray(cv2.pyrDown(pixels * known[..., None]), np.float32)]
    while min(weights[-1].shape) > 4:
        weights.append(np.asarray(cv2.pyrDown(weights[-1]), np.float32))
        values.append(np.asarray(cv2.pyrDown(values[-1]), np.float32))
    estimate = values[-1] / np.maximum(weights[-1], 1e-6)[..., None]
    for level in range(len(values) - 2, -1, -1):
        height, width = weights[level].shape
        up = cv2.pyrUp(estimate, dstsize=(width, height))
        mix = np.clip(weights[level] * 4.0, 0.0, 1.0)[..., None]
        own = values[level] / np.maximum(weights[level], 1e-6)[..., None]
        estimate = own * mix + up * (1.0 - mix)
    height, width = known.shape
    return _bilinear_at(estimate.astype(np.float32), flat, width, height)


def _select(
    colour: FloatArray,
    fg_candidates: list[FloatArray],
    bg_candidates: list[FloatArray],
    params: EdgeParams,
) -> tuple[FloatArray, FloatArray]:
    """The alpha of the best (F, B) pair per pixel, and the trust in it."""
    best_cost = np.full(colour.shape[0], np.inf, np.float32)
    best_alpha = np.zeros(colour.shape[0], np.float32)
    best_trust = np.zeros(colour.shape[0], np.float32)
    for fg in fg_candidates:
        for bg in bg_candidates:
            direction = fg - bg
            spread = np.einsum("ij,ij->i", direction, direction)
            alpha = np.einsum("ij,ij->i", colour - bg, direction) / (spread + 1e-4)
            np.clip(alpha, 0.0, 1.0, out=alpha)
            error = colour - bg - alpha[:, None] * direction
            residual = np.einsum("ij,ij->i", error, error)
            cost = residual + params.separation / (spread + 1e-3)
            better = cost < best_cost
            best_cost[better] = cost[better]
            best_alpha[better] = alpha[better]
            trust = spread / (spread + params.contrast) * np.exp(-residual / params.residual)
            best_trust[better] = trust[better]
    return best_alpha, best_trust


def _guided_coefficients(
    guide: FloatArray, target: FloatArray, radius: int, eps: float
) -> FloatArray:
    """Colour guided filter (He, Sun, Tang): the window-averaged ``A`` and ``b`` stacked as
    H x W x 4, so that the filtered target is ``A . I + b``."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(array: FloatArray) -> FloatArray:
        return np.asarray(cv2.boxFilter(array, -1, size, borderType=cv2.BORDER_REFLECT), np.float32)

    # one contiguous plane per channel: products and box filters of strided channel views
    # cost twice as much
    red, green, blue = (np.ascontiguousarray(guide[..., channel]) for channel in range(3))
    mean_r, mean_g, mean_b = box(red), box(green), box(blue)
    mean_p = box(target)
    c_r = box(red * target) - mean_r * mean_p
    c_g = box(green * target) - mean_g * mean_p
    c_b = box(blue * target) - mean_b * mean_p
    rr = box(red * red) - mean_r * mean_r + eps
    rg = box(red * green) - mean_r * mean_g
    rb = box(red * blue) - mean_r * mean_b
    gg = box(green * green) - mean_g * mean_g + eps
    gb = box(green * blue) - mean_g * mean_b
    bb = box(blue * blue) - mean_b * mean_b + eps
    # inverse of the symmetric 3 x 3 covariance by cofactors
    i_rr = gg * bb - gb * gb
    i_rg = gb * rb - rg * bb
    i_rb = rg * gb - gg * rb
    i_gg = rr * bb - rb * rb
    i_gb = rb * rg - rr * gb
    i_bb = rr * gg - rg * rg
    inv_det = 1.0 / np.maximum(rr * i_rr + rg * i_rg + rb * i_rb, 1e-12)
    a_r = (i_rr * c_r + i_rg * c_g + i_rb * c_b) * inv_det
    a_g = (i_rg * c_r + i_gg * c_g + i_gb * c_b) * inv_det
    a_b = (i_rb * c_r + i_gb * c_g + i_bb * c_b) * inv_det
    offset = mean_p - (a_r * mean_r + a_g * mean_g + a_b * mean_b)
    planes = [box(plane.astype(np.float32, copy=False)) for plane in (a_r, a_g, a_b, offset)]
    result: FloatArray = np.stack(planes, axis=2)
    return result


# -- confidence ---------------------------------------------------------------------------


def _confidence(trust: FloatArray, prior: FloatArray) -> float:
    """1 - the share of the unknown band that neither the colours nor the model decided."""
    undecided = (prior > UNDECIDED) & (prior < 1.0 - UNDECIDED)
    doubt = float(np.mean((1.0 - trust) * undecided)) if trust.size else 0.0
    return float(np.clip(1.0 - doubt, 0.0, 1.0))


def matte_confidence(matte8: ByteArray) -> float:
    """Without refinement: 1 - the share of the outline's pixels the matte left undecided."""
    low, high = round(UNDECIDED * 255), round((1 - UNDECIDED) * 255)
    undecided = np.count_nonzero((matte8 > low) & (matte8 < high))
    outline = np.count_nonzero(
        (matte8 > round(MATTE_BACKGROUND * 255)) & (matte8 < round(MATTE_FOREGROUND * 255))
    )
    return 1.0 if outline == 0 else float(1.0 - undecided / outline)


# -- helpers ------------------------------------------------------------------------------


def checked_matte(rgb: ByteArray, matte: ByteArray | FloatArray) -> ByteArray:
    """``matte`` as 8-bit, after checking that it is the photo's size (every refiner's
    first step)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[:2] != matte.shape:
        raise ValueError(f"rgb {rgb.shape} and matte {matte.shape} do not match")
    return _as_byte(matte)


def _as_byte(matte: ByteArray | FloatArray) -> ByteArray:
    if matte.dtype == np.uint8:
        return np.asarray(matte, np.uint8)
    unit = np.clip(np.nan_to_num(np.asarray(matte, np.float32)), 0.0, 1.0)
    return _to_byte(unit)


def _to_byte(alpha: FloatArray) -> ByteArray:
    result: ByteArray = (alpha * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)
    return result


def _within(matte: FloatArray, distance: int) -> BoolArray:
    """The pixels at most ``distance`` from the matte's outline (its 0.5 level)."""
    core = (matte >= 0.5).astype(np.uint8)
    dist_out = cv2.distanceTransform(1 - core, cv2.DIST_L2, 3)
    dist_in = cv2.distanceTransform(core, cv2.DIST_L2, 3)
    result: BoolArray = (dist_out <= distance) & (dist_in <= distance)
    return result


def _area_reduce(array: ByteArray, size: tuple[int, int]) -> ByteArray:
    """``array`` area-averaged down to ``size`` (width, height). OpenCV's area filter is
    several times faster by a whole factor, so the bulk of the way is taken by one."""
    height, width = array.shape[:2]
    factor = min(width // size[0], height // size[1])
    if factor >= 2:
        whole = (width // factor, height // factor)
        array = np.asarray(cv2.resize(array, whole, interpolation=cv2.INTER_AREA), np.uint8)
        if whole == size:
            return array
    return np.asarray(cv2.resize(array, size, interpolation=cv2.INTER_AREA), np.uint8)


def keep_ceiling(alpha8: ByteArray, keep: ByteArray | None) -> ByteArray:
    return alpha8 if keep is None else np.minimum(alpha8, keep)


def _reduced(image: FloatArray, alpha: FloatArray, long_side: int) -> tuple[FloatArray, FloatArray]:
    """The working copy area-reduced to ``long_side`` (for the edge colours)."""
    height, width = alpha.shape
    factor = max(1.0, max(height, width) / long_side)
    if factor == 1.0:
        return image, alpha
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return (
        np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.float32),
        np.asarray(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), np.float32),
    )


def _resize_mask(mask: BoolArray, width: int, height: int) -> BoolArray:
    resized = cv2.resize(mask.view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    result: BoolArray = resized.view(np.bool_)  # 0 / 1 bytes: a view, not a copy
    return result
