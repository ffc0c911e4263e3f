"""``cutout batch SRC DST [options]``: a whole folder or bucket prefix, sharded, resumable.

SRC and DST are each a folder or ``gs://BUCKET/PREFIX``. Every image option of
``cutout remove`` applies (one definition: :func:`cutout.cli._options.add_remove_options`).
This process does one shard: ``--shard I/N``, else the Cloud Run task's
(``CLOUD_RUN_TASK_INDEX`` / ``CLOUD_RUN_TASK_COUNT``), else everything. An output whose
recorded source and options still match is skipped, so a rerun or a retried task redoes
only what is missing or stale. The work itself: :mod:`cutout.batch` (plan, runner,
pipeline); see docs/batch.md.

Exit codes: 0 when every item of the shard is done or skipped; 1 when some failed (so
Cloud Run retries the task) or storage failed; 2 for usage errors; 143 / 130 when SIGTERM
/ SIGINT stopped the run (what was finished is kept, the rest is left for the next run).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from cutout.errors import InvalidOptionError

if TYPE_CHECKING:
    from cutout.batch.locations import Location
    from cutout.batch.pipeline import Control
    from cutout.batch.plan import Plan
    from cutout.batch.report import ReportLine, ShardReport
    from cutout.batch.runner import ShardResult
    from cutout.batch.shard import Shard
    from cutout.batch.store import Store
    from cutout.config import Settings
    from cutout.engine import Engine
    from cutout.options import RemoveOptions

__all__ = ["register", "run"]

_IO_THREADS = 8  # requests in flight per store: 160 items/s from a store answering in 50 ms
_PAUSE_LIMIT_S = 120.0  # paused by SIGTSTP: resume by then even without a SIGCONT


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 64, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cutout.cli._options import add_remove_options

    parser = subparsers.add_parser(
        "batch",
        help="a whole folder or bucket prefix: sharded, resumable",
        description="Remove the background of every image under SRC into DST (each a "
        "folder or gs://BUCKET/PREFIX), mirroring sub-folders: shoes/red.jpg -> "
        "DST/shoes/red.png. Outputs that are up to date are skipped; one JSON line per "
        "item goes to DST/.cutout/reports/shard-I-of-N.jsonl.",
    )
    parser.add_argument("src", metavar="SRC", help="folder or gs://BUCKET/PREFIX to read")
    parser.add_argument("dst", metavar="DST", help="folder or gs://BUCKET/PREFIX to write")
    add_remove_options(parser, format_help="default: png")
    run_group = parser.add_argument_group("run")
    run_group.add_argument(
        "--shard",
        metavar="I/N",
        help="do shard I of N (from 0); default: the Cloud Run task's, else all",
    )
    run_group.add_argument(
        "--force", action="store_true", help="redo outputs that are up to date too"
    )
    run_group.add_argument(
        "--io-threads",
        type=_count,
        default=_IO_THREADS,
        metavar="N",
        help=f"reads and writes in flight, each (default {_IO_THREADS})",
    )
    run_group.add_argument(
        "--quiet", "-q", action="store_true", help="only the summary line (and the report)"
    )
    parser.set_defaults(func=run)


def _usage(message: str) -> int:
    print(f"cutout: error: {message}", file=sys.stderr)
    return 2


class _Setup:
    """What the command line says, checked before anything is read or loaded."""

    def __init__(self, args: argparse.Namespace) -> None:
        from cutout.batch.locations import parse_location
        from cutout.batch.plan import nested_prefix
        from cutout.batch.shard import resolve_shard
        from cutout.cli._options import build_options, settings_from_args

        self.format = args.format or "png"
        self.options: RemoveOptions = build_options(args, self.format)
        self.src: Location = parse_location(args.src, "SRC")
        self.dst: Location = parse_location(args.dst, "DST")
        self.settings: Settings = settings_from_args(args)
        self.shard: Shard = resolve_shard(
            args.shard, self.settings.cloud_run_task_index, self.settings.cloud_run_task_count
        )
        # DST inside SRC: its files are outputs, not sources; SRC inside DST: an output
        # must not land in SRC
        self.skip_prefix = nested_prefix(self.dst, self.src)
        self.guard_prefix = nested_prefix(self.src, self.dst)
        if self.skip_prefix == "":
            raise InvalidOptionError(
                f"DST {args.dst!r} is SRC: outputs would be read back as sources; "
                "write to another folder or prefix",
                code="invalid_location",
            )


def run(args: argparse.Namespace) -> int:
    try:
        setup = _Setup(args)
    except InvalidOptionError as exc:
        return _usage(exc.message)
    return _execute(args, setup)


class _Interrupts:
    """What a run does on a signal; the callbacks run on the watcher thread
    (:mod:`cutout.cli._signals`), so they may write the report.

    SIGTERM (Cloud Run cancelling an execution or ending a timed-out task, 10 s before
    SIGKILL) and SIGINT: take no new item, finish what is past the model, save the
    report; a second one exits at once (every write is atomic, so nothing half-written
    can remain). In a Cloud Run task only, SIGTSTP (10 s before a maintenance migration)
    pauses taking new items and saves the report, SIGCONT (or, failing that,
    ``_PAUSE_LIMIT_S``) resumes; elsewhere Ctrl-Z keeps its meaning."""

    def __init__(self, control: Control, *, cloud_run: bool) -> None:
        self.control = control
        self.cloud_run = cloud_run
        self.report: ShardReport | None = None
        self.signum: int | None = None
        self.pauses = 0

    def callbacks(self) -> dict[int, Callable[[int], None]]:
        callbacks: dict[int, Callable[[int], None]] = {
            signal.SIGTERM: self.stop,
            signal.SIGINT: self.stop,
        }
        if self.cloud_run:
            callbacks |= {signal.SIGTSTP: self.pause, signal.SIGCONT: self.resume}
        return callbacks

    def stop(self, signum: int) -> None:
        if self.signum is not None:
            os._exit(128 + signum)
        self.signum = signum
        self.control.stop()
        self._save()

    def pause(self, signum: int) -> None:
        self.control.pause()
        self.pauses += 1
        # a SIGCONT that never comes must not leave the task idle until its timeout
        timer = threading.Timer(_PAUSE_LIMIT_S, self._resume_pause, (self.pauses,))
        timer.daemon = True
        timer.start()
        self._save()

    def _resume_pause(self, pause: int) -> None:
        if pause == self.pauses:  # not a later pause, which has a timer of its own
            self.control.resume()

    def resume(self, signum: int) -> None:
        self.control.resume()

    def _save(self) -> None:
        from cutout.batch.errors import StorageError

        if self.report is not None:
            # if this fails, the final flush tries again and says so
            with contextlib.suppress(StorageError):
                self.report.flush()


def _execute(args: argparse.Namespace, setup: _Setup) -> int:
    from cutout.batch.pipeline import Control
    from cutout.cli._signals import watch_signals

    interrupts = _Interrupts(Control(), cloud_run=setup.settings.cloud_run_execution is not None)
    with watch_signals(interrupts.callbacks()):
        return _execute_watched(args, setup, interrupts)


def _execute_watched(args: argparse.Namespace, setup: _Setup, interrupts: _Interrupts) -> int:
    from cutout.batch.plan import plan
    from cutout.batch.report import ShardReport
    from cutout.batch.stores import open_store
    from cutout.cli._paths import IMAGE_SUFFIXES
    from cutout.engine import Engine

    # the io threads, and the report or a stat beside them
    connections = args.io_threads + 2
    src = open_store(setup.src, connections=connections)
    dst = open_store(setup.dst, create=True, connections=connections)
    work = plan(
        src.list(),
        dst.list(),
        setup.shard,
        setup.format,
        suffixes=IMAGE_SUFFIXES,
        skip_prefix=setup.skip_prefix,
        guard_prefix=setup.guard_prefix,
    )
    report = ShardReport(dst, setup.shard)
    report.flush()  # a fresh report for this attempt; and DST is writable, before the model
    interrupts.report = report
    if not args.quiet:
        print(f"cutout: {_title(setup, dst)}: {_scope(work)}", file=sys.stderr)
    engine = Engine.from_settings(setup.settings)
    try:
        engine.load()  # a missing model fails once, before any item is read
        result = _run_shard(args, setup, src, dst, engine, report, work, interrupts.control)
    finally:
        engine.close()
    return _finish(setup, dst, report, result, interrupts.signum)


def _run_shard(
    args: argparse.Namespace,
    setup: _Setup,
    src: Store,
    dst: Store,
    engine: Engine,
    report: ShardReport,
    work: Plan,
    control: Control,
) -> ShardResult:
    from cutout import __version__
    from cutout.batch.provenance import options_digest, options_record
    from cutout.batch.runner import ShardRun
    from cutout.cli._pipeline import describe, pool_size
    from cutout.cli._progress import Progress

    progress = Progress(work.items, sys.stderr, enabled=not args.quiet and sys.stderr.isatty())

    def on_line(line: ReportLine) -> None:
        if line.status == "failed" and not args.quiet:
            progress.line(f"cutout: {line.source}: {line.error}")
        progress.advance(failed=line.status == "failed")

    digest = options_digest(
        {"remove": options_record(setup.options), **_model_facts(engine)}, model=engine.spec.name
    )
    shard_run = ShardRun(
        src,
        dst,
        engine,
        setup.options,
        digest,
        report,
        force=args.force,
        metadata={"cutout-version": __version__},
        describe=lambda error: describe(error, debug=args.debug),
        on_line=on_line,
        control=control,
    )
    try:
        return shard_run.run(
            work,
            max_batch=max(1, engine.spec.max_batch),
            cpu_workers=pool_size(),
            io_workers=args.io_threads,
        )
    finally:
        progress.close()


def _finish(
    setup: _Setup, dst: Store, report: ShardReport, result: ShardResult, signum: int | None
) -> int:
    from cutout.batch.errors import StorageError

    unwritten: StorageError | None = None
    try:
        report.flush()
    except StorageError as exc:
        unwritten = exc
    stats = result.stats
    rate = stats.taken / stats.wall_s if stats.wall_s > 0 else 0.0
    line = f"cutout: {_title(setup, dst)}: {result.summary}; took {stats.wall_s:.1f} s"
    # the model's idle share tells whether more --io-threads (or CPUs) would help
    line += f" ({rate:.1f} items/s, model idle {100 * stats.idle_fraction:.1f} %)"
    if result.left:
        line += f"; {result.left} left for the next run"
    if unwritten is None:
        line += f"; report {dst.location.join(report.name)}"
    print(line, file=sys.stderr)
    if result.fatal is not None:
        print(f"cutout: stopped: {result.fatal.message}", file=sys.stderr)
        return 1
    if unwritten is not None:
        print(f"cutout: the report was not written: {unwritten.message}", file=sys.stderr)
        return 1
    if signum is not None:
        print(f"cutout: stopped by {signal.Signals(signum).name}", file=sys.stderr)
        return 128 + signum
    return 1 if result.summary.failed or result.left else 0


def _title(setup: _Setup, dst: Store) -> str:
    return f"shard {setup.shard} of {setup.src} -> {dst.location}"


def _scope(work: Plan) -> str:
    return f"{work.items} of {work.sources} items"


def _model_facts(engine: Engine) -> dict[str, str | None]:
    """What shapes the output besides the options and the model's name: its resize
    policy and its weights (a user's file is known by its digest)."""
    from cutout.models.weights import file_digest

    spec = engine.spec
    if engine.weights is not None:
        weights = engine.backend.weights_sha256 or file_digest(engine.weights)
    else:  # the record's own, verified when the model loaded
        weights = spec.weights.sha256 or spec.weights.md5 or spec.weights.filename
    return {"resize": spec.resize, "weights": weights}
