"""Shared fixtures: paths to the repository's examples and ../shared material, engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cutout.backends.fake import FakeBackend
from cutout.engine import Engine

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHARED = REPO.parent / "shared"
SHARED_IMAGES = SHARED / "images"
INSPYRENET_FIXTURES = SHARED / "fixtures" / "inspyrenet"


@pytest.fixture(scope="session")
def shared_images() -> Path:
    if not SHARED_IMAGES.is_dir():
        pytest.fail(f"{SHARED_IMAGES} is missing: tests need ../shared beside the repository")
    return SHARED_IMAGES


@pytest.fixture(scope="session")
def u2netp_engine() -> Iterator[Engine]:
    """The real embedded model, loaded once for the whole session."""
    engine = Engine("u2netp", device="cpu")
    engine.load()
    yield engine
    engine.close()


@pytest.fixture
def fake_engine() -> Iterator[Engine]:
    """An engine on the fake backend: instant, no weights."""
    backend = FakeBackend()
    engine = Engine(backend.spec, backend=backend)
    yield engine
    engine.close()
