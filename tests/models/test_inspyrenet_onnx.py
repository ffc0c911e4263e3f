"""ONNX export: the graph ONNX Runtime runs is the same function, and the backend uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from cutout.backends.torch import TorchBackend  # noqa: E402
from cutout.errors import ModelError  # noqa: E402
from cutout.models.inspyrenet.export import onnx_cache_path  # noqa: E402
from cutout.models.registry import get_spec  # noqa: E402
from cutout.models.weights import file_digest  # noqa: E402
from tests.conftest import REPO  # noqa: E402
from tests.inspyrenet_fixtures import (  # noqa: E402
    MAX_RELATIVE_L2,
    MIN_CORRELATION,
    correlation,
    reference_input,
    reference_logits,
    relative_l2,
    synthetic_checkpoint,
)

SPEC = get_spec("inspyrenet-fast")
CUTOUT = Path(sys.executable).with_name("cutout")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache home holding the graph exported by `cutout models export-onnx` (no -o)."""
    home = tmp_path_factory.mktemp("home")
    weights = synthetic_checkpoint(384)
    command = [str(CUTOUT), "models", "export-onnx", SPEC.name, "--weights", str(weights)]
    env = dict(os.environ, CUTOUT_HOME=str(home))
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "exported" in done.stdout
    assert onnx_cache_path(SPEC, file_digest(weights), home).is_file()
    return home


@pytest.fixture(scope="module")
def backend(home: Path) -> Iterator[TorchBackend]:
    loaded = TorchBackend(SPEC, synthetic_checkpoint(384), device="cpu", verify=False, home=home)
    loaded.load()
    yield loaded
    loaded.close()


@pytest.mark.slow
def test_exported_graph_matches_the_reference(home: Path) -> None:
    path = onnx_cache_path(SPEC, file_digest(synthetic_checkpoint(384)), home)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    saliency, logits = session.run(None, {"image": reference_input(384)})
    expected = reference_logits(384)
    assert logits.shape == saliency.shape == expected.shape
    assert relative_l2(logits, expected) < MAX_RELATIVE_L2
    assert correlation(logits, expected) >= MIN_CORRELATION
    np.testing.assert_allclose(saliency, 1 / (1 + np.exp(-logits)), atol=1e-5)


@pytest.mark.slow
def test_backend_runs_the_cpu_forward_through_onnx_runtime(backend: TorchBackend) -> None:
    assert backend.device.providers == ("CPUExecutionProvider",)
    assert "onnxruntime" in backend.device.name
    assert backend.network is None  # static resize: the torch copy is freed
    saliency = backend.predict(np.concatenate([reference_input(384)] * 2))
    expected = 1 / (1 + np.exp(-reference_logits(384)[:, 0]))
    assert saliency.shape == (2, 384, 384)
    assert relative_l2(saliency[1:], expected) < MAX_RELATIVE_L2
    np.testing.assert_allclose(saliency[0], saliency[1], atol=1e-6)


@pytest.mark.slow
def test_backend_refuses_other_sizes_without_a_torch_network(backend: TorchBackend) -> None:
    with pytest.raises(ModelError, match="takes 384x384 inputs"):
        backend.predict(np.zeros((1, 3, 256, 256), np.float32))


def test_a_corrupt_cached_graph_falls_back_to_torch(tmp_path: Path) -> None:
    weights = synthetic_checkpoint(384)
    path = onnx_cache_path(SPEC, file_digest(weights), tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a graph")
    fallback = TorchBackend(SPEC, weights, device="cpu", verify=False, home=tmp_path)
    fallback.load()
    try:
        assert fallback.device.providers == ("torch",)
        assert fallback.network is not None
        assert len(fallback.device.fallbacks) == 1
        assert "unusable" in fallback.device.fallbacks[0]
    finally:
        fallback.close()
