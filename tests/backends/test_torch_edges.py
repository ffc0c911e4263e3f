"""The torch edge path (cutout.backends.torch_edges) against the numpy/OpenCV one.

The CPU build of torch stands in for a GPU: same code, other device. Parity bounds are
the figures measured when the path was built (docs/quality.md, "Edge refinement on a
GPU") with a margin; the guarantees both paths share are in tests/test_edge_properties.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip("torch")

from bench.quality import metrics, synth
from tests.imaging.test_edges import _scene

from cutout.arrays import ByteArray, FloatArray
from cutout.backends.torch_edges import refine_edges_torch
from cutout.imaging.edges import Edges, refine_edges
from cutout.options import EDGE_LEVELS, EdgeLevel

REFINING: tuple[EdgeLevel, ...] = tuple(level for level in EDGE_LEVELS if level != "off")

# worst case measured on these cases, times about 2-5: mean |delta alpha| over the truth's
# edge band (0-1 units), |delta confidence|, relative difference of the band's SAD
MEAN_ALPHA_BOUND = 0.004
CONFIDENCE_BOUND = 0.01
SAD_RATIO_BOUND = 0.03


@dataclass(frozen=True)
class Case:
    name: str
    rgb: ByteArray
    truth: FloatArray
    matte: FloatArray
    band: np.ndarray


def _model_like(truth: FloatArray, seed: int) -> FloatArray:
    """A blurred, slightly shrunken stand-in for a salient-object model's matte."""
    height, width = truth.shape
    small = max(1, max(height, width) // 16)
    rows = np.linspace(0, height - 1, max(2, height // small)).round().astype(int)
    cols = np.linspace(0, width - 1, max(2, width // small)).round().astype(int)
    coarse = truth[rows][:, cols]
    # bilinear back up: the model's haze over fine strands
    row_at = np.interp(np.arange(height), rows, np.arange(rows.size))
    col_at = np.interp(np.arange(width), cols, np.arange(cols.size))
    r0 = np.floor(row_at).astype(int).clip(0, rows.size - 2)
    c0 = np.floor(col_at).astype(int).clip(0, cols.size - 2)
    fr, fc = (row_at - r0)[:, None], (col_at - c0)[None, :]
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c0 + 1] * fc
    bottom = coarse[r0 + 1][:, c0] * (1 - fc) + coarse[r0 + 1][:, c0 + 1] * fc
    up = top * (1 - fr) + bottom * fr
    rng = np.random.default_rng(seed)
    noisy = up + rng.normal(0, 0.01, up.shape)
    return np.clip((noisy - 0.5) * 1.6 + 0.45, 0, 1).astype(np.float32)


def _cases() -> list[Case]:
    cases = []
    for size in (240, 600):  # 600: fast refines a working copy, the others the photo
        rgb, truth, matte = _scene(size=size)
        band = metrics.edge_band(truth, max(4, size // 40))
        cases.append(Case(f"disc-{size}", rgb, truth, matte, band))
    for index in (0, 2):  # a light background with hair, a busy one
        spec = synth.case_specs(index + 1)[index]
        made = synth.make_case(spec, size=320)
        truth = made.alpha.astype(np.float32)
        band = metrics.edge_band(truth, int(made.info["band_radius"]))
        cases.append(Case(spec.name, made.image, truth, _model_like(truth, index), band))
    return cases


@pytest.fixture(scope="module")
def refined() -> dict[tuple[str, str], tuple[Case, Edges, Edges]]:
    results = {}
    for case in _cases():
        for level in REFINING:
            numpy_edges = refine_edges(case.rgb, case.matte, level)
            torch_edges = refine_edges_torch(case.rgb, case.matte, level, device="cpu")
            results[case.name, level] = (case, numpy_edges, torch_edges)
    return results


def _figures(case: Case, ours: Edges, theirs: Edges) -> tuple[float, float, float]:
    delta = np.abs(ours.alpha.astype(np.float32) - theirs.alpha.astype(np.float32)) / 255
    sad_numpy = metrics.sad(ours.alpha / 255.0, case.truth, case.band)
    sad_torch = metrics.sad(theirs.alpha / 255.0, case.truth, case.band)
    return (
        float(delta[case.band].mean()),
        abs(ours.confidence - theirs.confidence),
        abs(sad_torch - sad_numpy) / max(sad_numpy, 1e-9),
    )


def test_the_torch_path_matches_the_numpy_path(
    refined: dict[tuple[str, str], tuple[Case, Edges, Edges]],
) -> None:
    for (name, level), (case, ours, theirs) in refined.items():
        mean_alpha, confidence, sad = _figures(case, ours, theirs)
        assert theirs.alpha.dtype == np.uint8 and theirs.alpha.shape == ours.alpha.shape
        assert mean_alpha <= MEAN_ALPHA_BOUND, (name, level, mean_alpha)
        assert confidence <= CONFIDENCE_BOUND, (name, level, confidence)
        assert sad <= SAD_RATIO_BOUND, (name, level, sad)


def test_the_torch_path_refines_as_much(
    refined: dict[tuple[str, str], tuple[Case, Edges, Edges]],
) -> None:
    for (name, level), (case, _, theirs) in refined.items():
        before = metrics.sad(case.matte, case.truth, case.band)
        after = metrics.sad(theirs.alpha / 255.0, case.truth, case.band)
        assert after < 0.8 * before, (name, level)
