"""The remove pipeline on the fake backend: every job reported once, batches, errors."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from cutout.backends.fake import FakeBackend
from cutout.cli._paths import Job
from cutout.cli._pipeline import run_jobs, write_atomically
from cutout.engine import Engine, RemoveResult
from cutout.errors import DeviceError
from cutout.options import RemoveOptions


def _png(size: tuple[int, int], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _jobs(tmp_path: Path, good: int, bad: int) -> list[Job]:
    jobs = []
    for index in range(good + bad):
        source = tmp_path / f"in-{index}.png"
        source.write_bytes(_png((40 + index, 30), index) if index < good else b"garbage")
        jobs.append(Job(source, source.name, tmp_path / "out" / f"{index}.png"))
    return jobs


class _Reports:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[str, str | None] = {}  # the reason, None when written
        self.results: dict[str, RemoveResult] = {}
        self.duplicates: list[str] = []

    def __call__(self, job: Job, outcome: RemoveResult | str) -> None:
        with self.lock:
            if job.display in self.seen:
                self.duplicates.append(job.display)
            self.seen[job.display] = outcome if isinstance(outcome, str) else None
            if isinstance(outcome, RemoveResult):
                self.results[job.display] = outcome


def test_every_job_is_reported_once_and_good_ones_written(tmp_path: Path) -> None:
    backend = FakeBackend()
    engine = Engine(backend.spec, backend=backend)
    jobs = _jobs(tmp_path, good=30, bad=5)
    reports = _Reports()
    run_jobs(engine, jobs, RemoveOptions(), reports, workers=3)
    assert reports.duplicates == []
    assert set(reports.seen) == {job.display for job in jobs}
    for job in jobs[:30]:
        assert reports.seen[job.display] is None
        assert job.output is not None
        with Image.open(job.output) as image:
            assert image.mode == "RGBA"
            # the reporter gets the result that was written
            assert reports.results[job.display].width == image.width
    for job in jobs[30:]:
        assert reports.seen[job.display] is not None
        assert job.output is not None and not job.output.exists()
    # every good image went through the model exactly once, never more than a batch at once
    assert max(backend.batches) <= backend.spec.max_batch
    assert sum(backend.batches) == 30


def test_a_failing_forward_fails_its_batch_and_the_run_goes_on(tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.fail_with = [DeviceError("cuda out of memory")]
    engine = Engine(backend.spec, backend=backend)
    jobs = _jobs(tmp_path, good=6, bad=0)
    reports = _Reports()
    run_jobs(engine, jobs, RemoveOptions(), reports, workers=1)
    failed = [name for name, reason in reports.seen.items() if reason is not None]
    assert failed, "the injected error failed some images"
    assert all(reports.seen[name] == "cuda out of memory" for name in failed)
    assert len(reports.seen) == 6
    assert sum(reason is None for reason in reports.seen.values()) == 6 - len(failed)


def test_unexpected_errors_become_one_line_reasons(tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.fail_with = [ZeroDivisionError("boom\n index: 2 Got: 672\n")]
    engine = Engine(backend.spec, backend=backend)
    reports = _Reports()
    run_jobs(engine, _jobs(tmp_path, good=1, bad=0), RemoveOptions(), reports)
    [reason] = reports.seen.values()
    assert reason is not None
    assert "ZeroDivisionError: boom index: 2 Got: 672" in reason and "--debug" in reason
    assert "\n" not in reason


def test_unwritable_output_is_a_failure_of_that_job(tmp_path: Path) -> None:
    backend = FakeBackend()
    engine = Engine(backend.spec, backend=backend)
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    source = tmp_path / "in.png"
    source.write_bytes(_png((20, 20), 1))
    reports = _Reports()
    job = Job(source, "in.png", blocker / "sub" / "out.png")  # parent is a file
    run_jobs(engine, [job], RemoveOptions(), reports)
    reason = reports.seen["in.png"]
    assert reason is not None and str(blocker) in reason


def test_write_atomically_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "out.png"
    write_atomically(target, b"one")
    write_atomically(target, b"two")
    assert target.read_bytes() == b"two"
    assert [path.name for path in target.parent.iterdir()] == ["out.png"]
