"""cutout's u2netp matte against a plain Pillow/numpy implementation of the reference
recipe (U^2-Net's own code, as rembg runs it), on every photo in ../shared/images.

The recipe: resize to 320 x 320 with Lanczos, divide by the image maximum, ImageNet
mean/std, run the ONNX model, min-max the first output, back to uint8, resize to the
original size with Lanczos. cutout uses faster resizes; the bound they must keep is a
mean absolute difference of 2/255.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image, ImageOps
from tests.conftest import REPO, SHARED_IMAGES

from cutout.engine import Engine

MODEL = REPO / "src" / "cutout" / "models" / "data" / "u2netp.onnx"
PHOTOS = sorted(path for path in SHARED_IMAGES.glob("*") if path.is_file())
BOUND = 2.0 / 255.0


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])


def reference_matte(session: ort.InferenceSession, path: Path) -> np.ndarray:
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    small = np.asarray(image.resize((320, 320), Image.Resampling.LANCZOS), dtype=np.float64)
    small = small / np.max(small)
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    tensor = ((small - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
    name = session.get_inputs()[0].name
    prediction = session.run(None, {name: tensor})[0][0, 0]
    low, high = prediction.min(), prediction.max()
    normalised = (prediction - low) / (high - low)
    mask = Image.fromarray((normalised * 255).astype(np.uint8), mode="L")
    return np.asarray(mask.resize(image.size, Image.Resampling.LANCZOS)) / 255.0


def test_the_shared_photos_are_there() -> None:
    assert len(PHOTOS) >= 5
    assert any(path.stat().st_size > 500_000 for path in PHOTOS)


@pytest.mark.parametrize("path", PHOTOS, ids=[path.name for path in PHOTOS])
def test_matte_matches_the_reference_recipe(
    path: Path, session: ort.InferenceSession, u2netp_engine: Engine
) -> None:
    # the reference decodes with plain Pillow and ignores colour profiles, while cutout
    # converts them to sRGB (aeroplane.jpg is Adobe RGB): the bound covers both
    expected = reference_matte(session, path)
    matte = u2netp_engine.matte(path)
    assert matte.shape == expected.shape
    difference = float(np.abs(matte - expected).mean())
    print(f"{path.name}: mean |difference| {difference * 255:.3f}/255")
    assert difference <= BOUND, f"{path.name}: mean |difference| {difference * 255:.2f}/255"
