"""The edge stage's guarantees, held by both of its paths: the numpy/OpenCV one
(cutout.imaging.edges, the CPU's) and the torch one (cutout.backends.torch_edges, beside a
model on a GPU; the CPU build of torch stands in for the device here).

Bounds, untouched far pixels, kept transparency, no NaN, colours only where alpha is soft,
argument checks. What each path does beyond these lives beside it
(tests/imaging/test_edges.py, tests/backends/test_torch_edges.py).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from cutout.imaging.edges import LEVELS, EdgeRefiner, refine_edges
from cutout.options import EDGE_LEVELS, EdgeLevel
from tests.imaging.test_edges import _scene


def _refiner(name: str) -> EdgeRefiner:
    if name == "numpy":
        return refine_edges
    from cutout.backends.torch_edges import refine_edges_torch

    return functools.partial(refine_edges_torch, device="cpu")


PATHS = ("numpy", "torch-cpu")


@pytest.fixture(params=PATHS)
def refine(request: pytest.FixtureRequest) -> EdgeRefiner:
    return _refiner(request.param)


# the torch path on the CPU is many times slower than OpenCV: smaller photos for it, one
# of them large enough (600 px at fast) for a working copy smaller than the photo
FAR_CASES = [
    *(("numpy", level, size) for level in ("fast", "balanced", "best") for size in (400, 1300)),
    ("torch-cpu", "fast", 600),
    ("torch-cpu", "balanced", 400),
    ("torch-cpu", "best", 400),
]


@pytest.mark.parametrize(("path", "level", "size"), FAR_CASES, ids=str)
def test_pixels_far_from_the_outline_keep_the_model_alpha(
    path: str, level: EdgeLevel, size: int
) -> None:
    rgb, _, matte = _scene(size=size)
    # noise far out and deep inside: a refinement must leave it alone
    rng = np.random.default_rng(1)
    matte = matte.copy()
    half = size // 2
    matte[:20, :20] = rng.uniform(0.0, 0.02, (20, 20))
    matte[half - 5 : half + 5, half - 5 : half + 5] = rng.uniform(0.95, 1.0, (10, 10))
    matte8 = (matte * 255 + 0.5).astype(np.uint8)
    edges = _refiner(path)(rgb, matte8, level)
    rows, cols = np.mgrid[0:size, 0:size]
    distance = np.hypot(rows - half, cols - half)
    reach = LEVELS[level].reach * size
    outline = size * 0.3 - 3
    # a working copy's pixel is up to size / 550 photo pixels wide at these sizes
    far = np.abs(distance - outline) > reach + 4 + size / 200
    assert far.sum() > 0.3 * far.size
    assert np.array_equal(edges.alpha[far], matte8[far])


@pytest.mark.parametrize("level", EDGE_LEVELS)
def test_existing_transparency_is_never_made_more_opaque(
    refine: EdgeRefiner, level: EdgeLevel
) -> None:
    rgb, _, matte = _scene()
    keep = np.full(matte.shape, 255, np.uint8)
    keep[:, :100] = 0
    keep[:, 100:140] = 90
    edges = refine(rgb, matte, level, keep=keep)
    assert np.all(edges.alpha <= keep)
    assert edges.alpha[:, :100].max() == 0


@pytest.mark.parametrize("level", EDGE_LEVELS)
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (7, 3), (9, 9), (16, 300), (64, 64)], ids=str)
def test_tiny_and_flat_images_give_finite_bounded_alpha(
    refine: EdgeRefiner, level: EdgeLevel, shape: tuple[int, int]
) -> None:
    rgb = np.full((*shape, 3), 128, np.uint8)
    for matte in (
        np.zeros(shape, np.float32),
        np.ones(shape, np.float32),
        np.full(shape, 0.5, np.float32),
        np.linspace(0, 1, shape[0] * shape[1], dtype=np.float32).reshape(shape),
    ):
        edges = refine(rgb, matte, level)
        assert edges.alpha.shape == shape and edges.alpha.dtype == np.uint8
        assert edges.rgb.shape == rgb.shape
        assert np.isfinite(edges.confidence)
        assert 0.0 <= edges.confidence <= 1.0


def test_nan_in_a_float_matte_is_treated_as_background(refine: EdgeRefiner) -> None:
    rgb, _, matte = _scene()
    matte = matte.copy()
    matte[:10, :10] = np.nan
    edges = refine(rgb, matte, "balanced")
    assert edges.alpha[:10, :10].max() == 0


def test_colours_are_decontaminated_only_when_asked_and_where_alpha_is_soft(
    refine: EdgeRefiner,
) -> None:
    rgb, _, matte = _scene()
    plain = refine(rgb, matte, "fast", colours=False)
    assert plain.rgb is rgb
    coloured = refine(rgb, matte, "fast")
    soft = (coloured.alpha > 20) & (coloured.alpha < 235)
    assert soft.sum() > 50
    # under soft alpha the photo is a mix with the light background; the estimated
    # subject colour is darker (closer to the true 60/40/30)
    assert coloured.rgb[soft].mean() < rgb[soft].mean() - 20
    hard = (coloured.alpha == 0) | (coloured.alpha == 255)
    assert np.array_equal(coloured.rgb[hard], rgb[hard])


def test_shapes_must_match(refine: EdgeRefiner) -> None:
    rgb, _, matte = _scene()
    with pytest.raises(ValueError, match="do not match"):
        refine(rgb, matte[:-1], "fast")
