"""Convert pixels that carry an embedded ICC profile to sRGB (Little CMS via PIL.ImageCms).

Most camera and web images embed sRGB itself; those are recognised from the profile's
description and left alone, because a no-op transform of an 8 MP image still costs about
100 ms. Little CMS runs about 30 ns a pixel here (250 ms on 8 MP), and Pillow releases
the GIL while it runs, so RGB arrays are converted in strips on every core. Transforms
are cached by profile bytes: building one costs milliseconds, and a
catalogue tends to carry the same few profiles.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms

from cutout.arrays import ByteArray
from cutout.imaging.parallel import map_strips, strip_bounds

__all__ = ["LUT_AFTER_PIXELS", "is_srgb_profile", "rgb_to_srgb", "rgbx_to_srgb", "to_srgb"]

_CACHE_SIZE = 16
_cache: OrderedDict[tuple[str, str], ImageCms.ImageCmsTransform] = OrderedDict()
_cache_lock = threading.Lock()

# A profile's whole 8-bit transform as a table: 2**24 RGBX words (64 MiB), made by lcms
# itself, so a lookup gives exactly lcms's pixel. Building it costs one lcms pass over
# 16.7 M pixels (about 300 ms CPU here); a lookup pass costs about 30 ms CPU on 8 MP
# against 120 ms for lcms. It is built once a profile has converted that many pixels
# (when it starts paying for itself), for at most two profiles at a time (128 MiB).
LUT_AFTER_PIXELS = 1 << 24
_LUT_PROFILES = 2
_LUT_SIDE = 4096  # the table transformed as a 4096 x 4096 RGBX image
_luts: OrderedDict[str, npt.NDArray[np.uint32]] = OrderedDict()
_converted: OrderedDict[str, int] = OrderedDict()  # pixels through lcms, per profile
_TRACKED = 64
_lut_build_lock = threading.Lock()


def _profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(io.BytesIO(icc))


def is_srgb_profile(icc: bytes) -> bool:
    """True when the profile says it is sRGB (``sRGB IEC61966-2.1``, ``sRGB built-in``...)."""
    try:
        description = ImageCms.getProfileDescription(_profile(icc))
    except (OSError, ImageCms.PyCMSError):
        return False
    return "srgb" in description.lower().replace(" ", "")


def _digest(icc: bytes) -> str:
    return hashlib.sha1(icc, usedforsecurity=False).hexdigest()


def _transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform:
    # RGBX is Pillow's RGB with its padding byte named: the same 4-byte layout for lcms
    key = (_digest(icc), mode)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    transform = ImageCms.buildTransform(
        _profile(icc),
        ImageCms.createProfile("sRGB"),
        mode,
        "RGBX" if mode == "RGBX" else "RGB",
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
    )
    with _cache_lock:
        _cache[key] = transform
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return transform


def to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    """``image`` (RGB, L or CMYK) converted from the ``icc`` profile's space to sRGB RGB.

    Raises :class:`PIL.ImageCms.PyCMSError` (or OSError) for a profile that does not
    fit the image; callers decide whether that is fatal.
    """
    converted = ImageCms.applyTransform(image, _transform(icc, image.mode))
    if converted is None:  # only when transforming in place, which this never asks for
        raise ImageCms.PyCMSError("colour transform returned no image")
    return converted


def rgb_to_srgb(rgb: ByteArray, icc: bytes) -> ByteArray:
    """An H x W x 3 array converted from the ``icc`` profile's space to sRGB, in strips."""
    transform = _transform(icc, "RGB")

    def convert(first: int, end: int) -> ByteArray:
        strip = Image.fromarray(rgb[first:end])
        ImageCms.applyTransform(strip, transform, inPlace=True)  # no second image
        converted: ByteArray = np.asarray(strip)
        return converted

    strips = map_strips(convert, strip_bounds(rgb.shape[0], rgb.nbytes))
    return strips[0] if len(strips) == 1 else np.concatenate(strips)


def _lookup_table(
    digest: str, transform: ImageCms.ImageCmsTransform, pixels: int
) -> npt.NDArray[np.uint32] | None:
    """The profile's table, built now if it has earned it, or None (use lcms)."""
    with _cache_lock:
        table = _luts.get(digest)
        if table is not None:
            _luts.move_to_end(digest)
            return table
        seen = _converted.pop(digest, 0) + pixels
        _converted[digest] = seen
        while len(_converted) > _TRACKED:
            _converted.popitem(last=False)
    # one build at a time; meanwhile other threads convert with lcms
    if seen < LUT_AFTER_PIXELS or not _lut_build_lock.acquire(blocking=False):
        return None
    try:
        table = np.arange(_LUT_SIDE * _LUT_SIDE, dtype="<u4")  # word = R | G << 8 | B << 16

        def build(first: int, end: int) -> None:
            rows = table[first * _LUT_SIDE : end * _LUT_SIDE]
            strip = Image.frombuffer("RGBX", (_LUT_SIDE, end - first), rows, "raw", "RGBX", 0, 1)
            strip.readonly = False
            transform.apply(strip, strip)

        map_strips(build, strip_bounds(_LUT_SIDE, table.nbytes))
        with _cache_lock:
            _luts[digest] = table
            _converted.pop(digest, None)
            while len(_luts) > _LUT_PROFILES:
                _luts.popitem(last=False)
    finally:
        _lut_build_lock.release()
    return table


def rgbx_to_srgb(rgbx: ByteArray, icc: bytes) -> ByteArray:
    """H x W x 4 (RGB + padding, as libjpeg-turbo's RGBX output) -> sRGB H x W x 3.

    Pillow keeps RGB pixels in 4 bytes, so an RGBX array is an image Pillow can wrap
    without a copy: each strip is transformed in place (by lcms, or by a lookup in the
    profile's table once it has one, see ``LUT_AFTER_PIXELS``), then packed to RGB by
    Pillow's raw encoder. From an RGB array (:func:`rgb_to_srgb`) the strip is first
    unpacked into Pillow's layout and the strips joined at the end: two copies of the
    image more (on 8 MP about 40 ms CPU of 200 here). ``rgbx`` is overwritten; the
    pixels are identical either way. The result may be read-only (it views Pillow's
    bytes when there is one strip).
    """
    if rgbx.dtype != np.uint8 or rgbx.ndim != 3 or rgbx.shape[2] != 4:
        raise ValueError(f"rgbx_to_srgb takes H x W x 4 uint8, not {rgbx.shape}")
    transform = _transform(icc, "RGBX")  # raises before any pixel is touched
    rgbx = np.ascontiguousarray(rgbx)
    height, width = rgbx.shape[:2]
    table = _lookup_table(_digest(icc), transform, height * width)

    def convert(first: int, end: int) -> ByteArray:
        rows = rgbx[first:end]
        if table is not None:
            words = rows.reshape(-1).view("<u4")
            np.take(table, words & np.uint32(0xFFFFFF), out=words, mode="clip")
        strip = Image.frombuffer("RGBX", (width, end - first), rows, "raw", "RGBX", 0, 1)
        if table is None:
            strip.readonly = False  # frombuffer maps the writable array: transform in place
            transform.apply(strip, strip)
        packed = np.frombuffer(strip.tobytes("raw", "RGB"), np.uint8)
        return packed.reshape(end - first, width, 3)

    strips = map_strips(convert, strip_bounds(height, height * width * 3))
    return strips[0] if len(strips) == 1 else np.concatenate(strips)
