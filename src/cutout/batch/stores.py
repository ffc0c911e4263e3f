"""Open the store a location names: a local folder or a Cloud Storage prefix.

Apart from :mod:`cutout.batch.store` (the contract), so that the contract never imports
the stores that implement it.
"""

from __future__ import annotations

from typing import Any

from cutout.batch.gcs import GcsStore
from cutout.batch.local import LocalStore
from cutout.batch.locations import GcsLocation, LocalLocation, Location
from cutout.batch.store import Store

__all__ = ["open_store"]


def open_store(
    location: Location,
    *,
    create: bool = False,
    gcs_client: Any = None,
    connections: int | None = None,
) -> Store:
    """The store for ``location``. ``create``: a missing local folder is made (for DST).

    ``gcs_client`` is a ``google.cloud.storage.Client`` to use instead of a default one;
    ``connections`` how many requests will be in flight at once (a Cloud Storage client
    keeps that many connections open).
    """
    if isinstance(location, LocalLocation):
        return LocalStore(location, create=create)
    assert isinstance(location, GcsLocation)
    return GcsStore(location, client=gcs_client, connections=connections)
