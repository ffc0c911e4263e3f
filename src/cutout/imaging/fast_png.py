"""A fast PNG encoder for 8-bit L, RGB and RGBA pixels.

PNG encoding dominates the time other tools spend on large images: Pillow tries five
row filters per row and deflates on one core with zlib. Here every row gets the "Sub"
filter (one vectorised subtraction; on photos it compresses about as well as Pillow's
adaptive choice at zlib level 1), and horizontal strips are deflated in parallel threads
with ISA-L, whose fast levels run several times faster than zlib's. Each strip ends with
a sync flush, so the strips concatenate into one valid zlib stream; the Adler-32 of the
whole is combined from the strips' checksums. Any PNG decoder reads the result, and the
pixels are exactly the input's.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from cutout.arrays import ByteArray
from cutout.imaging.parallel import map_strips, strip_bounds

__all__ = ["FAST_LEVELS", "clear_transparent", "encode_png"]

# compress levels (Pillow's 0-9 scale) that this encoder serves; above, callers may prefer
# Pillow's adaptive filtering for a smaller file at a much higher cost
FAST_LEVELS = range(0, 4)

_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)
_ADLER_BASE = 65521


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind))
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """Adler-32 of A + B from adler(A), adler(B) and len(B) (zlib's adler32_combine)."""
    remainder = second_length % _ADLER_BASE
    low_a, high_a = first & 0xFFFF, first >> 16
    low_b, high_b = second & 0xFFFF, second >> 16
    low = (low_a + low_b - 1) % _ADLER_BASE
    high = (remainder * low_a + high_a + high_b - remainder) % _ADLER_BASE
    return low | (high << 16)


def _filter_sub(rows: ByteArray) -> ByteArray:
    """rows: h x w x c -> h x (1 + w*c) scanlines with filter type 1 (Sub)."""
    height, width, channels = rows.shape
    flat = rows.reshape(height, width * channels)
    out = np.empty((height, width * channels + 1), np.uint8)
    out[:, 0] = 1
    out[:, 1 : channels + 1] = flat[:, :channels]
    np.subtract(flat[:, channels:], flat[:, :-channels], out=out[:, channels + 1 :])
    return out


def clear_transparent(rows: ByteArray) -> ByteArray:
    """RGBA with the colour of fully transparent pixels set to 0 (nothing visible changes).

    A cut-out keeps the old background's colours under alpha 0; zeroing them shrinks
    the PNG by half and speeds up deflate. WebP encoders do the same by default.
    """
    if rows.dtype != np.uint8 or rows.ndim != 3 or rows.shape[2] != 4:
        raise ValueError(f"clear_transparent takes H x W x 4 uint8, not {rows.shape}")
    contiguous = np.ascontiguousarray(rows)
    # one 32-bit word a pixel, alpha in the top byte (little-endian): a word under 2**24
    # has alpha 0. One pass over 8M words instead of a 4-channel broadcast over 32M bytes:
    # about 5x faster on 8 MP.
    words = contiguous.reshape(rows.shape[0], -1).view("<u4")
    cleared = words * (words >= np.uint32(1 << 24))
    result: ByteArray = cleared.astype("<u4", copy=False).view(np.uint8)
    return result.reshape(rows.shape)


def _deflate_strip(rows: ByteArray, level: int, last: bool, clear: bool) -> tuple[bytes, int, int]:
    """Filter and raw-deflate one strip; returns (deflate bytes, adler32, raw length)."""
    from isal import isal_zlib

    if clear and rows.shape[2] == 4:
        rows = clear_transparent(rows)
    scanlines = _filter_sub(rows).data.cast("B")
    if level == 0:
        compressor = zlib.compressobj(0, zlib.DEFLATED, -15)
        data = compressor.compress(scanlines)
        data += compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    else:
        isal_compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
        data = isal_compressor.compress(scanlines)
        data += isal_compressor.flush(isal_zlib.Z_FINISH if last else isal_zlib.Z_SYNC_FLUSH)
    return data, isal_zlib.adler32(scanlines), len(scanlines)


def encode_png(
    pixels: ByteArray,
    *,
    level: int = 1,
    threads: int | None = None,
    clear: bool = False,
) -> bytes:
    """Encode H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA) uint8 pixels as PNG.

    ``level`` 0 stores without compression; 1-3 are ISA-L levels 1-3.
    ``threads`` caps the strips deflated at once (default: every core). ``clear`` zeroes
    the colour of fully transparent RGBA pixels (see :func:`clear_transparent`).
    """
    if level not in FAST_LEVELS:
        raise ValueError(f"fast PNG levels are 0-3, not {level}")
    if pixels.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8, not {pixels.dtype}")
    rows = pixels[..., None] if pixels.ndim == 2 else pixels
    height, width, channels = rows.shape
    if channels not in _COLOR_TYPES or height == 0 or width == 0:
        raise ValueError(f"cannot encode an image of shape {pixels.shape} as PNG")
    rows = np.ascontiguousarray(rows)
    bounds = strip_bounds(height, rows.nbytes, threads)
    strips = len(bounds) - 1
    parts = map_strips(
        lambda first, end: _deflate_strip(rows[first:end], level, end == height, clear), bounds
    )
    adler = parts[0][1]
    for _, strip_adler, length in parts[1:]:
        adler = _adler32_combine(adler, strip_adler, length)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header)]
    for index, (data, _, _) in enumerate(parts):
        body = data
        if index == 0:
            body = b"\x78\x01" + body  # zlib header: deflate, 32 KiB window, fastest
        if index == strips - 1:
            body += struct.pack(">I", adler)
        out.append(_chunk(b"IDAT", body))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
