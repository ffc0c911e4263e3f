"""``cutout remove INPUT... [-o OUTPUT]``: remove the background of files, folders, globs.

Exit codes: 0 when every input was written (or skipped), 1 when some failed (one line
``cutout: PATH: reason`` each; every other file is still written), 2 for usage errors.
``--report FILE.jsonl`` adds one JSON line per input (:mod:`cutout.cli._report`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cutout.cli._paths import STDIO, Job, UsageError, expand_inputs, plan_jobs
from cutout.errors import InvalidOptionError

if TYPE_CHECKING:
    from cutout.cli._report import Report
    from cutout.engine import RemoveResult
    from cutout.options import RemoveOptions

__all__ = ["register", "run"]

_EXTENSION_FORMATS = {".png": "png", ".webp": "webp", ".jpg": "jpg", ".jpeg": "jpg", ".zip": "zip"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cutout.cli._options import add_remove_options

    parser = subparsers.add_parser(
        "remove",
        help="remove the background of images",
        description="Remove the background of image files, folders (recursive), globs "
        "or '-' (stdin). Without -o, writes <stem>.cutout.<ext> beside each input.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder, glob or -")
    parser.add_argument(
        "-o", "--output", metavar="OUTPUT", help="output file (one input), folder, or - (stdout)"
    )
    add_remove_options(parser, format_help="default: -o's extension, or png")
    run_group = parser.add_argument_group("run")
    run_group.add_argument(
        "--skip-existing", action="store_true", help="skip inputs whose output already exists"
    )
    run_group.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    run_group.add_argument(
        "--report",
        type=Path,
        metavar="FILE.jsonl",
        help="write one JSON line per input as it finishes (status, confidence, size, ...)",
    )
    parser.set_defaults(func=run)


def _usage(message: str) -> int:
    print(f"cutout: error: {message}", file=sys.stderr)
    return 2


def _format(args: argparse.Namespace, single_file: bool) -> str:
    if args.format:
        return str(args.format)
    if args.output and args.output != STDIO and single_file and not Path(args.output).is_dir():
        suffix = Path(args.output).suffix.lower()
        if suffix in _EXTENSION_FORMATS:
            return _EXTENSION_FORMATS[suffix]
        if suffix:
            raise UsageError(f"cannot tell the format from -o {args.output}; add --format")
    return "png"


def _open_report(args: argparse.Namespace, options: RemoveOptions) -> Report | None:
    from cutout.cli._report import Report

    if args.report is None:
        return None
    if str(args.report) == STDIO:
        raise UsageError("--report needs a file name (the images may be on stdout)")
    try:
        return Report(args.report, edges=options.edges)
    except OSError as exc:
        raise UsageError(f"--report {args.report}: {exc.strerror or exc}") from exc


def run(args: argparse.Namespace) -> int:
    from cutout.cli._options import build_options

    output_folder = Path(args.output) if args.output and args.output != STDIO else None
    try:
        found, failed = expand_inputs(args.inputs, skip_folder=output_folder)
        single_file = len(args.inputs) == 1 and len(found) == 1 and found[0].single
        fmt = _format(args, single_file)
        options = build_options(args, fmt)
        jobs = plan_jobs(found, args.output, fmt, arguments=len(args.inputs))
        if any(job.output is None for job in jobs) and sys.stdout.isatty():
            raise UsageError("refusing to write image bytes to a terminal; use -o FILE")
        report = _open_report(args, options)
    except (UsageError, InvalidOptionError) as exc:
        return _usage(str(exc) if isinstance(exc, UsageError) else exc.message)
    if report is None:
        return _execute(args, jobs, failed, options, None)
    with report:
        return _execute(args, jobs, failed, options, report)


def _execute(
    args: argparse.Namespace,
    jobs: list[Job],
    failed: list[Job],
    options: RemoveOptions,
    lines: Report | None,
) -> int:
    from cutout.cli._options import settings_from_args
    from cutout.cli._pipeline import run_jobs
    from cutout.cli._progress import Progress
    from cutout.engine import Engine, RemoveResult

    refused = [job for job in jobs if job.error is not None]
    todo = [job for job in jobs if job.error is None]
    skipped_jobs: list[Job] = []
    if args.skip_existing:
        exists = [job.output is not None and job.output.exists() for job in todo]
        skipped_jobs = [job for job, done in zip(todo, exists, strict=True) if done]
        todo = [job for job, done in zip(todo, exists, strict=True) if not done]
    skipped = len(skipped_jobs)
    total = len(failed) + len(refused) + len(todo)
    progress = Progress(total, sys.stderr, enabled=not args.quiet and sys.stderr.isatty())
    failures = 0

    def report(job: Job, outcome: RemoveResult | str) -> None:
        nonlocal failures
        ok = isinstance(outcome, RemoveResult)
        if not ok:
            failures += 1
            progress.line(f"cutout: {job.display}: {outcome}")
        if lines is not None:
            lines.image(job, outcome, "ok" if ok else "failed")
        progress.advance(failed=not ok)

    engine = None
    if todo:
        engine = Engine.from_settings(settings_from_args(args))  # no I/O before load()
        if lines is not None:
            lines.model = engine.spec.name
    for job in failed + refused:
        report(job, job.error or "refused")
    if lines is not None:
        for job in skipped_jobs:
            lines.image(job, None, "skipped")
    if engine is not None:
        try:
            engine.load()  # a missing model fails once, before any file is read
            run_jobs(engine, todo, options, report, debug=args.debug)
        finally:
            engine.close()
    progress.close()
    if not args.quiet and sys.stderr.isatty() and total > 1:
        written = total - failures
        extra = f", {skipped} skipped" if skipped else ""
        print(f"cutout: {written} written, {failures} failed{extra}", file=sys.stderr)
    return 1 if failures else 0
