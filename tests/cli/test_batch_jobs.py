"""``cutout batch`` as Cloud Run Jobs run it: real processes, the real u2netp model, the
task variables, Cloud Storage (the fake, through the real client), a task killed midway
and run again, SIGTERM and SIGTSTP/SIGCONT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cutout.batch.shard import shard_of
from tests.batch.photos import catalogue
from tests.fakes.storage import FakeStorage

BUCKET = "shop-catalogue"
SRC, DST = f"gs://{BUCKET}/raw", f"gs://{BUCKET}/cutouts"
PHOTOS = catalogue(40)
TASKS = 3


@pytest.fixture
def bucket() -> Iterator[FakeStorage]:
    # a store that answers in 20 ms, as Cloud Storage does from the same region
    with FakeStorage(delay_s=0.02) as fake:
        fake.create_bucket(BUCKET)
        for name, data in PHOTOS.items():
            fake.put(BUCKET, f"raw/{name}", data, content_type="image/jpeg")
        yield fake
        assert fake.errors == []


_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_task_left_behind() -> Iterator[None]:
    """A failed assertion must not leave tasks running after the test."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
        process.communicate()


def task(
    fake: FakeStorage | None, index: int, attempt: int = 0, *args: str | Path
) -> subprocess.Popen[bytes]:
    """One task of an execution, as Cloud Run starts it: no flags, the task variables."""
    env = {
        **os.environ,
        "CLOUD_RUN_TASK_INDEX": str(index),
        "CLOUD_RUN_TASK_COUNT": str(TASKS),
        "CLOUD_RUN_TASK_ATTEMPT": str(attempt),
        "CLOUD_RUN_EXECUTION": "catalogue-x7k2p",
    }
    if fake is not None:
        env["STORAGE_EMULATOR_HOST"] = fake.endpoint
        env["DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"] = "true"
    command = [sys.executable, "-m", "cutout.cli.main", "batch", *map(str, args or (SRC, DST))]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _STARTED.append(process)
    return process


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    """Poll until ``condition`` holds; fail if the process ends first."""
    while not condition():
        assert process.poll() is None, process.communicate()[1].decode()
        time.sleep(0.01)


def finish(process: subprocess.Popen[bytes], timeout: float = 300) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err.decode()


def outputs(fake: FakeStorage) -> dict[str, int]:
    """Output name -> generation."""
    found = {}
    for name in fake.names(BUCKET):
        if name.startswith("cutouts/") and not name.startswith("cutouts/.cutout/"):
            stored = fake.object(BUCKET, name)
            assert stored is not None
            found[name.removeprefix("cutouts/")] = stored.generation
    return found


def report(fake: FakeStorage, index: int) -> dict[str, dict[str, object]]:
    stored = fake.object(BUCKET, f"cutouts/.cutout/reports/shard-{index}-of-{TASKS}.jsonl")
    assert stored is not None
    return {line["source"]: line for line in map(json.loads, stored.data.decode().splitlines())}


def png(name: str) -> str:
    return name.removesuffix(".jpg") + ".png"


def test_three_tasks_one_killed_midway_and_run_again(bucket: FakeStorage) -> None:
    owned = {i: {n for n in PHOTOS if shard_of(n, TASKS) == i} for i in range(TASKS)}
    assert all(len(names) >= 8 for names in owned.values())
    tasks = [task(bucket, index) for index in range(TASKS)]
    victim = tasks[1]
    # killed as a maintenance event or an OOM would: no warning, after two of its outputs
    wait_until(lambda: len(set(map(png, owned[1])) & set(outputs(bucket))) >= 2, victim)
    victim.kill()
    assert finish(victim)[0] == -signal.SIGKILL
    for index in (0, 2):
        code, err = finish(tasks[index])
        assert code == 0, err
        assert f"{len(owned[index])} items: {len(owned[index])} done, 0 skipped" in err
    before = outputs(bucket)
    kept = {name for name in owned[1] if png(name) in before}
    assert 2 <= len(kept) < len(owned[1]), "the kill came too late to test a resume"

    code, err = finish(task(bucket, 1, attempt=1))  # Cloud Run's retry of the task
    assert code == 0, err

    after = outputs(bucket)
    assert sorted(after) == sorted(map(png, PHOTOS))  # every output, exactly once
    assert {name: after[name] for name in before} == before  # none written twice
    assert sorted(bucket.names(BUCKET)) == sorted(
        [f"raw/{name}" for name in PHOTOS]
        + [f"cutouts/{name}" for name in after]
        + [f"cutouts/.cutout/reports/shard-{i}-of-{TASKS}.jsonl" for i in range(TASKS)]
    )
    rerun = report(bucket, 1)
    assert {s for s, line in rerun.items() if line["status"] == "skipped"} == kept
    assert {s for s, line in rerun.items() if line["status"] == "done"} == owned[1] - kept
    # the reports agree with each other and with the bucket
    lines = [line for index in range(TASKS) for line in report(bucket, index).values()]
    assert sorted(str(line["source"]) for line in lines) == sorted(PHOTOS)
    for line in lines:
        assert line["status"] in ("done", "skipped") and line["error"] is None
        stored = bucket.object(BUCKET, f"cutouts/{line['output']}")
        assert stored is not None and stored.metadata["cutout-source"] == line["source"]
        assert stored.data.startswith(b"\x89PNG") and stored.content_type == "image/png"


def test_sigterm_stops_taking_items_keeps_whole_outputs_and_the_next_run_resumes(
    tmp_path: Path,
) -> None:
    source, out = tmp_path / "raw", tmp_path / "cutouts"
    photos = catalogue(16, side=240)
    for name, data in photos.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    process = task(None, 0, 0, source, out, "--shard", "0/1")
    wait_until(lambda: len(list(out.rglob("*.png"))) >= 1, process)
    process.send_signal(signal.SIGTERM)  # what Cloud Run sends when an execution is cancelled
    code, err = finish(process)
    assert code == 128 + signal.SIGTERM, err
    assert "cutout: stopped by SIGTERM" in err and "left for the next run" in err
    made = {p.relative_to(out).as_posix() for p in out.rglob("*.png")}
    assert 1 <= len(made) < len(photos)
    assert [p.name for p in out.rglob(".cutout-tmp-*")] == []
    lines = [
        json.loads(t) for t in (out / ".cutout/reports/shard-0-of-1.jsonl").read_text().splitlines()
    ]
    assert {line["output"] for line in lines} == made  # the report was flushed on the way out
    assert {line["status"] for line in lines} == {"done"}

    process = task(None, 0, 1, source, out, "--shard", "0/1")
    code, err = finish(process)
    assert code == 0, err
    assert f"{len(photos) - len(made)} done, {len(made)} skipped" in err


def test_a_cloud_run_task_is_not_suspended_by_sigtstp_and_goes_on_after_sigcont(
    bucket: FakeStorage,
) -> None:
    process = task(bucket, 0)
    name = f"cutouts/.cutout/reports/shard-0-of-{TASKS}.jsonl"
    wait_until(lambda: bucket.object(BUCKET, name) is not None, process)
    process.send_signal(signal.SIGTSTP)  # 10 s before a maintenance migration
    time.sleep(0.3)
    state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state != "T", "the task was suspended"
    process.send_signal(signal.SIGCONT)
    code, err = finish(process)
    assert code == 0, err
    owned = [n for n in PHOTOS if shard_of(n, TASKS) == 0]
    assert set(report(bucket, 0)) == set(owned)
