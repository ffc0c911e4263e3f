"""``python -m tests.server.fake_serve DELAY_S [cutout serve flags...]``: ``cutout serve``
on the fake backend, for tests that run a real server process.

The flags are parsed by ``cutout serve``'s own parser and turned into settings by its own
code; the app is served by :func:`cutout.cli.serve.serve`, the function behind
``cutout serve``. Only the engine differs: the fake backend, whose every batch takes
``DELAY_S`` seconds, so that tests of queueing, deadlines and shutdown hold requests in
flight deterministically and tests of the flags need no weights. Production settings know
nothing of it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cutout.backends.fake import FakeBackend
from cutout.cli import serve
from cutout.engine import Engine

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    delay, *flags = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="cutout")
    serve.register(parser.add_subparsers())
    settings = serve.settings_from_args(parser.parse_args(["serve", *flags]))
    backend = FakeBackend(delay_s=float(delay))
    engine = Engine(backend.spec, backend=backend, max_pixels=settings.max_pixels)
    return serve.serve(settings, engine)


if __name__ == "__main__":
    sys.exit(main())
