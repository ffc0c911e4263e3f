"""``cutout batch`` throughput: against ``cutout remove`` on a folder, and from Cloud Storage.

1. **Folder**: the same photos, the same options, the commands a user types, run in
   turns (remove then batch, batch then remove, ...) so that other work on the machine
   slows both alike: ``cutout remove IN -o OUT`` and ``cutout batch IN OUT`` (each into a fresh
   folder, so nothing is skipped). Wall time of the whole command, process start and
   model load included; the ratio batch / remove (goal: at most 1.10).
2. **Cloud Storage**: ``cutout batch gs://B/in gs://B/out`` against the local fake of the
   JSON API (``tests/fakes/storage.py``, the real google-cloud-storage client) where
   every request waits ``--delay-ms`` first (default 50 ms), for a few ``--io-threads``
   values: images/s, and the model's idle share (the time the model thread waited for
   input between its first and last batch, which the command prints in its summary
   line; goal ~0) and the most requests the store was answering at one time.
3. **The scheduler alone**: the same from the fake bucket, in this process, with the
   fake model (instant) on 320 px photos, so that the store's latency and the decode /
   encode CPU are all that limit the rate: how reads and writes in flight scale it.

The photos are ../shared/images scaled to ``--side`` px and varied (mirrored, cropped)
into ``--images`` distinct JPEGs, as ``tests/batch/photos.py`` makes them. Nothing here
asserts; it prints tables and the machine (CPU model, cores, load average before and
after). The fake server runs in this process, so its CPU time is shared with the command.

    .venv/bin/python bench/batch.py                         # 40 photos, 3 runs
    .venv/bin/python bench/batch.py --images 80 --runs 5 --io-threads 1,2,8
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the storage fake and the photos live with the tests

from tests.batch.photos import catalogue  # noqa: E402
from tests.fakes.storage import FakeStorage  # noqa: E402

from quality.machine import describe, summary  # noqa: E402

BUCKET = "bench-catalogue"
_SUMMARY = re.compile(
    r"took (?P<wall>[\d.]+) s \((?P<rate>[\d.]+) items/s, model idle (?P<idle>[\d.]+) %\)"
)


@dataclass(frozen=True)
class Run:
    wall_s: float  # the whole command, from spawn to exit
    cpu_s: float  # the command's CPU time, every thread (steadier than wall on a busy machine)
    rate: float = float("nan")  # items/s of the run itself, as batch reports it
    idle_percent: float = float("nan")


def cutout(args: list[str], env: dict[str, str] | None = None) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cutout.cli.main", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        raise SystemExit(f"cutout {' '.join(args)} failed:\n{done.stderr}")
    match = _SUMMARY.search(done.stderr)
    if match is None:
        return Run(wall, cpu)
    return Run(wall, cpu, float(match["rate"]), float(match["idle"]))


def folder_runs(photos: dict[str, bytes], runs: int, options: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="cutout-bench-batch-") as temp:
        source = Path(temp) / "in"
        for name, data in photos.items():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes(data)
        rows = []
        for run in range(runs):
            remove_args = ["remove", str(source), "-o", f"{temp}/remove-{run}", *options]
            batch_args = ["batch", str(source), f"{temp}/batch-{run}", "-q", *options]
            if run % 2:  # each goes first in every other run
                batch = cutout(batch_args)
                remove = cutout(remove_args)
            else:
                remove = cutout(remove_args)
                batch = cutout(batch_args)
            rows.append((remove, batch))
    print(f"\n## Folder: {len(photos)} photos, options {' '.join(options) or '(none)'}\n")
    print("| run | remove wall s | batch wall s | ratio | remove CPU s | batch CPU s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for run, (remove, batch) in enumerate(rows, 1):
        print(
            f"| {run} | {remove.wall_s:.2f} | {batch.wall_s:.2f} | "
            f"{batch.wall_s / remove.wall_s:.3f} | {remove.cpu_s:.2f} | {batch.cpu_s:.2f} | "
            f"{batch.cpu_s / remove.cpu_s:.3f} |"
        )
    medians = [
        statistics.median(getattr(run[i], key) for run in rows)
        for key in ("wall_s", "cpu_s")
        for i in (0, 1)
    ]
    print(
        f"| median | {medians[0]:.2f} | {medians[1]:.2f} | {medians[1] / medians[0]:.3f} | "
        f"{medians[2]:.2f} | {medians[3]:.2f} | {medians[3] / medians[2]:.3f} |"
    )
    idle = ", ".join(f"{batch.idle_percent:.1f} %" for _, batch in rows)
    print(f"\nbatch's model idle (waiting for input), per run: {idle}")


@contextmanager
def bucket(
    photos: dict[str, bytes], delay_s: float
) -> Iterator[tuple[FakeStorage, dict[str, str]]]:
    """The storage fake with ``photos`` under ``in/``, and the environment that points
    google-cloud-storage at it."""
    with FakeStorage(delay_s=delay_s) as fake:
        fake.create_bucket(BUCKET)
        for name, data in photos.items():
            fake.put(BUCKET, f"in/{name}", data, content_type="image/jpeg")
        yield (
            fake,
            {
                "STORAGE_EMULATOR_HOST": fake.endpoint,
                "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA": "true",
            },
        )


def storage_runs(
    photos: dict[str, bytes], runs: int, delay_s: float, io_threads: list[int]
) -> None:
    print(f"\n## Cloud Storage fake, {delay_s * 1000:.0f} ms a request: {len(photos)} photos\n")
    print("| --io-threads | run | wall s | CPU s | images/s | model idle | most requests at once |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    with bucket(photos, delay_s) as (fake, env):
        for threads in io_threads:
            for run in range(runs):
                fake.max_in_flight = 0
                target = f"gs://{BUCKET}/out-{threads}-{run}"
                result = cutout(
                    ["batch", f"gs://{BUCKET}/in", target, "-q", "--io-threads", str(threads)],
                    env,
                )
                print(
                    f"| {threads} | {run + 1} | {result.wall_s:.2f} | {result.cpu_s:.2f} | "
                    f"{result.rate:.2f} | "
                    f"{result.idle_percent:.1f} % | {fake.max_in_flight} |"
                )


def scheduler_runs(photos: dict[str, bytes], delay_s: float, io_threads: list[int]) -> None:
    """The scheduler alone, in this process: the fake model (instant), so that only the
    store's latency and the decode/encode CPU limit the rate."""
    from google.cloud import storage

    from cutout.backends.fake import FakeBackend
    from cutout.batch.gcs import GcsStore
    from cutout.batch.locations import GcsLocation
    from cutout.batch.plan import plan
    from cutout.batch.provenance import options_digest
    from cutout.batch.report import ShardReport
    from cutout.batch.runner import ShardRun
    from cutout.batch.shard import Shard
    from cutout.cli._paths import IMAGE_SUFFIXES
    from cutout.cli._pipeline import pool_size
    from cutout.engine import Engine
    from cutout.options import RemoveOptions

    print(f"\n## The scheduler alone: fake model, {delay_s * 1000:.0f} ms a request\n")
    print("| --io-threads | images/s | model idle | most requests at once |")
    print("|---:|---:|---:|---:|")
    with bucket(photos, delay_s) as (fake, env):
        os.environ.update(env)
        backend = FakeBackend()
        engine = Engine(backend.spec, backend=backend)
        for threads in io_threads:
            fake.max_in_flight = 0
            clients = [storage.Client(project="bench") for _ in range(2)]
            location = GcsLocation(BUCKET, "in/")
            src = GcsStore(location, client=clients[0], connections=threads + 2)
            location = GcsLocation(BUCKET, f"fake-{threads}/")
            dst = GcsStore(location, client=clients[1], connections=threads + 2)
            work = plan(src.list(), [], Shard(), "png", suffixes=IMAGE_SUFFIXES)
            report = ShardReport(dst, Shard())
            digest = options_digest({}, model="fake")
            run = ShardRun(src, dst, engine, RemoveOptions(), digest, report)
            stats = run.run(work, max_batch=8, cpu_workers=pool_size(), io_workers=threads).stats
            for client in clients:
                client.close()
            print(
                f"| {threads} | {stats.taken / stats.wall_s:.1f} | "
                f"{100 * stats.idle_fraction:.1f} % | {fake.max_in_flight} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--side", type=int, default=1000, help="longest side of the photos, px")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--io-threads", default="1,8", help="comma-separated values to try")
    parser.add_argument("--options", default="", help="remove options for both, e.g. '--crop'")
    parser.add_argument("--skip-folder", action="store_true")
    parser.add_argument("--skip-storage", action="store_true")
    parser.add_argument("--skip-scheduler", action="store_true")
    args = parser.parse_args()

    photos = catalogue(args.images, side=args.side)
    size = sum(map(len, photos.values())) / len(photos) / 1024
    print(f"machine: {summary(describe())}")
    print(f"photos: {len(photos)} JPEGs, longest side {args.side} px, {size:.0f} KiB on average")
    if not args.skip_folder:
        folder_runs(photos, args.runs, args.options.split())
    if not args.skip_storage:
        threads = [int(value) for value in args.io_threads.split(",")]
        storage_runs(photos, args.runs, args.delay_ms / 1000, threads)
    if not args.skip_scheduler:
        threads = [int(value) for value in args.io_threads.split(",")]
        scheduler_runs(catalogue(args.images, side=320), args.delay_ms / 1000, threads)
    print(f"\nload average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
