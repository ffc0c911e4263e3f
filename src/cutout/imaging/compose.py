"""Compose the output image from the photo and its alpha (pure functions).

The engine's edge stage (:mod:`cutout.imaging.edges`) runs before this: it hands over the
refined alpha and the subject's colours (the photo with the old background taken out of
soft pixels). Order of operations here:

1. alpha adjustments (:func:`adjust_matte`): hard threshold, invert, then the region of
   interest (so nothing outside it is foreground, whatever came before); then the
   input's own alpha (``keep``) as a ceiling, so that a pixel the input had transparent
   never gains opacity, whatever the adjustments did;
2. the empty-matte check (``require_foreground`` -> :class:`NoForegroundError`);
3. geometry: crop / canvas / scale + position, one transform (:mod:`.geometry`);
4. shadow from the moved alpha (:mod:`.shadow`);
5. background (colour, cover-fitted image, or the photo's own background blurred) and
   the over-operator with the subject's colours, or the mask alone.

The foreground box is reported in the output's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cutout.arrays import ByteArray, FloatArray
from cutout.errors import NoForegroundError
from cutout.imaging.background import blurred_background, cover_fit
from cutout.imaging.geometry import Layout, plan_layout, warp
from cutout.imaging.shadow import drop_shadow
from cutout.options import (
    Background,
    BlurBackground,
    ColorBackground,
    ImageBackground,
    RemoveOptions,
    Roi,
)

__all__ = ["Box", "Composite", "adjust_matte", "compose", "foreground_box"]


# alpha above this (of 1.0) counts as foreground for the subject's bounding box
FOREGROUND_LEVEL = 0.1


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels: remove.bg's X-Foreground-Top/Left/Width/Height."""

    top: int
    left: int
    width: int
    height: int


@dataclass(frozen=True, eq=False)
class Composite:
    """The composed output: ``pixels`` is H x W x C uint8 with C in (1, 3, 4)."""

    pixels: ByteArray
    foreground: Box | None
    # the matte aligned with ``pixels`` (for ZIP's alpha.png and JPEG flattening); with a
    # shadow it includes the shadow's alpha
    alpha: ByteArray

    @property
    def mode(self) -> str:
        channels = 1 if self.pixels.ndim == 2 else int(self.pixels.shape[2])
        return {1: "L", 3: "RGB", 4: "RGBA"}[channels]


def foreground_box(alpha: FloatArray | ByteArray, level: float = FOREGROUND_LEVEL) -> Box | None:
    """The bounding box of pixels whose alpha exceeds ``level``, or None when empty."""
    scale = 255.0 if alpha.dtype == np.uint8 else 1.0
    solid = alpha > level * scale
    rows = np.flatnonzero(solid.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(solid.any(axis=0))
    return Box(
        top=int(rows[0]),
        left=int(cols[0]),
        width=int(cols[-1] - cols[0] + 1),
        height=int(rows[-1] - rows[0] + 1),
    )


def adjust_matte(matte: FloatArray, options: RemoveOptions) -> FloatArray:
    """The matte after ``threshold``, ``invert`` and ``roi`` (a new float32 array)."""
    alpha = np.asarray(matte, np.float32)
    if options.threshold is not None:
        alpha = (alpha >= options.threshold).astype(np.float32)
    if options.invert:
        alpha = 1.0 - alpha
    if options.roi is not None:
        height, width = alpha.shape
        roi = options.roi
        if isinstance(roi, tuple):
            roi = Roi(float(roi[0]), float(roi[1]), float(roi[2]), float(roi[3]))
        x1, y1, x2, y2 = roi.pixels(width, height)
        inside = np.zeros_like(alpha)
        inside[y1:y2, x1:x2] = alpha[y1:y2, x1:x2]
        alpha = inside
    if alpha is matte:
        alpha = alpha.copy()
    return alpha


def _needs_layout(options: RemoveOptions) -> bool:
    return (
        options.crop
        or options.canvas is not None
        or options.scale is not None
        or isinstance(options.position, tuple)
    )


def _quantise(alpha: FloatArray) -> ByteArray:
    result: ByteArray = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return result


def _alphas(
    matte: FloatArray | ByteArray, options: RemoveOptions, keep: ByteArray | None
) -> tuple[ByteArray, FloatArray | None]:
    """(8-bit alpha, [0, 1] alpha or None when nothing needs floats), at most ``keep``.

    An 8-bit matte with no threshold, invert or ROI is used as it is: the default
    cut-out of an 8 MP photo then never touches a float (four 32 MB float passes less).
    """
    plain = options.threshold is None and not options.invert and options.roi is None
    alpha: FloatArray | None = None
    if matte.dtype == np.uint8 and plain:
        alpha8 = np.asarray(matte, np.uint8)
    else:
        if matte.dtype == np.uint8:
            # exactly the floats saliency_to_matte gives for the same 8-bit upsample
            matte = np.multiply(matte, np.float32(1.0 / 255.0), dtype=np.float32)
        alpha = adjust_matte(np.asarray(matte, np.float32), options)
        alpha8 = _quantise(alpha)
    if keep is not None:
        alpha8 = np.minimum(alpha8, keep)
        if alpha is not None:
            alpha = np.minimum(alpha, np.multiply(keep, np.float32(1.0 / 255.0), dtype=np.float32))
    return alpha8, alpha


def _float_alpha(alpha8: ByteArray, alpha: FloatArray | None) -> FloatArray:
    if alpha is not None:
        return alpha
    result: FloatArray = np.multiply(alpha8, np.float32(1.0 / 255.0), dtype=np.float32)
    return result


def compose(
    rgb: ByteArray,
    matte: FloatArray | ByteArray,
    options: RemoveOptions,
    *,
    colours: ByteArray | None = None,
    keep: ByteArray | None = None,
) -> Composite:
    """Build the output pixels for ``options`` from an image and its alpha.

    ``matte`` is H x W float32 in [0, 1] or uint8 in 0-255 (the engine passes the edge
    stage's 8-bit alpha, the cheaper of the two). ``colours`` (H x W x 3 uint8) are the
    subject's colours, the photo ``rgb`` when None; ``rgb`` stays the source of the
    blurred background. ``keep`` (H x W uint8) is the input's own alpha: the output's
    alpha never exceeds it.
    """
    if rgb.shape[:2] != matte.shape or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb {rgb.shape} and matte {matte.shape} do not match")
    for name, extra in (("colours", colours), ("keep", keep)):
        if extra is not None and extra.shape[:2] != matte.shape:
            raise ValueError(f"{name} {extra.shape} and matte {matte.shape} do not match")
    height, width = matte.shape
    alpha8, alpha = _alphas(matte, options, keep)
    box = foreground_box(alpha8)
    if box is None and options.require_foreground:
        raise NoForegroundError("no foreground found in the image")
    layout: Layout | None = None
    if _needs_layout(options):
        subject = None if box is None else (box.left, box.top, box.width, box.height)
        layout = plan_layout(width, height, subject, options)
        if box is not None:
            left, top, box_width, box_height = layout.subject
            box = Box(top=top, left=left, width=box_width, height=box_height)
    moved = layout is not None and not (
        layout.is_identity and (layout.width, layout.height) == (width, height)
    )

    if options.mask:
        mask = warp(alpha8, layout) if layout is not None and moved else alpha8
        return Composite(pixels=mask, foreground=box, alpha=mask)

    if colours is None:
        colours = rgb
    if layout is not None and moved:
        layer = warp(_rgba(colours, alpha8), layout)
        colours, alpha8 = np.ascontiguousarray(layer[..., :3]), np.ascontiguousarray(layer[..., 3])
    shadow = None
    if options.shadow and box is not None:
        shadow = drop_shadow(alpha8, max(box.width, box.height))
    background = options.background
    if isinstance(background, BlurBackground):
        alpha = _float_alpha(alpha8, alpha)
    layer_below = _background_layer(background, rgb, alpha, layout, colours.shape[:2])
    pixels, out_alpha = _blend(colours, alpha8, shadow, layer_below)
    return Composite(pixels=pixels, foreground=box, alpha=out_alpha)


def _rgba(colours: ByteArray, alpha8: ByteArray) -> ByteArray:
    """H x W x 4 from RGB and alpha, in two vectorised passes.

    numpy's own ways (``np.dstack``, or assigning ``out[..., :3] = rgb``) copy 3 of every 4
    bytes element by element: about 90 ms CPU on 8 MP here, and Pillow's ``putalpha``
    round trip 85 ms. Reading the RGB bytes as overlapping little-endian 32-bit words at
    a 3-byte stride gives each pixel's R, G, B in the low 24 bits of one word, so one
    masked 32-bit copy writes every RGB and a strided byte copy adds alpha: 11 ms.
    """
    rgb = np.ascontiguousarray(colours, np.uint8)
    height, width = alpha8.shape
    out: ByteArray = np.empty((height, width, 4), np.uint8)
    count = height * width
    if count < 2:
        out[..., :3] = rgb
    else:
        flat = rgb.reshape(-1)
        # word i covers bytes 3i .. 3i+3: in bounds for every pixel but the last
        words = np.ndarray((count - 1,), dtype="<u4", buffer=flat, offset=0, strides=(3,))
        packed = out.reshape(-1).view("<u4")
        np.bitwise_and(words, np.uint32(0xFFFFFF), out=packed[:-1])
        out[-1, -1, :3] = rgb[-1, -1]
    out[..., 3] = alpha8
    return out


BackgroundLayer = ByteArray | tuple[int, int, int, int] | None


def _background_layer(
    background: Background | None,
    rgb: ByteArray,
    alpha: FloatArray | None,
    layout: Layout | None,
    size: tuple[int, ...],
) -> BackgroundLayer:
    out_height, out_width = int(size[0]), int(size[1])
    if background is None:
        return None
    if isinstance(background, ColorBackground):
        return background.rgba
    if isinstance(background, ImageBackground):
        return cover_fit(background.rgb, out_width, out_height)
    if isinstance(background, BlurBackground):
        assert alpha is not None  # compose makes the float alpha for this background
        frame = layout or Layout(
            width=out_width, height=out_height, scale=1.0, left=0.0, top=0.0, subject=(0, 0, 1, 1)
        )
        return blurred_background(rgb, alpha, background.radius, frame)
    raise TypeError(f"unknown background {type(background).__name__}")


def _blend(
    colours: ByteArray,
    alpha8: ByteArray,
    shadow: FloatArray | None,
    background: BackgroundLayer,
) -> tuple[ByteArray, ByteArray]:
    """Subject over shadow over background (straight alpha); returns (pixels, alpha).

    Opaque backgrounds are blended in 16-bit integers and only inside the box where
    alpha (or the shadow) is non-zero: on an 8 MP photo that is several times cheaper
    than float arithmetic over every pixel.
    """
    shadow8 = None if shadow is None else _quantise(shadow)
    cover8 = alpha8 if shadow8 is None else _cover(alpha8, shadow8)
    if background is None:
        if shadow8 is None:
            return _rgba(colours, alpha8), alpha8
        return _over_transparent(colours, alpha8, cover8), cover8
    height, width = alpha8.shape
    if isinstance(background, tuple) and background[3] != 255:
        return _over_translucent(colours, alpha8, shadow8, background), cover8
    out = np.empty((height, width, 3), np.uint8)
    out[:] = np.asarray(background[:3], np.uint8) if isinstance(background, tuple) else background
    if shadow8 is not None:
        # the shadow is black: it only darkens what is behind the subject
        _mix_into(out, np.zeros_like(out), shadow8)
    _mix_into(out, colours, alpha8)
    return out, cover8


def _bounds(weight: ByteArray) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(weight.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(weight.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _mix_into(out: ByteArray, top: ByteArray, weight: ByteArray) -> None:
    """``out = round((top * w + out * (255 - w)) / 255)`` in place, where ``w > 0``."""
    region = _bounds(weight)
    if region is None:
        return
    rows, cols = region
    w = weight[rows, cols, None].astype(np.uint16)
    mixed = top[rows, cols].astype(np.uint16) * w
    mixed += out[rows, cols] * (np.uint16(255) - w)
    # exact round(x / 255) for x <= 255 * 255
    mixed += np.uint16(128)
    mixed += mixed >> 8
    mixed >>= 8
    out[rows, cols] = mixed


def _cover(alpha8: ByteArray, shadow8: ByteArray) -> ByteArray:
    """Alpha of the subject over its shadow: ``a + s * (1 - a)``."""
    cover = alpha8.astype(np.uint16) * 255 + shadow8.astype(np.uint16) * (255 - alpha8)
    cover += np.uint16(128)
    cover += cover >> 8
    cover >>= 8
    return cover.astype(np.uint8)


def _over_transparent(colours: ByteArray, alpha8: ByteArray, cover8: ByteArray) -> ByteArray:
    """RGBA of subject over a black shadow, on nothing: colour = fg * a / cover."""
    out = _rgba(colours, cover8)
    region = _bounds(cover8)
    if region is None:
        return out
    rows, cols = region
    alpha = alpha8[rows, cols, None].astype(np.float32)
    cover = np.maximum(cover8[rows, cols, None].astype(np.float32), 1.0)
    rgb = colours[rows, cols].astype(np.float32) * np.minimum(alpha / cover, 1.0)
    out[rows, cols, :3] = _to_bytes(rgb)
    return out


def _over_translucent(
    colours: ByteArray,
    alpha8: ByteArray,
    shadow8: ByteArray | None,
    background: tuple[int, int, int, int],
) -> ByteArray:
    """RGBA of subject over shadow over a colour with alpha < 255 (float, every pixel)."""
    alpha = (alpha8.astype(np.float32) / np.float32(255.0))[..., None]
    shade = 0.0 if shadow8 is None else (shadow8.astype(np.float32) / np.float32(255.0))[..., None]
    behind = (1 - alpha) * (1 - shade)
    opacity = background[3] / 255.0
    colour = np.asarray(background[:3], np.float32)
    total = alpha + (1 - alpha) * shade + behind * opacity
    premultiplied = colours.astype(np.float32) * alpha + colour * opacity * behind
    rgb = premultiplied / np.maximum(total, 1e-6)
    return _to_bytes(np.concatenate([rgb, total * 255.0], axis=2))


def _to_bytes(array: FloatArray) -> ByteArray:
    result: ByteArray = np.clip(array + 0.5, 0, 255).astype(np.uint8)
    return result
