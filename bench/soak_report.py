"""What a soak run observed (requests, samples) and what it means (goals, tables).

Times are ``time.monotonic()`` seconds; :attr:`Run.soak_start` is the soak's zero. Nothing
here talks to a server, so the verdict can be tested on made-up runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from load import percentile
from procfs import Usage
from soak_mix import Kind

__all__ = [
    "GOAL_COLUMNS",
    "KIND_COLUMNS",
    "OVERLOADED",
    "SAMPLE_COLUMNS",
    "Goal",
    "Phases",
    "Record",
    "Row",
    "Run",
    "Sample",
    "goals",
    "kind_rows",
    "latencies",
    "markdown",
    "sample_rows",
]

RSS_GROWTH = 0.05
P99_GROWTH = 0.20
# descriptors other than client connections: an upload over 1 MB spools to a temp file
# while it is parsed, so a few come and go with the requests in flight
FD_SLACK = 8
# anyio's worker threads start on demand and end after 10 s idle
THREAD_SLACK = 8
OVERLOADED = "503 overloaded"


@dataclass(frozen=True)
class Phases:
    duration: float

    @property
    def length(self) -> float:
        return min(60.0, self.duration / 6)

    @property
    def second(self) -> tuple[float, float]:
        return self.length, 2 * self.length

    @property
    def last(self) -> tuple[float, float]:
        return self.duration - self.length, self.duration

    def describe(self) -> str:
        scaled = "" if self.length == 60 else f" (a sixth of the {self.duration:.0f} s run)"
        return (
            f"warm-up 0-{self.length:.0f} s{scaled}; 'second minute' "
            f"{self.second[0]:.0f}-{self.second[1]:.0f} s; 'last minute' "
            f"{self.last[0]:.0f}-{self.last[1]:.0f} s"
        )


@dataclass(frozen=True)
class Record:
    kind: str
    bad: bool
    start: float  # monotonic: the scheduled arrival (open loop) or the send (closed loop)
    end: float
    outcome: str  # "" as expected, OVERLOADED, else the unexpected answer

    @property
    def unexpected(self) -> bool:
        return self.outcome not in ("", OVERLOADED)

    @property
    def good_image(self) -> bool:
        return not self.bad and not self.outcome


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic
    phase: str  # capacity, rest, soak
    usage: Usage | None  # None without a pid to read
    series: int | None  # series in /metrics
    in_flight: int | None  # image requests inside the server (its /metrics)
    load: float  # the machine's 1-minute load average


@dataclass
class Run:
    records: list[Record] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    capacity: float = 0.0
    load: float = 0.8  # the soak's rate as a share of capacity
    rate: float = 0.0
    soak_start: float = 0.0
    load_average: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Goal:
    name: str
    measured: str
    limit: str
    passed: bool | None  # None: not measured (no pid, no /metrics) or not judged


def _growth(name: str, start: int, peak: int, slack: int) -> Goal:
    growth = peak - start
    return Goal(name, f"{start} -> max {peak} ({growth:+d})", f"<= +{slack}", growth <= slack)


def _rss_goal(run: Run, phases: Phases) -> Goal:
    """The RSS floor: the lowest sample of each window after the warm-up (windows as long
    as the warm-up), the highest such floor against the first one's.

    RSS swings by 100 MB and more with what is in flight (an 8 MP photo holds that much
    while it is decoded and composed), so a single sample, or the highest, says more
    about the moment than about the server; what stays resident between requests (the
    floor) is what a leak raises, window after window. The peaks are reported beside it.
    """
    rss = [
        (s.at - run.soak_start, s.usage.rss_kb / 1024)
        for s in run.samples
        if s.usage is not None and s.phase == "soak"
    ]
    edges = [phases.length * step for step in range(1, round(phases.duration / phases.length))]
    windows = [[v for t, v in rss if edge <= t < edge + phases.length] for edge in edges]
    floors = [min(window) for window in windows if window] or [min(v for _, v in rss)]
    growth = max(floors) / floors[0] - 1
    peak_before = max(v for t, v in rss if t <= phases.length)
    peak_after = max((v for t, v in rss if t > phases.length), default=peak_before)
    return Goal(
        "RSS floor after warm-up",
        f"{floors[0]:.0f} -> max {max(floors):.0f} MB ({growth:+.1%}); peaks "
        f"{peak_before:.0f} -> {peak_after:.0f} MB",
        f"<= +{RSS_GROWTH:.0%}",
        growth <= RSS_GROWTH,
    )


def _usage_goals(run: Run, phases: Phases) -> list[Goal]:
    soak = [s for s in run.samples if s.phase == "soak" and s.usage is not None]
    rest = [s.usage for s in run.samples if s.phase == "rest" and s.usage is not None]
    if not soak:
        return [
            Goal(name, "not measured (no pid)", limit, None)
            for name, limit in (
                ("RSS floor after warm-up", f"<= +{RSS_GROWTH:.0%}"),
                ("descriptors (not connections)", f"<= +{FD_SLACK}"),
                ("threads", f"<= +{THREAD_SLACK}"),
                ("fds at rest", "<= +0"),
            )
        ]
    warm_end = run.soak_start + phases.length
    base = min(soak, key=lambda sample: abs(sample.at - warm_end))
    assert base.usage is not None
    later = [s.usage for s in soak if s.at > base.at and s.usage is not None] or [base.usage]
    result = [
        _rss_goal(run, phases),
        _growth(
            "descriptors (not connections)",
            base.usage.other_fds,
            max(usage.other_fds for usage in later),
            FD_SLACK,
        ),
        _growth("threads", base.usage.threads, max(u.threads for u in later), THREAD_SLACK),
    ]
    if len(rest) >= 2:
        before, after = rest[0], rest[-1]
        text = f"{before.fds} -> {after.fds} ({after.connections} connections)"
        result.append(Goal("fds at rest", text, "<= +0", after.fds <= before.fds))
    return result


def _answer_goals(run: Run, mix: Sequence[Kind]) -> list[Goal]:
    unexpected = Counter(f"{r.kind}: {r.outcome}" for r in run.records if r.unexpected)
    count = sum(unexpected.values())
    worst = "; ".join(f"{n}x {what}" for what, n in unexpected.most_common(3))
    # a 503 refuses a request before reading it: a bad input answered so was not judged
    bad = [record for record in run.records if record.bad and record.outcome != OVERLOADED]
    right = sum(record.outcome == "" for record in bad)
    kinds = {kind.name for kind in mix if kind.bad}
    sent = {record.kind for record in bad}
    overloaded = sum(record.outcome == OVERLOADED for record in run.records)
    return [
        Goal(
            "unexpected errors",
            f"{count} of {len(run.records)}" + (f" ({worst})" if worst else ""),
            "0",
            count == 0,
        ),
        Goal(
            "bad inputs answered with their code",
            f"{right} of {len(bad)}; {len(sent & kinds)} of {len(kinds)} kinds sent",
            "all; every kind",
            right == len(bad) and sent >= kinds,
        ),
        Goal("503 back-pressure", str(overloaded), "0", overloaded == 0),
    ]


def latencies(run: Run, window: tuple[float, float]) -> list[float]:
    """Latencies of the images answered as expected that arrived in ``window`` (soak s)."""
    begin, end = (run.soak_start + edge for edge in window)
    return [r.end - r.start for r in run.records if r.good_image and begin <= r.start < end]


def _latency_goal(run: Run, phases: Phases) -> Goal:
    second = percentile(latencies(run, phases.second), 0.99)
    last = percentile(latencies(run, phases.last), 0.99)
    growth = last / second - 1
    return Goal(
        "p99, last vs second minute",
        f"{1000 * second:.0f} -> {1000 * last:.0f} ms ({growth:+.0%})",
        f"<= +{P99_GROWTH:.0%}",
        growth <= P99_GROWTH,  # False for NaN: no answers in a window
    )


def _kept_up(run: Run) -> Goal:
    """Requests in flight during the soak, on average, against twice what a single-server
    queue (M/M/1) holds at this load: ``load / (1 - load)``, 4 at 80 %.

    A server slower than its measured capacity (the machine got busier, or capacity was
    overestimated) queues more and more: then the soak was not at 80 % any more, the
    queue's requests hold memory, and the other goals judge a different run. The mean,
    not the highest sample: at 80 % a Poisson queue passes 16 now and then by chance.
    """
    counts = [s.in_flight for s in run.samples if s.phase == "soak" and s.in_flight is not None]
    if not counts:
        return Goal("server kept up", "not measured (no /metrics)", "", None)
    mean = sum(counts) / len(counts)
    measured = f"{mean:.1f} requests in flight on average, at most {max(counts)}"
    if run.load >= 1:
        return Goal("server kept up", measured, "not judged at a load >= 100 %", None)
    limit = 2 * run.load / (1 - run.load)
    return Goal("server kept up", measured, f"<= {limit:.1f} on average", mean <= limit)


def goals(run: Run, phases: Phases, mix: Sequence[Kind]) -> list[Goal]:
    return [
        _kept_up(run),
        *_usage_goals(run, phases),
        *_answer_goals(run, mix),
        _latency_goal(run, phases),
    ]


# -- tables ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    t: float  # seconds from the soak's start
    phase: str
    rss_mb: float | None
    anon_mb: float | None
    fds: int | None
    connections: int | None
    threads: int | None
    series: int | None
    in_flight: int | None
    answered: int  # since the run began
    p50_ms: int | None  # images answered since the row before
    p99_ms: int | None
    unexpected: int  # since the run began
    overloaded: int
    load: float


def _ms(seconds: Sequence[float], fraction: float) -> int | None:
    return round(1000 * percentile(seconds, fraction)) if seconds else None


def sample_rows(run: Run, every: int = 1) -> list[Row]:
    """A row per sample, or per ``every``-th of each phase's (and its last); the latency
    columns cover the images answered since the row before."""
    keep: set[int] = set()
    for phase in ("capacity", "soak"):
        samples = [sample for sample in run.samples if sample.phase == phase]
        keep |= {id(sample) for sample in [*samples[::every], *samples[-1:]]}
    chosen = [s for s in run.samples if s.phase == "rest" or id(s) in keep]
    rows, previous = [], float("-inf")
    for sample in sorted(chosen, key=lambda sample: sample.at):
        done = [r for r in run.records if r.end <= sample.at]
        window = [r.end - r.start for r in done if r.good_image and r.end > previous]
        usage = sample.usage
        rows.append(
            Row(
                round(sample.at - run.soak_start, 1) + 0.0,  # no "-0"
                sample.phase,
                round(usage.rss_kb / 1024, 1) if usage else None,
                round(usage.anon_kb / 1024, 1) if usage else None,
                usage.fds if usage else None,
                usage.connections if usage else None,
                usage.threads if usage else None,
                sample.series,
                sample.in_flight,
                len(done),
                _ms(window, 0.50),
                _ms(window, 0.99),
                sum(r.unexpected for r in done),
                sum(r.outcome == OVERLOADED for r in done),
                round(sample.load, 1),
            )
        )
        previous = sample.at
    return rows


def kind_rows(run: Run, mix: Sequence[Kind]) -> list[dict[str, Any]]:
    """Per kind, during the soak: sent, answered as expected, other answers, latency."""
    rows = []
    for kind in mix:
        records = [r for r in run.records if r.kind == kind.name and r.start >= run.soak_start]
        right = [r.end - r.start for r in records if r.outcome == ""]
        rows.append(
            {
                "kind": kind.name,
                "answer": f"{kind.status} {kind.answer}",
                "sent": len(records),
                "as_expected": len(right),
                "overloaded": sum(r.outcome == OVERLOADED for r in records),
                "unexpected": sum(r.unexpected for r in records),
                "p50_ms": _ms(right, 0.50),
                "p99_ms": _ms(right, 0.99),
            }
        )
    return rows


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if value != value else f"{value:g}"  # NaN: no answers
    return str(value)


def markdown(rows: Sequence[dict[str, Any]], headers: dict[str, str]) -> str:
    """A table of ``rows`` with the columns of ``headers`` (key -> title; right-aligned
    unless the title ends with a space)."""
    lines = [
        "| " + " | ".join(title.strip() for title in headers.values()) + " |",
        "| " + " | ".join("---" if t.endswith(" ") else "---:" for t in headers.values()) + " |",
    ]
    lines += ["| " + " | ".join(_cell(row[key]) for key in headers) + " |" for row in rows]
    return "\n".join(lines)


SAMPLE_COLUMNS = {
    "t": "t s",
    "phase": "phase ",
    "rss_mb": "RSS MB",
    "anon_mb": "anon MB",
    "fds": "fds",
    "connections": "conns",
    "threads": "threads",
    "series": "series",
    "in_flight": "in flight",
    "answered": "answered",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
    "unexpected": "unexpected",
    "overloaded": "503",
    "load": "load",
}
KIND_COLUMNS = {
    "kind": "kind ",
    "answer": "must get ",
    "sent": "sent",
    "as_expected": "as expected",
    "overloaded": "503",
    "unexpected": "unexpected",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
}
GOAL_COLUMNS = {"name": "goal ", "measured": "measured ", "limit": "limit ", "result": "result "}
