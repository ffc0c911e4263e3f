"""numpy filters of the quality benchmark against brute force."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from bench.quality.filters import components, dilate, gaussian_blur, largest_component


def _flood_labels(mask: np.ndarray) -> np.ndarray:
    """4-connected labels by breadth-first search, numbered in row-major order."""
    height, width = mask.shape
    labels = np.zeros((height, width), int)
    count = 0
    for row in range(height):
        for col in range(width):
            if not mask[row, col] or labels[row, col]:
                continue
            count += 1
            labels[row, col] = count
            queue = deque([(row, col)])
            while queue:
                y, x = queue.popleft()
                for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                    if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not labels[ny, nx]:
                        labels[ny, nx] = count
                        queue.append((ny, nx))
    return labels


@pytest.mark.parametrize("seed", range(40))
def test_components_match_a_flood_fill(seed: int) -> None:
    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 25, 2)
    mask = rng.random((height, width)) < rng.uniform(0.2, 0.8)
    labels, sizes = components(mask)
    expected = _flood_labels(mask)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(sizes, np.bincount(expected.ravel(), minlength=sizes.size))


def test_largest_component() -> None:
    mask = np.zeros((6, 8), bool)
    mask[0, 0:2] = True  # 2 px
    mask[2:5, 3:6] = True  # 9 px
    mask[5, 7] = True
    mask[1, 6] = True  # touches the square only diagonally: its own component
    expected = np.zeros_like(mask)
    expected[2:5, 3:6] = True
    np.testing.assert_array_equal(largest_component(mask), expected)
    assert not largest_component(np.zeros((3, 3), bool)).any()
    diagonal = np.eye(3, dtype=bool)  # 4-connectivity: three components of one pixel
    assert largest_component(diagonal).sum() == 1


def test_dilate_is_a_square_max_filter() -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((15, 17)) < 0.05
    for radius in (0, 1, 2, 4):
        padded = np.pad(mask, radius)
        expected = np.zeros_like(mask)
        for dy in range(2 * radius + 1):
            for dx in range(2 * radius + 1):
                expected |= padded[dy : dy + 15, dx : dx + 17]
        np.testing.assert_array_equal(dilate(mask, radius), expected)


def test_gaussian_blur_keeps_constants_and_mass() -> None:
    flat = np.full((20, 30, 3), 7.0)
    np.testing.assert_allclose(gaussian_blur(flat, 2.5), flat)
    spot = np.zeros((41, 41))
    spot[20, 20] = 1.0
    blurred = gaussian_blur(spot, 2.0)
    assert blurred.sum() == pytest.approx(1.0)
    assert blurred[20, 20] == blurred.max()
