"""Synthetic InSPyReNet checkpoints and reference outputs for the parity tests.

The checkpoints (368 MB each) are built at test time by
``../shared/fixtures/inspyrenet/make_checkpoint.py`` and cached on disk, outside the
repository, in ``$CUTOUT_TEST_CACHE`` (default: the user's cache dir,
``cutout-tests/inspyrenet``), so a CI job builds each once. Writes are atomic, so
concurrent or interrupted runs never leave a half-written file behind.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import platformdirs

from cutout.arrays import FloatArray
from tests.conftest import INSPYRENET_FIXTURES

__all__ = [
    "FIXTURES",
    "cache_root",
    "correlation",
    "reference_input",
    "reference_logits",
    "relative_l2",
    "synthetic_checkpoint",
    "synthetic_network",
]

FIXTURES = INSPYRENET_FIXTURES
# the parity bounds of ../shared/facts/inspyrenet.md
MAX_RELATIVE_L2 = 0.02
MIN_CORRELATION = 0.999
MAX_MATTE_MAD = 2 / 255


def cache_root() -> Path:
    value = os.environ.get("CUTOUT_TEST_CACHE")
    root = Path(value) if value else Path(platformdirs.user_cache_dir("cutout-tests"))
    path = root / "inspyrenet"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def _maker() -> ModuleType:
    script = FIXTURES / "make_checkpoint.py"
    spec = importlib.util.spec_from_file_location("inspyrenet_make_checkpoint", script)
    assert spec is not None and spec.loader is not None, script
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def synthetic_checkpoint(size: int) -> Path:
    """The synthetic checkpoint calibrated at ``size`` (384 or 1024), built once."""
    import torch

    path = cache_root() / f"synthetic_{size}.pth"
    if not path.is_file():
        partial = path.with_suffix(f".{os.getpid()}.partial")
        torch.save(_maker().build(size), partial)
        partial.replace(path)
    return path


@functools.cache
def synthetic_network(size: int) -> object:
    """Our network with the synthetic checkpoint loaded (fused, eval), once per session."""
    from cutout.models.inspyrenet.checkpoint import load_network

    return load_network(synthetic_checkpoint(size), size)


def reference_input(size: int) -> FloatArray:
    name = "input_384.npy" if size == 384 else "input_1024.f16.npy"
    return np.load(FIXTURES / name).astype(np.float32)


def reference_logits(size: int) -> FloatArray:
    return np.load(FIXTURES / f"logits_{size}.npy").astype(np.float32)


def relative_l2(actual: npt.NDArray[np.floating], expected: npt.NDArray[np.floating]) -> float:
    diff = np.asarray(actual, np.float64) - np.asarray(expected, np.float64)
    return float(np.linalg.norm(diff) / np.linalg.norm(np.asarray(expected, np.float64)))


def correlation(actual: npt.NDArray[np.floating], expected: npt.NDArray[np.floating]) -> float:
    matrix = np.corrcoef(np.ravel(actual).astype(np.float64), np.ravel(expected).astype(np.float64))
    return float(matrix[0, 1])
