"""One JSON line per item in each shard's own report file, and a summary."""

from __future__ import annotations

import json

import pytest

from cutout.batch.errors import StoragePermissionError
from cutout.batch.local import LocalStore
from cutout.batch.report import (
    ReportLine,
    ShardReport,
    read_reports,
    report_name,
    summarize,
)
from cutout.batch.shard import Shard
from cutout.batch.store import Store


def test_a_line_is_one_json_object_with_the_five_fields() -> None:
    line = ReportLine("shoes/é.jpg", "shoes/é.png", "failed", "cannot decode", 0.41234)
    text = line.to_json()
    assert "\n" not in text
    assert json.loads(text) == {
        "source": "shoes/é.jpg",
        "output": "shoes/é.png",
        "status": "failed",
        "error": "cannot decode",
        "seconds": 0.412,
    }
    assert ReportLine.from_json(text) == ReportLine(
        "shoes/é.jpg", "shoes/é.png", "failed", "cannot decode", 0.412
    )


def test_a_done_line_carries_the_cut_outs_confidence() -> None:
    line = ReportLine("cat.jpg", "cat.png", "done", None, 1.0, confidence=0.87654)
    data = json.loads(line.to_json())
    assert data["confidence"] == 0.877
    assert ReportLine.from_json(line.to_json()).confidence == 0.877


def test_reports_flush_on_a_clock_and_at_the_end(store: Store) -> None:
    now = [0.0]
    report = ShardReport(store, Shard(1, 3), flush_interval_s=10, clock=lambda: now[0])
    assert report.name == report_name(Shard(1, 3)) == ".cutout/reports/shard-1-of-3.jsonl"
    report.add(ReportLine("a.jpg", "a.png", "done", seconds=1.0))
    assert store.stat(report.name) is None  # not due yet
    now[0] = 11.0
    report.add(ReportLine("b.jpg", "b.png", "skipped"))
    assert store.read(report.name).decode().count("\n") == 2
    report.add(ReportLine("c.jpg", "c.png", "failed", "boom", 0.5))
    report.flush()
    lines = [ReportLine.from_json(t) for t in store.read(report.name).decode().splitlines()]
    assert [line.status for line in lines] == ["done", "skipped", "failed"]
    summary = report.summary()
    assert (summary.done, summary.skipped, summary.failed, summary.total) == (1, 1, 1, 3)
    assert summary.seconds == 1.5
    assert [f.source for f in summary.failures] == ["c.jpg"]
    assert "3 items: 1 done, 1 skipped (up to date), 1 failed" in str(summary)
    assert summary.to_dict()["failures"] == [{"source": "c.jpg", "error": "boom"}]
    assert [item.name for item in store.list()] == []  # reports are not catalogue items


def test_all_shards_reports_read_back_together(store: Store) -> None:
    for index in range(3):
        report = ShardReport(store, Shard(index, 3))
        report.add(ReportLine(f"{index}.jpg", f"{index}.png", "done"))
        report.flush()
    old = ShardReport(store, Shard(0, 2))  # an earlier run with another shard count
    old.add(ReportLine("old.jpg", "old.png", "failed", "x"))
    old.flush()
    store.write_text(".cutout/reports/notes.txt", "not a report\n")
    assert [line.source for line in read_reports(store, 3)] == ["0.jpg", "1.jpg", "2.jpg"]
    assert len(read_reports(store)) == 4
    assert summarize(read_reports(store, 3)).done == 3


def test_lines_that_do_not_parse_are_left_out(local_store: LocalStore) -> None:
    good = ReportLine("a.jpg", "a.png", "done").to_json()
    local_store.write_text(
        ".cutout/reports/shard-0-of-1.jsonl",
        f'{good}\nnot json\n{{"source": "b"}}\n{{"source": "c", "output": "c", "status": "odd"}}\n',
    )
    assert [line.source for line in read_reports(local_store)] == ["a.jpg"]


def test_a_due_rewrite_that_fails_never_fails_the_line_being_added(local_store: Store) -> None:
    class Failing:
        def __init__(self) -> None:
            self.fail = True

        def write_text(self, name: str, text: str, *, content_type: str = "") -> None:
            if self.fail:
                raise StoragePermissionError("write r: permission denied")
            local_store.write_text(name, text, content_type=content_type)

    failing = Failing()
    report = ShardReport(failing, Shard(), flush_interval_s=0)  # type: ignore[arg-type]
    report.add(ReportLine("a.jpg", "a.png", "done"))
    assert report.flush_error is not None and report.flush_error.code == "storage_permission_denied"
    with pytest.raises(StoragePermissionError):
        report.flush()
    failing.fail = False
    report.add(ReportLine("b.jpg", "b.png", "done"))  # the next rewrite holds every line
    assert local_store.read(report.name).decode().count("\n") == 2
