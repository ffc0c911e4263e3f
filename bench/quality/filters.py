"""numpy image operations shared by the case generator and the metrics (no scipy).

* :func:`gaussian_blur`: separable Gaussian, edges replicated;
* :func:`gaussian_gradient`: the Composition-1k gradient filter (first derivative of a
  Gaussian, the evaluation code's ``gaussgradient``);
* :func:`dilate`: binary dilation by a (2r+1) x (2r+1) square (Chebyshev distance <= r);
* :func:`largest_component`: the largest 4-connected component of a binary mask.

Connected components are found on row runs rather than pixels: each row's runs of True
pixels are nodes, runs in consecutive rows whose columns overlap are joined, and the
labels of the run graph are settled by vectorised min-label hooking and pointer jumping
(a few rounds, each a handful of numpy passes over the runs).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "BoolArray",
    "FloatArray",
    "components",
    "dilate",
    "gaussian_blur",
    "gaussian_gradient",
    "largest_component",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


def _convolve_axis(array: FloatArray, kernel: FloatArray, axis: int) -> FloatArray:
    """``sum_k kernel[k] * array[i + k - half]`` along ``axis``, edges replicated."""
    half = kernel.size // 2
    pad = [(0, 0)] * array.ndim
    pad[axis] = (half, half)
    padded = np.pad(array, pad, mode="edge")
    length = array.shape[axis]
    result = np.zeros(array.shape, np.float64)
    for offset, weight in enumerate(kernel):
        index = [slice(None)] * array.ndim
        index[axis] = slice(offset, offset + length)
        result += weight * padded[tuple(index)]
    return result


def gaussian_kernel(sigma: float, truncate: float = 3.0) -> FloatArray:
    """A normalised 1-D Gaussian, ``ceil(truncate * sigma)`` taps each side."""
    half = max(1, math.ceil(truncate * sigma))
    taps = np.arange(-half, half + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    result: FloatArray = kernel / kernel.sum()
    return result


def gaussian_blur(array: FloatArray, sigma: float) -> FloatArray:
    """Gaussian blur of an H x W or H x W x C array over its first two axes."""
    array = np.asarray(array, np.float64)
    if sigma <= 0:
        return array.copy()
    kernel = gaussian_kernel(sigma)
    return _convolve_axis(_convolve_axis(array, kernel, 0), kernel, 1)


def gaussian_gradient(array: FloatArray, sigma: float = 1.4) -> tuple[FloatArray, FloatArray]:
    """(d/dx, d/dy) of ``array`` with the Composition-1k evaluation's filter.

    The evaluation code (Xu et al. 2017, after Rhemann et al. 2009) builds a square
    kernel ``hx[i, j] = g(i) * g'(j)`` with ``g`` the Gaussian density of ``sigma`` and
    ``g'(x) = -x g(x) / sigma^2``, over ``halfsize = ceil(sigma * sqrt(-2 ln(sqrt(2 pi)
    sigma 0.01)))`` taps each side (4 for sigma = 1.4), scaled to unit L2 norm, and
    convolves with replicated edges; ``hy`` is its transpose. The kernel is separable,
    so it is applied here as two 1-D passes, flipped as a convolution flips it.
    """
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * 1e-2)))
    taps = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(taps**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
    dgauss = -taps * gauss / sigma**2
    norm = math.sqrt(float(np.sum(np.outer(gauss, dgauss) ** 2)))
    array = np.asarray(array, np.float64)
    flipped = dgauss[::-1] / norm  # _convolve_axis correlates; the reference convolves
    along_x = _convolve_axis(_convolve_axis(array, gauss, 0), flipped, 1)
    along_y = _convolve_axis(_convolve_axis(array, flipped, 0), gauss, 1)
    return along_x, along_y


def _max_axis(mask: BoolArray, radius: int, axis: int) -> BoolArray:
    result = mask.copy()
    length = mask.shape[axis]
    for shift in range(1, min(radius, length - 1) + 1):
        ahead = [slice(None)] * mask.ndim
        behind = [slice(None)] * mask.ndim
        ahead[axis], behind[axis] = slice(shift, None), slice(None, length - shift)
        result[tuple(behind)] |= mask[tuple(ahead)]
        result[tuple(ahead)] |= mask[tuple(behind)]
    return result


def dilate(mask: BoolArray, radius: int) -> BoolArray:
    """Pixels within Chebyshev distance ``radius`` of a True pixel of ``mask``."""
    mask = np.asarray(mask, bool)
    if radius <= 0:
        return mask.copy()
    return _max_axis(_max_axis(mask, radius, 0), radius, 1)


def _runs(mask: BoolArray) -> tuple[IntArray, IntArray, IntArray]:
    """(row, start, end) of every horizontal run of True pixels, end exclusive."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)
    rows, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)
    return rows, starts, ends


def _run_edges(
    rows: IntArray, starts: IntArray, ends: IntArray, width: int
) -> tuple[IntArray, IntArray]:
    """Pairs (a, b) of runs in consecutive rows (b one row below a) sharing a column."""
    stride = width + 1
    start_keys = rows * stride + starts
    end_keys = rows * stride + ends
    below = (rows + 1) * stride
    first = np.searchsorted(end_keys, below + starts, side="right")
    last = np.searchsorted(start_keys, below + ends, side="left")
    counts = np.maximum(last - first, 0)
    upper = np.repeat(np.arange(rows.size), counts)
    offsets = np.cumsum(counts) - counts
    lower = first[upper] + np.arange(int(counts.sum())) - offsets[upper]
    return upper, lower


def _settle_labels(count: int, upper: IntArray, lower: IntArray) -> IntArray:
    """Component label (its smallest node) of each node of an undirected graph."""
    labels = np.arange(count)
    while True:
        left, right = labels[upper], labels[lower]
        if np.array_equal(left, right):
            return labels
        low = np.minimum(left, right)
        np.minimum.at(labels, left, low)
        np.minimum.at(labels, right, low)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped


def components(mask: BoolArray) -> tuple[IntArray, IntArray]:
    """4-connected components of ``mask``: (labels, sizes).

    ``labels`` is 0 off the mask and 1..n on it, numbered in row-major order of each
    component's first pixel; ``sizes[k]`` is the pixel count of component ``k`` (``sizes[0]``
    counts the pixels off the mask).
    """
    mask = np.asarray(mask, bool)
    height, width = mask.shape
    rows, starts, ends = _runs(mask)
    if rows.size == 0:
        return np.zeros((height, width), np.intp), np.array([height * width], np.intp)
    upper, lower = _run_edges(rows, starts, ends, width)
    roots = _settle_labels(rows.size, upper, lower)
    unique_roots, run_labels = np.unique(roots, return_inverse=True)  # roots ascend
    run_labels = run_labels + 1
    steps = np.zeros((height, width + 1), np.intp)
    np.add.at(steps, (rows, starts), run_labels)
    np.add.at(steps, (rows, ends), -run_labels)
    labels: IntArray = np.cumsum(steps, axis=1)[:, :width]
    sizes = np.bincount(labels.reshape(-1), minlength=unique_roots.size + 1)
    return labels, sizes


def largest_component(mask: BoolArray) -> BoolArray:
    """The largest 4-connected component of ``mask`` (all False when it has none).

    Ties go to the component whose first pixel in row-major order comes first.
    """
    labels, sizes = components(mask)
    if sizes.size == 1:
        return np.zeros(labels.shape, bool)
    result: BoolArray = labels == 1 + int(np.argmax(sizes[1:]))
    return result
