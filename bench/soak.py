"""Soak benchmark: ``cutout serve`` for 10 minutes at 80 % of its capacity; does it leak?

Starts a real ``cutout serve`` (u2netp) on a free loopback port, or uses ``--url``, and:

1. **Capacity**: a closed loop of ``--clients`` (16) concurrent clients sends
   ``--capacity-decks`` (5) decks of the request mix (250 requests); capacity is the
   answers per second after the first deck, while all clients were busy (``--capacity
   RATE`` takes RATE instead; the decks still run). These requests are also the memory
   warm-up: they take the server past its one-off steps (the ICC lookup tables that
   ``imaging/icc.py`` builds once a profile has converted 16.7 M pixels, 64 MiB each;
   the allocator's high-water mark), so that the soak sees the steady state.
2. **Soak**: an open loop at ``--load`` (0.8) x capacity for ``--duration`` seconds:
   arrivals on a seeded schedule (Poisson, or ``--arrivals uniform``) are sent whether or
   not earlier requests have been answered, so a slower server shows up as queueing and
   latency, not as a slower client. Latency counts from the scheduled arrival.
3. **At rest** before and after the soak (no client connected for 3 s): descriptors.

The mix (``soak_mix.py``): 0.24-8.1 MP photos as JPEG, PNG and WebP; PNG, WebP, JPEG and
JSON answers; background colour, crop, mask, alpha; both ``POST /v1/remove`` and the
remove.bg ``POST /v1.0/removebg``; 10 % bad inputs (truncated JPEG, a text file, a
60000x60000 PNG header, bad option values) that must get their 400 and error code. Any
other answer (a 5xx, a wrong 4xx or code, a wrong body, a timeout, a connection error)
is an unexpected error; 503 ``overloaded`` (back-pressure) is counted apart.

Every ``--sample-s`` (5) seconds: the server's RSS and RssAnon (its whole process tree),
open descriptors (established client connections apart), threads, and the number of
series in its ``/metrics`` (label cardinality).

Phases: the first ``min(60 s, duration / 6)`` is the warm-up, the next as long the
"second minute", the last as long the "last minute". Goals (``soak_report.py``): the
server kept up (on average at most twice the requests in flight of an M/M/1 queue at
this load: 8 at 80 %); after the warm-up, no minute's RSS floor (its lowest sample) is
more than 5 % above the second minute's; descriptors other than client connections grow
by <= ``FD_SLACK`` and threads by <= ``THREAD_SLACK``; descriptors at rest do not grow;
0 unexpected errors; every bad input answered with its code; no 503; p99 of the last
minute <= 1.2 x the second's. Exit status 0 when every goal is met, 1 otherwise, 2 on
usage errors.

    .venv/bin/python bench/soak.py                        # 10 minutes, u2netp
    .venv/bin/python bench/soak.py --duration 60 --json soak.json
    .venv/bin/python bench/soak.py --tracemalloc 10       # and where allocations grew
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from load import REPO, Server, serving
from procfs import machine, read_usage
from soak_mix import (
    Arrival,
    Arrivals,
    Kind,
    build_mix,
    check,
    deck_size,
    error_code,
    kinds_in_order,
    schedule,
)
from soak_report import (
    GOAL_COLUMNS,
    KIND_COLUMNS,
    OVERLOADED,
    SAMPLE_COLUMNS,
    Phases,
    Record,
    Run,
    Sample,
    goals,
    kind_rows,
    markdown,
    sample_rows,
)
from soak_tracemalloc import Snapshots, traced_server

__all__ = ["Options", "drive", "main"]

IMAGES = REPO.parent / "shared" / "images"
CLIENT_TIMEOUT_S = 120.0  # the server's own request deadline is 60 s
REST_S = 3.0


# -- load ------------------------------------------------------------------------------
async def send(client: httpx.AsyncClient, kind: Kind, run: Run, start: float) -> None:
    try:
        response = await client.post(kind.path, **kind.post)
        overloaded = response.status_code == 503 and error_code(response) == "overloaded"
        outcome = OVERLOADED if overloaded else check(kind, response)
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    run.records.append(Record(kind.name, kind.bad, start, time.monotonic(), outcome))


async def closed_loop(
    client: httpx.AsyncClient, order: Iterator[Kind], clients: int, run: Run
) -> None:
    """``clients`` clients each send, await the answer and send the next, until ``order``
    runs out."""

    async def worker() -> None:
        for kind in order:  # one iterator shared by all: each kind is sent once
            await send(client, kind, run, time.monotonic())

    await asyncio.gather(*(worker() for _ in range(clients)))


async def open_loop(client: httpx.AsyncClient, arrivals: Sequence[Arrival], run: Run) -> None:
    """Send each arrival at its time, never waiting for earlier answers; then drain."""
    pending: set[asyncio.Task[None]] = set()
    for arrival in arrivals:
        start = run.soak_start + arrival.at
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        task = asyncio.create_task(send(client, arrival.kind, run, start))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


def http_client(server: Server) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    timeout = httpx.Timeout(CLIENT_TIMEOUT_S, pool=None)
    return httpx.AsyncClient(base_url=server.url, limits=limits, timeout=timeout)


# -- sampling --------------------------------------------------------------------------
async def scrape(client: httpx.AsyncClient) -> tuple[int | None, int | None]:
    """(series in /metrics, image requests in flight in the server), None when unread."""
    try:
        response = await client.get("/metrics", timeout=10.0)
    except httpx.HTTPError:
        return None, None
    if response.status_code != 200:
        return None, None
    lines = [line for line in response.text.splitlines() if line and not line.startswith("#")]
    in_flight = [line for line in lines if line.startswith("cutout_requests_in_flight ")]
    return len(lines), round(float(in_flight[0].split()[1])) if in_flight else None


async def take_sample(client: httpx.AsyncClient, server: Server, run: Run, phase: str) -> None:
    at = time.monotonic()
    usage = await asyncio.to_thread(read_usage, server.pid) if server.pid else None
    series, in_flight = await scrape(client)
    sample = Sample(at, phase, usage, series, in_flight, os.getloadavg()[0])
    run.samples.append(sample)
    answered = sum(record.end <= at for record in run.records)
    unexpected = sum(record.unexpected and record.end <= at for record in run.records)
    memory = f"RSS {usage.rss_kb / 1024:.0f} MB, fds {usage.fds}, " if usage else ""
    memory += f"in flight {in_flight}, "
    print(
        f"{at - run.soak_start:8.1f} s {phase:8} {memory}answered {answered}, "
        f"unexpected {unexpected}, load {sample.load:.1f}",
        flush=True,
    )


@contextlib.asynccontextmanager
async def sampling(
    client: httpx.AsyncClient, server: Server, run: Run, phase: str, every: float
) -> AsyncIterator[None]:
    """Samples every ``every`` s (on a fixed grid) while the block runs, and at its end."""

    async def loop() -> None:
        first = time.monotonic()
        step = 0
        while True:
            await take_sample(client, server, run, phase)
            step += 1
            await asyncio.sleep(max(0.0, first + step * every - time.monotonic()))

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await take_sample(client, server, run, phase)


async def at_rest(server: Server, run: Run) -> None:
    """A sample with no client connected (the last client was closed ``REST_S`` ago)."""
    await asyncio.sleep(REST_S)
    async with httpx.AsyncClient(base_url=server.url) as client:
        await take_sample(client, server, run, "rest")


# -- the run ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    duration: float
    load: float
    capacity: float | None
    decks: int  # of the mix, for the capacity phase
    clients: int
    sample_s: float
    seed: int
    arrivals: Arrivals


async def measure_capacity(
    client: httpx.AsyncClient, kinds: Sequence[Kind], options: Options, run: Run
) -> float:
    """Answers per second of a saturating closed loop over ``capacity_decks`` decks of the
    mix, leaving out the first deck (the lead-in) and the last ``clients`` answers (the
    loop draining, no longer saturated)."""
    deck = deck_size(kinds)
    order = itertools.islice(kinds_in_order(kinds, options.seed + 2), options.decks * deck)
    first = len(run.records)
    await closed_loop(client, order, options.clients, run)
    ends = sorted(r.end for r in run.records[first:] if r.outcome != OVERLOADED)
    begin, end = deck - 1, len(ends) - options.clients - 1
    if end <= begin:
        raise RuntimeError(f"capacity: {len(ends)} answers are too few to measure")
    return (end - begin) / (ends[end] - ends[begin])


async def drive(
    server: Server, kinds: Sequence[Kind], options: Options, snapshots: Snapshots
) -> Run:
    run = Run(
        soak_start=time.monotonic(),
        load=options.load,
        load_average=list(os.getloadavg()),
    )
    async with (
        http_client(server) as client,
        sampling(client, server, run, "capacity", options.sample_s),
    ):
        # measured even when given: these requests are also the memory warm-up
        measured = await measure_capacity(client, kinds, options, run)
        run.capacity = options.capacity or measured
    await at_rest(server, run)
    run.rate = options.load * run.capacity
    given = f" (measured {measured:.2f}/s)" if options.capacity else ""
    print(f"capacity {run.capacity:.2f}/s{given}: the soak runs at {run.rate:.2f}/s", flush=True)
    arrivals = schedule(kinds, run.rate, options.duration, options.seed, options.arrivals)
    run.soak_start = time.monotonic()
    async with (
        http_client(server) as client,
        sampling(client, server, run, "soak", options.sample_s),
    ):
        warm = Phases(options.duration).length
        snapshot = asyncio.create_task(snapshots.take_at(run.soak_start + warm))
        await open_loop(client, arrivals, run)
        await snapshot
    await snapshots.take()
    await at_rest(server, run)
    run.load_average += os.getloadavg()
    return run


# -- command line ----------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--duration", type=float, default=600.0, help="soak seconds (600)")
    add("--load", type=float, default=0.8, help="arrival rate as a share of capacity (0.8)")
    add("--capacity", type=float, help="answers/s to take as capacity, not the measured")
    add("--capacity-decks", type=int, default=5, help="decks of 50 for capacity (5)")
    add("--clients", type=int, default=16, help="closed-loop clients for capacity (16)")
    add("--sample-s", type=float, default=5.0, help="seconds between samples (5)")
    add("--seed", type=int, default=9, help="seed of the mix and the arrivals (9)")
    add("--arrivals", choices=("poisson", "uniform"), default="poisson")
    add("--model", default="u2netp")
    add("--serve-arg", action="append", default=[], help="extra `cutout serve` argument")
    add("--url", help="soak this running server instead of starting one")
    add("--pid", type=int, help="with --url: the server's pid, to read its memory")
    add("--images", type=Path, default=IMAGES, help="folder of the mix's photos")
    add("--json", type=Path, help="write everything measured to this file")
    add("--table-every", type=int, default=1, help="print every Nth sample (1)")
    add("--tracemalloc", type=int, metavar="FRAMES", help="trace the server's allocations")
    args = parser.parse_args(argv)
    if args.duration < 6 * args.sample_s:
        parser.error("--duration must be at least 6 samples (6 x --sample-s)")
    if min(args.load, args.sample_s, args.clients, args.table_every) <= 0:
        parser.error("--load, --sample-s, --clients, --table-every must be > 0")
    if args.capacity_decks < 2:
        parser.error("--capacity-decks must be at least 2 (the first is the lead-in)")
    if args.capacity is not None and args.capacity <= 0:
        parser.error("--capacity must be > 0")
    if args.pid is not None and not args.url:
        parser.error("--pid goes with --url")
    if args.tracemalloc is not None and (args.url or args.tracemalloc < 1):
        parser.error("--tracemalloc needs a server this script starts, and FRAMES >= 1")
    if not args.images.is_dir():
        parser.error(f"{args.images} is not a folder")
    return args


@contextlib.contextmanager
def server_for(args: argparse.Namespace) -> Iterator[tuple[Server, Snapshots]]:
    if args.url:
        yield Server(args.url.rstrip("/"), args.pid), Snapshots()
    elif args.tracemalloc:
        with traced_server(args.model, args.serve_arg, args.tracemalloc) as traced:
            yield traced
    else:
        with serving(args.model, args.serve_arg) as server:
            yield server, Snapshots()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so the server started is stopped
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    mix = build_mix(args.images)
    options = Options(
        args.duration,
        args.load,
        args.capacity,
        args.capacity_decks,
        args.clients,
        args.sample_s,
        args.seed,
        args.arrivals,
    )
    phases = Phases(args.duration)
    host = machine()
    print(
        f"{host['cpu']}, {host['cores']} cores; model {args.model}; "
        f"{len(mix)} kinds of request; {phases.describe()}",
        flush=True,
    )
    with server_for(args) as (server, snapshots):
        run = asyncio.run(drive(server, mix, options, snapshots))
        allocations = snapshots.report()
    verdict = goals(run, phases, mix)
    rows = [asdict(row) for row in sample_rows(run)]
    kinds = kind_rows(run, mix)
    results = [{**asdict(goal), "result": _result(goal.passed)} for goal in verdict]
    passed = all(goal.passed is not False for goal in verdict)
    printed = [asdict(row) for row in sample_rows(run, args.table_every)]
    print(f"\ncapacity {run.capacity:.2f} answers/s; soak at {run.rate:.2f}/s ({args.load:.0%})")
    print(f"load average {', '.join(f'{x:.1f}' for x in run.load_average)} (before; after)")
    print(f"{phases.describe()}\n")
    print(markdown(printed, SAMPLE_COLUMNS), end="\n\n")
    print(markdown(kinds, KIND_COLUMNS), end="\n\n")
    print(markdown(results, GOAL_COLUMNS))
    if allocations:
        print(f"\n{allocations}")
    if args.json:
        report = {
            "options": asdict(options),
            "model": args.model,
            "machine": host,
            "load_average": run.load_average,
            "capacity_per_s": run.capacity,
            "rate_per_s": run.rate,
            "phases": phases.describe(),
            "samples": rows,
            "kinds": kinds,
            "goals": results,
            "passed": passed,
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if passed else 1


def _result(passed: bool | None) -> str:
    return "not measured" if passed is None else "pass" if passed else "FAIL"


if __name__ == "__main__":
    raise SystemExit(main())
