"""Small float filters shared by the shadow and the blurred background.

Both need a wide, soft blur of a large image. A Gaussian of radius ``r`` on the full
image costs O(r) per pixel; here the image is first area-reduced so that the radius is a
few pixels, blurred there, and resized back (bilinear), which is visually the same for
radii that large and costs a few passes over the small copy.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from cutout.arrays import FloatArray

__all__ = ["gaussian_blur", "resize_float", "soft_blur"]


# the blur is done where its radius is about this many pixels
_SMALL_RADIUS = 3.0


def _kernel(sigma: float) -> FloatArray:
    half = max(1, math.ceil(3 * sigma))
    taps = np.arange(-half, half + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (taps / np.float32(sigma)) ** 2)
    result: FloatArray = (kernel / kernel.sum()).astype(np.float32)
    return result


def _blur_axis(array: FloatArray, kernel: FloatArray, axis: int) -> FloatArray:
    half = kernel.size // 2
    pad = [(0, 0)] * array.ndim
    pad[axis] = (half, half)
    padded = np.pad(array, pad, mode="symmetric")
    length = array.shape[axis]
    result = np.zeros_like(array)
    for offset, weight in enumerate(kernel):
        result += weight * np.take(padded, np.arange(offset, offset + length), axis=axis)
    return result


def gaussian_blur(array: FloatArray, sigma: float) -> FloatArray:
    """Separable Gaussian of an H x W or H x W x C float array (mirrored edges).

    O(sigma) per pixel: meant for small arrays; use :func:`soft_blur` for big ones.
    """
    array = np.asarray(array, np.float32)
    if sigma <= 0:
        return array.copy()
    kernel = _kernel(sigma)
    return _blur_axis(_blur_axis(array, kernel, 0), kernel, 1)


def resize_float(array: FloatArray, width: int, height: int, *, box: bool = False) -> FloatArray:
    """Resize a float H x W or H x W x C array: area average (``box``) or bilinear."""
    resample = Image.Resampling.BOX if box else Image.Resampling.BILINEAR
    if array.ndim == 2:
        image = Image.fromarray(np.ascontiguousarray(array, np.float32), mode="F")
        return np.asarray(image.resize((width, height), resample), np.float32)
    channels = [
        resize_float(np.ascontiguousarray(array[..., c]), width, height, box=box)
        for c in range(array.shape[2])
    ]
    return np.stack(channels, axis=2)


def soft_blur(array: FloatArray, sigma: float) -> FloatArray:
    """A Gaussian blur of ``sigma`` px computed on a reduced copy, at ``array``'s size."""
    height, width = array.shape[:2]
    factor = max(1.0, sigma / _SMALL_RADIUS)
    if factor <= 1.5:
        return gaussian_blur(array, sigma)
    small_width = max(1, round(width / factor))
    small_height = max(1, round(height / factor))
    small = resize_float(array, small_width, small_height, box=True)
    blurred = gaussian_blur(small, sigma * small_width / width)
    return resize_float(blurred, width, height)
