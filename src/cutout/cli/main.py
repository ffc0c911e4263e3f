"""Entry point of the ``cutout`` command.

Each command lives in its own module ``cutout.cli.<name>`` exposing
``register(subparsers) -> None``, which adds its parser and sets ``func`` (a callable
``(argparse.Namespace) -> int``) as a default. :data:`COMMANDS` lists them in the order
``cutout --help`` shows them. Command modules import nothing heavy at module level (each
imports what it needs inside its functions), so ``cutout --help`` stays fast.

Exit codes: 0 success, 1 failure (some inputs failed, or a CutoutError), 2 usage error.
No tracebacks unless ``--debug``.

The library prints nothing; what it logs for a person at the terminal (the one-off ONNX
export on first CPU use, a device fallback) is shown as ``cutout: ...`` lines on stderr
(warnings only with ``--quiet``). ``cutout serve`` replaces this with its own log setup.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from cutout import __version__
from cutout.cli import batch, bench, deploy, info, models, remove, serve
from cutout.errors import CutoutError

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["COMMANDS", "build_parser", "main", "show_library_lines"]

# name -> the function that adds the command's parser
COMMANDS: dict[str, Callable[[_Subparsers], None]] = {
    "remove": remove.register,
    "batch": batch.register,
    "models": models.register,
    "info": info.register,
    "serve": serve.register,
    "bench": bench.register,
    "deploy": deploy.register,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"cutout: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cutout", description="Self-hosted background removal.")
    parser.add_argument("--version", action="version", version=f"cutout {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    # the commands see the plain ArgumentParser API; the parsers made are _Parser, a subclass
    subparsers = cast(
        "_Subparsers",
        parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser),
    )
    for register in COMMANDS.values():
        register(subparsers)
    return parser


class _StderrLines(logging.Handler):
    """``cutout: message`` on whatever ``sys.stderr`` is when the record comes."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("cutout: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never break the command
            self.handleError(record)


def show_library_lines(quiet: bool = False) -> None:
    """Show the library's log lines for a person (see the module docstring); once."""
    logger = logging.getLogger("cutout")
    if not any(isinstance(handler, _StderrLines) for handler in logger.handlers):
        logger.addHandler(_StderrLines())
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    show_library_lines(quiet=bool(getattr(args, "quiet", False)))
    try:
        code: int = args.func(args)
        return code
    except CutoutError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"cutout: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cutout: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader left (`cutout models list | head -1`): stop quietly, as other tools do;
        # stdout is pointed at devnull so the interpreter's final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
