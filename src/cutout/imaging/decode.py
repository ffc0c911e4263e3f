"""Decode image bytes into an upright sRGB uint8 array, refusing oversized images cheaply.

Content is sniffed (the file name is never trusted): a PNG named .jpg decodes as PNG.
The pixel count is read from the header before any pixel is decoded, so a 40000 x 40000
PNG of 200 KB is refused in milliseconds. Pillow's format plugins are called directly
rather than through ``Image.open``, whose own bomb check warns or raises at a fixed 89 /
179 MP whatever the caller's limit is (and silencing its warning is not thread-safe), and
which cannot name a format it was told not to open. That registry (``Image.ID``,
``Image.OPEN``) is not public API: pyproject.toml bounds Pillow below its next major
release, and tests/imaging/test_pillow_internals.py checks what is used.

Baseline JPEGs in YCbCr (most photos) are decoded with libjpeg-turbo through simplejpeg
straight into a numpy array: the same pixels as Pillow, without Pillow's two extra
copies (about 4x faster on 8 MP). Every other case goes through Pillow.
"""

from __future__ import annotations

import contextlib
import io
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms

from cutout.arrays import ByteArray
from cutout.errors import DecodeError, ImageTooLargeError, UnsupportedFormatError
from cutout.imaging.icc import is_srgb_profile, rgb_to_srgb, rgbx_to_srgb, to_srgb

__all__ = ["DEFAULT_MAX_PIXELS", "DecodedImage", "decode", "read_source"]

DEFAULT_MAX_PIXELS = 50_000_000


# what Pillow and its plugins raise on broken data (besides their own error classes)
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
    ImageCms.PyCMSError,
)
# Pillow format ids that decode opens; MPO is the multi-picture JPEG of many cameras
_FORMATS = frozenset(
    {"JPEG", "MPO", "PNG", "WEBP", "TIFF", "BMP", "DIB", "GIF", "HEIF", "AVIF", "ICO", "PPM"}
)
_EXIF_ORIENTATION = 0x0112
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_heif_lock = threading.Lock()
_heif_registered = False


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An upright sRGB image. ``alpha`` is the input's own alpha channel, if it had one."""

    rgb: ByteArray
    alpha: ByteArray | None
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
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF"):
        return "PDF"
    lowered = head.lower()
    if lowered.startswith(b"<?xml") or b"<svg" in lowered:
        return "SVG"
    return None


def _is_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and any(brand in data[8:32] for brand in _HEIF_BRANDS)


def _register_heif() -> None:
    """Register pillow-heif's opener on first use: importing it costs ~50 ms."""
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_registered = True


def _open(data: bytes) -> Image.Image:
    """Identify ``data`` and read its header only, without Pillow's fixed bomb check.

    Only the formats cutout supports are opened: Pillow's other plugins include EPS,
    whose decoder runs Ghostscript, and guessers for headerless formats.
    """
    prefix = data[:16]
    refused: str | None = None
    for initialised in (False, True):
        if initialised:
            Image.init()  # plugins beyond the common five load on demand
        else:
            Image.preinit()
        for name in Image.ID:
            factory, accept = Image.OPEN[name]
            try:
                accepted = accept is None or accept(prefix) is True
            except (struct.error, IndexError, ValueError):  # sniffers that assume 4+ bytes
                accepted = False
            if not accepted:
                continue
            if name not in _FORMATS:
                # a magic-number match names the format; a headerless guess names nothing
                if accept is not None:
                    refused = refused or name
                continue
            try:
                return factory(io.BytesIO(data), "")
            except Image.DecompressionBombError as exc:  # GIF checks its frames itself
                raise ImageTooLargeError(f"image refused as a decompression bomb: {exc}") from exc
            except (SyntaxError, IndexError, TypeError, struct.error, OSError, ValueError):
                continue
    if refused is not None:
        raise UnsupportedFormatError(f"{refused} images are not supported")
    raise DecodeError("not a readable image (unknown or unsupported format)")


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height / 1e6:.1f} MP; the limit is "
            f"{max_pixels / 1e6:g} MP"
        )


def _orient(array: ByteArray, orientation: int) -> ByteArray:
    """Apply an EXIF orientation (1-8) to an H x W (x C) array, as a view where possible."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(array, -1)
    if orientation == 7:
        return array.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(array, 1)
    return array


def _sixteen_to_eight(array: npt.NDArray[np.generic], peak: float) -> ByteArray:
    scaled = np.clip(array.astype(np.float32) * np.float32(255.0 / peak) + 0.5, 0, 255)
    eight: ByteArray = scaled.astype(np.uint8)
    return eight


def _to_rgb(image: Image.Image) -> tuple[ByteArray, ByteArray | None]:
    """Pixels of any Pillow mode as (H x W x 3 RGB, H x W alpha or None)."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit (and 32-bit int) greyscale: Pillow's convert("RGB") clips at 255 instead
        # of scaling, which turns most of a 16-bit image white
        values = np.asarray(image)
        peak = 65535.0
        if mode == "F":  # floats are either [0, 1] or 8-bit values
            peak = 1.0 if float(values.max(initial=0)) <= 1.0 else 255.0
        grey = _sixteen_to_eight(values, peak)
        return np.repeat(grey[..., None], 3, axis=2), None
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if has_alpha:
        rgba = np.asarray(image if mode == "RGBA" else image.convert("RGBA"))
        return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
    if mode != "RGB":
        image = image.convert("RGB")
    rgb: ByteArray = np.asarray(image)
    return rgb, None


def _pillow_pixels(image: Image.Image) -> tuple[ByteArray, ByteArray | None]:
    """Decode with Pillow, then convert an embedded non-sRGB profile to sRGB."""
    image.load()
    icc = image.info.get("icc_profile")
    if not icc or is_srgb_profile(icc):
        return _to_rgb(image)
    if image.mode in ("L", "CMYK"):
        # grey and CMYK profiles transform into RGB directly
        with contextlib.suppress(OSError, ImageCms.PyCMSError):
            image = to_srgb(image, icc)
        return _to_rgb(image)
    rgb, alpha = _to_rgb(image)
    return _icc_rgb(rgb, icc), alpha


def _icc_rgb(rgb: ByteArray, icc: bytes) -> ByteArray:
    # a broken profile, or one of the wrong colour space: the pixels are usable as they are
    with contextlib.suppress(OSError, ImageCms.PyCMSError):
        return rgb_to_srgb(rgb, icc)
    return rgb


def _fast_jpeg(data: bytes, image: Image.Image) -> ByteArray | None:
    """libjpeg-turbo decode (then ICC to sRGB) for YCbCr JPEGs; None for other images."""
    if image.format not in ("JPEG", "MPO") or image.mode != "RGB":
        return None
    import simplejpeg

    icc = image.info.get("icc_profile")
    profile: bytes | None = icc if icc and not is_srgb_profile(icc) else None
    try:
        # with a profile to apply, decode into Pillow's 4-byte layout: the colour
        # transform then runs in place on this very buffer (rgbx_to_srgb)
        pixels: ByteArray = simplejpeg.decode_jpeg(
            data, colorspace="RGB" if profile is None else "RGBX"
        )
    except ValueError:
        return None  # let Pillow decide (and word the error) for anything odd
    if profile is None:
        return pixels
    with contextlib.suppress(OSError, ImageCms.PyCMSError):
        return rgbx_to_srgb(pixels, profile)
    # a broken profile: the pixels are usable as they are
    return np.ascontiguousarray(pixels[..., :3])


def decode(source: bytes | Path | str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode ``source`` (bytes or a path) into an upright sRGB image.

    Raises :class:`DecodeError` for unreadable data, :class:`UnsupportedFormatError` for
    PDF and SVG, and :class:`ImageTooLargeError` above ``max_pixels`` (from the header).
    """
    data = read_source(source)
    if not data:
        raise DecodeError("empty input: zero bytes")
    kind = _sniff_unsupported(data)
    if kind is not None:
        raise UnsupportedFormatError(f"{kind} is not a raster image format cutout reads")
    if _is_heif(data):
        _register_heif()
    image = _open(data)
    _check_size(image.width, image.height, max_pixels)
    fmt = str(image.format or "unknown")
    try:
        orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1))
        rgb = _fast_jpeg(data, image)
        alpha: ByteArray | None = None
        if rgb is None:
            rgb, alpha = _pillow_pixels(image)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise DecodeError(f"cannot decode {fmt} image: {exc}") from exc
    if orientation != 1:
        rgb = np.ascontiguousarray(_orient(rgb, orientation))
        alpha = None if alpha is None else np.ascontiguousarray(_orient(alpha, orientation))
    return DecodedImage(rgb=rgb, alpha=alpha, format=fmt)
