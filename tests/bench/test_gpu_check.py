"""bench/gpu_check.sh --dry-run: the GPU check proven on the CPU (slow: a real serve)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.bench.conftest import BENCH

pytestmark = [pytest.mark.slow, pytest.mark.torch]
pytest.importorskip("torch")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("gpu-check") / "report.json"
    # no wheels: the dry run uses this interpreter (the project's venv)
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "GPU_CHECK_WHEELS": str(out.parent / "no-wheels"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", str(BENCH / "gpu_check.sh"), "--dry-run", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dry run in the current environment" in done.stderr
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert "| throughput | batch | images/s |" in done.stdout
    loaded: dict[str, Any] = json.loads(out.read_text())
    assert loaded == printed
    return loaded


def test_dry_run_reports_the_machine_and_runs_on_the_cpu(report: dict[str, Any]) -> None:
    assert report["dry_run"] is True
    assert report["device"] == "cpu"
    machine = report["machine"]
    assert machine["cpu_count"] >= 1 and machine["torch"]
    assert set(report) >= {"parity", "throughput", "edges", "serve", "oom", "seconds"}
    assert _positive(report["seconds"])


def test_cpu_against_cpu_parity_is_exact_on_a_stable_checkpoint(report: dict[str, Any]) -> None:
    (parity,) = report["parity"]
    stability = parity["stability"]
    assert stability["perturbation"] == 1e-4
    assert _positive(stability["logits_rel_l2"])
    assert parity["chaotic"] is False and stability["logits_rel_l2"] < 1e-3
    assert parity["float32"]["logits_rel_l2"] < 1e-6
    assert parity["float32"]["matte_mean_diff_levels"] < 0.01
    assert parity["backend"]["matte_mean_diff_levels"] < 0.01


def test_throughput_rows_are_finite_and_positive(report: dict[str, Any]) -> None:
    rows = report["throughput"]
    assert [(row["model"], row["batch"]) for row in rows] == [
        ("inspyrenet-fast", 1),
        ("inspyrenet-fast", 2),
    ]
    for row in rows:
        assert _positive(row["images_per_s"])
        assert row["peak_memory_bytes"] is None  # a GPU figure
        assert _positive(row["rss_bytes"])
        assert row["fallbacks"] == []


def test_edges_are_timed_through_the_engine(report: dict[str, Any]) -> None:
    edges = report["edges"]
    assert edges["level"] == "balanced"
    assert edges["gpu_path"] is False
    assert _positive(edges["edges_s"]) and _positive(edges["megapixels"])
    assert edges["stages_s"]["edges"] <= edges["total_s"]


def test_serve_answered_and_require_gpu_is_refused_without_a_gpu(report: dict[str, Any]) -> None:
    serve = report["serve"]
    assert serve["status"] == 200 and serve["content_type"] == "image/png"
    assert _positive(serve["health_s"])
    assert serve["first_response_s"] >= serve["health_s"]
    assert serve["require_gpu"] is False
    assert serve["require_gpu_without_gpu"] == {"ready_status": 503, "codes": ["gpu_unavailable"]}


def test_the_out_of_memory_section_needs_cuda(report: dict[str, Any]) -> None:
    assert report["oom"] == {"skipped": "needs CUDA"}
