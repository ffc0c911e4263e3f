"""Score one cut-out against its case's truth: every metric, in the band and overall.

A cut-out is the RGBA PNG a tool wrote: alpha is its A channel / 255, the foreground its
straight RGB. It is placed on three new backgrounds (white, black, and a photo of a
runway and trees, ``aeroplane.jpg`` covering the frame) and compared with the truth placed
on the same ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from bench.quality import metrics
from bench.quality.filters import BoolArray, FloatArray
from bench.quality.synth import SHARED_IMAGES, Truth

__all__ = ["COLUMNS", "Column", "read_confidences", "read_cutout", "score"]

NEW_PHOTO = "aeroplane.jpg"


@dataclass(frozen=True)
class Column:
    """A score: its key, its heading in tables, and the factor it is printed with."""

    key: str
    heading: str
    factor: float = 1.0
    digits: int = 1


COLUMNS = (
    Column("band_sad", "SAD"),
    Column("band_mse", "MSE e-3", 1000.0),
    Column("band_grad", "Grad"),
    Column("band_conn", "Conn"),
    Column("sad", "SAD"),
    Column("mse", "MSE e-3", 1000.0),
    Column("grad", "Grad"),
    Column("conn", "Conn"),
    Column("rc_white", "white"),
    Column("rc_black", "black"),
    Column("rc_photo", "photo"),
)


def read_cutout(path: Path) -> tuple[FloatArray, FloatArray]:
    """(alpha in [0, 1], straight RGB in levels) of a cut-out image file."""
    with Image.open(path) as opened:
        rgba = np.asarray(opened.convert("RGBA"), np.float64)
    return rgba[..., 3] / 255.0, rgba[..., :3]


@cache
def _new_photo(width: int, height: int, images: Path = SHARED_IMAGES) -> FloatArray:
    with Image.open(images / NEW_PHOTO) as opened:
        fitted = ImageOps.fit(opened.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    return np.asarray(fitted, np.float64)


def score(alpha: FloatArray, foreground: FloatArray, truth: Truth) -> dict[str, float]:
    """All scores of a cut-out (see :data:`COLUMNS` and :mod:`bench.quality.metrics`)."""
    if alpha.shape != truth.alpha.shape:
        raise ValueError(f"cut-out is {alpha.shape[::-1]}, the case {truth.alpha.shape[::-1]}")
    band: BoolArray = metrics.edge_band(truth.alpha, int(truth.info["band_radius"]))
    gradient = metrics.gradient_error_map(alpha, truth.alpha)
    connectivity = metrics.connectivity_error_map(alpha, truth.alpha)
    height, width = alpha.shape
    backgrounds: dict[str, FloatArray | tuple[float, float, float]] = {
        "white": (255.0, 255.0, 255.0),
        "black": (0.0, 0.0, 0.0),
        "photo": _new_photo(width, height),
    }
    result = {
        "band_sad": metrics.sad(alpha, truth.alpha, band),
        "band_mse": metrics.mse(alpha, truth.alpha, band),
        "band_grad": float(gradient[band].sum()) / 1000,
        "band_conn": float(connectivity[band].sum()) / 1000,
        "sad": metrics.sad(alpha, truth.alpha),
        "mse": metrics.mse(alpha, truth.alpha),
        "grad": float(gradient.sum()) / 1000,
        "conn": float(connectivity.sum()) / 1000,
    }
    for name, background in backgrounds.items():
        result[f"rc_{name}"] = metrics.recomposite_error(
            alpha, foreground, truth.alpha, truth.foreground, background, band
        )
    return result


_REPORT_KEYS = ("input", "path", "file", "source", "image", "name")


def read_confidences(report: Path) -> dict[str, float]:
    """Case name -> confidence from a JSON-lines report (one object per image).

    The image is named by the first of ``input``, ``path``, ``file``, ``source``,
    ``image``, ``name`` that a line has (its file stem is the case name); lines without
    a number ``confidence`` are ignored.
    """
    found: dict[str, float] = {}
    for line in report.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        confidence = record.get("confidence") if isinstance(record, dict) else None
        key = next((k for k in _REPORT_KEYS if isinstance(record.get(k), str)), None)
        if key is None or not isinstance(confidence, int | float):
            continue
        found[Path(record[key]).stem] = float(confidence)
    return found
