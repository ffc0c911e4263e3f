"""Quota limits (Cloud Quotas API) and the allocation already used (Run Admin API v2).

Cloud Run quota lives under service ``run.googleapis.com``, NOT Compute Engine: the
``NVIDIA_L4_GPUS`` VM quota says nothing about Cloud Run. The Cloud Quotas API returns
only LIMITS (``dimensionsInfos[].details.value`` per ``region``); usage is computed here
the way admission counts it: max instances x per-instance GPU, CPU and memory, summed
over the services in the region, leaving out the service being replaced (its new
revision takes its place).

Both functions take the real client message types (``cloudquotas_v1.QuotaInfo``,
``run_v2.Service``), so a live pager and a saved snapshot go through the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cutout.deploy.types import QUOTA_FIELDS, QuotaLimits, RegionUsage
from cutout.deploy.units import parse_cpu, parse_memory
from cutout.errors import ConfigError, DeployError

if TYPE_CHECKING:
    from google.cloud.cloudquotas_v1 import QuotaInfo
    from google.cloud.run_v2 import Service

__all__ = [
    "DEFAULT_CONTAINER_CPU",
    "DEFAULT_CONTAINER_MEMORY",
    "DEFAULT_MAX_INSTANCES",
    "RUN_SERVICE",
    "limits_by_region",
    "service_allocation",
    "usage_in_region",
]

RUN_SERVICE = "run.googleapis.com"
# What Cloud Run assumes when a field is unset (v2: max instances defaults to 100).
DEFAULT_MAX_INSTANCES = 100
DEFAULT_CONTAINER_CPU = "1"
DEFAULT_CONTAINER_MEMORY = "512Mi"
_MANUAL_SCALING = 2  # ServiceScaling.ScalingMode.MANUAL
L4 = "nvidia-l4"


def _limit_in(info: QuotaInfo, region: str) -> int | None:
    """The limit of one quota in one region; None = unlimited, 0 = not offered.

    A ``dimensionsInfos`` entry names its region (``dimensions: {region: R}``) or is the
    default for the regions in its ``applicableLocations`` (``dimensions: {}``). A region
    in neither has no allocation at all. Negative values mean unlimited.
    """
    default: int | None = None
    found_default = False
    for entry in info.dimensions_infos:
        dims = dict(entry.dimensions)
        value = int(entry.details.value)
        resolved = None if value < 0 else value
        if dims.get("region") == region:
            return resolved
        if "region" not in dims and (
            not entry.applicable_locations or region in entry.applicable_locations
        ):
            default, found_default = resolved, True
    return default if found_default else 0


def limits_by_region(infos: Iterable[QuotaInfo], regions: Sequence[str]) -> dict[str, QuotaLimits]:
    """The four Cloud Run quotas in each region; a quota the API did not list counts as 0."""
    by_id = {info.quota_id: info for info in infos if info.quota_id in QUOTA_FIELDS}
    result: dict[str, QuotaLimits] = {}
    for region in regions:
        values: dict[str, Any] = {}
        for quota_id, field_name in QUOTA_FIELDS.items():
            info = by_id.get(quota_id)
            values[field_name] = 0 if info is None else _limit_in(info, region)
        result[region] = QuotaLimits(region=region, **values)
    return result


def _location(name: str) -> tuple[str, str]:
    """``projects/P/locations/R/services/S`` -> (R, S)."""
    parts = name.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations":
        raise DeployError(f"not a Cloud Run service name: {name!r}")
    return parts[3], parts[5]


def _max_instances(service: Service) -> int:
    if int(service.scaling.scaling_mode) == _MANUAL_SCALING:
        return int(service.scaling.manual_instance_count)
    revision_cap = int(service.template.scaling.max_instance_count)
    service_cap = int(service.scaling.max_instance_count)
    caps = [cap for cap in (revision_cap, service_cap) if cap > 0]
    return min(caps) if caps else DEFAULT_MAX_INSTANCES


def service_allocation(service: Service) -> tuple[int, bool, int, int, int]:
    """(l4 GPUs per instance, zonal redundancy, milli-vCPU, bytes, max instances)."""
    cpu_milli = 0
    memory_bytes = 0
    gpus = 0
    try:
        for container in service.template.containers:
            limits = dict(container.resources.limits)
            cpu_milli += parse_cpu(limits.get("cpu", DEFAULT_CONTAINER_CPU))
            memory_bytes += parse_memory(limits.get("memory", DEFAULT_CONTAINER_MEMORY))
            gpus += int(limits.get("nvidia.com/gpu", "0") or 0)
    except (ConfigError, ValueError) as exc:
        raise DeployError(f"service {service.name}: unreadable resource limits: {exc}") from exc
    if not service.template.containers:
        cpu_milli = parse_cpu(DEFAULT_CONTAINER_CPU)
        memory_bytes = parse_memory(DEFAULT_CONTAINER_MEMORY)
    is_l4 = service.template.node_selector.accelerator == L4
    l4_gpus = max(gpus, 1) if is_l4 else 0
    zonal = not service.template.gpu_zonal_redundancy_disabled
    return l4_gpus, zonal, cpu_milli, memory_bytes, _max_instances(service)


def usage_in_region(services: Iterable[Service], region: str, exclude: str) -> RegionUsage:
    """Sum of max instances x per-instance resources of the region's services but ``exclude``."""
    zonal_gpus = no_zonal_gpus = cpu = memory = 0
    counted: list[str] = []
    for service in services:
        location, short_name = _location(service.name)
        if location != region or short_name == exclude:
            continue
        gpus, zonal, cpu_milli, memory_bytes, max_instances = service_allocation(service)
        if zonal:
            zonal_gpus += gpus * max_instances
        else:
            no_zonal_gpus += gpus * max_instances
        cpu += cpu_milli * max_instances
        memory += memory_bytes * max_instances
        counted.append(short_name)
    return RegionUsage(
        region=region,
        l4_gpus_zonal=zonal_gpus,
        l4_gpus_no_zonal=no_zonal_gpus,
        cpu_milli=cpu,
        memory_bytes=memory,
        services=tuple(counted),
    )
