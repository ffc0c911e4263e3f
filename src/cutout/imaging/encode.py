"""Encode composed pixels: PNG (fast compression), WebP, JPEG (flattened), ZIP."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import numpy.typing as npt
from PIL import Image

from cutout.imaging.compose import Composite
from cutout.options import OutputFormat

__all__ = ["MEDIA_TYPES", "encode"]

MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "webp": "image/webp",
    "jpg": "image/jpeg",
    "zip": "application/zip",
}


def _flatten(
    pixels: npt.NDArray[np.uint8], background: tuple[int, int, int] = (255, 255, 255)
) -> npt.NDArray[np.uint8]:
    if pixels.ndim == 2 or pixels.shape[2] == 3:
        return pixels
    alpha = pixels[..., 3:4].astype(np.float32) / 255.0
    flat = pixels[..., :3].astype(np.float32) * alpha + np.asarray(background) * (1 - alpha)
    result: npt.NDArray[np.uint8] = flat.round().astype(np.uint8)
    return result


def encode(
    composite: Composite, fmt: OutputFormat, *, quality: int = 90, png_compress_level: int = 1
) -> bytes:
    buffer = io.BytesIO()
    pixels = composite.pixels
    if fmt == "png":
        Image.fromarray(pixels).save(buffer, "PNG", compress_level=png_compress_level)
    elif fmt == "webp":
        Image.fromarray(pixels).save(buffer, "WEBP", quality=quality, method=2)
    elif fmt == "jpg":
        Image.fromarray(_flatten(pixels)).save(buffer, "JPEG", quality=quality)
    else:
        color = pixels[..., :3] if pixels.ndim == 3 else np.dstack([pixels] * 3)
        color_buf, alpha_buf = io.BytesIO(), io.BytesIO()
        Image.fromarray(np.ascontiguousarray(color)).save(color_buf, "JPEG", quality=quality)
        Image.fromarray(composite.alpha).save(alpha_buf, "PNG", compress_level=png_compress_level)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("color.jpg", color_buf.getvalue())
            archive.writestr("alpha.png", alpha_buf.getvalue())
    return buffer.getvalue()
