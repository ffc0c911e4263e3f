"""A corpus of awkward and hostile inputs, generated in memory (nothing is committed).

Every case is a :class:`Case` ``(name, data, error)``: ``name`` is the file name a user
would have (its extension may lie, as in ``png-named.jpg``), ``data`` the bytes, and
``error`` the :mod:`cutout.errors` class that decoding must raise, or ``None`` when the
input must decode. For inputs that decode, :data:`EXPECTED_SIZES` gives the upright
``(width, height)`` of the result. Used by the imaging, CLI and HTTP tests::

    from tests.corpus import all_cases
    for name, data, error in all_cases(): ...

Each generator is cheap (milliseconds); the decompression bomb is about 200 KB on disk
and would need 1.6 GB to decode.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import NamedTuple

from PIL import Image

from cutout.errors import CutoutError, DecodeError, ImageTooLargeError, UnsupportedFormatError

__all__ = [
    "BOMB_SIZE",
    "EXPECTED_SIZES",
    "Case",
    "all_cases",
    "animated_gif",
    "avif",
    "bomb_png",
    "cmyk_jpeg",
    "exif_rotated_jpeg",
    "heic",
    "one_pixel",
    "pdf",
    "png_named_jpg",
    "png_rgba",
    "sixteen_bit_png",
    "svg",
    "text_named_png",
    "truncated_jpeg",
    "zero_bytes",
]

BOMB_SIZE = (40_000, 40_000)


class Case(NamedTuple):
    name: str
    data: bytes
    error: type[CutoutError] | None


# upright (width, height) after decoding, for the cases that decode
EXPECTED_SIZES: dict[str, tuple[int, int]] = {
    "one-pixel.png": (1, 1),
    "cmyk.jpg": (64, 48),
    "sixteen-bit.png": (64, 48),
    "exif-rotated.jpg": (20, 40),
    "animated.gif": (32, 24),
    "photo.heic": (64, 48),
    "photo.avif": (64, 48),
    "png-named.jpg": (64, 48),
    "rgba.png": (64, 48),
}


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _photo(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A small image with a gradient, so that it is not a single colour."""
    image = Image.linear_gradient("L").resize(size)
    red = Image.new("L", size, 200)
    return Image.merge("RGB", (red, image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def zero_bytes() -> Case:
    return Case("empty.jpg", b"", DecodeError)


def truncated_jpeg() -> Case:
    data = _save(_photo((256, 192)), "JPEG", quality=90)
    return Case("truncated.jpg", data[: len(data) // 2], DecodeError)


def text_named_png() -> Case:
    return Case("notes.png", b"this is a text file, not a picture\n" * 20, DecodeError)


def pdf() -> Case:
    data = (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return Case("document.pdf", data, UnsupportedFormatError)


def svg() -> Case:
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48">'
        b'<rect width="64" height="48" fill="red"/></svg>\n'
    )
    return Case("drawing.svg", data, UnsupportedFormatError)


def one_pixel() -> Case:
    return Case("one-pixel.png", _save(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"), None)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png() -> Case:
    """A valid 40000x40000 1-bit PNG of about 200 KB that decodes to 1.6 G pixels.

    Deflate after a full flush does not refer back, so one compressed block of zeros is
    repeated instead of compressing 200 MB; the Adler-32 of n zero bytes is
    ``(n mod 65521) << 16 | 1``.
    """
    width, height = BOMB_SIZE
    raw_size = height * (1 + (width + 7) // 8)  # a filter byte per row, then 1 bit a pixel
    chunk = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(chunk)
    compressor.compress(zeros)
    compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(raw_size, chunk)
    tail = compressor.compress(bytes(rest)) + compressor.flush(zlib.Z_FINISH)
    adler = ((raw_size % 65521) << 16) | 1
    stream = b"\x78\xda" + block * count + tail + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", stream)
        + _png_chunk(b"IEND", b"")
    )
    return Case("bomb.png", data, ImageTooLargeError)


def cmyk_jpeg() -> Case:
    """CMYK as Photoshop writes it (Adobe marker, inverted channels): pure cyan."""
    image = Image.new("CMYK", (64, 48), (255, 0, 0, 0))
    return Case("cmyk.jpg", _save(image, "JPEG", quality=95), None)


def sixteen_bit_png() -> Case:
    """16-bit greyscale: a horizontal ramp over the full 0..65535 range."""
    import numpy as np

    ramp = np.linspace(0, 65535, 64, dtype=np.float64).round().astype(np.uint16)
    array = np.tile(ramp, (48, 1))
    return Case("sixteen-bit.png", _save(Image.fromarray(array), "PNG"), None)


def exif_rotated_jpeg() -> Case:
    """Stored 40x20, left half red and right half blue, with EXIF Orientation 6.

    Shown upright (rotated 90 degrees clockwise) it is 20x40, red on top, blue below.
    """
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return Case("exif-rotated.jpg", _save(image, "JPEG", quality=95, exif=exif), None)


def animated_gif() -> Case:
    """Two frames: red, then blue. The first frame is the one decoded."""
    frames = [Image.new("RGB", (32, 24), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return Case("animated.gif", data, None)


def heic() -> Case:
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(_photo()).save(buffer, format="HEIF", quality=90)
    return Case("photo.heic", buffer.getvalue(), None)


def avif() -> Case:
    return Case("photo.avif", _save(_photo(), "AVIF", quality=90), None)


def png_named_jpg() -> Case:
    return Case("png-named.jpg", _save(_photo(), "PNG"), None)


def png_rgba() -> Case:
    """An input that already has alpha: left half opaque, right half transparent."""
    image = _photo().convert("RGBA")
    alpha = Image.new("L", image.size, 255)
    alpha.paste(0, (32, 0, 64, 48))
    image.putalpha(alpha)
    return Case("rgba.png", _save(image, "PNG"), None)


GENERATORS: tuple[Callable[[], Case], ...] = (
    zero_bytes,
    truncated_jpeg,
    text_named_png,
    pdf,
    svg,
    one_pixel,
    bomb_png,
    cmyk_jpeg,
    sixteen_bit_png,
    exif_rotated_jpeg,
    animated_gif,
    heic,
    avif,
    png_named_jpg,
    png_rgba,
)


def all_cases() -> list[Case]:
    """Every case, generated now (about 0.1 s in all)."""
    return [generate() for generate in GENERATORS]
