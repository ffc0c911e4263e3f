"""compose() with an 8-bit matte: the same output as the float matte it stands for."""

from __future__ import annotations

import numpy as np
import pytest

from cutout.arrays import ByteArray, FloatArray
from cutout.imaging.compose import _rgba, compose
from cutout.options import (
    BlurBackground,
    ColorBackground,
    RemoveOptions,
    Roi,
)


def _photo_and_mattes() -> tuple[ByteArray, ByteArray, FloatArray]:
    rng = np.random.default_rng(7)
    height, width = 97, 131
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    rows, cols = np.mgrid[0:height, 0:width]
    # a soft disc: every level from 0 to 255 appears, and a wide band is exactly 0
    distance = np.hypot(rows - 50, cols - 60)
    ramp = np.clip((45 - distance) / 30, 0, 1)
    matte8 = (ramp * 255 + 0.5).astype(np.uint8)
    return rgb, matte8, np.multiply(matte8, np.float32(1 / 255), dtype=np.float32)


OPTIONS = [
    RemoveOptions(),
    RemoveOptions(mask=True),
    RemoveOptions(threshold=0.5),
    RemoveOptions(invert=True),
    RemoveOptions(roi=Roi(10, 5, 90, 80)),
    RemoveOptions(shadow=True),
    RemoveOptions(crop=True),
    RemoveOptions(background=ColorBackground((0, 0, 255, 255))),
    RemoveOptions(background=ColorBackground((255, 0, 0, 100)), shadow=True),
    RemoveOptions(background=BlurBackground(radius=8)),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda options: repr(options)[:60])
def test_eight_bit_matte_composes_exactly_like_its_float_matte(options: RemoveOptions) -> None:
    rgb, matte8, matte = _photo_and_mattes()
    from_bytes = compose(rgb, matte8, options)
    from_floats = compose(rgb, matte, options)
    assert from_bytes.foreground == from_floats.foreground
    assert from_bytes.pixels.dtype == np.uint8
    assert np.array_equal(from_bytes.pixels, from_floats.pixels)
    assert np.array_equal(from_bytes.alpha, from_floats.alpha)


def test_default_cut_out_keeps_the_photo_and_the_matte_bytes() -> None:
    rgb, matte8, _ = _photo_and_mattes()
    out = compose(rgb, matte8, RemoveOptions())
    assert out.mode == "RGBA" and out.pixels.flags["C_CONTIGUOUS"]
    assert np.array_equal(out.pixels[..., :3], rgb)
    assert np.array_equal(out.pixels[..., 3], matte8)


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (3, 5), (64, 33)])
def test_rgba_packing_matches_dstack_at_every_size(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, shape, dtype=np.uint8)
    assert np.array_equal(_rgba(rgb, alpha), np.dstack([rgb, alpha]))
    # a non-contiguous view (every other column) packs the same way
    view = rgb[:, ::-1]
    assert np.array_equal(_rgba(view, alpha), np.dstack([view, alpha]))
