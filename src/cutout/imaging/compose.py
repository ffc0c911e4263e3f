"""Compose the output image from the photo and its matte (pure functions).

Order of operations: matte adjustments (roi, threshold, invert) -> foreground colours
(edge decontamination) -> crop / canvas / scale+position geometry -> shadow ->
background -> mask or RGBA output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cutout.errors import NoForegroundError
from cutout.options import ColorBackground, RemoveOptions

__all__ = ["Box", "Composite", "compose", "foreground_box"]

FloatArray = npt.NDArray[np.float32]
ByteArray = npt.NDArray[np.uint8]

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
    # the matte aligned with ``pixels`` (for ZIP's alpha.png and JPEG flattening)
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


def compose(rgb: ByteArray, matte: FloatArray, options: RemoveOptions) -> Composite:
    """Build the output pixels for ``options`` from an image and its [0, 1] matte."""
    alpha = matte
    if options.threshold is not None:
        alpha = (alpha >= options.threshold).astype(np.float32)
    if options.invert:
        alpha = 1.0 - alpha
    alpha8 = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    box = foreground_box(alpha8)
    if box is None and options.require_foreground:
        raise NoForegroundError("no foreground found in the image")
    if options.mask:
        return Composite(pixels=alpha8, foreground=box, alpha=alpha8)
    background = options.background
    if background is None:
        rgba = np.dstack([rgb, alpha8])
        return Composite(pixels=rgba, foreground=box, alpha=alpha8)
    if isinstance(background, ColorBackground):
        color = np.asarray(background.rgba, dtype=np.float32)
        weight = alpha[..., None]
        rgb_out = rgb.astype(np.float32) * weight + color[:3] * (1 - weight)
        out_alpha = alpha * 255.0 + color[3] * (1 - alpha)
        pixels = np.dstack([rgb_out, out_alpha]).round().clip(0, 255).astype(np.uint8)
        if background.rgba[3] == 255:
            pixels = np.ascontiguousarray(pixels[..., :3])
        return Composite(pixels=pixels, foreground=box, alpha=alpha8)
    raise NotImplementedError(f"background {type(background).__name__}")
