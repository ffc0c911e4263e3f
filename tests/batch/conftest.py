"""Fixtures of the batch tests: a local folder store and a Cloud Storage store on the fake.

``store`` is parametrized over both, for the tests every Store must pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cutout.batch.gcs import GcsStore
from cutout.batch.local import LocalStore
from cutout.batch.locations import GcsLocation, LocalLocation
from cutout.batch.store import Store
from tests.fakes.storage import FakeStorage
from tests.fakes.storage_fixtures import BUCKET, fake_storage, fast_retry, storage_client

__all__ = ["fake_storage", "gcs_store", "local_store", "storage_client", "store"]

PREFIX = "catalogue/"


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    return LocalStore(LocalLocation(tmp_path / "store"), create=True)


@pytest.fixture
def gcs_store(fake_storage: FakeStorage, storage_client: Any) -> GcsStore:
    return GcsStore(GcsLocation(BUCKET, PREFIX), client=storage_client, retry=fast_retry())


@pytest.fixture(params=["local", "gcs"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    yield request.getfixturevalue(f"{request.param}_store")
