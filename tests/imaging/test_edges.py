"""The numpy/OpenCV edge stage: it improves the matte, `off` changes nothing, it is
deterministic, and its confidence falls where colours cannot decide. The guarantees both
paths share (bounds, far pixels, kept transparency, NaN) are in
tests/test_edge_properties.py."""

from __future__ import annotations

import numpy as np
import pytest

from cutout.arrays import ByteArray, FloatArray
from cutout.imaging.edges import refine_edges
from cutout.options import EDGE_LEVELS, EdgeLevel

REFINING: tuple[EdgeLevel, ...] = tuple(level for level in EDGE_LEVELS if level != "off")


def _scene(size: int = 240, seed: int = 3) -> tuple[ByteArray, FloatArray, FloatArray]:
    """A dark disc with hair-like strands on a light textured background, its exact alpha,
    and a blurred, too-small 'model matte' of the disc alone."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = size / 2
    radius = size * 0.3
    distance = np.hypot(rows - centre, cols - centre)
    alpha = np.clip(radius - distance + 0.5, 0.0, 1.0)
    angle = np.arctan2(rows - centre, cols - centre)
    # strands: thin radial spokes just outside the disc, partly transparent
    spokes = np.cos(angle * 48) > 0.97
    strands = spokes & (distance > radius) & (distance < radius + size * 0.06)
    alpha = np.maximum(alpha, strands * np.float32(0.7))
    foreground = np.array([60, 40, 30], np.float32)
    background = 200 + rng.normal(0, 6, (size, size, 1)).astype(np.float32) * [1, 1, 1]
    background += np.array([20, 10, 0], np.float32)
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    rgb = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    # the model: a soft version of the disc, a few pixels short of the truth
    soft = np.clip((radius - 3 - distance) / 6 + 0.5, 0.0, 1.0).astype(np.float32)
    return rgb, alpha.astype(np.float32), soft


@pytest.mark.parametrize("level", REFINING)
def test_refinement_brings_the_matte_closer_to_the_truth(level: EdgeLevel) -> None:
    rgb, truth, matte = _scene()
    edges = refine_edges(rgb, matte, level)
    refined = edges.alpha.astype(np.float32) / 255
    band = np.abs(truth - matte) > 0.02
    before = np.abs(matte - truth)[band].sum()
    after = np.abs(refined - truth)[band].sum()
    assert after < 0.6 * before
    assert edges.alpha.dtype == np.uint8
    assert 0.0 <= edges.confidence <= 1.0


def test_off_keeps_the_matte_and_the_colours() -> None:
    rgb, _, matte = _scene()
    edges = refine_edges(rgb, matte, "off")
    assert np.array_equal(edges.alpha, (matte * 255 + 0.5).astype(np.uint8))
    assert edges.rgb is rgb


def test_refinement_is_deterministic() -> None:
    rgb, _, matte = _scene()
    first = refine_edges(rgb, matte, "best")
    second = refine_edges(rgb, matte, "best")
    assert np.array_equal(first.alpha, second.alpha)
    assert np.array_equal(first.rgb, second.rgb)
    assert first.confidence == second.confidence


def test_confidence_is_lower_when_colours_cannot_tell_subject_from_background() -> None:
    rgb, _, matte = _scene()
    clear = refine_edges(rgb, matte, "balanced").confidence
    # the same scene with the subject painted in the background's colour
    camouflaged = np.empty_like(rgb)
    camouflaged[...] = (220, 210, 200)
    hidden = refine_edges(camouflaged, matte, "balanced").confidence
    assert hidden < clear
