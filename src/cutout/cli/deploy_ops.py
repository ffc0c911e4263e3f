"""The live ``cutout deploy`` subcommands: snapshot, apply, rollback, status, cleanup, quota.

:func:`register_ops` is called by :mod:`cutout.cli.deploy` with its subparsers. Every
command reads ``--config`` (cutout-deploy.toml) and talks to Google through
:class:`cutout.deploy.gcp.GcpClients` (Application Default Credentials); ``--endpoint``
points the clients at another API endpoint (a local fake in tests). Nothing heavy is
imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cutout.errors import ConfigError

__all__ = ["register_ops"]


def _common(parser: argparse.ArgumentParser, *, region: bool = False) -> None:
    parser.add_argument(
        "--config", default="cutout-deploy.toml", metavar="FILE", help="cutout-deploy.toml"
    )
    parser.add_argument(
        "--endpoint", default=None, metavar="URL", help="API endpoint override (tests, emulators)"
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    if region:
        parser.add_argument(
            "--region", default=None, help="region of the service (default: the first in config)"
        )


def _clients(args: argparse.Namespace) -> Any:
    from cutout.deploy.gcp import GcpClients

    return GcpClients.create(endpoint=args.endpoint)


def _config(args: argparse.Namespace) -> Any:
    from cutout.deploy.config import load_config

    return load_config(args.config)


def _region(args: argparse.Namespace, config: Any) -> str:
    region: str = args.region or config.regions[0]
    return region


def _emit(args: argparse.Namespace, document: Any, lines: list[str]) -> None:
    if args.format == "json":
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")


# snapshot ------------------------------------------------------------------------------
def _snapshot(args: argparse.Namespace) -> int:
    from cutout.deploy.live import save_snapshot

    config = _config(args)
    paths = save_snapshot(_clients(args), config.project, config.regions, args.dir)
    _emit(args, {"files": [str(p) for p in paths]}, [f"wrote {p}" for p in paths])
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


def _plan_lines(plan: Any) -> list[str]:
    lines = []
    for candidate in plan.candidates:
        mark = "*" if candidate is plan.chosen else " "
        zonal = {True: " zonal", False: " no-zonal", None: ""}[candidate.gpu_zonal_redundancy]
        fits = "fits" if candidate.fits else f"blocked by {candidate.blocked_by}"
        lines.append(
            f"{mark} {candidate.kind}{zonal} {candidate.region} max {candidate.max_instances} "
            f"{candidate.cpu} vCPU {candidate.memory} {candidate.model}: {fits}, "
            f"${candidate.cost_per_hour_usd:.2f}/h, <= ${candidate.max_cost_per_day_usd:.2f}/day"
        )
    lines += [f"request: {line}" for line in plan.requests]
    return lines


def _apply(args: argparse.Namespace) -> int:
    from cutout.deploy.apply import ApplyOptions, apply, describe_request
    from cutout.deploy.live import read_live
    from cutout.deploy.plan import make_plan
    from cutout.deploy.service_spec import new_revision_name

    config = _config(args)
    gradual = _gradual(args.gradual)
    image: bytes = b""
    if not args.dry_run:
        if args.smoke_image is None:
            raise ConfigError("apply needs --smoke-image PATH: a real photo the smoke test removes")
        try:
            image = Path(args.smoke_image).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{args.smoke_image}: cannot read: {exc.strerror or exc}") from exc
    clients = _clients(args)
    snapshot = read_live(clients, config)
    plan = make_plan(config, snapshot.limits, snapshot.usage)
    if plan.chosen is None:
        _emit(args, {"plan": plan.to_json(), "applied": None}, [*_plan_lines(plan), "nothing fits"])
        return 1
    candidates = [plan.chosen, *plan.fallbacks()]
    if args.dry_run:
        from cutout.deploy.apply import existing_service

        existing = existing_service(clients, config, plan.chosen.region)
        revision = new_revision_name(config.service, plan.chosen)
        request = describe_request(config, plan.chosen, existing, revision)
        _emit(
            args,
            {"plan": plan.to_json(), "request": request},
            [*_plan_lines(plan), "request (dry run, not sent):", json.dumps(request, indent=2)],
        )
        return 0
    options = ApplyOptions(
        image=image, gradual=gradual, ready_timeout_s=args.ready_timeout, api_key=args.api_key
    )
    report = apply(clients, config, candidates, options)
    _emit(
        args,
        {"plan": plan.to_json(), "applied": report.to_json()},
        [*_plan_lines(plan), *report.lines()],
    )
    return 0 if report.ok else 1


# rollback, status, cleanup -------------------------------------------------------------
def _rollback(args: argparse.Namespace) -> int:
    from cutout.deploy.rollback import rollback

    config = _config(args)
    report = rollback(
        _clients(args), config.project, _region(args, config), config.service, to=args.to
    )
    _emit(args, report.to_json(), report.lines())
    return 0


def _status(args: argparse.Namespace) -> int:
    from cutout.deploy.status import read_status, status_lines

    regions = read_status(_clients(args), _config(args))
    _emit(args, {"regions": [r.to_json() for r in regions]}, status_lines(regions))
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from cutout.deploy.cleanup import cleanup, parse_age

    config = _config(args)
    older = parse_age(args.older_than) if args.older_than else None
    report = cleanup(
        _clients(args),
        config.project,
        _region(args, config),
        config.service,
        keep=args.keep,
        older_than=older,
        yes=args.yes,
    )
    _emit(args, report.to_json(), report.lines())
    return 0


def _quota_request(args: argparse.Namespace) -> int:
    from cutout.deploy.quota_request import request_gpu_quota

    config = _config(args)
    report = request_gpu_quota(
        _clients(args),
        config.project,
        args.region,
        args.gpus,
        email=args.email,
        zonal_redundancy=args.zonal_redundancy,
        justification=args.justification,
        service=config.service,
    )
    _emit(args, report.to_json(), report.lines())
    return 0


def register_ops(subparsers: Any) -> None:
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
