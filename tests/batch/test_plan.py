"""The plan of a shard: which sources, which output names, what is refused and why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cutout.batch.locations import GcsLocation, LocalLocation
from cutout.batch.plan import is_source_name, nested_prefix, output_name, plan
from cutout.batch.shard import Shard
from cutout.batch.store import Item
from cutout.cli._paths import IMAGE_SUFFIXES, expand_inputs, plan_jobs


def items(*names: str) -> list[Item]:
    return [Item(name, 10, 1) for name in sorted(names)]


def test_output_names_are_the_ones_cutout_remove_gives_a_folder(tmp_path: Path) -> None:
    names = ["a.jpg", "shoes/red.JPEG", "shoes/deep/x.y.webp", "é/ü.heic", "b.tar.png"]
    folder = tmp_path / "in"
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")
    found, failed = expand_inputs([str(folder)])
    jobs = plan_jobs(found, str(tmp_path / "out"), "webp")
    assert failed == [] and all(job.error is None for job in jobs)
    by_remove = sorted(
        job.output.relative_to(tmp_path / "out").as_posix() for job in jobs if job.output
    )
    assert sorted(output_name(name, "webp") for name in names) == by_remove


def test_sources_are_the_files_cutout_remove_takes_from_a_folder(tmp_path: Path) -> None:
    names = [
        "a.jpg",
        "b.PNG",
        "notes.txt",
        ".hidden.jpg",
        ".git/x.jpg",
        "sub/.cache/y.png",
        "old.cutout.png",
        "sub/c.heic",
        "noext",
    ]
    folder = tmp_path / "in"
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")
    found, _ = expand_inputs([str(folder)])
    by_remove = sorted(item.relative.as_posix() for item in found)
    assert sorted(n for n in names if is_source_name(n, IMAGE_SUFFIXES)) == by_remove
    assert by_remove == ["a.jpg", "b.PNG", "sub/c.heic"]
    shutil.rmtree(folder)


def test_shards_split_the_work_and_each_task_keeps_its_existing_output() -> None:
    sources = items(*(f"sku-{i:03d}.jpg" for i in range(60)))
    outputs = items("sku-001.png", "sku-002.png", "unrelated.png")
    plans = [plan(sources, outputs, Shard(i, 3), "png", suffixes=IMAGE_SUFFIXES) for i in range(3)]
    names = [task.source.name for part in plans for task in part.tasks]
    assert sorted(names) == [item.name for item in sources]
    assert all(part.sources == 60 and part.refused == [] for part in plans)
    existing = {
        task.output: task.existing for part in plans for task in part.tasks if task.existing
    }
    assert sorted(existing) == ["sku-001.png", "sku-002.png"]


def test_two_sources_of_one_output_the_first_by_name_wins_in_every_shard() -> None:
    sources = items("a.jpg", "a.webp", "b.png", "b.jpg")
    shards = [plan(sources, [], Shard(i, 4), "png", suffixes=IMAGE_SUFFIXES) for i in range(4)]
    made = {task.source.name for part in shards for task in part.tasks}
    refused = {r.source: r.reason for part in shards for r in part.refused}
    assert made == {"a.jpg", "b.jpg"}
    assert refused == {
        "a.webp": "output a.png is made from a.jpg, which has the same name and comes first",
        "b.png": "output b.png is made from b.jpg, which has the same name and comes first",
    }


@pytest.mark.parametrize("name", ["../up.jpg", "a/../../b.jpg", "a//b.jpg", "/abs.jpg", "a\\b.jpg"])
def test_names_that_are_not_plain_relative_paths_are_refused(name: str) -> None:
    done = plan(items(name, "ok.jpg"), [], Shard(), "png", suffixes=IMAGE_SUFFIXES)
    assert [task.source.name for task in done.tasks] == ["ok.jpg"]
    assert [r.source for r in done.refused] == [name]
    assert "is not a plain relative name" in done.refused[0].reason


def test_dst_inside_src_is_not_read_and_outputs_never_land_inside_src() -> None:
    sources = items("a.jpg", "cutouts/a.png", "cutouts/sub/b.png")
    inside = plan(sources, [], Shard(), "png", suffixes=IMAGE_SUFFIXES, skip_prefix="cutouts/")
    assert [task.source.name for task in inside.tasks] == ["a.jpg"]
    # SRC = DST/raw: a source named raw/x.jpg would write DST/raw/x.png, inside SRC
    guarded = plan(
        items("x.jpg", "raw/y.jpg"),
        [],
        Shard(),
        "png",
        suffixes=IMAGE_SUFFIXES,
        guard_prefix="raw/",
    )
    assert [task.source.name for task in guarded.tasks] == ["x.jpg"]
    assert "would land inside SRC" in guarded.refused[0].reason


def test_where_one_location_lies_inside_another(tmp_path: Path) -> None:
    src, dst = LocalLocation(tmp_path / "in"), LocalLocation(tmp_path / "in" / "out")
    assert nested_prefix(dst, src) == "out/"
    assert nested_prefix(src, dst) is None
    assert nested_prefix(src, LocalLocation(tmp_path / "x" / ".." / "in")) == ""
    bucket = GcsLocation("shop", "in/")
    assert nested_prefix(GcsLocation("shop", "in/cut/"), bucket) == "cut/"
    assert nested_prefix(GcsLocation("shop", ""), bucket) is None
    assert nested_prefix(bucket, GcsLocation("shop", "")) == "in/"
    assert nested_prefix(GcsLocation("other", "in/"), bucket) is None
    assert nested_prefix(GcsLocation("shop", "in/"), src) is None
