"""Shards: a stable hash of the name, mod N; --shard I/N and Cloud Run's task variables."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from cutout.batch.shard import (
    MAX_SHARDS,
    Shard,
    parse_shard,
    resolve_shard,
    shard_from_task,
    shard_of,
)
from cutout.batch.store import Item
from cutout.errors import ConfigError, InvalidOptionError

NAMES = [f"catalogue/{i // 100:03d}/sku-{i:05d}.jpg" for i in range(10_000)]


def test_the_assignment_is_pinned() -> None:
    # a change of hash would move items between shards under a running job's feet
    assert [shard_of(name, 7) for name in ("a.jpg", "shoes/red.jpg", "é/ü.png", "")] == [
        6,
        3,
        3,
        0,
    ]
    assert shard_of("a.jpg", 1000) == 449


def test_the_assignment_does_not_depend_on_the_process() -> None:
    code = (
        "from cutout.batch.shard import shard_of; "
        "print([shard_of(n, 13) for n in ('a.jpg', 'shoes/red.jpg', 'é/ü.png')])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {str([shard_of(n, 13) for n in ("a.jpg", "shoes/red.jpg", "é/ü.png")]) + "\n"}


def test_every_item_has_exactly_one_shard_and_shards_are_balanced() -> None:
    count = 7
    owners = Counter(shard_of(name, count) for name in NAMES)
    assert set(owners) == set(range(count))
    mean = len(NAMES) / count
    assert all(abs(n - mean) < 0.06 * mean for n in owners.values()), owners
    items = [Item(name, 1, 1) for name in NAMES]
    picked = [Shard(i, count).select(items) for i in range(count)]
    assert sorted(n.name for part in picked for n in part) == sorted(NAMES)
    assert all(part == sorted(part, key=lambda item: item.name) for part in picked)


@pytest.mark.parametrize(
    ("text", "index", "count"), [("0/1", 0, 1), ("3/4", 3, 4), (" 2 / 10 ", 2, 10)]
)
def test_shard_flag(text: str, index: int, count: int) -> None:
    shard = parse_shard(text)
    assert (shard.index, shard.count) == (index, count)
    assert shard.label == f"shard-{index}-of-{count}"
    assert str(shard) == f"{index}/{count}"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("4/4", "counts from 0, so it must be below 4 (0/4 .. 3/4)"),
        ("1/0", "N must be 1.."),
        (f"0/{MAX_SHARDS + 1}", "N must be 1.."),
        ("1-4", "expected I/N"),
        ("-1/4", "expected I/N"),
        ("a/b", "expected I/N"),
    ],
)
def test_bad_shard_flags(text: str, says: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_shard(text)
    assert says in caught.value.message
    assert caught.value.code == "invalid_shard"


def test_cloud_run_task_variables() -> None:
    assert shard_from_task(2, 8) == Shard(2, 8)
    assert shard_from_task(None, None) is None
    assert resolve_shard(None, 2, 8) == Shard(2, 8)
    assert resolve_shard("1/3", 2, 8) == Shard(1, 3)  # the flag wins
    assert resolve_shard(None, None, None) == Shard(0, 1)


@pytest.mark.parametrize(
    ("index", "count", "says"),
    [
        (2, None, "CLOUD_RUN_TASK_COUNT is not set"),
        (None, 2, "CLOUD_RUN_TASK_INDEX is not set"),
        (2, 2, "is not a task: shard index must be 0..1"),
        (0, MAX_SHARDS + 1, "is not a task: shard count must be 1.."),
    ],
)
def test_inconsistent_task_variables_are_a_config_error(
    index: int | None, count: int | None, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        shard_from_task(index, count)
    assert says in caught.value.message


def test_the_task_variables_come_through_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from cutout.config import load_settings

    monkeypatch.setenv("CLOUD_RUN_TASK_INDEX", "2")
    monkeypatch.setenv("CLOUD_RUN_TASK_COUNT", "8")
    monkeypatch.setenv("CLOUD_RUN_TASK_ATTEMPT", "1")
    monkeypatch.setenv("CLOUD_RUN_EXECUTION", "catalogue-x7k2p")
    settings = load_settings()
    assert (settings.cloud_run_task_attempt, settings.cloud_run_execution) == (1, "catalogue-x7k2p")
    shard = resolve_shard(None, settings.cloud_run_task_index, settings.cloud_run_task_count)
    assert shard == Shard(2, 8)
    monkeypatch.setenv("CLOUD_RUN_TASK_INDEX", "two")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.message.startswith("invalid settings: CLOUD_RUN_TASK_INDEX: ")


def test_one_shard_owns_everything_without_hashing() -> None:
    assert all(Shard().owns(name) for name in NAMES[:10])
