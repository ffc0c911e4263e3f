"""The edge stage's properties: bounds, untouched far pixels, kept transparency, no NaN."""

from __future__ import annotations

import numpy as np
import pytest

from cutout.arrays import ByteArray, FloatArray
from cutout.imaging.edges import LEVELS, refine_edges
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


@pytest.mark.parametrize("size", [400, 1300], ids=["full-size", "working-copy"])
@pytest.mark.parametrize("level", REFINING)
def test_pixels_far_from_the_outline_keep_the_model_alpha(level: EdgeLevel, size: int) -> None:
    rgb, _, matte = _scene(size=size)
    # noise far out and deep inside: a refinement must leave it alone
    rng = np.random.default_rng(1)
    matte = matte.copy()
    half = size // 2
    matte[:20, :20] = rng.uniform(0.0, 0.02, (20, 20))
    matte[half - 5 : half + 5, half - 5 : half + 5] = rng.uniform(0.95, 1.0, (10, 10))
    matte8 = (matte * 255 + 0.5).astype(np.uint8)
    edges = refine_edges(rgb, matte8, level)
    rows, cols = np.mgrid[0:size, 0:size]
    distance = np.hypot(rows - half, cols - half)
    reach = LEVELS[level].reach * size
    outline = size * 0.3 - 3
    # a working copy's pixel is up to size / 550 photo pixels wide at these sizes
    far = np.abs(distance - outline) > reach + 4 + size / 200
    assert far.sum() > 0.3 * far.size
    assert np.array_equal(edges.alpha[far], matte8[far])


@pytest.mark.parametrize("level", EDGE_LEVELS)
def test_existing_transparency_is_never_made_more_opaque(level: EdgeLevel) -> None:
    rgb, _, matte = _scene()
    keep = np.full(matte.shape, 255, np.uint8)
    keep[:, :100] = 0
    keep[:, 100:140] = 90
    edges = refine_edges(rgb, matte, level, keep=keep)
    assert np.all(edges.alpha <= keep)
    assert edges.alpha[:, :100].max() == 0


@pytest.mark.parametrize("level", EDGE_LEVELS)
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (7, 3), (9, 9), (16, 300), (64, 64)], ids=str)
def test_tiny_and_flat_images_give_finite_bounded_alpha(
    level: EdgeLevel, shape: tuple[int, int]
) -> None:
    rgb = np.full((*shape, 3), 128, np.uint8)
    for matte in (
        np.zeros(shape, np.float32),
        np.ones(shape, np.float32),
        np.full(shape, 0.5, np.float32),
        np.linspace(0, 1, shape[0] * shape[1], dtype=np.float32).reshape(shape),
    ):
        edges = refine_edges(rgb, matte, level)
        assert edges.alpha.shape == shape
        assert np.isfinite(edges.confidence)
        assert 0.0 <= edges.confidence <= 1.0


def test_nan_in_a_float_matte_is_treated_as_background() -> None:
    rgb, _, matte = _scene()
    matte = matte.copy()
    matte[:10, :10] = np.nan
    edges = refine_edges(rgb, matte, "balanced")
    assert edges.alpha[:10, :10].max() == 0


def test_colours_are_decontaminated_only_when_asked() -> None:
    rgb, _, matte = _scene()
    plain = refine_edges(rgb, matte, "fast", colours=False)
    assert plain.rgb is rgb
    coloured = refine_edges(rgb, matte, "fast")
    soft = (coloured.alpha > 20) & (coloured.alpha < 235)
    assert soft.sum() > 50
    # under soft alpha the photo is a mix with the light background; the estimated
    # subject colour is darker (closer to the true 60/40/30)
    assert coloured.rgb[soft].mean() < rgb[soft].mean() - 20
    hard = (coloured.alpha == 0) | (coloured.alpha == 255)
    assert np.array_equal(coloured.rgb[hard], rgb[hard])


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


def test_shapes_must_match() -> None:
    rgb, _, matte = _scene()
    with pytest.raises(ValueError, match="do not match"):
        refine_edges(rgb, matte[:-1], "fast")
