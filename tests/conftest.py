"""Shared fixtures: paths to the repository's examples and ../shared material, engines."""

from __future__ import annotations

import os
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (``CI`` set) a skipped test fails the run: a skip is not coverage.

    Skips exist only for optional extras and Chromium, which ``.ci/run`` installs.
    """
    if not os.environ.get("CI") or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = reporter.stats.get("skipped", [])
    if skipped:
        reporter.write_line(f"CI: {len(skipped)} skipped test(s); in CI every test must run")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
