"""The quality metrics on hand-made mattes with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench.quality import metrics


def _square(size: int = 40, low: int = 10, high: int = 30) -> np.ndarray:
    alpha = np.zeros((size, size))
    alpha[low:high, low:high] = 1.0
    return alpha


def test_sad_is_the_sum_of_absolute_differences_over_1000() -> None:
    truth = np.zeros((10, 10))
    pred = truth.copy()
    pred[0, :4] = 0.5
    pred[9, 9] = -0.25  # a signed difference counts by its size
    assert metrics.sad(pred, truth) == pytest.approx(2.25 / 1000)
    region = np.zeros((10, 10), bool)
    region[0, :2] = True
    assert metrics.sad(pred, truth, region) == pytest.approx(1.0 / 1000)


def test_mse_is_the_mean_over_the_region() -> None:
    truth = np.zeros((4, 5))
    pred = truth.copy()
    pred[0, 0] = 0.5
    assert metrics.mse(pred, truth) == pytest.approx(0.25 / 20)
    region = np.zeros((4, 5), bool)
    region[0, :2] = True
    assert metrics.mse(pred, truth, region) == pytest.approx(0.125)
    assert metrics.mse(pred, truth, np.zeros((4, 5), bool)) == 0.0


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.sad(np.zeros((3, 3)), np.zeros((3, 4)))


def test_gradient_error_is_zero_for_identical_and_positive_for_a_shifted_edge() -> None:
    truth = _square()
    assert metrics.gradient_error(truth, truth) == 0.0
    shifted = np.roll(truth, 2, axis=1)
    assert metrics.gradient_error(shifted, truth) > 0
    # a flat matte has no gradient: against a constant the error is the truth's own
    flat = np.full_like(truth, 0.3)
    assert metrics.gradient_error(flat, np.full_like(truth, 0.7)) == pytest.approx(0.0)


def test_gradient_filter_matches_the_evaluation_kernel_on_a_ramp() -> None:
    from bench.quality.filters import gaussian_gradient

    sigma = 1.4
    half = 4  # ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) 1.4 0.01)))
    taps = np.arange(-half, half + 1)
    gauss = np.exp(-(taps**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    kernel = np.outer(gauss, -taps * gauss / sigma**2)  # hx[i, j] = g(i) g'(j)
    kernel /= math.sqrt(np.sum(kernel**2))
    ramp = np.tile(np.arange(30, dtype=float), (30, 1))  # f(x, y) = x
    along_x, along_y = gaussian_gradient(ramp, sigma)
    # convolution flips the kernel: the response to f = x is sum_ij hx[i, j] * -(j - half)
    expected = float(np.sum(kernel * -taps[None, :]))
    assert along_x[10:20, 10:20] == pytest.approx(np.full((10, 10), expected))
    assert np.abs(along_y[10:20, 10:20]).max() == pytest.approx(0.0, abs=1e-12)


def test_connectivity_error_is_zero_for_identical_mattes() -> None:
    truth = _square()
    truth[5, 5] = 0.6  # an island in both
    assert metrics.connectivity_error(truth, truth) == 0.0


@pytest.mark.parametrize(("blob", "per_pixel"), [(1.0, 1.0), (0.5, 0.5), (0.1, 0.0)])
def test_connectivity_error_charges_a_disconnected_blob(blob: float, per_pixel: float) -> None:
    """An island of alpha ``a`` away from the subject: its level is 0, so ``d = a`` and
    ``phi = 1 - a`` when ``a >= 0.15`` (else 1), against the truth's ``phi = 1``."""
    truth = _square()
    pred = truth.copy()
    pred[33:36, 33:37] = blob  # 12 pixels, not touching the square
    assert metrics.connectivity_error(pred, truth) == pytest.approx(12 * per_pixel / 1000)


def test_connectivity_levels_follow_the_thresholds() -> None:
    truth = _square()
    truth[10:30, 30] = 0.55  # a soft strip attached to the square in both
    levels = metrics.connectivity_levels(truth, truth)
    assert levels[20, 20] == 1.0  # in every source
    assert levels[20, 30] == pytest.approx(0.5)  # connected up to t = 0.5, lost at 0.6
    assert levels[0, 0] == 0.0  # never connected


def test_recomposite_error_is_zero_for_a_perfect_cutout() -> None:
    rng = np.random.default_rng(1)
    alpha = rng.random((8, 8))
    foreground = rng.uniform(0, 255, (8, 8, 3))
    photo = rng.uniform(0, 255, (8, 8, 3))
    for background in ((255.0, 255.0, 255.0), (0.0, 0.0, 0.0), photo):
        assert metrics.recomposite_error(alpha, foreground, alpha, foreground, background) == 0.0


def test_recomposite_error_of_a_constant_alpha_error() -> None:
    """alpha 0.6 instead of 0.5 over F = 200: 0.1 * |F - B'| levels."""
    truth = np.full((6, 6), 0.5)
    pred = np.full((6, 6), 0.6)
    foreground = np.full((6, 6, 3), 200.0)
    white, black = (255.0, 255.0, 255.0), (0.0, 0.0, 0.0)
    assert metrics.recomposite_error(pred, foreground, truth, foreground, white) == pytest.approx(
        5.5
    )
    assert metrics.recomposite_error(pred, foreground, truth, foreground, black) == pytest.approx(
        20.0
    )


def test_recomposite_error_shows_a_halo() -> None:
    """Right alpha, but the old background (white) kept in the colour: on black the
    fringe is ``alpha * |F_hat - F|``, on white as much with the other sign."""
    alpha = np.full((4, 4), 0.25)
    foreground = np.full((4, 4, 3), 100.0)
    kept = 0.25 * foreground + 0.75 * 255.0  # the composite's colour
    black = (0.0, 0.0, 0.0)
    expected = 0.25 * (kept[0, 0, 0] - 100.0)
    assert metrics.recomposite_error(alpha, kept, alpha, foreground, black) == pytest.approx(
        expected
    )


def test_spearman_on_known_rankings() -> None:
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share their average rank: y ranks 1, 2, 3.5, 5, 3.5
    assert metrics.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert math.isnan(metrics.spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(metrics.spearman([1], [2]))


def test_unknown_region_and_band() -> None:
    alpha = np.zeros((21, 21))
    alpha[10, 10] = 0.5
    alpha[0, 0] = 0.001  # below half an 8-bit level: not partial
    assert metrics.unknown_region(alpha).sum() == 1
    band = metrics.edge_band(alpha, 3)
    assert band.sum() == 7 * 7
    assert band[7:14, 7:14].all()


def test_band_radius_scales_with_the_long_side() -> None:
    assert metrics.band_radius(1200, 800) == 12
    assert metrics.band_radius(800, 1500) == 15
    assert metrics.band_radius(100, 60) == 3


def test_outside_band_change() -> None:
    before = _square()
    band = np.zeros_like(before, bool)
    band[8:32, 8:32] = True
    after = before.copy()
    after[9, 9] = 0.5  # inside the band: allowed
    assert metrics.outside_band_change(before, after, band) == metrics.BandChange(0.0, 0.0)
    after[0, 0] = 0.2
    after[39, 39] = 0.1
    change = metrics.outside_band_change(before, after, band)
    outside = int((~band).sum())
    assert change.fraction == pytest.approx(2 / outside)
    assert change.largest == pytest.approx(0.2)
