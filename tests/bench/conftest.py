"""The bench scripts import each other as top-level modules (``from load import ...``),
as they do when run as ``python bench/soak.py``; their folder joins ``sys.path`` here so
that these tests import them the same way."""

from __future__ import annotations

import sys

from tests.conftest import REPO

BENCH = REPO / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
