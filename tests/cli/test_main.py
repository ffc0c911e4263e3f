"""The command table: every command is wired statically, and building it stays light."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from cutout.cli.main import COMMANDS, build_parser

# what a command may import only once it runs, never to build `cutout --help`
HEAVY = ("fastapi", "uvicorn", "onnxruntime", "torch", "google", "yaml", "httpx", "starlette")


def test_every_command_in_the_table_is_a_subcommand() -> None:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(action.choices) == list(COMMANDS)


def test_building_the_parser_imports_nothing_heavy() -> None:
    script = (
        "import json, sys\n"
        "from cutout.cli.main import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, timeout=120
    )
    loaded = set(json.loads(run.stdout))
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
