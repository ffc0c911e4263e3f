"""Where the subject goes in the output: crop with margin, canvas, scale and position.

Every layout is one similarity transform ``output = source * scale + offset`` plus an
output size, worked out from the subject's box alone (:func:`plan_layout`); the pixels
are moved once, by :func:`warp`. So the foreground box reported to the caller is exactly
the transformed subject box, and the blurred background and the cut-out stay aligned.

Rules (remove.bg's, extended with the canvas):

- output size: ``canvas`` if given; else with ``crop`` the subject box plus the margin
  (each side capped as remove.bg caps it: ``MARGIN_CAP_PERCENT`` of the subject's size
  and ``MARGIN_CAP_PX``, from :mod:`cutout.options`);
  else the photo's size;
- subject size: with ``scale`` (or a canvas, whose ``fill`` is the default scale) the
  subject is resized so that its limiting side is that fraction of the output's;
  otherwise it keeps its size;
- position: fractions ``(x, y)`` of the free space; by default centred when scaled or on
  a canvas, at the margin when cropped, else where it was ("original" keeps the
  subject's centre at the same relative place). The subject never leaves the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cutout.arrays import ByteArray
from cutout.options import MARGIN_CAP_PERCENT, MARGIN_CAP_PX, Margin, Position, RemoveOptions

__all__ = ["Layout", "cap_margin", "plan_layout", "warp"]


# offsets within this of a whole pixel at scale 1 are moved by slicing, not resampling
_EXACT = 1e-6


@dataclass(frozen=True)
class Layout:
    """Output size and the transform ``output = source * scale + (left, top)``.

    ``subject`` is the subject's box in output pixels: (left, top, width, height).
    """

    width: int
    height: int
    scale: float
    left: float
    top: float
    subject: tuple[int, int, int, int]

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and self.left == 0.0 and self.top == 0.0


def cap_margin(
    margin: Margin, subject_width: int, subject_height: int
) -> tuple[int, int, int, int]:
    """(top, right, bottom, left) px, each clamped to the cap of :mod:`cutout.options`:
    ``MARGIN_CAP_PERCENT`` of the subject's side and ``MARGIN_CAP_PX``."""
    top, right, bottom, left = margin.pixels(subject_width, subject_height)

    def cap(value: int, side: int) -> int:
        return max(0, min(value, MARGIN_CAP_PX, math.floor(side * MARGIN_CAP_PERCENT / 100)))

    return (
        cap(top, subject_height),
        cap(right, subject_width),
        cap(bottom, subject_height),
        cap(left, subject_width),
    )


def plan_layout(
    image_width: int,
    image_height: int,
    subject: tuple[int, int, int, int] | None,
    options: RemoveOptions,
) -> Layout:
    """The layout for a subject box (left, top, width, height) in a photo of the given size.

    With no subject (an empty matte) the whole photo stands in for it.
    """
    box_left, box_top, box_width, box_height = subject or (0, 0, image_width, image_height)
    target = options.scale
    position: Position | None = options.position
    if options.canvas is not None:
        width, height = options.canvas
        target = options.fill if target is None else target
        start_x, start_y = (width - box_width) / 2, (height - box_height) / 2
    elif options.crop:
        top, right, bottom, left = cap_margin(options.margin, box_width, box_height)
        width, height = box_width + left + right, box_height + top + bottom
        start_x, start_y = float(left), float(top)
    else:
        width, height = image_width, image_height
        start_x, start_y = float(box_left), float(box_top)
    scale = 1.0
    if target is not None:
        scale = min(target * width / box_width, target * height / box_height)
        if position is None:
            position = (0.5, 0.5)
    subject_width = max(1, min(width, round(box_width * scale)))
    subject_height = max(1, min(height, round(box_height * scale)))
    free_x, free_y = width - subject_width, height - subject_height
    if position == "original":
        centre_x = (box_left + box_width / 2) / image_width * width
        centre_y = (box_top + box_height / 2) / image_height * height
        x, y = centre_x - subject_width / 2, centre_y - subject_height / 2
    elif position is None:
        x, y = start_x, start_y
    else:
        x, y = position[0] * free_x, position[1] * free_y
    left = min(max(round(x), 0), free_x)
    top = min(max(round(y), 0), free_y)
    return Layout(
        width=int(width),
        height=int(height),
        scale=scale,
        left=left - box_left * scale,
        top=top - box_top * scale,
        subject=(int(left), int(top), int(subject_width), int(subject_height)),
    )


def warp(
    pixels: ByteArray,
    layout: Layout,
    *,
    fill: int = 0,
    resample: Image.Resampling = Image.Resampling.LANCZOS,
) -> ByteArray:
    """Move ``pixels`` (H x W or H x W x C uint8) into the output frame of ``layout``.

    Output pixels that no source pixel covers get ``fill``. RGBA is resampled with
    premultiplied alpha (Pillow does that for RGBA), so transparent pixels' colours do
    not bleed into the edge.
    """
    height, width = pixels.shape[:2]
    shape = (layout.height, layout.width, *pixels.shape[2:])
    out = np.full(shape, fill, np.uint8)
    scale = layout.scale
    if scale == 1.0 and _is_whole(layout.left) and _is_whole(layout.top):
        left, top = round(layout.left), round(layout.top)
        x0, y0 = max(0, left), max(0, top)
        x1, y1 = min(layout.width, left + width), min(layout.height, top + height)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = pixels[y0 - top : y1 - top, x0 - left : x1 - left]
        return out
    x0 = max(0, math.ceil(layout.left - _EXACT))
    y0 = max(0, math.ceil(layout.top - _EXACT))
    x1 = min(layout.width, math.floor(layout.left + width * scale + _EXACT))
    y1 = min(layout.height, math.floor(layout.top + height * scale + _EXACT))
    if x1 <= x0 or y1 <= y0:
        return out
    source_box = (
        max(0.0, (x0 - layout.left) / scale),
        max(0.0, (y0 - layout.top) / scale),
        min(float(width), (x1 - layout.left) / scale),
        min(float(height), (y1 - layout.top) / scale),
    )
    image = Image.fromarray(np.ascontiguousarray(pixels))
    moved = image.resize((x1 - x0, y1 - y0), resample, box=source_box, reducing_gap=3.0)
    out[y0:y1, x0:x1] = np.asarray(moved, np.uint8)
    return out


def _is_whole(value: float) -> bool:
    return abs(value - round(value)) < _EXACT
