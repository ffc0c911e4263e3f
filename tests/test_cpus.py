"""usable_cpus: the affinity set, capped by a cgroup v2 CPU quota (fake files here)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cutout.cpus import cgroup_quota, machine_cpus, usable_cpus
from tests.conftest import REPO


def _cores(count: int) -> set[int]:
    return set(range(count))


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("150000 100000\n", 2),  # 1.5 CPUs: a thread per started CPU
        ("200000 100000\n", 2),
        ("100000 100000\n", 1),
        ("50000 100000\n", 1),  # half a CPU is still one thread
        ("800000 100000", 8),
    ],
)
def test_cgroup_quota_in_cpus(tmp_path: Path, text: str, cpus: int) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text(text)
    assert cgroup_quota(cpu_max) == cpus


@pytest.mark.parametrize("text", ["max 100000\n", "", "garbage", "100000 0\n"])
def test_no_quota_or_an_unreadable_one(tmp_path: Path, text: str) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text(text)
    assert cgroup_quota(cpu_max) is None
    assert cgroup_quota(tmp_path / "absent") is None


def test_the_quota_caps_the_affinity_set(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("200000 100000\n")  # docker --cpus 2 on a 16-core machine
    assert usable_cpus(cpu_max=cpu_max, affinity=lambda: _cores(16)) == 2
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max=cpu_max, affinity=lambda: _cores(16)) == 16


def test_the_affinity_set_caps_a_larger_quota(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("800000 100000\n")  # taskset -c 0-2 inside an 8-CPU quota
    assert usable_cpus(cpu_max=cpu_max, affinity=lambda: {0, 1, 2}) == 3
    assert usable_cpus(cpu_max=tmp_path / "absent", affinity=lambda: {5}) == 1


def test_this_process() -> None:
    assert 1 <= usable_cpus() <= machine_cpus()


# the modules that size thread pools; none of them may count the machine's cores itself
_SIZING = [
    "src/cutout/backends/onnx.py",
    "src/cutout/backends/torch.py",
    "src/cutout/engine.py",
    "src/cutout/server/state.py",
    "src/cutout/cli/_pipeline.py",
    "src/cutout/cli/info.py",
    "src/cutout/imaging/parallel.py",
]


@pytest.mark.parametrize("path", _SIZING)
def test_threads_are_sized_from_usable_cpus(path: str) -> None:
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    calls = {
        f"{node.func.value.id}.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
    }
    assert "os.cpu_count" not in calls
