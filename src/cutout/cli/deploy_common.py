"""What the ``cutout deploy`` subcommands share: their common options, reading the config
and the planner's inputs, printing a result, and the plan table.

Used by :mod:`cutout.cli.deploy` (planning) and :mod:`cutout.cli.deploy_ops` (live).
Nothing heavy is imported until a function runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cutout.deploy.config import DeployConfig
    from cutout.deploy.gcp import GcpClients
    from cutout.deploy.types import Candidate, Plan, Snapshot

__all__ = [
    "add_config",
    "add_format",
    "clients",
    "describe_candidate",
    "emit",
    "load_config",
    "nothing_fits",
    "percentage",
    "plan_table",
    "read_inputs",
]


def add_config(parser: argparse.ArgumentParser, *, snapshot: bool = False) -> None:
    """``--config`` and ``--endpoint``; ``--from-snapshot`` where offline planning works."""
    parser.add_argument(
        "--config", default="cutout-deploy.toml", metavar="FILE", help="cutout-deploy.toml"
    )
    if snapshot:
        parser.add_argument(
            "--from-snapshot",
            type=Path,
            metavar="DIR",
            help="plan offline from saved API responses",
        )
    parser.add_argument(
        "--endpoint", default=None, metavar="URL", help="API endpoint override (tests, emulators)"
    )


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json"), default="table")


def percentage(text: str) -> float:
    """argparse ``type`` of a percentage in (0, 100], ``80`` or ``80%`` (else exit 2)."""
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage like 80") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r}: a percentage in (0, 100]")
    return value


def load_config(args: argparse.Namespace) -> DeployConfig:
    from cutout.deploy.config import load_config as load

    return load(args.config)


def clients(args: argparse.Namespace) -> GcpClients:
    """Google's clients (Application Default Credentials, or anonymous at ``--endpoint``)."""
    from cutout.deploy.gcp import GcpClients

    return GcpClients.create(endpoint=args.endpoint)


def read_inputs(args: argparse.Namespace, config: DeployConfig) -> Snapshot:
    """The planner's inputs: from ``--from-snapshot DIR`` if given, else the live APIs."""
    if args.from_snapshot is not None:
        from cutout.deploy.snapshot import load_snapshot

        return load_snapshot(args.from_snapshot, config.regions, config.service)
    from cutout.deploy.live import read_live

    return read_live(clients(args), config)


def emit(args: argparse.Namespace, document: Any, lines: Sequence[str]) -> None:
    """``document`` as JSON with ``--format json``, else the lines."""
    if args.format == "json":
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")


# the plan table ------------------------------------------------------------------------
def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _blocker(c: Candidate) -> str:
    if c.blocked_by is not None:
        return c.blocked_by
    return "-" if c.fits else "(no L4 in this region)"


def plan_table(config: DeployConfig, snapshot: Snapshot, plan: Plan) -> list[str]:
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
        index = plan.candidates.index(plan.chosen)
        lines.append(f"chosen: #{index} {describe_candidate(plan.chosen)}")
    else:
        lines.append("nothing fits; request one of:")
        lines += [f"  - {line}" for line in plan.requests]
    return lines


def describe_candidate(c: Candidate) -> str:
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


def nothing_fits(plan: Plan) -> str:
    """One line for stderr; the full list of requests is in the plan output."""
    blocked = next((c for c in plan.candidates if c.shortfalls), None)
    if blocked is None:
        return f"nothing fits; {plan.requests[0] if plan.requests else 'no candidate'}"
    first = blocked.shortfalls[0]
    return (
        f"nothing fits: {first.describe()} (and {len(plan.requests)} way(s) out in the plan's "
        "requests)"
    )
