"""Edge colour decontamination against a slow, literal port of the reference method."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from cutout.imaging.foreground import estimate_foreground_ml, refine_foreground

DoubleArray = npt.NDArray[np.float64]  # the reference port works in float64
RED = np.array([0.85, 0.1, 0.1])
GREEN = np.array([0.1, 0.8, 0.1])


def reference_foreground(
    image: DoubleArray,
    alpha: DoubleArray,
    *,
    regularization: float = 1e-5,
    small_size: int = 32,
    small_iterations: int = 10,
    big_iterations: int = 2,
    gradient_weight: float = 1.0,
) -> tuple[DoubleArray, DoubleArray]:
    """pymatting's ``estimate_foreground_ml`` written out pixel by pixel (Gauss-Seidel).

    Slow on purpose: it follows the published loops line for line, for tiny images.
    """
    height0, width0 = alpha.shape
    levels = math.ceil(math.log2(max(height0, width0)))
    fg_prev = np.zeros((1, 1, 3))
    bg_prev = np.zeros((1, 1, 3))

    def nearest(source: DoubleArray, height: int, width: int) -> DoubleArray:
        rows = [min(source.shape[0] - 1, y * source.shape[0] // height) for y in range(height)]
        cols = [min(source.shape[1] - 1, x * source.shape[1] // width) for x in range(width)]
        return np.array(source[np.ix_(rows, cols)], dtype=np.float64)

    fg = bg = fg_prev
    for level in range(levels + 1):
        width = round(width0 ** (level / levels))
        height = round(height0 ** (level / levels))
        level_image = nearest(image, height, width)
        level_alpha = nearest(alpha, height, width)
        fg = nearest(fg_prev, height, width)
        bg = nearest(bg_prev, height, width)
        small = width <= small_size and height <= small_size
        for _ in range(small_iterations if small else big_iterations):
            for y in range(height):
                for x in range(width):
                    a0 = level_alpha[y, x]
                    a1 = 1.0 - a0
                    a00, a01, a11 = a0 * a0, a0 * a1, a1 * a1
                    b0 = a0 * level_image[y, x]
                    b1 = a1 * level_image[y, x]
                    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                        x2 = min(max(x + dx, 0), width - 1)
                        y2 = min(max(y + dy, 0), height - 1)
                        weight = regularization + gradient_weight * abs(a0 - level_alpha[y2, x2])
                        a00 += weight
                        a11 += weight
                        b0 = b0 + weight * fg[y2, x2]
                        b1 = b1 + weight * bg[y2, x2]
                    det = a00 * a11 - a01 * a01
                    fg[y, x] = np.clip((a11 * b0 - a01 * b1) / det, 0, 1)
                    bg[y, x] = np.clip((a00 * b1 - a01 * b0) / det, 0, 1)
        fg_prev, bg_prev = fg, bg
    return fg, bg


def red_on_green(
    height: int, width: int, *, seed: int = 0
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """A red disc with a soft, noisy (fur-like) edge composited on green."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    radius = min(height, width) * 0.3
    distance = np.hypot(rows - height / 2, cols - width / 2)
    alpha = np.clip((radius - distance) / (0.2 * radius) + 0.5, 0, 1)
    soft = (alpha > 0) & (alpha < 1)
    alpha = np.clip(alpha + soft * rng.normal(0, 0.15, alpha.shape), 0, 1).astype(np.float32)
    image = alpha[..., None] * RED + (1 - alpha[..., None]) * GREEN
    return (image * 255 + 0.5).astype(np.uint8), alpha


def _soft(alpha: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    result: npt.NDArray[np.bool_] = (alpha > 0.02) & (alpha < 0.98)
    return result


def test_vectorised_method_matches_the_reference() -> None:
    rgb, alpha = red_on_green(36, 44)
    image = rgb / 255.0
    fg_ref, bg_ref = reference_foreground(image, alpha.astype(np.float64))
    fg, bg = estimate_foreground_ml(image.astype(np.float32), alpha)
    soft = _soft(alpha)
    assert soft.sum() > 100
    # Jacobi sweeps instead of Gauss-Seidel: close, not bit-identical
    assert np.abs(fg - fg_ref)[soft].mean() < 0.002
    assert np.abs(fg - fg_ref)[soft].max() < 0.02
    assert np.abs(bg - bg_ref)[soft].mean() < 0.002
    # both explain the observed colours
    composite = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    assert np.abs(composite - image)[soft].mean() < 0.01


def test_reference_itself_removes_the_green_cast() -> None:
    rgb, alpha = red_on_green(24, 24, seed=1)
    fg, _ = reference_foreground(rgb / 255.0, alpha.astype(np.float64))
    soft = _soft(alpha)
    assert (rgb[..., 1] / 255.0)[soft].mean() > 0.3
    assert np.abs(fg[soft] - RED).mean() < 0.03


@pytest.mark.parametrize("size", [(60, 80), (700, 900)])
def test_refined_edges_lose_the_green_cast(size: tuple[int, int]) -> None:
    rgb, alpha = red_on_green(*size)
    refined = refine_foreground(rgb, alpha, work_size=256)
    soft = (alpha > 0.05) & (alpha < 0.95)
    green_before = rgb[..., 1][soft].astype(float).mean() / 255
    green_after = refined[..., 1][soft].astype(float).mean() / 255
    assert green_before > 0.35
    assert green_after < 0.15
    # the corrected colour is the subject's red, up to 8-bit rounding and noise
    assert np.abs(refined[soft] / 255.0 - RED).mean() < 0.01
    # opaque and fully transparent pixels keep the photo's colour exactly
    unaffected = (alpha >= 254.5 / 255) | (alpha <= 0.5 / 255)
    assert unaffected.sum() > 0
    np.testing.assert_array_equal(refined[unaffected], rgb[unaffected])


def test_reduced_resolution_agrees_with_full_resolution() -> None:
    rgb, alpha = red_on_green(400, 520, seed=3)
    fast = refine_foreground(rgb, alpha, work_size=128) / 255.0
    fg_full, _ = estimate_foreground_ml(rgb.astype(np.float32) / 255, alpha)
    soft = (alpha > 0.05) & (alpha < 0.95)
    assert np.abs(fast - fg_full)[soft].mean() < 0.004


def test_small_images_are_solved_at_full_resolution() -> None:
    rgb, alpha = red_on_green(50, 40, seed=4)
    refined = refine_foreground(rgb, alpha, work_size=512)
    soft = (alpha > 0.05) & (alpha < 0.95)
    assert np.abs(refined[soft] / 255.0 - RED).mean() < 0.01


def test_hard_matte_changes_nothing() -> None:
    rgb, alpha = red_on_green(40, 40)
    hard = (alpha > 0.5).astype(np.float32)
    refined = refine_foreground(rgb, hard)
    np.testing.assert_array_equal(refined, rgb)
    assert refined is not rgb


@pytest.mark.parametrize("work_size", [128, 512])
def test_8bit_alpha_gives_what_its_float_twin_gives(work_size: int) -> None:
    """The edge stage hands its 8-bit alpha over as it is: the same colours, to the bit,
    as the float alpha it stands for (soft = 1..254), on one strip or several."""
    rgb, alpha = red_on_green(900, 1300, seed=5)
    alpha8 = (alpha * 255 + 0.5).astype(np.uint8)
    unit = alpha8.astype(np.float32) * np.float32(1.0 / 255.0)
    assert ((alpha8 > 0) & (alpha8 < 255)).sum() > 20_000  # enough soft pixels to split
    np.testing.assert_array_equal(
        refine_foreground(rgb, alpha8, work_size=work_size),
        refine_foreground(rgb, unit, work_size=work_size),
    )
