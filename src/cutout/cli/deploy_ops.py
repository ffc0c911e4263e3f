"""The live ``cutout deploy`` subcommands: snapshot, apply, rollback, status, cleanup, quota.

:func:`register_ops` adds them to ``cutout deploy``'s subcommands (called by
:mod:`cutout.cli.deploy`). Every command reads ``--config`` (cutout-deploy.toml) and talks
to Google through :class:`cutout.deploy.gcp.GcpClients` (Application Default
Credentials); ``--endpoint`` points the clients at another API endpoint (a local fake in
tests). Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from cutout.cli.deploy_common import (
    add_config,
    add_format,
    clients,
    emit,
    load_config,
    percentage,
    plan_table,
)
from cutout.errors import ConfigError

if TYPE_CHECKING:
    from cutout.deploy.config import DeployConfig

__all__ = ["register_ops"]


def _common(parser: argparse.ArgumentParser, *, region: bool = False) -> None:
    add_config(parser)
    add_format(parser)
    if region:
        parser.add_argument(
            "--region", default=None, help="region of the service (default: the first in config)"
        )


def _region(args: argparse.Namespace, config: DeployConfig) -> str:
    region: str = args.region or config.regions[0]
    return region


# snapshot ------------------------------------------------------------------------------
def _snapshot(args: argparse.Namespace) -> int:
    from cutout.deploy.live import save_snapshot

    config = load_config(args)
    paths = save_snapshot(clients(args), config.project, config.regions, args.dir)
    emit(args, {"files": [str(p) for p in paths]}, [f"wrote {p}" for p in paths])
    return 0


# apply ---------------------------------------------------------------------------------
def _gradual(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        steps = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"--gradual {text!r}: a list of percentages like 10,50") from exc
    if any(not 0 < s < 100 for s in steps) or list(steps) != sorted(set(steps)):
        raise ConfigError(f"--gradual {text!r}: increasing percentages between 1 and 99")
    return steps


def _apply(args: argparse.Namespace) -> int:
    from cutout.deploy.apply import ApplyOptions, apply, describe_request
    from cutout.deploy.live import read_live
    from cutout.deploy.plan import make_plan
    from cutout.deploy.service_spec import new_revision_name

    config = load_config(args)
    gradual = _gradual(args.gradual)
    image: bytes = b""
    if not args.dry_run:
        if args.smoke_image is None:
            raise ConfigError("apply needs --smoke-image PATH: a real photo the smoke test removes")
        try:
            image = Path(args.smoke_image).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{args.smoke_image}: cannot read: {exc.strerror or exc}") from exc
    gcp = clients(args)
    snapshot = read_live(gcp, config)
    plan = make_plan(config, snapshot.limits, snapshot.usage)
    table = plan_table(config, snapshot, plan)
    if plan.chosen is None:
        emit(args, {"plan": plan.to_json(), "applied": None}, table)
        return 1
    candidates = [plan.chosen, *plan.fallbacks()]
    if args.dry_run:
        from cutout.deploy.apply import existing_service

        existing = existing_service(gcp, config, plan.chosen.region)
        revision = new_revision_name(config.service, plan.chosen)
        request = describe_request(config, plan.chosen, existing, revision)
        emit(
            args,
            {"plan": plan.to_json(), "request": request},
            [*table, "request (dry run, not sent):", json.dumps(request, indent=2)],
        )
        return 0
    options = ApplyOptions(
        image=image, gradual=gradual, ready_timeout_s=args.ready_timeout, api_key=args.api_key
    )
    report = apply(gcp, config, candidates, options)
    emit(args, {"plan": plan.to_json(), "applied": report.to_json()}, [*table, *report.lines()])
    return 0 if report.ok else 1


# rollback, status, cleanup -------------------------------------------------------------
def _rollback(args: argparse.Namespace) -> int:
    from cutout.deploy.rollback import rollback

    config = load_config(args)
    report = rollback(
        clients(args), config.project, _region(args, config), config.service, to=args.to
    )
    emit(args, report.to_json(), report.lines())
    return 0


# exit status of `status --check-quota` when a quota is at or above the percentage
QUOTA_HIGH = 3


def _status(args: argparse.Namespace) -> int:
    import sys

    from cutout.deploy.status import quota_table, quotas_over, read_status, status_lines

    regions = read_status(clients(args), load_config(args))
    document: dict[str, object] = {"regions": [r.to_json() for r in regions]}
    lines = status_lines(regions)
    if args.check_quota is None:
        emit(args, document, lines)
        return 0
    over = quotas_over(regions, args.check_quota)
    document["check_quota"] = {
        "percent": args.check_quota,
        "at_or_above": [use.to_json() for use in over],
    }
    emit(args, document, [*lines, "", *quota_table(regions, args.check_quota)])
    if not over:
        return 0
    names = ", ".join(f"{use.quota_id} in {use.region}" for use in over)
    print(
        f"cutout: quota at or above {args.check_quota:g} % of its limit: {names}", file=sys.stderr
    )
    return QUOTA_HIGH


def _cleanup(args: argparse.Namespace) -> int:
    from cutout.deploy.cleanup import cleanup, parse_age

    config = load_config(args)
    older = parse_age(args.older_than) if args.older_than else None
    report = cleanup(
        clients(args),
        config.project,
        _region(args, config),
        config.service,
        keep=args.keep,
        older_than=older,
        yes=args.yes,
    )
    emit(args, report.to_json(), report.lines())
    return 0


def _quota_request(args: argparse.Namespace) -> int:
    from cutout.deploy.quota_request import request_gpu_quota

    config = load_config(args)
    report = request_gpu_quota(
        clients(args),
        config.project,
        args.region,
        args.gpus,
        email=args.email,
        zonal_redundancy=args.zonal_redundancy,
        justification=args.justification,
        service=config.service,
    )
    emit(args, report.to_json(), report.lines())
    return 0


def register_ops(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the live subcommands to ``cutout deploy``'s subparsers."""
    parser = subparsers.add_parser(
        "snapshot", help="save the live quota and service responses for offline planning"
    )
    parser.add_argument("dir", help="folder for quotaInfos.json and services-REGION.json")
    _common(parser)
    parser.set_defaults(func=_snapshot)

    parser = subparsers.add_parser(
        "apply", help="deploy the plan as a tagged revision, smoke-test it, then move traffic"
    )
    _common(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the request")
    parser.add_argument(
        "--gradual", metavar="P1,P2", help="move traffic in steps, e.g. 10,50 (then 100)"
    )
    parser.add_argument("--smoke-image", metavar="PATH", help="a real photo to remove")
    parser.add_argument("--api-key", default=None, help="X-Api-Key for the smoke test")
    parser.add_argument(
        "--ready-timeout", type=float, default=900.0, metavar="S", help="seconds to be ready"
    )
    parser.set_defaults(func=_apply)

    parser = subparsers.add_parser("rollback", help="send all traffic back to a revision")
    _common(parser, region=True)
    parser.add_argument(
        "--to", metavar="REVISION", help="default: the previous revision that served"
    )
    parser.set_defaults(func=_rollback)

    parser = subparsers.add_parser(
        "status", help="revisions, traffic, device, quota headroom, cost rate"
    )
    _common(parser)
    parser.add_argument(
        "--check-quota",
        type=percentage,
        metavar="PCT",
        help="add each quota's use per region; exit 3 when one is at or above PCT %% "
        "of its limit (for a scheduled check)",
    )
    parser.set_defaults(func=_status)

    parser = subparsers.add_parser(
        "cleanup", help="delete old revisions without traffic or tags (dry run unless --yes)"
    )
    _common(parser, region=True)
    parser.add_argument("--keep", type=int, default=3, help="newest idle revisions to keep")
    parser.add_argument("--older-than", metavar="AGE", help="only older than e.g. 7d, 12h")
    parser.add_argument("--yes", action="store_true", help="really delete")
    parser.set_defaults(func=_cleanup)

    quota = subparsers.add_parser("quota", help="Cloud Run quota requests")
    quota_sub = quota.add_subparsers(dest="quota_command", metavar="COMMAND")
    parser = quota_sub.add_parser("request", help="ask for more L4 GPU quota in a region")
    _common(parser)
    parser.add_argument("--region", required=True)
    parser.add_argument("--gpus", type=int, required=True, help="the new limit wanted")
    parser.add_argument(
        "--no-zonal-redundancy",
        dest="zonal_redundancy",
        action="store_false",
        help="the quota for GPUs without zonal redundancy",
    )
    parser.add_argument("--email", required=True, help="contact for Google's review")
    parser.add_argument("--justification", default=None)
    parser.set_defaults(func=_quota_request)
