"""Fixtures shared by the live-server test modules.

A module that wants ``client`` defines its own module-scoped ``server`` fixture (each
starts ``cutout serve`` with the environment it needs); ``client`` talks to it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import EXAMPLES
from tests.server.live import LiveServer

PHOTO = EXAMPLES / "animal-1.jpg"  # 1000 x 667


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        yield http


@pytest.fixture(scope="module")
def photo() -> bytes:
    return PHOTO.read_bytes()
