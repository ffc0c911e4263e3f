"""Image-level parity: a photo through the whole pipeline against the reference's matte.

The reference (transparent-background 1.3.4) resized ../shared/images/animal-1.jpg to the
model's square, ran the synthetic checkpoint and upsampled with align_corners=True; its
8-bit mattes are matte_fast.png (384) and matte_base.png (1024).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from cutout.engine import Engine
from tests.conftest import REPO
from tests.inspyrenet_fixtures import FIXTURES, MAX_MATTE_MAD, synthetic_checkpoint

CUTOUT = Path(sys.executable).with_name("cutout")
CASES = [("inspyrenet-fast", 384, "matte_fast.png"), ("inspyrenet-base", 1024, "matte_base.png")]


def _reference(name: str) -> np.ndarray:
    return np.asarray(Image.open(FIXTURES / name), dtype=np.float64) / 255.0


def _engine_matte(model: str, size: int, photo: Path) -> np.ndarray:
    weights = synthetic_checkpoint(size)
    with Engine(model, weights=weights, device="cpu", cpu_runtime="torch") as engine:
        matte = engine.matte(photo)
        assert engine.device.kind == "cpu"
        assert engine.backend.weights_sha256 is not None
    return (matte * 255).astype(np.uint8).astype(np.float64) / 255.0  # the reference truncates


@pytest.mark.parametrize(
    ("model", "size", "reference"),
    [CASES[0], pytest.param(*CASES[1], marks=pytest.mark.slow)],
    ids=["fast", "base"],
)
def test_engine_matte_matches_the_reference(
    model: str,
    size: int,
    reference: str,
    shared_images: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUTOUT_HOME", str(tmp_path))
    matte = _engine_matte(model, size, shared_images / "animal-1.jpg")
    expected = _reference(reference)
    assert matte.shape == expected.shape == (667, 1000)
    assert np.abs(matte - expected).mean() <= MAX_MATTE_MAD


@pytest.mark.parametrize(
    ("model", "size", "reference"),
    [CASES[0], pytest.param(*CASES[1], marks=pytest.mark.slow)],
    ids=["fast", "base"],
)
def test_cli_mask_matches_the_reference(
    model: str, size: int, reference: str, shared_images: Path, tmp_path: Path
) -> None:
    """fast: the default from an empty cache (the graph is exported on first use, with
    one progress line, and runs the forward); base: torch (CUTOUT_CPU_RUNTIME), sparing the
    suite its 3-minute export."""
    out = tmp_path / "mask.png"
    command = [
        str(CUTOUT),
        "remove",
        str(shared_images / "animal-1.jpg"),
        "--mask",
        "--edges",
        "off",  # the model's own matte, as the reference has it
        "--model",
        model,
        "--weights",
        str(synthetic_checkpoint(size)),
        "--device",
        "cpu",
        "-o",
        str(out),
    ]
    env = dict(os.environ, CUTOUT_HOME=str(tmp_path / "home"))
    if model != "inspyrenet-fast":
        env["CUTOUT_CPU_RUNTIME"] = "torch"
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    if model == "inspyrenet-fast":
        assert done.stderr.splitlines() == [
            "cutout: exporting inspyrenet-fast for the CPU (once, ~1 min)..."
        ]
        assert len(list((tmp_path / "home" / "onnx").glob("*.onnx"))) == 1
    else:
        assert done.stderr == ""
    with Image.open(out) as image:
        assert image.mode == "L"
        mask = np.asarray(image, dtype=np.float64) / 255.0
    assert np.abs(mask - _reference(reference)).mean() <= MAX_MATTE_MAD
