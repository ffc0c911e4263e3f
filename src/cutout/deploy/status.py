"""``cutout deploy status``: revisions, traffic, device of each, quota headroom, cost rate.

For each configured region where the service exists: its revisions (newest first) with
readiness, device (GPU type and zonal redundancy, or CPU), model, max instances and
traffic; the quota headroom left in the region (limit minus what every service there,
this one included, may allocate at max instances); and the cost rate of what serves:
USD per active instance-hour and the daily ceiling at max instances.

Each region also carries every quota's use (:func:`cutout.deploy.plan.quota_uses`: the
limits and :func:`cutout.deploy.quotas.usage_in_region` the planner reads, with this
service counted too): ``--check-quota PCT`` prints them as a table
(:func:`quota_table`) and exits 3 when one is at or above PCT % of its limit
(:func:`quotas_over`), so a scheduled job alerts where the quota metrics are not
exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cutout.deploy.config import DeployConfig
from cutout.deploy.cost import HOURS_PER_DAY, instance_cost_per_hour
from cutout.deploy.errors import ResourceNotFoundError
from cutout.deploy.gcp import GcpClients, revision_short, service_name
from cutout.deploy.live import list_quota_infos, list_services
from cutout.deploy.plan import quota_uses
from cutout.deploy.prices import CURRENT, prices_for_tier
from cutout.deploy.quotas import limits_by_region, usage_in_region
from cutout.deploy.rollout import SUCCEEDED, traffic_lines
from cutout.deploy.types import QuotaUse
from cutout.deploy.units import parse_cpu, parse_memory

__all__ = [
    "RegionStatus",
    "RevisionStatus",
    "quota_table",
    "quotas_over",
    "read_status",
    "status_lines",
]

_FAILED = 3


@dataclass(frozen=True)
class RevisionStatus:
    name: str
    created: str
    state: str  # ready | failed | deploying
    device: str  # "nvidia-l4 (zonal)", "nvidia-l4 (no zonal)", "cpu"
    model: str
    cpu: str
    memory: str
    max_instances: int
    percent: int
    tags: tuple[str, ...]
    cost_per_hour_usd: float
    message: str

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "tags": list(self.tags)}


@dataclass(frozen=True)
class RegionStatus:
    region: str
    service: str | None  # full name, None when not deployed there
    uri: str
    revisions: tuple[RevisionStatus, ...]
    quota: tuple[QuotaUse, ...]  # every quota's use in the region, this service included
    serving_cost_per_hour_usd: float  # one instance of each serving revision, weighted
    max_cost_per_day_usd: float

    @property
    def headroom(self) -> dict[str, int | None]:
        """Quota id -> limit - used (None: unlimited)."""
        return {use.quota_id: use.headroom for use in self.quota}

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "service": self.service,
            "uri": self.uri,
            "revisions": [r.to_json() for r in self.revisions],
            "headroom": self.headroom,
            "quota": [use.to_json() for use in self.quota],
            "serving_cost_per_hour_usd": round(self.serving_cost_per_hour_usd, 4),
            "max_cost_per_day_usd": round(self.max_cost_per_day_usd, 2),
        }


def _state(revision: Any) -> tuple[str, str]:
    for condition in revision.conditions:
        if condition.type_ == "Ready":
            if int(condition.state) == SUCCEEDED:
                return "ready", ""
            if int(condition.state) == _FAILED:
                return "failed", str(condition.message)
    return "deploying", ""


def _revision_status(
    revision: Any, traffic: dict[str, tuple[int, list[str]]], config: DeployConfig
) -> RevisionStatus:
    short = revision_short(revision.name)
    limits = dict(revision.containers[0].resources.limits) if revision.containers else {}
    env = {e.name: e.value for e in revision.containers[0].env} if revision.containers else {}
    accelerator = revision.node_selector.accelerator
    zonal = not revision.gpu_zonal_redundancy_disabled
    device = f"{accelerator} ({'zonal' if zonal else 'no zonal'})" if accelerator else "cpu"
    cpu_milli = parse_cpu(limits.get("cpu", "1"))
    memory_bytes = parse_memory(limits.get("memory", "512Mi"))
    per_hour = instance_cost_per_hour(
        gpus=1 if accelerator else 0,
        zonal_redundancy=zonal,
        cpu_milli=cpu_milli,
        memory_bytes=memory_bytes,
        prices=prices_for_tier(CURRENT, config.price_tier),
    )
    state, message = _state(revision)
    percent, tags = traffic.get(short, (0, []))
    return RevisionStatus(
        name=short,
        created=revision.create_time.isoformat() if revision.create_time else "",
        state=state,
        device=device,
        model=env.get("CUTOUT_MODEL", "?"),
        cpu=limits.get("cpu", "1"),
        memory=limits.get("memory", "512Mi"),
        max_instances=int(revision.scaling.max_instance_count) or 100,
        percent=percent,
        tags=tuple(tags),
        cost_per_hour_usd=round(per_hour, 4),
        message=message,
    )


def read_status(clients: GcpClients, config: DeployConfig) -> list[RegionStatus]:
    limits = limits_by_region(list_quota_infos(clients, config.project), config.regions)
    result = []
    for region in config.regions:
        services = list_services(clients, config.project, region)
        # this service counts too: headroom is what is left for anything new
        quota = quota_uses(limits[region], usage_in_region(services, region, exclude=""))
        name = service_name(config.project, region, config.service)
        try:
            service = clients.call(f"read {name}", clients.services.get_service, name=name)
        except ResourceNotFoundError:
            result.append(RegionStatus(region, None, "", (), quota, 0.0, 0.0))
            continue
        pager = clients.call(
            f"list revisions of {name}", clients.revisions.list_revisions, parent=name
        )
        revisions: list[Any] = clients.call(f"list revisions of {name}", list, pager)
        traffic: dict[str, tuple[int, list[str]]] = {}
        for line in traffic_lines(service):
            percent, tags = traffic.get(line.revision, (0, []))
            traffic[line.revision] = (
                percent + line.percent,
                tags + ([line.tag] if line.tag else []),
            )
        rows = tuple(_revision_status(r, traffic, config) for r in revisions)
        serving = [r for r in rows if r.percent]
        rate = sum(r.cost_per_hour_usd * r.percent / 100 for r in serving)
        ceiling = sum(r.cost_per_hour_usd * r.max_instances * HOURS_PER_DAY for r in serving)
        result.append(RegionStatus(region, name, service.uri, rows, quota, rate, ceiling))
    return result


def _show(quota_id: str, value: int | None) -> str:
    if value is None:
        return "unlimited"
    if quota_id.startswith("Cpu"):
        return f"{value / 1000:g} vCPU"
    if quota_id.startswith("Mem"):
        return f"{value / 2**30:g} GiB"
    return f"{value} GPU"


def status_lines(regions: list[RegionStatus]) -> list[str]:
    out: list[str] = []
    for region in regions:
        out.append(f"{region.region}: " + (region.service or "not deployed"))
        for r in region.revisions:
            tags = f" tags {','.join(r.tags)}" if r.tags else ""
            out.append(
                f"  {r.name:<36} {r.state:<9} {r.percent:>3}%{tags}  {r.device}  {r.model}  "
                f"{r.cpu} vCPU {r.memory} max {r.max_instances}  ${r.cost_per_hour_usd:.2f}/h"
                + (f"  ({r.message})" if r.message else "")
            )
        room = ", ".join(f"{q} {_show(q, v)}" for q, v in region.headroom.items())
        out.append(f"  quota headroom: {room}")
        if region.service:
            out.append(
                f"  cost: ${region.serving_cost_per_hour_usd:.2f} per active instance-hour, "
                f"at most ${region.max_cost_per_day_usd:.2f}/day at max instances"
            )
    return out


def quotas_over(regions: list[RegionStatus], percent: float) -> list[QuotaUse]:
    """The quotas at or above ``percent`` % of their limit, region by region."""
    return [use for region in regions for use in region.quota if use.at_or_above(percent)]


def _share(use: QuotaUse) -> str:
    share = use.percent
    if share is None:
        return "-"
    return "over" if share == float("inf") else f"{share:.1f} %"


def quota_table(regions: list[RegionStatus], percent: float) -> list[str]:
    """Used / limit of every quota in every region, marking those at or above ``percent``."""
    width = max((len(use.quota_id) for region in regions for use in region.quota), default=5)
    lines = [
        f"quota use (check at {percent:g} %)",
        f"  {'region':<16} {'quota':<{width}}  {'used':>10}  {'limit':>10}  {'use':>8}",
    ]
    for region in regions:
        for use in region.quota:
            mark = f"  <- at or above {percent:g} %" if use.at_or_above(percent) else ""
            lines.append(
                f"  {use.region:<16} {use.quota_id:<{width}}  "
                f"{_show(use.quota_id, use.used):>10}  {_show(use.quota_id, use.limit):>10}  "
                f"{_share(use):>8}{mark}"
            )
    return lines
