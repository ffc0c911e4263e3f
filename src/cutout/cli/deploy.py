"""``cutout deploy``: plan, render and ship the service to Cloud Run.

Planning subcommands live here: ``plan``, ``manifest``, ``multi-region``, ``alerts``.
The live ones (``snapshot``, ``apply``, ``rollback``, ``status``, ``cleanup``, ``quota``)
are added by :func:`cutout.cli.deploy_ops.register_ops` when that module is present.

Inputs come from the live APIs (Cloud Quotas + Run Admin v2, Application Default
Credentials) or, with ``--from-snapshot DIR``, from saved responses. Nothing heavy is
imported until a subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cutout.errors import ConfigError, CutoutError

if TYPE_CHECKING:
    from cutout.deploy.config import DeployConfig
    from cutout.deploy.types import Candidate, Plan, Snapshot

__all__ = ["format_plan_table", "register"]

_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="plan and ship to Cloud Run (GPU when quota allows, CPU otherwise)",
        description="Cloud Run deployment that keeps shipping when GPU quota runs out.",
    )
    commands = parser.add_subparsers(dest="deploy_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: _usage(parser))

    plan = commands.add_parser("plan", help="rank GPU and CPU candidates against live quota")
    _inputs(plan)
    plan.add_argument("--format", choices=("table", "json"), default="table")
    plan.set_defaults(func=_plan)

    manifest = commands.add_parser(
        "manifest", help="Knative serving.knative.dev/v1 YAML of the plan (services replace)"
    )
    _inputs(manifest)
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
    _inputs(multi)
    multi.add_argument(
        "--regions", metavar="R1,R2", help="regions to serve from (default: all in the config)"
    )
    multi.add_argument("--domain", required=True, help="domain of the managed certificate")
    multi.add_argument("--output-dir", type=Path, metavar="DIR", help="write service-REGION.yaml")
    multi.add_argument("--dry-run", action="store_true", help="print the gcloud commands only")
    multi.add_argument("--format", choices=("table", "json"), default="table")
    multi.set_defaults(func=_multi_region)

    alerts = commands.add_parser("alerts", help="Cloud Monitoring alert policies for the service")
    alerts.add_argument("--config", default="cutout-deploy.toml", metavar="FILE")
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
    alerts.add_argument("--dry-run", action="store_true", help="print the AlertPolicy JSON only")
    alerts.add_argument("--endpoint", default=None, metavar="URL", help=argparse.SUPPRESS)
    alerts.set_defaults(func=_alerts)

    _register_ops(commands)


def _register_ops(commands: Any) -> None:
    try:
        ops = importlib.import_module("cutout.cli.deploy_ops")
    except ModuleNotFoundError as exc:
        if exc.name != "cutout.cli.deploy_ops":
            raise
        return
    ops.register_ops(commands)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default="cutout-deploy.toml", metavar="FILE", help="cutout-deploy.toml"
    )
    parser.add_argument(
        "--from-snapshot", type=Path, metavar="DIR", help="plan offline from saved API responses"
    )
    parser.add_argument("--endpoint", default=None, metavar="URL", help=argparse.SUPPRESS)


def _load(
    args: argparse.Namespace, regions: tuple[str, ...] | None = None
) -> tuple[DeployConfig, Snapshot]:
    from dataclasses import replace

    from cutout.deploy.config import load_config

    config = load_config(args.config)
    if regions is not None:
        config = replace(config, regions=regions)
    if args.from_snapshot is not None:
        from cutout.deploy.snapshot import load_snapshot

        return config, load_snapshot(args.from_snapshot, config.regions, config.service)
    # Live: the other half's client wrapper, imported only now.
    from cutout.deploy.gcp import GcpClients
    from cutout.deploy.live import read_live

    return config, read_live(GcpClients.create(endpoint=args.endpoint), config)


def _make_plan(args: argparse.Namespace) -> tuple[DeployConfig, Snapshot, Plan]:
    from cutout.deploy.plan import make_plan

    config, snapshot = _load(args)
    return config, snapshot, make_plan(config, snapshot.limits, snapshot.usage)


# plan ----------------------------------------------------------------------------------
def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def format_plan_table(config: DeployConfig, snapshot: Snapshot, plan: Plan) -> str:
    """The plan as a fixed-width table, then the chosen candidate or what to request."""
    header = (
        "   #  kind  region           zonal  max  min  cpu  memory  model             "
        "fits  budget   $/hour  $/day max  $/day min  blocked by"
    )
    lines = [header]
    for index, c in enumerate(plan.candidates):
        mark = "*" if c is plan.chosen else " "
        lines.append(
            f"{mark} {index:>2}  {c.kind:<4}  {c.region:<15}  {_yes(c.gpu_zonal_redundancy):<5}  "
            f"{c.max_instances:>3}  {c.min_instances:>3}  {c.cpu:<3}  {c.memory:<6}  "
            f"{c.model:<16}  {_yes(c.fits):<4}  {_yes(c.within_budget):<6}  "
            f"{c.cost_per_hour_usd:>7.4f}  {c.max_cost_per_day_usd:>9.2f}  "
            f"{c.min_cost_per_day_usd:>9.2f}  {_blocker(c)}"
        )
    lines.append("")
    prices = plan.candidates[0].prices_as_of if plan.candidates else "-"
    budget = "none" if config.daily_budget_usd is None else f"${config.daily_budget_usd:.2f}/day"
    lines.append(f"prices as of {prices}, tier {config.price_tier}; budget {budget}")
    for region in config.regions:
        usage = snapshot.usage.get(region)
        if usage is not None and usage.services:
            lines.append(
                f"used in {region} by {', '.join(usage.services)}: "
                f"{usage.l4_gpus_zonal} zonal + {usage.l4_gpus_no_zonal} non-zonal L4, "
                f"{usage.cpu_milli / 1000:g} vCPU, {usage.memory_bytes / 2**30:g} GiB "
                f"({config.service} itself is not counted)"
            )
    if plan.chosen is not None:
        lines.append(f"chosen: #{plan.candidates.index(plan.chosen)} {_describe(plan.chosen)}")
    else:
        lines.append("nothing fits; request one of:")
        lines += [f"  - {line}" for line in plan.requests]
    return "\n".join(lines) + "\n"


def _blocker(c: Candidate) -> str:
    if c.blocked_by is not None:
        return c.blocked_by
    return "-" if c.fits else "(no L4 in this region)"


def _describe(c: Candidate) -> str:
    if c.kind == "gpu":
        zonal = "with" if c.gpu_zonal_redundancy else "without"
        what = f"{c.gpu_type} GPU {zonal} zonal redundancy"
    else:
        what = "CPU only (--gpu=0)"
    return (
        f"{what} in {c.region}, max {c.max_instances} instances ({c.cpu} vCPU, {c.memory}), "
        f"model {c.model}: ${c.cost_per_hour_usd:.4f}/instance-hour, up to "
        f"${c.max_cost_per_day_usd:.2f}/day, always-on ${c.min_cost_per_day_usd:.2f}/day"
    )


def _nothing_fits(plan: Plan) -> str:
    """One line for stderr; the full list of requests is in the plan output."""
    blocked = next((c for c in plan.candidates if c.shortfalls), None)
    if blocked is None:
        return f"nothing fits; {plan.requests[0] if plan.requests else 'no candidate'}"
    first = blocked.shortfalls[0]
    return (
        f"nothing fits: {first.describe()} (and {len(plan.requests)} way(s) out in the plan's "
        "requests)"
    )


def _plan(args: argparse.Namespace) -> int:
    config, snapshot, plan = _make_plan(args)
    if args.format == "json":
        json.dump(plan.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_plan_table(config, snapshot, plan))
    if plan.chosen is None:
        print(f"cutout: {args.config}: {_nothing_fits(plan)}", file=sys.stderr)
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
        print(f"cutout: {args.config}: {_nothing_fits(plan)}", file=sys.stderr)
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
    print(f"# {_describe(candidate)}{note}\n# apply: {command}", file=sys.stderr)
    return 0


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CutoutError(f"{path}: cannot write: {exc.strerror or exc}") from exc


# multi-region --------------------------------------------------------------------------
def _multi_region(args: argparse.Namespace) -> int:
    from cutout.deploy.multiregion import plan_multi_region

    regions = None
    if args.regions:
        regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
        bad = [r for r in regions if not _REGION.match(r)]
        if bad or not regions:
            raise ConfigError(f"--regions {args.regions!r}: a list like us-central1,europe-west4")
    config, snapshot = _load(args, regions)
    setup = plan_multi_region(config, snapshot, config.regions, args.domain)
    if args.output_dir is not None:
        for region, document in setup.manifests.items():
            _write(args.output_dir / f"service-{region}.yaml", document)
    manifest_dir = str(args.output_dir) if args.output_dir is not None else "."
    if args.format == "json":
        json.dump(setup.to_json(manifest_dir), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(setup.report(manifest_dir))
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
    from cutout.deploy.alerts_live import create_policies
    from cutout.deploy.config import load_config

    config = load_config(args.config)
    if args.max_instances is not None and args.max_instances < 1:
        raise ConfigError(f"--max-instances {args.max_instances}: must be >= 1")
    for channel in args.notification_channel:
        if not re.match(r"^projects/[^/]+/notificationChannels/[^/]+$", channel):
            raise ConfigError(
                f"--notification-channel {channel!r}: use projects/P/notificationChannels/ID"
            )
    policies = alert_policies(
        config, tuple(args.notification_channel), max_instances=args.max_instances
    )
    if args.dry_run:
        json.dump([policy_json(p) for p in policies], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for name in create_policies(config.project, policies, endpoint=args.endpoint):
        print(f"created {name}")
    return 0
