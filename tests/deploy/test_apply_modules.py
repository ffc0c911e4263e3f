"""The live deploy modules: honest ``__all__``, and no Google client imported at import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MODULES = [
    "cutout.deploy.alerts_live",
    "cutout.deploy.apply",
    "cutout.deploy.cleanup",
    "cutout.deploy.errors",
    "cutout.deploy.gcp",
    "cutout.deploy.live",
    "cutout.deploy.multiregion_live",
    "cutout.deploy.quota_request",
    "cutout.deploy.rollback",
    "cutout.deploy.rollout",
    "cutout.deploy.service_spec",
    "cutout.deploy.status",
    "cutout.deploy.verify",
    "cutout.cli.deploy_common",
    "cutout.cli.deploy_ops",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    assert [n for n in module.__all__ if not hasattr(module, n)] == []


def test_importing_them_loads_no_google_client() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in MODULES)
        + "print(sorted(m for m in sys.modules if m.startswith(('google.cloud', 'httpx'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
