"""What the benchmark ran on: CPU model, cores, AVX-512, load, versions."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["describe", "summary"]

REPO = Path(__file__).resolve().parents[2]
REMBG_VENV = REPO / "bench" / ".venvs" / "rembg"


def _cpu_model() -> str:
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        listing = ""
    for line in listing.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _rembg_version() -> str | None:
    for info in sorted(REMBG_VENV.glob("lib/python*/site-packages/rembg-*.dist-info")):
        return info.name.removeprefix("rembg-").removesuffix(".dist-info")
    return None


def describe() -> dict[str, Any]:
    """The machine and software, the time and the load average now (1, 5, 15 min)."""
    flags = _flags()
    return {
        "time_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "avx512": any(flag.startswith("avx512") for flag in flags),
        "avx2": "avx2" in flags,
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "cutout": _version("cutout"),
        "rembg": _rembg_version(),
    }


def summary(machine: dict[str, Any]) -> str:
    """One line for the top of the output."""
    simd = "AVX-512" if machine["avx512"] else ("AVX2" if machine["avx2"] else "no AVX2")
    load = ", ".join(f"{value:.2f}" for value in machine["load_average"])
    return (
        f"{machine['time_utc']} UTC; {machine['cpu']}, "
        f"{machine['usable_cores']} of {machine['cores']} cores, {simd}; "
        f"load average {load}; cutout {machine['cutout']}, rembg {machine['rembg']}"
    )
