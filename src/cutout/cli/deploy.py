"""``cutout deploy``: plan, render and ship the service to Cloud Run.

The planning subcommands live here: ``plan``, ``manifest``, ``multi-region``, ``alerts``;
the live ones (``snapshot``, ``apply``, ``rollback``, ``status``, ``cleanup``,
``quota``) in :mod:`cutout.cli.deploy_ops`. Inputs come from the live APIs (Cloud Quotas
+ Run Admin v2, Application Default Credentials) or, with ``--from-snapshot DIR``, from
saved responses. Nothing heavy is imported until a subcommand runs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cutout.cli.deploy_common import (
    add_config,
    add_format,
    describe_candidate,
    emit,
    load_config,
    nothing_fits,
    percentage,
    plan_table,
    read_inputs,
)
from cutout.cli.deploy_job import register_job
from cutout.cli.deploy_ops import register_ops
from cutout.errors import ConfigError, CutoutError

if TYPE_CHECKING:
    from cutout.deploy.config import DeployConfig
    from cutout.deploy.types import Plan, Snapshot

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="plan and ship to Cloud Run (GPU when quota allows, CPU otherwise)",
        description="Cloud Run deployment that keeps shipping when GPU quota runs out.",
    )
    commands = parser.add_subparsers(dest="deploy_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: _usage(parser))

    plan = commands.add_parser("plan", help="rank GPU and CPU candidates against live quota")
    add_config(plan, snapshot=True)
    add_format(plan)
    plan.set_defaults(func=_plan)

    manifest = commands.add_parser(
        "manifest", help="Knative serving.knative.dev/v1 YAML of the plan (services replace)"
    )
    add_config(manifest, snapshot=True)
    manifest.add_argument(
        "--candidate",
        type=int,
        metavar="N",
        help="render candidate N of the plan (default: chosen)",
    )
    manifest.add_argument("--output", "-o", type=Path, metavar="FILE", help="default: stdout")
    manifest.set_defaults(func=_manifest)

    multi = commands.add_parser(
        "multi-region", help="several regions behind a global external Application LB"
    )
    add_config(multi, snapshot=True)
    multi.add_argument(
        "--regions", metavar="R1,R2", help="regions to serve from (default: all in the config)"
    )
    multi.add_argument("--domain", required=True, help="domain of the managed certificate")
    multi.add_argument("--output-dir", type=Path, metavar="DIR", help="write service-REGION.yaml")
    multi.add_argument("--dry-run", action="store_true", help="print the gcloud commands only")
    add_format(multi)
    multi.set_defaults(func=_multi_region)

    alerts = commands.add_parser(
        "alerts",
        help="Cloud Monitoring alert policies for the service and its regions' quota "
        "(created, or updated when they exist)",
    )
    add_config(alerts)
    alerts.add_argument(
        "--notification-channel",
        action="append",
        default=[],
        metavar="NAME",
        help="projects/P/notificationChannels/ID (repeatable)",
    )
    alerts.add_argument(
        "--max-instances",
        type=int,
        metavar="N",
        help="max instances of the serving revision (default: gpu.max_instances)",
    )
    alerts.add_argument(
        "--quota-percent",
        type=percentage,
        default=80.0,
        metavar="PCT",
        help="quota-usage policies fire at PCT %% of a limit in a region (default 80)",
    )
    alerts.add_argument("--dry-run", action="store_true", help="print the AlertPolicy JSON only")
    alerts.set_defaults(func=_alerts)

    register_ops(commands)
    register_job(commands)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _make_plan(args: argparse.Namespace) -> tuple[DeployConfig, Snapshot, Plan]:
    from cutout.deploy.plan import make_plan

    config = load_config(args)
    snapshot = read_inputs(args, config)
    return config, snapshot, make_plan(config, snapshot.limits, snapshot.usage)


# plan ----------------------------------------------------------------------------------
def _plan(args: argparse.Namespace) -> int:
    config, snapshot, plan = _make_plan(args)
    emit(args, plan.to_json(), plan_table(config, snapshot, plan))
    if plan.chosen is None:
        print(f"cutout: {args.config}: {nothing_fits(plan)}", file=sys.stderr)
        return 1
    return 0


# manifest ------------------------------------------------------------------------------
def _manifest(args: argparse.Namespace) -> int:
    from cutout.deploy.manifest import build_manifest, manifest_yaml, replace_command

    config, _, plan = _make_plan(args)
    if args.candidate is not None:
        if not 0 <= args.candidate < len(plan.candidates):
            raise ConfigError(
                f"--candidate {args.candidate}: the plan has candidates 0 to "
                f"{len(plan.candidates) - 1}"
            )
        candidate = plan.candidates[args.candidate]
    elif plan.chosen is None:
        print(f"cutout: {args.config}: {nothing_fits(plan)}", file=sys.stderr)
        return 1
    else:
        candidate = plan.chosen
    text = manifest_yaml(build_manifest(config, candidate))
    if args.output is None:
        sys.stdout.write(text)
        target = "service.yaml"
    else:
        _write(args.output, text)
        target = str(args.output)
    note = "" if candidate.usable else " (this candidate does NOT fit: admission will refuse it)"
    command = replace_command(config, candidate.region, target)
    print(f"# {describe_candidate(candidate)}{note}\n# apply: {command}", file=sys.stderr)
    return 0


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CutoutError(f"{path}: cannot write: {exc.strerror or exc}") from exc


# multi-region --------------------------------------------------------------------------
def _multi_region(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from cutout.deploy.config import REGION_NAME
    from cutout.deploy.multiregion import plan_multi_region

    regions = None
    if args.regions:
        regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
        bad = [r for r in regions if not REGION_NAME.match(r)]
        if bad or not regions:
            raise ConfigError(f"--regions {args.regions!r}: a list like us-central1,europe-west4")
    config = load_config(args)
    if regions is not None:
        config = replace(config, regions=regions)
    snapshot = read_inputs(args, config)
    setup = plan_multi_region(config, snapshot, config.regions, args.domain)
    if args.output_dir is not None:
        for region, document in setup.manifests.items():
            _write(args.output_dir / f"service-{region}.yaml", document)
    manifest_dir = str(args.output_dir) if args.output_dir is not None else "."
    emit(args, setup.to_json(manifest_dir), setup.report(manifest_dir).splitlines())
    if not setup.ok:
        print(f"cutout: {args.config}: {setup.problems[0]}", file=sys.stderr)
        return 1
    if args.dry_run:
        return 0
    if args.output_dir is None:
        raise ConfigError("multi-region without --dry-run needs --output-dir for the manifests")
    from cutout.deploy.multiregion_live import apply_multi_region

    apply_multi_region(setup, manifest_dir)
    return 0


# alerts --------------------------------------------------------------------------------
def _alerts(args: argparse.Namespace) -> int:
    from cutout.deploy.alerts import alert_policies, policy_json

    config = load_config(args)
    if args.max_instances is not None and args.max_instances < 1:
        raise ConfigError(f"--max-instances {args.max_instances}: must be >= 1")
    for channel in args.notification_channel:
        if not re.match(r"^projects/[^/]+/notificationChannels/[^/]+$", channel):
            raise ConfigError(
                f"--notification-channel {channel!r}: use projects/P/notificationChannels/ID"
            )
    policies = alert_policies(
        config,
        tuple(args.notification_channel),
        max_instances=args.max_instances,
        quota_percent=args.quota_percent,
    )
    if args.dry_run:
        json.dump([policy_json(p) for p in policies], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from cutout.deploy.alerts_live import upsert_policies

    for change in upsert_policies(config.project, policies, endpoint=args.endpoint):
        print(change.line())
    return 0
