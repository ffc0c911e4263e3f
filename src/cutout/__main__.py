"""``python -m cutout``: the same as the ``cutout`` command."""

from __future__ import annotations

import sys

from cutout.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
