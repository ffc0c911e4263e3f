"""A shard's run on the fake model, over a folder and over Cloud Storage (the fake, through
the real client): done, skipped when up to date, redone when stale, bad items failed,
other writers, and storage errors that stop the run."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cutout.batch.gcs import GcsStore
from cutout.batch.local import LocalStore
from cutout.batch.locations import GcsLocation, LocalLocation
from cutout.batch.plan import plan
from cutout.batch.provenance import Provenance, is_current, options_digest, options_record
from cutout.batch.report import ReportLine, ShardReport
from cutout.batch.runner import ShardResult, ShardRun
from cutout.batch.shard import Shard
from cutout.batch.store import Store
from cutout.cli._paths import IMAGE_SUFFIXES
from cutout.engine import Engine
from cutout.options import RemoveOptions
from tests.fakes.storage import FakeStorage
from tests.fakes.storage_fixtures import BUCKET, fake_storage, fast_retry, storage_client

__all__ = ["fake_storage", "storage_client"]


def photo(seed: int, size: tuple[int, int] = (48, 36)) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = np.full((size[1], size[0], 3), 230, np.uint8)
    pixels[8:-8, 10:-10] = rng.integers(0, 120, (size[1] - 16, size[0] - 20, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


NAMES = ["a.jpg", "shoes/red.jpg", "shoes/blue.jpg", "bags/b.jpg", "c.jpg", "d.jpg"]


@pytest.fixture(params=["local", "gcs"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    if request.param == "local":
        src: Store = LocalStore(LocalLocation(tmp_path / "in"), create=True)
        dst: Store = LocalStore(LocalLocation(tmp_path / "out"), create=True)
    else:
        client = request.getfixturevalue("storage_client")
        src = GcsStore(GcsLocation(BUCKET, "in/"), client=client, retry=fast_retry())
        dst = GcsStore(GcsLocation(BUCKET, "out/"), client=client, retry=fast_retry())
    for index, name in enumerate(NAMES):
        assert src.write(name, photo(index), {}).written
    yield src, dst


class Counting:
    """A store that counts its reads (to prove skipped items are never read)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def read(self, name: str) -> bytes:
        self.reads.append(name)
        return self.store.read(name)


def run_shard(
    src: Store,
    dst: Store,
    engine: Engine,
    options: RemoveOptions | None = None,
    *,
    shard: Shard | None = None,
    force: bool = False,
) -> tuple[ShardResult, dict[str, ReportLine]]:
    options = options or RemoveOptions()
    shard = shard or Shard()
    work = plan(src.list(), dst.list(), shard, options.format, suffixes=IMAGE_SUFFIXES)
    report = ShardReport(dst, shard)
    digest = options_digest(options_record(options), model=engine.spec.name)
    shard_run = ShardRun(src, dst, engine, options, digest, report, force=force)
    result = shard_run.run(work, max_batch=4, cpu_workers=2, io_workers=3)
    if result.fatal is None:
        report.flush()
    return result, {line.source: line for line in report.lines}


def statuses(lines: dict[str, ReportLine]) -> dict[str, str]:
    return {source: line.status for source, line in lines.items()}


def test_a_first_run_makes_every_output_with_its_provenance(
    stores: tuple[Store, Store], fake_engine: Engine
) -> None:
    src, dst = stores
    result, lines = run_shard(src, dst, fake_engine)
    assert statuses(lines) == dict.fromkeys(NAMES, "done")
    assert (result.summary.done, result.left, result.fatal) == (6, 0, None)
    digest = options_digest(options_record(RemoveOptions()), model="fake")
    for source in src.list():
        output = dst.stat(source.name.replace(".jpg", ".png"))
        assert output is not None
        assert output.metadata is not None and is_current(output.metadata, source, digest)
        record = Provenance.from_metadata(output.metadata)
        assert record is not None and record.digest == src.content_digest(src.read(source.name))
        assert dst.read(output.name).startswith(b"\x89PNG")
    assert all(line.seconds > 0 for line in lines.values())


def test_a_rerun_of_what_is_up_to_date_reads_no_source_and_writes_no_output(
    stores: tuple[Store, Store], fake_engine: Engine
) -> None:
    src, dst = stores
    run_shard(src, dst, fake_engine)
    before = {item.name: item.generation for item in dst.list()}
    counting = Counting(src)
    result, lines = run_shard(counting, dst, fake_engine)  # type: ignore[arg-type]
    assert statuses(lines) == dict.fromkeys(NAMES, "skipped")
    assert counting.reads == [] and result.stats.batches == 0
    assert {item.name: item.generation for item in dst.list()} == before


def test_a_changed_option_makes_every_output_stale(
    stores: tuple[Store, Store], fake_engine: Engine
) -> None:
    src, dst = stores
    run_shard(src, dst, fake_engine)
    _, lines = run_shard(src, dst, fake_engine, RemoveOptions(crop=True))
    assert statuses(lines) == dict.fromkeys(NAMES, "done")
    _, lines = run_shard(src, dst, fake_engine, RemoveOptions(crop=True))
    assert statuses(lines) == dict.fromkeys(NAMES, "skipped")


def test_a_changed_source_is_redone_and_a_rewrite_of_the_same_bytes_is_not(
    stores: tuple[Store, Store], fake_engine: Engine
) -> None:
    src, dst = stores
    run_shard(src, dst, fake_engine)
    assert src.write("a.jpg", photo(99), {}).written  # new content
    assert src.write("c.jpg", photo(NAMES.index("c.jpg")), {}).written  # same bytes, new version
    _, lines = run_shard(src, dst, fake_engine)
    assert {s for s, status in statuses(lines).items() if status == "done"} == {"a.jpg"}
    assert statuses(lines)["c.jpg"] == "skipped"


def test_force_redoes_what_is_up_to_date(stores: tuple[Store, Store], fake_engine: Engine) -> None:
    src, dst = stores
    run_shard(src, dst, fake_engine)
    _, lines = run_shard(src, dst, fake_engine, force=True)
    assert statuses(lines) == dict.fromkeys(NAMES, "done")


def test_bad_items_fail_with_a_reason_and_the_rest_is_done(
    stores: tuple[Store, Store], fake_engine: Engine
) -> None:
    src, dst = stores
    whole = photo(7, (160, 120))  # large enough that half of it holds the whole header
    src.write("broken/truncated.jpg", whole[: len(whole) // 2], {})
    src.write("broken/text.jpg", b"this is a caption, not a photo\n", {})
    src.write("notes.txt", b"not an image name: not a source", {})
    result, lines = run_shard(src, dst, fake_engine)
    assert statuses(lines) == {
        **dict.fromkeys(NAMES, "done"),
        "broken/truncated.jpg": "failed",
        "broken/text.jpg": "failed",
    }
    assert "truncated" in (lines["broken/truncated.jpg"].error or "")
    assert "not a readable image" in (lines["broken/text.jpg"].error or "")
    assert (result.summary.failed, result.left) == (2, 0)
    assert dst.stat("broken/text.png") is None


def test_an_output_another_writer_made_meanwhile_is_kept(
    stores: tuple[Store, Store], fake_engine: Engine
) -> None:
    src, dst = stores
    options = RemoveOptions()
    digest = options_digest(options_record(options), model=fake_engine.spec.name)
    work = plan(src.list(), dst.list(), Shard(), "png", suffixes=IMAGE_SUFFIXES)
    # after the listing, before the writes: one output made up to date by someone else,
    # one replaced by something that is not
    a = next(item for item in src.list() if item.name == "a.jpg")
    dst.write("a.png", b"theirs", Provenance.of(a, digest).to_metadata())
    dst.write("c.png", b"stale", {"cutout-options": "sha256:other"})
    report = ShardReport(dst, Shard())
    ShardRun(src, dst, fake_engine, options, digest, report).run(
        work, max_batch=2, cpu_workers=1, io_workers=2
    )
    lines = {line.source: line for line in report.lines}
    assert lines["a.jpg"].status == "skipped" and dst.read("a.png") == b"theirs"
    assert lines["c.jpg"].status == "failed" and dst.read("c.png") == b"stale"
    assert "changed while it was being made" in (lines["c.jpg"].error or "")
    assert {lines[n].status for n in NAMES if n not in ("a.jpg", "c.jpg")} == {"done"}


def test_permission_denied_stops_the_run_with_one_reason(
    fake_storage: FakeStorage, storage_client: Any, fake_engine: Engine
) -> None:
    src = GcsStore(GcsLocation(BUCKET, "in/"), client=storage_client, retry=fast_retry())
    dst = GcsStore(GcsLocation(BUCKET, "out/"), client=storage_client, retry=fast_retry())
    for index in range(40):
        src.write(f"p{index:02d}.jpg", photo(index), {})
    fake_storage.fail_next(1000, status=403, method="POST", path_contains="/upload/")
    result, _ = run_shard(src, dst, fake_engine)
    assert result.fatal is not None and result.fatal.code == "storage_permission_denied"
    assert "permission denied" in result.fatal.message
    assert result.left > 0  # stopped early: the rest is left, not failed one by one
    assert result.summary.done == 0
    assert result.summary.failed + result.left == 40
