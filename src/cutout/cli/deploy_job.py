"""``cutout deploy job plan | apply | run | status``: bulk runs on Cloud Run Jobs.

The job runs the container's ``cutout batch SRC DST`` (``[job]`` in cutout-deploy.toml),
sharded over its tasks. ``plan`` ranks where and how to run it against the live quota
(or ``--from-snapshot DIR``) for ``--items N`` images, or as many as SRC lists;
``apply`` creates or updates the job; ``run`` starts an execution (``--wait`` follows it);
``status`` shows executions, tasks and the items that failed, read from the shard
reports under DST. :func:`register_job` adds the group to ``cutout deploy``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from cutout.cli.deploy_common import add_config, add_format, clients, emit
from cutout.errors import ConfigError, CutoutError

if TYPE_CHECKING:
    from cutout.deploy.config import DeployConfig
    from cutout.deploy.job_config import JobConfig
    from cutout.deploy.job_plan import JobCandidate, JobPlan
    from cutout.deploy.job_status import JobStatus
    from cutout.deploy.types import Snapshot

__all__ = ["register_job"]

_FAILED_SHOWN = 20


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number >= 1")
    return value


def register_job(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``job plan|apply|run|status`` to ``cutout deploy``'s subcommands."""
    job = subparsers.add_parser("job", help="bulk runs of `cutout batch` on Cloud Run Jobs")
    commands = job.add_subparsers(dest="job_command", metavar="SUBCOMMAND")
    job.set_defaults(func=lambda args: _usage(job))

    parser = commands.add_parser("plan", help="tasks, parallelism, region and device of a run")
    add_config(parser, snapshot=True)
    _items(parser)
    add_format(parser)
    parser.set_defaults(func=_plan)

    parser = commands.add_parser("apply", help="create or update the job from the plan")
    add_config(parser)
    _items(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the request")
    add_format(parser)
    parser.set_defaults(func=_apply)

    parser = commands.add_parser("run", help="start an execution (with --wait: follow it)")
    _live(parser)
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--tasks", type=_positive, metavar="N", help="task count for this run")
    sizes.add_argument(
        "--items", type=_positive, metavar="N", help="size the task count for N images"
    )
    parser.add_argument("--source", metavar="SRC", help="another gs:// source for this run")
    parser.add_argument("--destination", metavar="DST", help="another gs:// destination")
    parser.add_argument("--timeout", type=_positive, metavar="S", help="task timeout, seconds")
    parser.add_argument("--wait", action="store_true", help="follow it until it completes")
    parser.add_argument("--poll", type=float, default=10.0, metavar="S", help="seconds per look")
    parser.add_argument(
        "--wait-timeout", type=float, default=24 * 3600.0, metavar="S", help="give up after S"
    )
    parser.set_defaults(func=_run)

    parser = commands.add_parser("status", help="executions, tasks and the items that failed")
    _live(parser)
    parser.add_argument("--execution", metavar="NAME", help="default: the newest")
    parser.add_argument(
        "--executions", type=_positive, default=5, metavar="N", help="how many to list"
    )
    parser.set_defaults(func=_status)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _items(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--items", type=int, metavar="N", help="images to plan for (default: list the source)"
    )


def _live(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    add_format(parser)
    parser.add_argument("--region", help="region of the job (default: the first that has it)")


def _configs(args: argparse.Namespace) -> tuple[DeployConfig, JobConfig]:
    from cutout.deploy.job_config import load_job_config

    return load_job_config(args.config)


def _count_items(args: argparse.Namespace, job: JobConfig) -> int:
    """``--items``, else the items SRC lists (what `cutout batch` shards)."""
    if args.items is not None:
        if args.items < 0:
            raise ConfigError(f"--items {args.items}: must be >= 0")
        count: int = args.items
        return count
    from cutout.batch.locations import parse_location
    from cutout.batch.stores import open_store

    return len(open_store(parse_location(job.source, "job.source")).list())


# plan ----------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _row(index: int, c: JobCandidate, chosen: bool) -> str:
    q, s = c.candidate, c.sizing
    blocked = q.blocked_by or ("-" if q.fits else "(no L4 jobs here)")
    if s.problem:
        blocked = "(tasks cannot fit the timeout)" if not s.task_count else "(over 10,000 tasks)"
    return (
        f"{'*' if chosen else ' '} {index:>2}  {q.kind:<4}  {q.region:<15}  {s.parallelism:>8}  "
        f"{s.task_count:>5}  {s.items_per_task:>10}  {_duration(s.task_s):>7}  "
        f"{_duration(s.wall_s):>7}  {q.cpu:<3}  {q.memory:<6}  {q.model:<16}  "
        f"{'yes' if c.usable else 'no':<4}  {q.cost_per_hour_usd:>8.4f}  {c.run_cost_usd:>8.2f}  "
        f"{c.cost_per_10000_images_usd:>6.2f}  {blocked}"
    )


def describe_choice(c: JobCandidate) -> str:
    what = f"{c.candidate.gpu_type} job (no zonal redundancy)" if c.kind == "gpu" else "CPU job"
    s = c.sizing
    return (
        f"{what} in {c.region}: {s.task_count} tasks of up to {s.items_per_task} images, "
        f"{s.parallelism} at once, ~{_duration(s.task_s)} each (timeout "
        f"{c.resources.task_timeout_s} s), ~{_duration(s.wall_s)} in all, ~${c.run_cost_usd:.2f} "
        f"(${c.cost_per_10000_images_usd:.2f} per 10,000 images), model {c.candidate.model}"
    )


def job_plan_table(job: JobConfig, snapshot: Snapshot, plan: JobPlan) -> list[str]:
    """The job plan as a fixed-width table, then the inputs and the choice."""
    lines = [
        "   #  kind  region           parallel  tasks  items/task   task ~    run ~  cpu  "
        "memory  model             fits    $/task-h     run $   $/10k  blocked by"
    ]
    lines += [_row(i, c, c is plan.chosen) for i, c in enumerate(plan.candidates)]
    lines.append("")
    lines.append(f"items: {plan.items} under {job.source} -> {job.destination}")
    kinds = [job.gpu] if job.device == "gpu" else []
    kinds += [job.cpu] if job.cpu_fallback else []
    for kind in kinds:
        device = "gpu" if kind is job.gpu else "cpu"
        lines.append(
            f"{device}: {kind.seconds_per_image:g} s per image ({kind.seconds_per_image_source}); "
            f"start-up {kind.startup_s:g} s per task; timeout {kind.task_timeout_s} s, "
            f"planned to {job.target_fraction:.0%} of it"
        )
    prices = plan.candidates[0].candidate.prices_as_of if plan.candidates else "-"
    lines.append(f"prices as of {prices}; a task is billed while it runs")
    for region in job.regions:
        usage = snapshot.usage.get(region)
        if usage is not None and usage.services:
            lines.append(
                f"held in {region} by {', '.join(usage.services)}: {usage.describe()} "
                "(the job runs beside them)"
            )
    if plan.chosen is not None:
        index = plan.candidates.index(plan.chosen)
        lines.append(f"chosen: #{index} {describe_choice(plan.chosen)}")
    else:
        lines.append("nothing fits; request one of:")
        lines += [f"  - {line}" for line in plan.requests]
    return lines


def _make_plan(
    args: argparse.Namespace, gcp: Any = None
) -> tuple[DeployConfig, JobConfig, Snapshot, JobPlan]:
    from cutout.deploy.job_plan import make_job_plan

    config, job = _configs(args)
    if getattr(args, "from_snapshot", None) is not None:
        from cutout.deploy.snapshot import load_snapshot

        snapshot = load_snapshot(args.from_snapshot, job.regions, service="")
    else:
        from cutout.deploy.job_live import read_job_inputs

        snapshot = read_job_inputs(gcp or clients(args), config.project, job.regions)
    plan = make_job_plan(config, job, snapshot.limits, snapshot.usage, _count_items(args, job))
    return config, job, snapshot, plan


def _nothing_fits(args: argparse.Namespace, plan: JobPlan) -> int:
    """One line for stderr; the ways out are in the plan's requests."""
    blocked = next((c.candidate for c in plan.candidates if c.candidate.shortfalls), None)
    if blocked is None:
        why = plan.requests[0] if plan.requests else "no candidate"
    else:
        why = f"{blocked.shortfalls[0].describe('job')} (and {len(plan.requests)} way(s) out"
        why += " in the plan's requests)"
    print(f"cutout: {args.config}: nothing fits the job: {why}", file=sys.stderr)
    return 1


def _plan(args: argparse.Namespace) -> int:
    _, job, snapshot, plan = _make_plan(args)
    emit(args, plan.to_json(), job_plan_table(job, snapshot, plan))
    return 0 if plan.chosen is not None else _nothing_fits(args, plan)


# apply ---------------------------------------------------------------------------------
def _apply(args: argparse.Namespace) -> int:
    from cutout.deploy.job_live import apply_job, get_job
    from cutout.deploy.job_spec import build_job, describe_job_request, job_path, merge_job

    gcp = clients(args)
    config, job, snapshot, plan = _make_plan(args, gcp)
    table = job_plan_table(job, snapshot, plan)
    if plan.chosen is None:
        emit(args, {"plan": plan.to_json(), "applied": None}, table)
        return _nothing_fits(args, plan)
    if args.dry_run:
        region = plan.chosen.region
        existing = get_job(gcp, job_path(config.project, region, job.name))
        wanted = build_job(job, plan.chosen)
        body = wanted if existing is None else merge_job(existing, wanted)
        request = describe_job_request(config.project, region, job.name, body, existing)
        emit(
            args,
            {"plan": plan.to_json(), "request": request},
            [*table, "request (dry run, not sent):", _json(request)],
        )
        return 0
    report = apply_job(gcp, config, job, plan.chosen)
    emit(args, {"plan": plan.to_json(), "applied": report.to_json()}, [*table, *report.lines()])
    return 0


def _json(document: Any) -> str:
    import json

    return json.dumps(document, indent=2)


# run -----------------------------------------------------------------------------------
def _task_count(args: argparse.Namespace, job: JobConfig, existing: Any) -> int | None:
    """``--tasks``, or enough tasks for ``--items`` within the (overridden) timeout."""
    from dataclasses import replace

    from cutout.deploy.job_config import GPU_TASK_TIMEOUT_MAX_S
    from cutout.deploy.job_plan import size_tasks
    from cutout.deploy.job_spec import kind_of

    gpu = kind_of(existing) == "gpu"
    if gpu and args.timeout is not None and args.timeout > GPU_TASK_TIMEOUT_MAX_S:
        raise ConfigError(
            f"--timeout {args.timeout}: a task that uses a GPU runs at most "
            f"{GPU_TASK_TIMEOUT_MAX_S} s"
        )
    if args.tasks is not None:
        count: int = args.tasks
        return count
    if args.items is None:
        return None
    resources = job.gpu if gpu else job.cpu
    if args.timeout is not None:
        resources = replace(resources, task_timeout_s=args.timeout)
    parallelism = int(existing.template.parallelism) or args.items
    sizing = size_tasks(args.items, resources, parallelism, job.target_fraction)
    if sizing.problem is not None:
        raise ConfigError(f"--items {args.items}: {sizing.problem}")
    return sizing.task_count


def _run(args: argparse.Namespace) -> int:
    from cutout.deploy.errors import QuotaExceededError
    from cutout.deploy.job_live import require_job, start_execution, wait_execution
    from cutout.deploy.job_spec import batch_args, run_request

    config, job = _configs(args)
    gcp = clients(args)
    existing = require_job(gcp, config.project, job, args.region)
    args_override = None
    if args.source or args.destination:
        source, target = args.source or job.source, args.destination or job.destination
        args_override = batch_args(source, target, job.args)
    request = run_request(
        existing.name,
        task_count=_task_count(args, job, existing),
        args=args_override,
        timeout_s=args.timeout,
    )
    try:
        execution = start_execution(gcp, request)
    except QuotaExceededError as exc:
        raise QuotaExceededError(
            f"{exc.message} (the quota changed since the job was applied: "
            "`cutout deploy job apply` plans it again)",
            exc.violation,
            status=exc.status,
        ) from exc
    started = (
        f"started {execution.name}: {execution.task_count} tasks, "
        f"parallelism {execution.parallelism or 'unlimited'}"
    )
    if not args.wait:
        emit(args, {"execution": execution.name, "task_count": execution.task_count}, [started])
        return 0
    out = sys.stderr if args.format == "json" else sys.stdout
    print(started, file=out, flush=True)
    wait_execution(
        gcp,
        execution.name,
        timeout_s=args.wait_timeout,
        poll_s=args.poll,
        on_progress=lambda progress: print(progress.line(), file=out, flush=True),
    )
    return _show_status(args, gcp, existing, execution.name)


# status --------------------------------------------------------------------------------
def _status(args: argparse.Namespace) -> int:
    from cutout.deploy.job_live import require_job

    config, job = _configs(args)
    gcp = clients(args)
    existing = require_job(gcp, config.project, job, args.region)
    return _show_status(args, gcp, existing, args.execution)


def _show_status(args: argparse.Namespace, gcp: Any, existing: Any, execution: str | None) -> int:
    from cutout.deploy.job_status import read_job_status

    limit = getattr(args, "executions", 5)
    status = read_job_status(gcp, existing, execution=execution, limit=limit)
    reports, lines = _reports(status)
    emit(args, {**status.to_json(), "reports": reports}, [*status.lines(), *lines])
    return 0 if status.ok else 1


def _reports(status: JobStatus) -> tuple[dict[str, Any] | None, list[str]]:
    """What the shard reports of the shown execution say: counts and the failed items."""
    shown = status.shown
    if shown is None or shown.destination is None:
        return None, []
    from cutout.batch.locations import parse_location
    from cutout.batch.report import REPORTS_DIR, read_reports, summarize
    from cutout.batch.stores import open_store

    where = f"{shown.destination.rstrip('/')}/{REPORTS_DIR}"
    try:
        store = open_store(parse_location(shown.destination, "DST"))
        lines = read_reports(store, shown.task_count)
    except CutoutError as exc:
        return {"where": where, "error": exc.message}, [
            f"reports {where}: unreadable: {exc.message}"
        ]
    summary = summarize(lines)
    failed = [line for line in lines if line.status == "failed"]
    document = {
        "where": where,
        **summary.to_dict(),
        "failed_items": [{"source": f.source, "error": f.error} for f in failed],
    }
    out = [f"reports {where} (shard-*-of-{shown.task_count}): {summary}"]
    if failed:
        out.append(f"failed items ({len(failed)}):")
        out += [f"  {f.source}: {f.error or 'no reason given'}" for f in failed[:_FAILED_SHOWN]]
        if len(failed) > _FAILED_SHOWN:
            out.append(f"  ... and {len(failed) - _FAILED_SHOWN} more (--format json lists all)")
    return document, out
