"""What every Store does, on a folder and on Cloud Storage (the fake, through the real
client): sorted recursive listings without the store's own files, metadata that travels
with the bytes, generations, create-only and replace-only-what-I-read writes."""

from __future__ import annotations

import threading

import pytest

from cutout.batch.errors import StorageNotFoundError
from cutout.batch.provenance import Provenance, is_current, options_digest
from cutout.batch.store import Store, WriteResult

DIGEST = options_digest({"format": "png"}, model="u2netp")


def fill(store: Store, names: list[str]) -> None:
    for name in names:
        assert store.write(name, name.encode(), {}).written


def test_listing_is_recursive_sorted_relative_and_leaves_out_the_stores_own_files(
    store: Store,
) -> None:
    names = ["z.jpg", "shoes/red.jpg", "shoes/blue.jpg", "bags/b/c.jpg", "bags/a.jpg", "é.jpg"]
    fill(store, names)
    store.write_text(".cutout/reports/shard-0-of-1.jsonl", "{}\n")
    listed = store.list()
    assert [item.name for item in listed] == sorted(names)
    assert [item.size for item in listed] == [len(n.encode()) for n in sorted(names)]
    assert len(set(listed)) == len(listed)  # items hash by name, size and generation
    assert [item.name for item in store.list("shoes/")] == ["shoes/blue.jpg", "shoes/red.jpg"]
    assert [item.name for item in store.list("bags/b")] == ["bags/b/c.jpg"]
    assert store.list("none/") == []
    assert store.list("z.jpg/") == []
    reports = store.list(".cutout/reports/")
    assert [item.name for item in reports] == [".cutout/reports/shard-0-of-1.jsonl"]


def test_bytes_and_metadata_round_trip(store: Store) -> None:
    result = store.write(
        "shoes/red.png", b"\x89PNG", {"cutout-source": "shoes/red.jpg"}, content_type="image/png"
    )
    assert result.written and result.generation is not None
    assert store.read("shoes/red.png") == b"\x89PNG"
    item = store.stat("shoes/red.png")
    assert item is not None
    assert (item.name, item.size, item.generation) == ("shoes/red.png", 4, result.generation)
    assert item.metadata == {"cutout-source": "shoes/red.jpg"}
    assert item.digest is not None
    assert item.digest == store.content_digest(b"\x89PNG") != store.content_digest(b"PNG")
    assert store.stat("shoes/none.png") is None
    with pytest.raises(StorageNotFoundError):
        store.read("shoes/none.png")


def test_create_only_writes_once_and_reports_the_existing_generation(store: Store) -> None:
    first = store.write("a.png", b"first", {"n": "1"}, if_absent=True)
    second = store.write("a.png", b"second", {"n": "2"}, if_absent=True)
    assert first.written and not second.written
    assert second.generation == first.generation
    assert store.read("a.png") == b"first"
    stat = store.stat("a.png")
    assert stat is not None and stat.metadata == {"n": "1"}


def test_of_racing_create_only_writers_exactly_one_wins(store: Store) -> None:
    results: list[WriteResult] = []
    barrier = threading.Barrier(8)

    def write(index: int) -> None:
        barrier.wait()
        results.append(store.write("race.png", f"writer {index}".encode(), {}, if_absent=True))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r.written]
    assert len(results) == 8 and len(winners) == 1
    assert {r.generation for r in results} == {winners[0].generation}
    assert store.read("race.png").startswith(b"writer ")


def test_a_conditional_replace_needs_the_generation_that_was_read(store: Store) -> None:
    first = store.write("a.png", b"v1", {})
    assert first.generation is not None
    second = store.write("a.png", b"v2", {}, if_generation_match=first.generation)
    assert second.written and second.generation != first.generation
    stale = store.write("a.png", b"v3", {}, if_generation_match=first.generation)
    assert stale == WriteResult(False, second.generation)
    assert store.read("a.png") == b"v2"
    gone = store.write("new.png", b"x", {}, if_generation_match=first.generation)
    assert gone == WriteResult(False, None)
    assert store.write("new.png", b"x", {}, if_generation_match=0).written  # 0: absent
    with pytest.raises(ValueError, match="not both"):
        store.write("a.png", b"x", {}, if_absent=True, if_generation_match=1)


def test_write_text_replaces_the_whole_file(store: Store) -> None:
    store.write_text(".cutout/reports/shard-0-of-2.jsonl", "one\n")
    store.write_text(".cutout/reports/shard-0-of-2.jsonl", "one\ntwo\n")
    assert store.read(".cutout/reports/shard-0-of-2.jsonl") == b"one\ntwo\n"


def test_an_output_made_from_a_source_is_current_until_the_source_changes(store: Store) -> None:
    store.write("in/red.jpg", b"source v1", {})
    source = store.list("in/")[0]
    store.write("out/red.png", b"cut-out", Provenance.of(source, DIGEST).to_metadata())

    def output_is_current() -> bool:
        output = store.stat("out/red.png")
        assert output is not None
        return is_current(output.metadata, store.list("in/")[0], DIGEST)

    assert output_is_current()
    store.write("in/red.jpg", b"source v1", {})  # the same bytes again: a new generation
    assert store.list("in/")[0].generation != source.generation
    assert output_is_current()  # ... recognised by the content digest
    store.write("in/red.jpg", b"source v2", {})
    assert not output_is_current()
