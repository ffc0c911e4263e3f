"""Background layers in the output frame: a photo cover-fitted, or the photo's own blurred.

The blurred background is the photo with the subject taken out before blurring
(normalised convolution: ``blur(rgb * (1 - alpha)) / blur(1 - alpha)``), so the subject's
colours do not leak into a halo around it; the hole the subject leaves is filled from a
wider blur of the background (it shows where the output mirrors the photo). The blur
runs on a reduced copy whose radius is a few pixels, then is moved into the output frame
with the same transform as the subject; where the output reaches past the photo, the
blurred photo is mirrored.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageOps

from cutout.arrays import ByteArray, FloatArray
from cutout.imaging.filters import gaussian_blur, resize_float
from cutout.imaging.geometry import Layout, warp

__all__ = ["blurred_background", "cover_fit"]


# the blur is computed where its radius is this many pixels (smaller looks blocky once
# scaled back up)
_SMALL_RADIUS = 6.0
# (reach in sigmas, background weight from which that blur is trusted fully): the wide
# blur fills the subject's hole wherever any background is in reach; the narrow one
# takes over smoothly where there is enough background nearby
_PASSES = ((4.0, 0.02), (1.0, 0.5))


def cover_fit(rgb: ByteArray, width: int, height: int) -> ByteArray:
    """Scale ``rgb`` to cover ``width`` x ``height`` and crop the middle."""
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
    fitted = ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    return np.asarray(fitted.convert("RGB"), np.uint8)


def blurred_background(
    rgb: ByteArray, alpha: FloatArray, radius: float, layout: Layout
) -> ByteArray:
    """The photo's background blurred, in the output frame of ``layout``.

    ``radius`` is the Gaussian's sigma in px at 1000 px of photo width.
    """
    height, width = alpha.shape
    sigma = max(0.5, radius * width / 1000.0)
    factor = max(1.0, sigma / _SMALL_RADIUS)
    small_width = max(1, round(width / factor))
    small_height = max(1, round(height / factor))
    small_rgb = np.asarray(
        Image.fromarray(rgb).resize((small_width, small_height), Image.Resampling.BOX), np.float32
    )
    weight = 1.0 - resize_float(alpha, small_width, small_height, box=True)
    small_sigma = sigma * small_width / width
    blurred = gaussian_blur(small_rgb, small_sigma)
    # widest first: each narrower blur overwrites where it has enough background nearby,
    # so the hole the subject leaves is filled from the background around it
    for reach, full_weight in _PASSES:
        weighted = gaussian_blur(small_rgb * weight[..., None], small_sigma * reach)
        total = gaussian_blur(weight, small_sigma * reach)[..., None]
        trust = np.clip(total / full_weight, 0.0, 1.0)
        blurred = trust * (weighted / np.maximum(total, 1e-6)) + (1 - trust) * blurred
    small = np.clip(blurred + 0.5, 0, 255).astype(np.uint8)
    # the small copy maps to the output with this scale; pad it (mirrored) to cover it all
    scale = layout.scale * width / small_width
    offset_x, offset_y = layout.left, layout.top
    pad_x = _cover(offset_x, layout.width, small_width, scale)
    pad_y = _cover(offset_y, layout.height, small_height, scale)
    padded = np.pad(small, ((pad_y, pad_y), (pad_x, pad_x), (0, 0)), mode="symmetric")
    small_layout = Layout(
        width=layout.width,
        height=layout.height,
        scale=scale,
        left=offset_x - pad_x * scale,
        top=offset_y - pad_y * scale,
        subject=layout.subject,
    )
    return warp(padded, small_layout, resample=Image.Resampling.BICUBIC)


def _cover(offset: float, out_size: int, size: int, scale: float) -> int:
    """Pixels to add on each side of ``size`` so that it covers ``out_size`` once moved."""
    before = offset / scale
    after = (out_size - offset) / scale - size
    return max(0, math.ceil(max(before, after))) + 1
