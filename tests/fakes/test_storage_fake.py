"""The fake Cloud Storage JSON API behaves like the real one where a batch depends on it,
driven by Google's own client: preconditions and their 412, metadata, generations,
pages, resumable uploads, checksummed downloads, error texts, retries."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from typing import Any

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.cloud.storage.exceptions import DataCorruption

from tests.fakes.storage import FakeStorage
from tests.fakes.storage_fixtures import BUCKET, fake_storage, fast_retry, storage_client
from tests.fakes.storage_objects import PRECONDITION_FAILED, md5_of

__all__ = ["fake_storage", "storage_client"]

KIB = 1024


def blob(client: Any, name: str, **kwargs: Any) -> Any:
    return client.bucket(BUCKET).blob(name, **kwargs)


def test_create_if_absent_succeeds_once_then_is_refused_with_googles_412(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    blob(storage_client, "out/a.png").upload_from_string(b"first", if_generation_match=0)
    with pytest.raises(gexc.PreconditionFailed) as caught:
        blob(storage_client, "out/a.png").upload_from_string(b"second", if_generation_match=0)
    assert caught.value.code == 412
    # uploads go through the media layer, which keeps the body as text in the message
    assert PRECONDITION_FAILED in caught.value.message
    assert '"reason": "conditionNotMet"' in caught.value.message
    stored = fake_storage.object(BUCKET, "out/a.png")
    assert stored is not None and stored.data == b"first"


def test_metadata_and_content_type_round_trip_with_the_bytes(storage_client: Any) -> None:
    written = blob(storage_client, "out/shoe.png")
    written.metadata = {"cutout-source": "shoe.jpg", "cutout-source-generation": "17"}
    written.upload_from_string(b"\x89PNG...", content_type="image/png")
    read = storage_client.bucket(BUCKET).get_blob("out/shoe.png")
    assert read.metadata == {"cutout-source": "shoe.jpg", "cutout-source-generation": "17"}
    assert read.content_type == "image/png"
    assert read.size == 7
    assert read.generation == written.generation
    assert read.md5_hash == md5_of(b"\x89PNG...")


def test_generations_increase_and_metadata_patches_bump_the_metageneration(
    storage_client: Any,
) -> None:
    generations = []
    for body in (b"1", b"22", b"333"):
        written = blob(storage_client, "a.png")
        written.upload_from_string(body)
        generations.append(written.generation)
        assert written.metageneration == 1
    assert generations == sorted(set(generations))
    assert all(g > 10**15 for g in generations)  # int64 microsecond-clock values

    current = storage_client.bucket(BUCKET).get_blob("a.png")
    current.metadata = {"k": "v"}
    current.patch(if_metageneration_match=1)
    assert (current.generation, current.metageneration) == (generations[-1], 2)
    current.metadata = {"k": None, "j": "w"}  # None removes a key, as the API's PATCH
    current.patch()
    assert storage_client.bucket(BUCKET).get_blob("a.png").metadata == {"j": "w"}
    stale = blob(storage_client, "a.png")
    stale.metadata = {"k": "stale"}
    with pytest.raises(gexc.PreconditionFailed) as caught:
        stale.patch(if_metageneration_match=1)
    # a JSON API call: the client parses Google's error body
    assert caught.value.errors[0]["reason"] == "conditionNotMet"
    assert caught.value.message.endswith(": " + PRECONDITION_FAILED)


def test_conditional_overwrite_and_delete_check_the_generation(storage_client: Any) -> None:
    first = blob(storage_client, "a.png")
    first.upload_from_string(b"v1")
    with pytest.raises(gexc.PreconditionFailed):
        blob(storage_client, "a.png").upload_from_string(b"v2", if_generation_match=1)
    second = blob(storage_client, "a.png")
    second.upload_from_string(b"v2", if_generation_match=first.generation)
    with pytest.raises(gexc.PreconditionFailed):
        blob(storage_client, "a.png").upload_from_string(
            b"v3", if_generation_not_match=second.generation
        )
    with pytest.raises(gexc.PreconditionFailed):
        blob(storage_client, "a.png").delete(if_generation_match=first.generation)
    blob(storage_client, "a.png").delete(if_generation_match=second.generation)
    assert storage_client.bucket(BUCKET).get_blob("a.png") is None


def test_reads_answer_not_modified_when_a_not_match_condition_fails(storage_client: Any) -> None:
    written = blob(storage_client, "a.png")
    written.upload_from_string(b"v1")
    with pytest.raises(gexc.NotModified):
        blob(storage_client, "a.png").download_as_bytes(if_generation_not_match=written.generation)
    with pytest.raises(gexc.PreconditionFailed):
        blob(storage_client, "a.png").download_as_bytes(if_generation_match=written.generation + 1)


def test_listing_pages_through_every_object_in_name_order(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    names = ["z.jpg", "shoes/red.jpg", "shoes/blue.jpg", "bags/a.jpg", "bags/b/c.jpg", "é.jpg"]
    for name in names:
        fake_storage.put(BUCKET, name, name.encode())
    listed = [b.name for b in storage_client.list_blobs(BUCKET, page_size=2)]
    assert listed == sorted(names)  # UTF-8 byte order is str order
    assert len(fake_storage.requests_to("GET", f"/storage/v1/b/{BUCKET}/o")) == 3

    under = [b.name for b in storage_client.list_blobs(BUCKET, prefix="bags/", page_size=1)]
    assert under == ["bags/a.jpg", "bags/b/c.jpg"]

    top = storage_client.list_blobs(BUCKET, delimiter="/", page_size=2)
    files = [b.name for b in top]
    assert files == ["z.jpg", "é.jpg"]
    assert top.prefixes == {"bags/", "shoes/"}


def test_fields_and_projection_are_accepted(fake_storage: FakeStorage, storage_client: Any) -> None:
    fake_storage.put(BUCKET, "a.jpg", b"a")
    listed = list(storage_client.list_blobs(BUCKET, fields="items(name,generation),nextPageToken"))
    assert [b.name for b in listed] == ["a.jpg"]


def test_a_body_over_the_chunk_size_goes_up_in_resumable_chunks(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    data = os.urandom(700 * KIB)
    target = blob(storage_client, "big.png", chunk_size=256 * KIB)
    target.metadata = {"cutout-options": "sha256:abc"}
    target.upload_from_file(io.BytesIO(data), content_type="image/png", if_generation_match=0)

    assert len(fake_storage.requests_to("POST", "/upload/")) == 1
    chunks = fake_storage.requests_to("PUT", "/upload/")
    assert [r.status for r in chunks] == [308, 308, 200]
    assert chunks[0].headers["content-range"] == f"bytes 0-{256 * KIB - 1}/*"
    stored = fake_storage.object(BUCKET, "big.png")
    assert stored is not None and stored.data == data
    assert stored.metadata == {"cutout-options": "sha256:abc"}
    assert stored.content_type == "image/png"

    again = blob(storage_client, "big.png", chunk_size=256 * KIB)
    with pytest.raises(gexc.PreconditionFailed):
        again.upload_from_file(io.BytesIO(data), if_generation_match=0)


def test_an_abandoned_resumable_upload_leaves_no_object(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    session = blob(storage_client, "half.png").create_resumable_upload_session(size=600 * KIB)
    first = httpx.put(
        session,
        content=os.urandom(256 * KIB),
        headers={"Content-Range": f"bytes 0-{256 * KIB - 1}/{600 * KIB}"},
    )
    assert first.status_code == 308
    assert first.headers["Range"] == f"bytes=0-{256 * KIB - 1}"
    # the uploader is killed here
    assert storage_client.bucket(BUCKET).get_blob("half.png") is None
    assert list(storage_client.list_blobs(BUCKET)) == []
    status = httpx.put(session, headers={"Content-Range": "bytes */*"})
    assert (status.status_code, status.headers["Range"]) == (308, f"bytes=0-{256 * KIB - 1}")


def test_downloads_carry_checksums_the_client_verifies(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    data = os.urandom(50 * KIB)
    fake_storage.put(BUCKET, "a.png", data)
    assert blob(storage_client, "a.png").download_as_bytes() == data
    assert blob(storage_client, "a.png").download_as_bytes(start=10, end=19) == data[10:20]

    fake_storage.corrupt_next_download()
    with pytest.raises(DataCorruption):
        blob(storage_client, "a.png").download_as_bytes(retry=None)


def test_missing_objects_and_buckets_have_googles_404_texts(storage_client: Any) -> None:
    with pytest.raises(gexc.NotFound) as caught:
        blob(storage_client, "shoes/none.jpg").download_as_bytes()
    assert f"No such object: {BUCKET}/shoes/none.jpg" in caught.value.message
    with pytest.raises(gexc.NotFound) as caught:
        blob(storage_client, "shoes/none.jpg").delete()
    assert caught.value.message.endswith(f": No such object: {BUCKET}/shoes/none.jpg")
    assert caught.value.errors[0]["reason"] == "notFound"
    with pytest.raises(gexc.NotFound) as caught:
        storage_client.bucket("no-such-bucket").blob("a").download_as_bytes()
    assert "The specified bucket does not exist." in caught.value.message
    assert storage_client.bucket(BUCKET).get_blob("shoes/none.jpg") is None


def test_a_multipart_upload_whose_hash_does_not_match_is_refused(
    fake_storage: FakeStorage,
) -> None:
    boundary = "==0123=="
    body = (
        f'--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{{"name": "a",'
        f' "md5Hash": "{md5_of(b"other")}"}}\r\n--{boundary}\r\ncontent-type: image/png\r\n\r\n'
        f"data\r\n--{boundary}--"
    ).encode()
    response = httpx.post(
        f"{fake_storage.endpoint}/upload/storage/v1/b/{BUCKET}/o",
        params={"uploadType": "multipart"},
        headers={"Content-Type": f'multipart/related; boundary="{boundary}"'},
        content=body,
    )
    assert response.status_code == 400
    assert "doesn't match calculated MD5 hash" in response.json()["error"]["message"]
    assert fake_storage.object(BUCKET, "a") is None


def test_server_errors_are_retried_by_the_client_when_the_write_is_conditional(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    fake_storage.fail_next(2, status=503, method="POST", path_contains="/upload/")
    blob(storage_client, "a.png").upload_from_string(
        b"x", if_generation_match=0, retry=fast_retry()
    )
    assert [r.status for r in fake_storage.requests_to("POST", "/upload/")] == [503, 503, 200]
    assert fake_storage.object(BUCKET, "a.png") is not None


def test_a_lost_answer_makes_the_retried_create_meet_its_own_object(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    # the hazard GcsStore.write handles: the write landed, its answer did not
    fake_storage.fail_next(1, method="POST", path_contains="/upload/", after_apply=True)
    with pytest.raises(gexc.PreconditionFailed):
        blob(storage_client, "a.png").upload_from_string(
            b"x", if_generation_match=0, retry=fast_retry()
        )
    stored = fake_storage.object(BUCKET, "a.png")
    assert stored is not None and stored.data == b"x"


def test_copy_and_rewrite_keep_or_replace_metadata(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    fake_storage.put(BUCKET, "src.png", b"pixels", metadata={"a": "1"}, content_type="image/png")
    bucket = storage_client.bucket(BUCKET)
    copied = bucket.copy_blob(bucket.blob("src.png"), bucket, "copy.png", if_generation_match=0)
    assert (copied.metadata, copied.content_type) == ({"a": "1"}, "image/png")
    target = bucket.blob("rewritten.png")
    target.metadata = {"b": "2"}
    token, done, total = target.rewrite(bucket.blob("src.png"))
    assert (token, done, total) == (None, 6, 6)
    stored = fake_storage.object(BUCKET, "rewritten.png")
    assert stored is not None and stored.metadata == {"b": "2"} and stored.data == b"pixels"


def test_delay_applies_per_request_and_requests_are_served_at_once(
    fake_storage: FakeStorage, storage_client: Any
) -> None:
    for index in range(8):
        fake_storage.put(BUCKET, f"{index}.jpg", b"x")
    fake_storage.delay_s = 0.1
    started = time.monotonic()
    threads = [
        threading.Thread(target=blob(storage_client, f"{i}.jpg").download_as_bytes)
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 0.1
    assert fake_storage.max_in_flight >= 4  # answered side by side, not in a row


def test_uploaded_bytes_match_their_digest(storage_client: Any) -> None:
    data = os.urandom(3 * KIB)
    written = blob(storage_client, "a.bin")
    written.upload_from_string(data)
    assert written.md5_hash == md5_of(data)
    assert hashlib.md5(written.download_as_bytes()).digest() == hashlib.md5(data).digest()
