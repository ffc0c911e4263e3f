"""The layers compose() builds from: blur filters, cover-fit, blurred background, shadow."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from cutout.arrays import FloatArray
from cutout.imaging.background import blurred_background, cover_fit
from cutout.imaging.filters import gaussian_blur, soft_blur
from cutout.imaging.geometry import Layout
from cutout.imaging.shadow import SHADOW_OPACITY, drop_shadow


def reference_blur(array: FloatArray, sigma: float) -> npt.NDArray[np.float64]:
    """A plain 2-D Gaussian: np.convolve along each axis of a mirrored copy, in float64."""
    half = math.ceil(3 * sigma)
    taps = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    result = array.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * result.ndim
        pad[axis] = (half, half)
        padded = np.pad(result, pad, mode="symmetric")
        result = np.apply_along_axis(lambda line: np.convolve(line, kernel, "valid"), axis, padded)
    return result


@pytest.mark.parametrize("sigma", [0.8, 2.0, 5.5])
def test_gaussian_blur_matches_a_plain_convolution(sigma: float) -> None:
    rng = np.random.default_rng(1)
    array = rng.random((40, 50, 3), dtype=np.float32)
    ours = gaussian_blur(array, sigma)
    assert ours.shape == array.shape
    np.testing.assert_allclose(ours, reference_blur(array, sigma), atol=1e-5)


def test_soft_blur_approximates_a_wide_gaussian() -> None:
    array = np.zeros((300, 400), np.float32)
    array[100:200, 150:250] = 1.0
    ours = soft_blur(array, 20.0)
    exact = reference_blur(array, 20.0)
    assert ours.shape == array.shape
    assert np.abs(ours - exact).max() < 0.03
    assert abs(ours.sum() - array.sum()) / array.sum() < 0.01


def test_cover_fit_wide_picture_into_square() -> None:
    picture = np.zeros((100, 300, 3), np.uint8)
    picture[:, :100] = (255, 0, 0)
    picture[:, 100:200] = (0, 255, 0)
    picture[:, 200:] = (0, 0, 255)
    fitted = cover_fit(picture, 50, 50)
    assert fitted.shape == (50, 50, 3)
    # scaled to 50 px tall (150 wide), the middle 50 columns are the green third
    assert (fitted[:, 3:-3, 1] > 250).all()
    assert (fitted[:, 3:-3, [0, 2]] < 5).all()


def test_blurred_background_covers_a_bigger_canvas() -> None:
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[..., 2] = 200
    alpha = np.zeros((60, 80), np.float32)
    alpha[20:40, 30:50] = 1.0
    rgb[20:40, 30:50] = (255, 0, 0)
    # the photo shrunk into the middle of a larger, wider canvas
    layout = Layout(width=300, height=100, scale=1.0, left=110.0, top=20.0, subject=(0, 0, 1, 1))
    out = blurred_background(rgb, alpha, 50.0, layout)
    assert out.shape == (100, 300, 3)
    # mirrored past the photo: blue everywhere, the red subject kept out of the blur
    assert out[..., 2].min() > 150
    assert out[..., 0].max() < 40


def test_drop_shadow_falls_below_the_subject() -> None:
    alpha = np.zeros((200, 200), np.uint8)
    alpha[50:150, 50:150] = 255
    shadow = drop_shadow(alpha, 100)
    assert shadow.dtype == np.float32
    assert shadow.max() <= SHADOW_OPACITY + 1e-6
    # moved down: more shadow just below the subject than just above it
    assert shadow[152:156, 60:140].mean() > 2 * shadow[44:48, 60:140].mean()
    assert shadow[0:10].max() < 1e-3
    assert 0.2 < shadow[152, 100] < SHADOW_OPACITY
