"""compose() end to end on a real photo with the real embedded model (u2netp)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout.arrays import ByteArray, FloatArray
from cutout.engine import Engine
from cutout.imaging.compose import compose, foreground_box
from cutout.imaging.decode import DecodedImage, decode
from cutout.imaging.edges import refine_edges
from cutout.imaging.foreground import refine_foreground
from cutout.options import ColorBackground, RemoveOptions


@pytest.fixture(scope="module")
def tiger(shared_images: Path, u2netp_engine: Engine) -> tuple[DecodedImage, FloatArray]:
    image = decode(shared_images / "animal-1.jpg")
    return image, u2netp_engine.matte(image)


def test_marketplace_canvas_end_to_end(shared_images: Path, u2netp_engine: Engine) -> None:
    options = RemoveOptions(canvas=(2000, 2000), fill=0.8)
    result = u2netp_engine.remove(shared_images / "animal-1.jpg", options)
    assert (result.width, result.height) == (2000, 2000)
    box = result.foreground
    assert box is not None
    # the tiger is wider than tall: its width is the limiting side, 80% of 2000
    assert box.width == 1600
    assert box.left == 200
    assert abs(box.top + box.height / 2 - 1000) <= 1
    decoded = Image.open(io.BytesIO(result.data))
    assert decoded.mode == "RGBA" and decoded.size == (2000, 2000)
    alpha = np.asarray(decoded)[..., 3]
    measured = foreground_box(alpha)
    assert measured is not None
    # the pixels agree with the reported X-Foreground-* box
    assert abs(measured.left - box.left) <= 3 and abs(measured.top - box.top) <= 3
    assert abs(measured.width - box.width) <= 3 and abs(measured.height - box.height) <= 3
    # outside the box the canvas is empty up to faint matte noise below the box's level
    assert alpha[: box.top - 3].max() <= 25 and alpha[box.top + box.height + 3 :].max() <= 25
    assert alpha[:50].max() == 0 and alpha[-50:].max() == 0


def test_white_canvas_jpeg(shared_images: Path, u2netp_engine: Engine) -> None:
    options = RemoveOptions(
        canvas=(1200, 1000),
        fill=0.5,
        format="jpg",
        background=ColorBackground((255, 255, 255, 255)),
    )
    result = u2netp_engine.remove(shared_images / "animal-1.jpg", options)
    pixels = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB")).astype(int)
    assert pixels.shape == (1000, 1200, 3)
    assert result.foreground is not None and result.foreground.width == 600
    assert pixels[:50].min() >= 250  # white margin above the subject
    box = result.foreground
    subject = pixels[box.top : box.top + box.height, box.left : box.left + box.width]
    assert subject.mean() < 235  # the tiger's stripes are there


def test_refine_edges_removes_a_green_cast_from_real_fur(
    tiger: tuple[DecodedImage, FloatArray],
) -> None:
    image, matte = tiger
    # the real photo and the real matte, composited on pure green: a known contamination
    green = np.array([30, 200, 40], np.float32)
    weight = matte[..., None]
    mixed = (weight * image.rgb + (1 - weight) * green + 0.5).astype(np.uint8)
    refined = refine_foreground(mixed, matte)
    soft = (matte > 0.1) & (matte < 0.9)
    assert soft.sum() > 5000

    def green_excess(rgb: ByteArray) -> float:
        channels = rgb[soft].astype(np.float64)
        return float((channels[:, 1] - (channels[:, 0] + channels[:, 2]) / 2).mean())

    assert green_excess(mixed) > 50
    assert green_excess(refined) < 0.15 * green_excess(mixed)
    opaque = matte >= 254.5 / 255
    np.testing.assert_array_equal(refined[opaque], mixed[opaque])


def test_refined_cut_out_through_compose(
    tiger: tuple[DecodedImage, FloatArray],
) -> None:
    image, matte = tiger
    edges = refine_edges(image.rgb, matte, "balanced")
    plain = compose(image.rgb, edges.alpha, RemoveOptions())
    refined = compose(image.rgb, edges.alpha, RemoveOptions(), colours=edges.rgb)
    np.testing.assert_array_equal(refined.alpha, plain.alpha)
    soft = (plain.alpha > 25) & (plain.alpha < 230)
    changed = np.abs(refined.pixels[..., :3].astype(int) - plain.pixels[..., :3]).max(axis=2) > 8
    # most of the soft edge gets new colours; the photo's dark background is taken out, so
    # the white fur's edge gets lighter
    assert changed[soft].mean() > 0.5
    assert refined.pixels[soft][:, :3].mean() > plain.pixels[soft][:, :3].mean() + 10
