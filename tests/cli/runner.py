"""Run the real ``cutout`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["cutout"]


def cutout(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[bytes]:
    """``python -m cutout.cli.main ARGS`` with this interpreter; stdout and stderr as bytes."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cutout.cli.main", *map(str, args)],
        cwd=cwd,
        env=environment,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
        check=False,
    )
