"""GcsStore against the fake Cloud Storage API, through the real google-cloud-storage
client: one request per write with its metadata, retries, lost answers, errors."""

from __future__ import annotations

import gc
import os
import threading
from typing import Any

import pytest

from cutout.batch.errors import StorageError, StorageNotFoundError, StoragePermissionError
from cutout.batch.gcs import GcsStore
from cutout.batch.locations import GcsLocation, parse_location
from cutout.batch.provenance import Provenance, is_current, options_digest
from cutout.batch.stores import open_store
from tests.batch.conftest import PREFIX
from tests.fakes.storage import FakeStorage
from tests.fakes.storage_fixtures import BUCKET, fast_retry

DIGEST = options_digest({"format": "png"}, model="u2netp")
MIB = 1024 * 1024


def test_open_store_makes_a_gcs_store_with_the_given_client(storage_client: Any) -> None:
    store = open_store(parse_location(f"gs://{BUCKET}/catalogue"), gcs_client=storage_client)
    assert isinstance(store, GcsStore)
    assert store.location == GcsLocation(BUCKET, "catalogue/")


def test_a_write_is_one_upload_carrying_its_metadata(
    fake_storage: FakeStorage, gcs_store: GcsStore
) -> None:
    result = gcs_store.write("out/a.png", b"png", {"cutout-options": DIGEST}, if_absent=True)
    uploads = fake_storage.requests_to("POST", "/upload/")
    assert len(uploads) == 1 and uploads[0].query["uploadType"] == "multipart"
    assert uploads[0].query["ifGenerationMatch"] == "0"
    assert fake_storage.requests_to("PATCH", "/o/") == []
    stored = fake_storage.object(BUCKET, PREFIX + "out/a.png")
    assert stored is not None
    assert (stored.metadata, stored.generation) == ({"cutout-options": DIGEST}, result.generation)


def test_a_large_output_goes_up_resumably_with_its_metadata(
    fake_storage: FakeStorage, gcs_store: GcsStore
) -> None:
    data = os.urandom(9 * MIB)  # over the client's 8 MiB multipart limit
    assert gcs_store.write("out/big.png", data, {"k": "v"}, if_absent=True).written
    assert fake_storage.requests_to("POST", "/upload/")[0].query["uploadType"] == "resumable"
    stored = fake_storage.object(BUCKET, PREFIX + "out/big.png")
    assert stored is not None and stored.data == data and stored.metadata == {"k": "v"}


def test_the_listing_pages_and_skips_folder_placeholders_and_reports(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    store = GcsStore(GcsLocation(BUCKET, PREFIX), client=storage_client, page_size=2)
    for name in ["a.jpg", "shoes/", "shoes/b.jpg", "c.jpg", ".cutout/reports/x.jsonl"]:
        fake_storage.put(BUCKET, PREFIX + name, b"x")
    fake_storage.put(BUCKET, "elsewhere/d.jpg", b"x")
    items = store.list()
    assert [item.name for item in items] == ["a.jpg", "c.jpg", "shoes/b.jpg"]
    assert all(item.metadata == {} and item.digest for item in items)  # free with the listing
    assert len(fake_storage.requests_to("GET", f"/b/{BUCKET}/o")) == 3


def test_a_retried_write_whose_first_attempt_landed_counts_as_written(
    fake_storage: FakeStorage, gcs_store: GcsStore
) -> None:
    fake_storage.fail_next(1, method="POST", path_contains="/upload/", after_apply=True)
    result = gcs_store.write("out/a.png", b"png", {"k": "v"}, if_absent=True)
    statuses = [r.status for r in fake_storage.requests_to("POST", "/upload/")]
    assert statuses == [503, 412]  # landed, answer lost; the retry met its own object
    assert result.written
    stored = fake_storage.object(BUCKET, PREFIX + "out/a.png")
    assert stored is not None and result.generation == stored.generation


def test_someone_elses_object_is_not_mistaken_for_ours(
    fake_storage: FakeStorage, gcs_store: GcsStore
) -> None:
    fake_storage.put(BUCKET, PREFIX + "out/a.png", b"png", metadata={"k": "other"})
    assert not gcs_store.write("out/a.png", b"png", {"k": "v"}, if_absent=True).written
    assert not gcs_store.write("out/a.png", b"other bytes", {"k": "other"}, if_absent=True).written


def test_server_errors_are_retried(fake_storage: FakeStorage, gcs_store: GcsStore) -> None:
    fake_storage.fail_next(2, status=503)
    fake_storage.fail_next(1, status=429)
    assert gcs_store.write("a.png", b"x", {}).written  # even without a precondition
    fake_storage.fail_next(2, status=503, path_contains=f"/b/{BUCKET}/o")
    assert [item.name for item in gcs_store.list()] == ["a.png"]
    assert [r.status for r in fake_storage.requests] == [503, 503, 429, 200, 503, 503, 200]


# google-cloud-storage 3.17 drops a streamed download's error answer without closing it
# before it retries, so each retried download error leaves a socket for the collector
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_download_errors_are_retried(fake_storage: FakeStorage, gcs_store: GcsStore) -> None:
    fake_storage.put(BUCKET, PREFIX + "a.png", b"x")
    fake_storage.fail_next(2, status=500, path_contains="/download/")
    assert gcs_store.read("a.png") == b"x"
    assert [r.status for r in fake_storage.requests_to("GET", "/download/")] == [500, 500, 200]
    gc.collect()  # while ResourceWarning is ignored


def test_a_write_that_never_gets_through_leaves_no_object(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    store = GcsStore(
        GcsLocation(BUCKET, PREFIX), client=storage_client, retry=fast_retry(deadline_s=0.5)
    )
    fake_storage.fail_next(10_000, status=503, path_contains="/upload/")
    with pytest.raises(StorageError, match=r"write gs://shop-catalogue/catalogue/a.png"):
        store.write("a.png", b"x", {}, if_absent=True)
    assert fake_storage.names(BUCKET) == [] and store.stat("a.png") is None


def test_google_errors_are_translated_at_the_boundary(
    fake_storage: FakeStorage, storage_client: Any, gcs_store: GcsStore
) -> None:
    with pytest.raises(StorageNotFoundError, match="No such object") as caught:
        gcs_store.read("none.jpg")
    assert caught.value.__cause__ is not None
    missing = GcsStore(GcsLocation("no-such-bucket"), client=storage_client, retry=fast_retry())
    with pytest.raises(StorageNotFoundError, match=r"The specified bucket does not exist\."):
        missing.list()
    fake_storage.fail_next(1, status=403)
    with pytest.raises(StoragePermissionError, match="permission denied"):
        gcs_store.stat("a.png")


def test_stale_outputs_are_seen_when_the_source_generation_changes(
    fake_storage: FakeStorage, gcs_store: GcsStore
) -> None:
    fake_storage.put(BUCKET, PREFIX + "in/red.jpg", b"source v1")
    source = gcs_store.list("in/")[0]
    gcs_store.write("out/red.png", b"cut", Provenance.of(source, DIGEST).to_metadata())
    outputs = {item.name: item for item in gcs_store.list("out/")}
    assert is_current(outputs["out/red.png"].metadata, source, DIGEST)  # no stat needed

    fake_storage.put(BUCKET, PREFIX + "in/red.jpg", b"source v2")
    assert not is_current(outputs["out/red.png"].metadata, gcs_store.list("in/")[0], DIGEST)
    fake_storage.put(BUCKET, PREFIX + "in/red.jpg", b"source v1")  # put back: same MD5
    assert is_current(outputs["out/red.png"].metadata, gcs_store.list("in/")[0], DIGEST)


def test_a_store_that_answers_in_50_ms_serves_threads_side_by_side(
    fake_storage: FakeStorage, gcs_store: GcsStore
) -> None:
    for index in range(16):
        fake_storage.put(BUCKET, f"{PREFIX}{index}.jpg", b"x" * 100)
    fake_storage.delay_s = 0.05
    names = [f"{index}.jpg" for index in range(16)]
    threads = [
        threading.Thread(target=lambda part=part: [gcs_store.read(n) for n in part])
        for part in (names[i::8] for i in range(8))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # one store, one client, many threads: requests overlap instead of queueing
    assert fake_storage.max_in_flight >= 4


def test_a_store_for_many_requests_in_flight_keeps_that_many_connections(
    storage_client: Any,
) -> None:
    session = storage_client._http  # google-cloud-core's requests session
    assert session.get_adapter("http://127.0.0.1/")._pool_maxsize == 10  # requests' default
    GcsStore(GcsLocation(BUCKET, PREFIX), client=storage_client, connections=8)
    assert session.get_adapter("http://127.0.0.1/")._pool_maxsize == 10  # enough already
    GcsStore(GcsLocation(BUCKET, PREFIX), client=storage_client, connections=34)
    for scheme in ("http", "https"):
        assert session.get_adapter(f"{scheme}://storage.googleapis.com/")._pool_maxsize == 34
