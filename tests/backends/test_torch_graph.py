"""The torch backend's CPU forward through the exported graph: an OnnxBackend it owns,
exported on first use (once across processes) when it is missing.

A tiny stand-in graph with the export's interface (tests/graph_stand_in.py) is written where
the cache keeps the real export, or by a stand-in exporter, so these tests need no
60-second export and can tell by the numbers which runtime answered. The real export is
tested in tests/models/test_inspyrenet_onnx.py and, on first use from the command line, in
tests/models/test_inspyrenet_image.py.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from tests.conftest import REPO
from tests.graph_stand_in import SPEC, stand_in, stand_in_exporter, stand_in_graph
from tests.inspyrenet_fixtures import synthetic_checkpoint

from cutout.arrays import FloatArray
from cutout.backends import onnx as onnx_backend
from cutout.backends.onnx import OnnxBackend, session_options
from cutout.backends.torch import TorchBackend, gpu_visible
from cutout.errors import ModelError
from cutout.models.inspyrenet import export
from cutout.models.inspyrenet.export import onnx_cache_path
from cutout.models.registry import get_spec
from cutout.models.weights import embedded_path, file_digest

SIZE = SPEC.input_size


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    stand_in_graph(onnx_cache_path(SPEC, file_digest(synthetic_checkpoint(SIZE)), home))
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
        np.testing.assert_allclose(backend.predict(batch), stand_in(batch), atol=1e-6)
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
        np.testing.assert_allclose(backend.predict(fits), stand_in(fits), atol=1e-6)
        other = _inputs(1, 256)
        saliency = backend.predict(other)
        assert saliency.shape == (1, 256, 256)
        assert np.abs(saliency - stand_in(other)).max() > 0.01  # torch's network answered
        assert backend.graph is graph  # nothing was cleared to get there
        np.testing.assert_allclose(backend.predict(fits), stand_in(fits), atol=1e-6)
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


# -- export on first use ---------------------------------------------------------------------
@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """Any file: with the graph, a static-size CPU model only needs the weights' digest."""
    path = tmp_path / "ckpt_fast.pth"
    path.write_bytes(b"weights of the stand-in")
    return path


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The stand-in exporter in place; returns its log (one line per export)."""
    log = tmp_path / "exports.log"
    log.touch()
    monkeypatch.setattr(export, "export_onnx", stand_in_exporter(0.0, log))
    return log


def test_a_missing_graph_is_exported_on_first_cpu_use(
    weights: Path, exports: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    with caplog.at_level(logging.INFO, logger="cutout"):
        backend = TorchBackend(SPEC, weights, device="cpu", threads=1, verify=False, home=home)
        backend.load()
    try:
        assert backend.graph is not None and backend.network is None
        assert backend.device.providers == ("CPUExecutionProvider",)
        assert backend.device.fallbacks == []
        batch = _inputs(2)
        np.testing.assert_allclose(backend.predict(batch), stand_in(batch), atol=1e-6)
    finally:
        backend.close()
    assert len(exports.read_text().splitlines()) == 1
    assert [record.getMessage() for record in caplog.records] == [
        "exporting inspyrenet-fast for the CPU (once, ~1 min)..."
    ]
    # the next load finds it, and nothing is exported again or said
    caplog.clear()
    again = TorchBackend(SPEC, weights, device="cpu", threads=1, verify=False, home=home)
    with caplog.at_level(logging.INFO, logger="cutout"):
        again.load()
    again.close()
    assert len(exports.read_text().splitlines()) == 1
    assert caplog.records == []


def test_a_dynamic_size_model_exports_only_when_told(
    weights: Path, exports: Path, tmp_path: Path
) -> None:
    """Its inputs are rarely the graph's size; cpu_runtime="onnxruntime" exports anyway."""
    checkpoint = synthetic_checkpoint(SIZE)  # the torch network runs other sizes
    dynamic = SPEC.with_resize("dynamic")
    plain = TorchBackend(dynamic, checkpoint, device="cpu", verify=False, home=tmp_path / "a")
    plain.load()
    try:
        assert plain.graph is None and plain.network is not None
    finally:
        plain.close()
    told = TorchBackend(
        dynamic,
        checkpoint,
        device="cpu",
        verify=False,
        home=tmp_path / "b",
        cpu_runtime="onnxruntime",
    )
    told.load()
    try:
        assert told.graph is not None and told.network is not None
    finally:
        told.close()
    assert len(exports.read_text().splitlines()) == 1


def test_a_failed_export_falls_back_to_torch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def full_disk(spec: object, weights: Path, output: Path, *, optimize: bool = False) -> Path:
        raise ModelError("cannot export inspyrenet-fast to ONNX: [Errno 28] No space left")

    monkeypatch.setattr(export, "export_onnx", full_disk)
    backend = TorchBackend(
        SPEC, synthetic_checkpoint(SIZE), device="cpu", verify=False, home=tmp_path
    )
    with caplog.at_level(logging.WARNING, logger="cutout.backends.torch"):
        backend.load()
    try:
        assert backend.graph is None and backend.network is not None
        assert backend.device.providers == ("torch",)
        assert backend.device.fallbacks == [
            "exporting the CPU graph failed (ModelError: cannot export inspyrenet-fast to "
            "ONNX: [Errno 28] No space left) -> torch"
        ]
        assert caplog.text.count("exporting the CPU graph failed") == 1
        assert backend.predict(_inputs(1)).shape == (1, SIZE, SIZE)
    finally:
        backend.close()


def test_a_cache_it_cannot_write_falls_back_to_torch(exports: Path, tmp_path: Path) -> None:
    """A read-only cache (an image's, for its non-root user) without the graph: torch."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "onnx").write_text("a file where the folder would be")
    backend = TorchBackend(SPEC, synthetic_checkpoint(SIZE), device="cpu", verify=False, home=home)
    backend.load()
    try:
        assert backend.graph is None and backend.device.providers == ("torch",)
        assert len(backend.device.fallbacks) == 1
        assert backend.device.fallbacks[0].startswith(
            "exporting the CPU graph failed (ModelError: cannot export inspyrenet-fast into"
        )
    finally:
        backend.close()
    assert exports.read_text() == ""


def _start(home: Path, weights: Path, start_at: float, seconds: float, log: Path) -> Any:
    command = [sys.executable, "-m", "tests.graph_stand_in", str(home), str(weights)]
    command += [str(start_at), str(seconds), str(log)]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_two_processes_starting_together_export_once(weights: Path, tmp_path: Path) -> None:
    """Both need the graph at the same moment: one exports, the other waits and uses it."""
    home, log = tmp_path / "home", tmp_path / "exports.log"
    start_at = time.time() + 4.0  # after both interpreters have imported everything
    processes = [_start(home, weights, start_at, 2.0, log) for _ in range(2)]
    results = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert out.strip() == "graph"
    assert len(log.read_text().splitlines()) == 1, "exported twice"
    said = [line for _, err in results for line in err.splitlines()]
    assert said.count("exporting inspyrenet-fast for the CPU (once, ~1 min)...") == 1
    assert said.count("waiting for another process to export inspyrenet-fast for the CPU...") == 1
    assert [path.name for path in (home / "onnx").iterdir() if ".partial" in path.name] == []


def test_a_killed_exporter_does_not_block_the_next_process(weights: Path, tmp_path: Path) -> None:
    """The lock dies with its holder; its partial file is cleared by the next export."""
    home, log = tmp_path / "home", tmp_path / "exports.log"
    stuck = _start(home, weights, time.time(), 600.0, log)
    deadline = time.monotonic() + 60
    while not log.read_text() if log.exists() else True:
        assert time.monotonic() < deadline and stuck.poll() is None, stuck.communicate()
        time.sleep(0.1)
    graph = onnx_cache_path(SPEC, file_digest(weights), home)
    graph.with_name(f"{graph.name}.{stuck.pid}.partial").write_bytes(b"half a graph")
    os.kill(stuck.pid, signal.SIGKILL)
    stuck.communicate()
    started = time.monotonic()
    nextone = _start(home, weights, time.time(), 0.0, log)
    out, err = nextone.communicate(timeout=120)
    assert nextone.returncode == 0, err
    assert out.strip() == "graph"
    assert "waiting for another process" not in err
    assert time.monotonic() - started < 60
    assert len(log.read_text().splitlines()) == 2
    assert sorted(path.name for path in graph.parent.iterdir()) == [
        graph.name,
        graph.name + ".lock",
    ]


def test_gpu_visible_looks_for_device_nodes(tmp_path: Path) -> None:
    if sys.platform != "linux":
        assert gpu_visible(tmp_path)
        return
    assert not gpu_visible(tmp_path)
    for node in ("nvidiactl", "kfd", "dxg"):
        (tmp_path / node).touch()
        assert gpu_visible(tmp_path)
        (tmp_path / node).unlink()


def test_the_cpu_default_never_imports_torch(weights: Path, tmp_path: Path) -> None:
    """With the graph in the cache (and no GPU node), device auto loads and runs the
    model with no torch import (1.5 s of CPU at every start)."""
    home = tmp_path / "home"
    stand_in_graph(onnx_cache_path(SPEC, file_digest(weights), home))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from cutout.engine import Engine\n"
        "engine = Engine('inspyrenet-fast', weights=Path(sys.argv[1]), home=Path(sys.argv[2]))\n"
        "engine.warmup()\n"
        "engine.remove(Path(sys.argv[3]))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print(engine.device.name)\n"
    )
    photo = REPO / "examples" / "animal-1.jpg"
    done = subprocess.run(
        [sys.executable, "-c", script, str(weights), str(home), str(photo)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    if gpu_visible():
        pytest.skip("a GPU device node is here: auto asks torch")
    assert done.returncode == 0, done.stderr
    assert "exported graph" in done.stdout
