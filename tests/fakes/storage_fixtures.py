"""Pytest fixtures for code that talks to Cloud Storage: the fake and a real client.

Name them explicitly in a test module's imports (as tests/fakes/fixtures.py's are).
``fake_storage`` is a started :class:`~tests.fakes.storage.FakeStorage` with the bucket
:data:`BUCKET`; ``storage_client`` is google-cloud-storage's ``Client``, pointed at it the
way a user would (``STORAGE_EMULATOR_HOST``), closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.storage import FakeStorage

__all__ = ["BUCKET", "PROJECT", "fake_storage", "fast_retry", "storage_client"]

BUCKET = "shop-catalogue"
PROJECT = "shop-prod"


@pytest.fixture
def fake_storage() -> Iterator[FakeStorage]:
    with FakeStorage() as fake:
        fake.create_bucket(BUCKET)
        yield fake
        assert fake.errors == [], f"the fake itself failed: {fake.errors}"


@pytest.fixture
def storage_client(fake_storage: FakeStorage, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake_storage.endpoint)
    # the client's background fetch of bucket metadata (for tracing) would outlive the
    # test on its own connection and add requests nobody under test sent
    monkeypatch.setenv("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")
    client = storage.Client(project=PROJECT)
    yield client
    client.close()


def fast_retry(deadline_s: float = 10.0) -> Any:
    """The client's own retry rules at a test's pace (its default starts at 1 s)."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_delay(initial=0.01, maximum=0.05).with_timeout(deadline_s)
