"""Shrink a decoded photo to a pixel budget before it is processed (remove.bg's ``size``)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from cutout.arrays import ByteArray
from cutout.imaging.decode import DecodedImage

__all__ = ["downscale"]


def downscale(image: DecodedImage, max_megapixels: float | None) -> DecodedImage:
    """The image resized to at most ``max_megapixels`` (aspect kept, Lanczos), or itself
    when it is already within that or there is no budget (None)."""
    if max_megapixels is None:
        return image
    pixels = image.width * image.height
    cap = max_megapixels * 1_000_000
    if pixels <= cap:
        return image
    factor = math.sqrt(cap / pixels)
    size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
    alpha = None if image.alpha is None else _resize(image.alpha, size)
    return DecodedImage(rgb=_resize(image.rgb, size), alpha=alpha, format=image.format)


def _resize(pixels: ByteArray, size: tuple[int, int]) -> ByteArray:
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))
