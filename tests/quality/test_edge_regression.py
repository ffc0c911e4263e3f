"""Edge refinement against exact ground truth, on a few benchmark cases (small, seeded).

The bounds are the figures measured when the stage was built (docs/quality.md has the
full-size benchmark), with a few per cent of slack for ONNX Runtime's float differences
between CPUs. A change that makes the edges worse fails here before it reaches a user.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.quality import synth
from bench.quality.score import score
from PIL import Image

import cutout
from cutout.imaging.edges import refine_edges
from cutout.options import EDGE_LEVELS

SIZE = 480
CASES = ("case-01", "case-02", "case-03", "case-04")  # light, dark, busy, light (hair)

# measured (mean over the four cases): band SAD /1000, band MSE e-3, re-composite error
# over white and black (0-255 levels)
MEASURED = {
    "off": (3.640, 54.1, 14.01, 19.16),
    "fast": (1.665, 22.3, 6.03, 9.51),
    "balanced": (1.627, 22.7, 5.74, 9.34),
    "best": (1.657, 23.5, 5.71, 9.39),
}
SLACK = 1.05


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, float]]]:
    folder = tmp_path_factory.mktemp("edge-cases")
    synth.write_cases(folder, len(CASES), seed=1, size=SIZE)
    engine = cutout.Engine("u2netp")
    results: dict[str, list[dict[str, float]]] = {level: [] for level in EDGE_LEVELS}
    for name in CASES:
        path = folder / "images" / f"{name}.png"
        truth = synth.read_truth(folder, name)
        with Image.open(path) as opened:
            rgb = np.asarray(opened.convert("RGB"))
        matte = engine.matte(Path(path))
        for level in EDGE_LEVELS:
            edges = refine_edges(rgb, matte, level)
            results[level].append(score(edges.alpha / 255.0, edges.rgb.astype(np.float64), truth))
    return results


def _means(rows: list[dict[str, float]]) -> tuple[float, float, float, float]:
    return (
        float(np.mean([row["band_sad"] for row in rows])),
        float(np.mean([row["band_mse"] for row in rows])) * 1000,
        float(np.mean([row["rc_white"] for row in rows])),
        float(np.mean([row["rc_black"] for row in rows])),
    )


@pytest.mark.parametrize("level", EDGE_LEVELS)
def test_each_level_stays_within_its_measured_bounds(
    scored: dict[str, list[dict[str, float]]], level: str
) -> None:
    measured = _means(scored[level])
    for value, bound in zip(measured, MEASURED[level], strict=True):
        assert value <= bound * SLACK, (level, measured)


@pytest.mark.parametrize("level", [level for level in EDGE_LEVELS if level != "off"])
def test_every_case_is_better_than_the_model_matte(
    scored: dict[str, list[dict[str, float]]], level: str
) -> None:
    for refined, plain in zip(scored[level], scored["off"], strict=True):
        assert refined["band_sad"] < 0.8 * plain["band_sad"]
        assert refined["rc_black"] < plain["rc_black"]
        assert refined["rc_white"] < plain["rc_white"]
