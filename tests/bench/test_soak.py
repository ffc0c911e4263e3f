"""bench/soak.py: the mix, the schedule, the /proc readings and the verdict, then a real
60-second soak of ``cutout serve`` (slow)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from cutout.errors import CutoutError, DecodeError, ImageTooLargeError
from cutout.imaging.decode import decode
from procfs import Usage, read_usage
from soak_mix import Kind, build_mix, check, kinds_in_order, oversized_png, schedule
from soak_report import OVERLOADED, Phases, Record, Run, Sample, goals, sample_rows
from tests.bench.conftest import BENCH
from tests.conftest import REPO


@pytest.fixture(scope="module")
def mix(shared_images: Path) -> list[Kind]:
    return build_mix(shared_images)


def test_the_mix_is_a_deck_of_50_with_10_percent_bad_inputs(mix: list[Kind]) -> None:
    assert sum(kind.weight for kind in mix) == 50
    assert sum(kind.weight for kind in mix if kind.bad) == 5
    assert {kind.path.split("?")[0] for kind in mix} == {"/v1/remove", "/v1.0/removebg"}
    assert {kind.answer for kind in mix if not kind.bad} == {
        "image/png",
        "image/webp",
        "image/jpeg",
        "application/json",
    }
    # every deck of 50 holds each kind exactly ``weight`` times, in a seeded order
    order = kinds_in_order(mix, seed=3)
    decks = [[kind.name for kind in itertools.islice(order, 50)] for _ in range(2)]
    for deck in decks:
        assert Counter(deck) == {kind.name: kind.weight for kind in mix}
    assert decks[0] != decks[1]
    again = kinds_in_order(mix, seed=3)
    assert [kind.name for kind in itertools.islice(again, 50)] == decks[0]


def test_bad_inputs_are_refused_by_the_decoder_as_the_mix_expects(mix: list[Kind]) -> None:
    errors = {"failed_to_read_image": DecodeError, "resolution_too_high": ImageTooLargeError}
    decoded = 0
    for kind in mix:
        if kind.answer not in errors:
            continue
        files = kind.post["files"]
        data = next(iter(files.values()))[1]
        with pytest.raises(CutoutError) as caught:
            decode(data)
        assert type(caught.value) is errors[kind.answer], kind.name
        decoded += 1
    assert decoded == 3
    with pytest.raises(ImageTooLargeError):
        decode(oversized_png())


def test_schedule_is_seeded_and_keeps_its_rate(mix: list[Kind]) -> None:
    poisson = schedule(mix, rate=2.0, duration=1000, seed=5)
    again = schedule(mix, rate=2.0, duration=1000, seed=5)
    assert [(a.at, a.kind.name) for a in poisson] == [(a.at, a.kind.name) for a in again]
    assert 1900 <= len(poisson) <= 2100
    assert all(0 <= a.at < 1000 for a in poisson)
    assert [a.at for a in poisson] == sorted(a.at for a in poisson)
    uniform = schedule(mix, rate=4.0, duration=10, seed=5, arrivals="uniform")
    assert [a.at for a in uniform] == pytest.approx([0.125 + 0.25 * i for i in range(40)])
    with pytest.raises(ValueError):
        schedule(mix, rate=0, duration=10, seed=5)


def _response(status: int, content: bytes, media: str) -> httpx.Response:
    return httpx.Response(status, content=content, headers={"content-type": media})


def _error(status: int, code: str) -> httpx.Response:
    body = json.dumps({"errors": [{"code": code, "title": "t", "detail": "d"}]}).encode()
    return _response(status, body, "application/json")


def test_check_accepts_only_the_answer_a_kind_must_get() -> None:
    image = Kind("png", 1, "/v1/remove")
    bad = Kind("bomb", 1, "/v1/remove", status=400, answer="resolution_too_high")
    webp = Kind("webp", 1, "/v1/remove", answer="image/webp")
    assert check(image, _response(200, b"\x89PNG\r\n", "image/png")) == ""
    assert check(image, _response(200, b"GIF89a", "image/png")) == "200 body is not image/png"
    assert check(image, _response(200, b"\x89PNG", "image/jpeg")) == "200 image/jpeg"
    assert check(image, _error(500, "internal_error")) == "500 internal_error"
    assert check(image, _response(502, b"bad gateway", "text/plain")) == "502 (no error JSON)"
    assert check(webp, _response(200, b"RIFF\0\0\0\0WEBP", "image/webp")) == ""
    assert check(bad, _error(400, "resolution_too_high")) == ""
    assert check(bad, _error(400, "failed_to_read_image")) == "400 failed_to_read_image"
    assert check(bad, _error(413, "resolution_too_high")) == "413 resolution_too_high"
    assert check(bad, _response(200, b"\x89PNG", "image/png")) == "200"


def test_phases_are_minutes_or_sixths() -> None:
    ten = Phases(600)
    assert (ten.length, ten.second, ten.last) == (60, (60, 120), (540, 600))
    assert "sixth" not in ten.describe()
    one = Phases(60)
    assert (one.length, one.second, one.last) == (10, (10, 20), (50, 60))
    assert "a sixth of the 60 s run" in one.describe()


def _run(
    rss: list[int],
    fds: list[int] | None = None,
    connections: list[int] | None = None,
    bad: Sequence[tuple[str, str]] = (),
    last_latency: float = 1.0,
) -> Run:
    """A 60 s run sampled every 5 s (times from 0), an image a second, all answered in
    1 s except those of the last 10 s (``last_latency``); ``bad``: (kind, outcome)."""
    count = len(rss)
    fds = fds or [20] * count
    connections = connections or [0] * count
    run = Run(soak_start=0.0, capacity=2.0, rate=1.6)
    for index in range(count):
        usage = Usage(rss[index] * 1024, rss[index] * 1024, 12, fds[index], connections[index])
        run.samples.append(Sample(5.0 * index, "soak", usage, 150, 1, 1.0))
    for second in range(60):
        latency = last_latency if second >= 50 else 1.0
        run.records.append(Record("png", False, second, second + latency, ""))
    for index, (kind, outcome) in enumerate(bad):
        run.records.append(Record(kind, True, index + 0.5, index + 0.6, outcome))
    return run


def _verdict(run: Run, mix: list[Kind]) -> dict[str, bool | None]:
    return {goal.name: goal.passed for goal in goals(run, Phases(60), mix)}


def test_a_flat_run_meets_every_goal(mix: list[Kind]) -> None:
    run = _run([500] * 13, bad=[(kind.name, "") for kind in mix if kind.bad])
    assert all(_verdict(run, mix).values()), goals(run, Phases(60), mix)


def test_each_goal_fails_on_its_own(mix: list[Kind]) -> None:
    # windows of 10 s after the 10 s warm-up; a window's floor is its lowest sample
    rss = "RSS floor after warm-up"
    grown = _verdict(_run([400, 450, 500, 510, 520, 527, 527, 527, 527, 527, 527, 527, 527]), mix)
    assert grown[rss] is False  # floors 500, 520, 527...: +5.4 %
    within = _verdict(_run([400, 450, 500, 510, 520, 524, 524, 524, 524, 524, 524, 524, 524]), mix)
    assert within[rss] is True
    # requests in flight at a sample lift RSS for that moment only
    swings = _verdict(_run([400, 600, 500, 590, 520, 610, 500, 600, 520, 590, 600, 520, 600]), mix)
    assert swings[rss] is True
    # ...while what stays between them rising window after window is a leak, peaks or not
    creeps = _verdict(_run([600, 600, 500, 600, 510, 600, 520, 600, 530, 600, 530, 600, 540]), mix)
    assert creeps[rss] is False
    leak = _verdict(_run([500] * 13, fds=[20, 20, 20] + [29] * 10), mix)
    assert leak["descriptors (not connections)"] is False
    # descriptors that are client connections come and go with the load
    busy = [0, 0, 0] + [40] * 10
    clients = _verdict(_run([500] * 13, fds=[20 + n for n in busy], connections=busy), mix)
    assert clients["descriptors (not connections)"] is True
    errors = _verdict(_run([500] * 13, bad=[("bad text file", "500 internal_error")]), mix)
    assert errors["unexpected errors"] is False
    assert errors["bad inputs answered with their code"] is False
    overloaded = _verdict(_run([500] * 13, bad=[("bad text file", OVERLOADED)]), mix)
    assert overloaded["unexpected errors"] is True
    assert overloaded["503 back-pressure"] is False
    # at 80 %: on average at most 8 in flight (the samples here hold 1 each)
    behind = _run([500] * 13)
    behind.samples[-1] = dataclasses.replace(behind.samples[-1], in_flight=93)
    assert _verdict(behind, mix)["server kept up"] is False
    behind.samples[-1] = dataclasses.replace(behind.samples[-1], in_flight=91)
    assert _verdict(behind, mix)["server kept up"] is True  # (12 + 91) / 13 = 7.9
    slower = _verdict(_run([500] * 13, last_latency=1.25), mix)
    assert slower["p99, last vs second minute"] is False
    assert _verdict(_run([500] * 13, last_latency=1.15), mix)["p99, last vs second minute"]


def test_without_a_pid_memory_is_not_measured(mix: list[Kind]) -> None:
    run = _run([500] * 13)
    run.samples = [Sample(s.at, s.phase, None, None, None, 1.0) for s in run.samples]
    verdict = _verdict(run, mix)
    assert verdict["RSS floor after warm-up"] is None
    assert verdict["unexpected errors"] is True


def test_sample_rows_window_from_row_to_row() -> None:
    run = _run([500] * 13)
    rows = sample_rows(run, every=6)
    assert [row.t for row in rows] == [0, 30, 60]
    assert [row.answered for row in rows] == [0, 30, 60]
    assert [row.p50_ms for row in rows] == [None, 1000, 1000]
    assert rows[-1].rss_mb == 500


def test_read_usage_counts_files_and_connections_apart() -> None:
    before = read_usage(os.getpid())
    assert before.rss_kb > 0 and before.anon_kb > 0 and before.threads >= 1
    with tempfile.TemporaryFile() as _, socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        with client, accepted:
            during = read_usage(os.getpid())
    # the file and the listening socket are "other" descriptors; both connection ends
    # (this process is client and server) are connections
    assert during.connections - before.connections == 2
    assert during.other_fds - before.other_fds == 2
    with pytest.raises(OSError):
        read_usage(2**22 + 1)  # above pid_max: no such process


def test_usage_errors_exit_2() -> None:
    for args in (["--duration", "10"], ["--pid", "1"], ["--load", "0"]):
        result = subprocess.run(
            [sys.executable, str(BENCH / "soak.py"), *args], capture_output=True, check=False
        )
        assert result.returncode == 2, (args, result.stderr)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_soak_60_seconds(tmp_path: Path, shared_images: Path) -> None:
    """A real ``cutout serve`` for 60 s at 60 % of its measured capacity: no memory or
    descriptor growth, no unexpected answer, every bad input refused with its code.
    The capacity phase before it (250 requests, 2-3 minutes here) is the warm-up that
    takes the server past its one-off memory steps.

    The p99 goal (latency of the last sixth vs the second) is measured and printed but
    not asserted: on a shared 2-core machine wall time is the neighbours' as much as the
    server's, and speed lives in benchmarks, not in timed tests.
    """
    report_path = tmp_path / "soak.json"
    command = [
        sys.executable,
        str(BENCH / "soak.py"),
        "--duration",
        "60",
        # the benchmark's 80 % leaves a shared machine's neighbours no room: when they
        # take a core the soak falls behind, and its queue's memory is not a leak
        "--load",
        "0.6",
        "--images",
        str(shared_images),
        "--json",
        str(report_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=840, check=False, cwd=REPO
    )
    # an exception also exits 1, but writes no report: show what the soak said
    assert result.returncode in (0, 1) and report_path.exists(), (
        result.stdout[-3000:] + result.stderr[-6000:]
    )
    report = json.loads(report_path.read_text())
    print(result.stdout)  # the tables, p99 included, for the test log
    assert result.returncode == (0 if report["passed"] else 1)
    verdict = {goal["name"]: goal for goal in report["goals"]}
    asserted = (
        "RSS floor after warm-up",
        "descriptors (not connections)",
        "threads",
        "fds at rest",
        "unexpected errors",
        "bad inputs answered with their code",
    )
    failed = {name: verdict[name]["measured"] for name in asserted if not verdict[name]["passed"]}
    assert not failed, result.stdout
    kinds = {row["kind"]: row for row in report["kinds"]}
    assert all(row["unexpected"] == 0 for row in kinds.values())
    assert report["capacity_per_s"] > 0
