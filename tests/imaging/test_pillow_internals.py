"""What ``cutout.imaging.decode`` takes from Pillow beyond its public API, and why.

decode opens images through Pillow's plugin registry (``Image.preinit`` / ``Image.init``,
the plugin order ``Image.ID`` and ``Image.OPEN[name] == (factory, accept)``), as
``Image.open`` does inside, instead of calling ``Image.open(fp, formats=[...])``:

* ``Image.open`` applies its own bomb check at fixed sizes (a warning above
  ``Image.MAX_IMAGE_PIXELS``, 89 MP, an error above twice that) whatever cutout's limit is
  (``max_megapixels``, configurable); silencing the warning per call is not thread-safe
  and changing ``MAX_IMAGE_PIXELS`` changes it for the whole process;
* a format that cutout refuses (EPS runs Ghostscript) must be named without being opened,
  while ``Image.open(formats=...)`` only says that it cannot identify the file.

These are not public API, so pyproject.toml bounds Pillow below its next major release.
Before raising the bound, run this file (and tests/imaging) against the new release.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from PIL import Image, UnidentifiedImageError
from tests.conftest import REPO

from cutout.errors import ImageTooLargeError, UnsupportedFormatError
from cutout.imaging.decode import decode


def _png_header_only(width: int, height: int) -> bytes:
    """A 1-bit PNG of ``width`` x ``height`` pixels (all zero), small on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = bytes(height * (1 + (width + 7) // 8))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def test_the_plugin_registry_decode_uses() -> None:
    Image.preinit()
    Image.init()
    assert isinstance(Image.ID, list)
    for name in ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "EPS"):
        assert name in Image.ID
        factory, accept = Image.OPEN[name]
        assert callable(factory)
        assert accept is None or callable(accept)
    factory, accept = Image.OPEN["PNG"]
    data = _png_header_only(64, 48)
    assert accept is not None and accept(data[:16])
    opened = factory(io.BytesIO(data), "")  # header only: size and format, no pixels yet
    assert (opened.size, opened.format) == ((64, 48), "PNG")
    assert opened.tile, "the pixels are decoded later, by load()"


def test_image_open_checks_bombs_at_its_own_fixed_size() -> None:
    data = _png_header_only(10_000, 10_000)  # 100 MP: above Pillow's 89 MP warning
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(data))
    # decode applies the caller's limit alone, and warns about nothing (warnings are errors)
    with pytest.raises(ImageTooLargeError, match="10000x10000"):
        decode(data, max_pixels=99_000_000)


def test_image_open_cannot_name_a_refused_format() -> None:
    eps = io.BytesIO()
    Image.new("RGB", (8, 8)).save(eps, "EPS")
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(eps.getvalue()), formats=["PNG", "JPEG"])
    with pytest.raises(UnsupportedFormatError, match="EPS"):
        decode(eps.getvalue())


def test_the_installed_pillow_is_inside_the_bound() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    bound = re.search(r'"pillow>=[0-9.]+,<([0-9]+)"', pyproject)
    assert bound is not None, "pyproject.toml must bound pillow below a major release"
    assert int(Image.__version__.split(".")[0]) < int(bound.group(1))
