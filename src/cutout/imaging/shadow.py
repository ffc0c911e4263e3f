"""A soft drop shadow cast by the subject, made from its own matte.

The shadow is the matte blurred, moved down and a little right, and dimmed: a dark,
partly transparent layer under the subject. Its size, offset and softness scale with the
subject's box so that a thumbnail and an 8 MP photo look alike.
"""

from __future__ import annotations

import numpy as np

from cutout.arrays import ByteArray, FloatArray
from cutout.imaging.filters import soft_blur

__all__ = ["SHADOW_OPACITY", "drop_shadow"]


SHADOW_OPACITY = 0.5
# fractions of the subject's larger side
_BLUR = 0.02
_OFFSET_X = 0.01
_OFFSET_Y = 0.025


def _shift(array: FloatArray, dx: int, dy: int) -> FloatArray:
    """``array`` moved right by ``dx`` and down by ``dy`` (non-negative), zeros behind."""
    height, width = array.shape
    out = np.zeros_like(array)
    if dx < width and dy < height:
        out[dy:, dx:] = array[: height - dy, : width - dx]
    return out


def drop_shadow(
    alpha: ByteArray, subject_size: int, *, opacity: float = SHADOW_OPACITY
) -> FloatArray:
    """The shadow's alpha (H x W float in [0, opacity]) for an output alpha ``alpha``.

    ``subject_size`` is the subject's larger side in output pixels.
    """
    size = max(1, subject_size)
    matte = alpha.astype(np.float32) / np.float32(255.0)
    blurred = soft_blur(matte, max(1.0, _BLUR * size))
    moved = _shift(blurred, round(_OFFSET_X * size), round(_OFFSET_Y * size))
    result: FloatArray = np.clip(moved * np.float32(opacity), 0.0, 1.0)
    return result
