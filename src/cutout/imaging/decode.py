"""Decode image bytes into an sRGB uint8 array, refusing oversized images cheaply.

Content is sniffed (the file name is never trusted): a PNG named .jpg decodes as PNG.
The pixel count is read from the header before any pixel is decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from cutout.errors import DecodeError, ImageTooLargeError, UnsupportedFormatError

__all__ = ["DEFAULT_MAX_PIXELS", "DecodedImage", "decode", "read_source"]

DEFAULT_MAX_PIXELS = 50_000_000


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An upright sRGB image. ``alpha`` is the input's own alpha channel, if it had one."""

    rgb: npt.NDArray[np.uint8]
    alpha: npt.NDArray[np.uint8] | None
    format: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def read_source(source: bytes | Path | str) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise DecodeError(f"cannot read {source}: {exc.strerror or exc}") from exc


def _sniff_unsupported(data: bytes) -> str | None:
    head = data[:512].lstrip()
    if head.startswith(b"%PDF"):
        return "PDF"
    lowered = head.lower()
    if lowered.startswith(b"<?xml") or b"<svg" in lowered:
        return "SVG"
    return None


def decode(source: bytes | Path | str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode ``source`` (bytes or a path) into an upright sRGB image."""
    data = read_source(source)
    if not data:
        raise DecodeError("empty input: zero bytes")
    kind = _sniff_unsupported(data)
    if kind is not None:
        raise UnsupportedFormatError(f"{kind} is not a raster image format cutout reads")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise DecodeError("not a readable image (unknown format)") from exc
    width, height = opened.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height / 1e6:.1f} MP; the limit is "
            f"{max_pixels / 1e6:.0f} MP"
        )
    try:
        opened.load()
        image = ImageOps.exif_transpose(opened)
        alpha: npt.NDArray[np.uint8] | None = None
        if image.mode in ("RGBA", "LA", "PA") or (
            image.mode == "P" and "transparency" in image.info
        ):
            rgba = image.convert("RGBA")
            alpha = np.asarray(rgba.getchannel("A"))
            rgb = np.asarray(rgba.convert("RGB"))
        else:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise DecodeError(f"cannot decode image: {exc}") from exc
    return DecodedImage(rgb=rgb, alpha=alpha, format=str(opened.format or "unknown"))
