"""The torch backend's CPU forward through the exported graph: an OnnxBackend it owns.

A tiny stand-in graph with the export's interface (``image`` 1 x 3 x S x S in; ``saliency``
and ``logits`` 1 x 1 x S x S out; here the sigmoid of the channel mean) is written where
the cache keeps the real export, so these tests need no 60-second export and can tell by
the numbers which runtime answered. The real export is tested in
tests/models/test_inspyrenet_onnx.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from tests.inspyrenet_fixtures import synthetic_checkpoint  # noqa: E402

from cutout.arrays import FloatArray  # noqa: E402
from cutout.backends import onnx as onnx_backend  # noqa: E402
from cutout.backends.onnx import OnnxBackend, session_options  # noqa: E402
from cutout.backends.torch import TorchBackend  # noqa: E402
from cutout.models.inspyrenet.export import onnx_cache_path  # noqa: E402
from cutout.models.registry import get_spec  # noqa: E402
from cutout.models.weights import embedded_path, file_digest  # noqa: E402

SPEC = get_spec("inspyrenet-fast")
SIZE = SPEC.input_size


def _stand_in_graph(path: Path) -> None:
    from onnx import TensorProto, helper

    shape = [1, 3, SIZE, SIZE]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["logits"], axes=[1], keepdims=1),
            helper.make_node("Sigmoid", ["logits"], ["saliency"]),
        ],
        "stand-in",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [
            helper.make_tensor_value_info("saliency", TensorProto.FLOAT, [1, 1, SIZE, SIZE]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, SIZE, SIZE]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _stand_in(batch: FloatArray) -> FloatArray:
    result: FloatArray = (1 / (1 + np.exp(-batch.mean(axis=1)))).astype(np.float32)
    return result


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    _stand_in_graph(onnx_cache_path(SPEC, file_digest(synthetic_checkpoint(SIZE)), home))
    return home


def _inputs(count: int, size: int = SIZE) -> FloatArray:
    rng = np.random.default_rng(count)
    return rng.standard_normal((count, 3, size, size)).astype(np.float32)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread counts of the ONNX Runtime sessions opened during the test."""
    seen: list[int] = []
    original = onnx_backend.session_options

    def spy(threads: int) -> Any:
        seen.append(threads)
        return original(threads)

    monkeypatch.setattr(onnx_backend, "session_options", spy)
    return seen


def test_one_session_setup() -> None:
    options = session_options(3)
    assert options.intra_op_num_threads == 3
    assert options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    ort = pytest.importorskip("onnxruntime")
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.log_severity_level == 3


def test_both_backends_open_their_sessions_with_it(home: Path, opened: list[int]) -> None:
    u2netp = get_spec("u2netp")
    plain = OnnxBackend(u2netp, embedded_path(u2netp), device="cpu", threads=2)
    plain.load()
    torch_backend = TorchBackend(
        SPEC, synthetic_checkpoint(SIZE), device="cpu", threads=3, verify=False, home=home
    )
    torch_backend.load()
    try:
        assert opened == [2, 3]
    finally:
        plain.close()
        torch_backend.close()


def test_the_cpu_forward_is_handed_to_the_graph(home: Path) -> None:
    backend = TorchBackend(
        SPEC, synthetic_checkpoint(SIZE), device="cpu", threads=2, verify=False, home=home
    )
    backend.load()
    try:
        assert isinstance(backend.graph, OnnxBackend)
        assert backend.network is None  # static resize: no torch copy at all
        assert backend.device.providers == ("CPUExecutionProvider",)
        assert "exported graph" in backend.device.name
        assert backend.device.threads == 2
        batch = _inputs(3)
        np.testing.assert_allclose(backend.predict(batch), _stand_in(batch), atol=1e-6)
    finally:
        backend.close()
    assert backend.graph is None


def test_dynamic_sizes_run_torch_and_keep_the_graph(home: Path) -> None:
    backend = TorchBackend(
        SPEC.with_resize("dynamic"),
        synthetic_checkpoint(SIZE),
        device="cpu",
        threads=2,
        verify=False,
        home=home,
    )
    backend.load()
    try:
        graph = backend.graph
        assert graph is not None and backend.network is not None
        fits = _inputs(1)
        np.testing.assert_allclose(backend.predict(fits), _stand_in(fits), atol=1e-6)
        other = _inputs(1, 256)
        saliency = backend.predict(other)
        assert saliency.shape == (1, 256, 256)
        assert np.abs(saliency - _stand_in(other)).max() > 0.01  # torch's network answered
        assert backend.graph is graph  # nothing was cleared to get there
        np.testing.assert_allclose(backend.predict(fits), _stand_in(fits), atol=1e-6)
    finally:
        backend.close()


def test_cpu_runtime_torch_never_opens_the_graph(home: Path, opened: list[int]) -> None:
    backend = TorchBackend(
        SPEC,
        synthetic_checkpoint(SIZE),
        device="cpu",
        verify=False,
        home=home,
        cpu_runtime="torch",
    )
    backend.load()
    try:
        assert backend.graph is None and backend.network is not None
        assert backend.device.providers == ("torch",)
        assert opened == []
    finally:
        backend.close()


def test_without_a_cache_home_there_is_no_graph(opened: list[int]) -> None:
    backend = TorchBackend(SPEC, synthetic_checkpoint(SIZE), device="cpu", verify=False)
    backend.load()
    try:
        assert backend.graph is None and backend.device.providers == ("torch",)
        assert opened == []
    finally:
        backend.close()
    with pytest.raises(ValueError, match="pass home"):
        TorchBackend(SPEC, synthetic_checkpoint(SIZE), cpu_runtime="onnxruntime")
