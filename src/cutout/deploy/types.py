"""Typed records shared by the planner and the live tooling (apply, status, quota request).

Quantities are integers in the units the quotas count: GPUs, milli-vCPU, bytes. The
Cloud Run spellings (``"4"``, ``"16Gi"``) are derived from them (:mod:`cutout.deploy.units`).

A quota limit of ``None`` means unlimited; a region missing from a quota's limits has
limit 0 (Cloud Run offers nothing there for this project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cutout.deploy.units import format_cpu, format_memory

__all__ = [
    "CPU_QUOTA",
    "L4_NO_ZONAL_QUOTA",
    "L4_ZONAL_QUOTA",
    "MEMORY_QUOTA",
    "QUOTA_FIELDS",
    "QUOTA_IDS",
    "QUOTA_METRICS",
    "Candidate",
    "Kind",
    "Plan",
    "QuotaLimits",
    "QuotaUse",
    "RegionUsage",
    "Shortfall",
    "Snapshot",
    "Step",
]

# Cloud Quotas API quota ids of service run.googleapis.com (dimension ``region``).
L4_ZONAL_QUOTA = "NvidiaL4GpuAllocPerProjectRegion"
L4_NO_ZONAL_QUOTA = "NvidiaL4GpuAllocNoZonalRedundancyPerProjectRegion"
CPU_QUOTA = "CpuAllocPerProjectRegion"  # milli-vCPU
MEMORY_QUOTA = "MemAllocPerProjectRegion"  # bytes
QUOTA_IDS: tuple[str, ...] = (L4_ZONAL_QUOTA, L4_NO_ZONAL_QUOTA, CPU_QUOTA, MEMORY_QUOTA)
# The field of QuotaLimits and RegionUsage that holds each quota's amount.
QUOTA_FIELDS: dict[str, str] = {
    L4_ZONAL_QUOTA: "l4_gpus_zonal",
    L4_NO_ZONAL_QUOTA: "l4_gpus_no_zonal",
    CPU_QUOTA: "cpu_milli",
    MEMORY_QUOTA: "memory_bytes",
}

# The quota metric each quota counts (QuotaInfo.metric; the ``quota_metric`` label of the
# serviceruntime quota metrics the quota-usage alerts read). [3P: seen in QuotaInfo
# responses and the console's quota pages; memory's is not listed: no alert reads it.]
QUOTA_METRICS: dict[str, str] = {
    L4_ZONAL_QUOTA: "run.googleapis.com/nvidia_l4_gpu_allocation",
    L4_NO_ZONAL_QUOTA: "run.googleapis.com/nvidia_l4_gpu_allocation_no_zonal_redundancy",
    CPU_QUOTA: "run.googleapis.com/cpu_allocation",
}

Kind = Literal["gpu", "cpu"]
# Where a candidate sits on the fallback ladder, in the planner's order.
Step = Literal["gpu-zonal", "gpu-no-zonal", "gpu-fewer", "cpu"]


@dataclass(frozen=True)
class QuotaLimits:
    """The limits in force in one region (Cloud Quotas ``dimensionsInfos[].details.value``)."""

    region: str
    l4_gpus_zonal: int | None = 0
    l4_gpus_no_zonal: int | None = 0
    cpu_milli: int | None = 0
    memory_bytes: int | None = 0

    def limit(self, quota_id: str) -> int | None:
        value: int | None = getattr(self, QUOTA_FIELDS[quota_id])
        return value


@dataclass(frozen=True)
class RegionUsage:
    """Allocation already taken in a region by OTHER services: sum of max instances x
    per-instance resources (what admission counts, whatever min instances is)."""

    region: str
    l4_gpus_zonal: int = 0
    l4_gpus_no_zonal: int = 0
    cpu_milli: int = 0
    memory_bytes: int = 0
    services: tuple[str, ...] = ()  # short names of the services counted

    def used(self, quota_id: str) -> int:
        value: int = getattr(self, QUOTA_FIELDS[quota_id])
        return value

    def describe(self) -> str:
        """``3 zonal + 0 non-zonal L4, 12 vCPU, 48 GiB``."""
        return (
            f"{self.l4_gpus_zonal} zonal + {self.l4_gpus_no_zonal} non-zonal L4, "
            f"{self.cpu_milli / 1000:g} vCPU, {self.memory_bytes / 2**30:g} GiB"
        )


@dataclass(frozen=True)
class QuotaUse:
    """One quota in one region: what is allocated (max instances x per-instance amounts,
    as admission counts it) against the limit. Units: GPUs, milli-vCPU or bytes."""

    quota_id: str
    region: str
    used: int
    limit: int | None  # None: unlimited

    @property
    def headroom(self) -> int | None:
        """What is left (negative when over); None when unlimited."""
        return None if self.limit is None else self.limit - self.used

    @property
    def percent(self) -> float | None:
        """Used as a share of the limit; None when unlimited or not offered and unused."""
        if self.limit is None or (self.limit == 0 and self.used == 0):
            return None
        return float("inf") if self.limit == 0 else 100 * self.used / self.limit

    def at_or_above(self, percent: float) -> bool:
        """Used >= ``percent`` % of the limit (exact: no rounding at the boundary)."""
        if self.limit is None or (self.limit == 0 and self.used == 0):
            return False
        return 100 * self.used >= percent * self.limit

    def to_json(self) -> dict[str, Any]:
        share = self.percent
        return {
            "quota_id": self.quota_id,
            "region": self.region,
            "used": self.used,
            "limit": self.limit,
            "percent": None if share is None or share == float("inf") else round(share, 2),
        }


@dataclass(frozen=True)
class Snapshot:
    """The planner's inputs per region: quota limits and what other services use.

    Read from the live APIs (:mod:`cutout.deploy.live`) or from saved responses
    (:mod:`cutout.deploy.snapshot`); the planner cannot tell which.
    """

    limits: dict[str, QuotaLimits]
    usage: dict[str, RegionUsage]


@dataclass(frozen=True)
class Shortfall:
    """One quota that blocks a candidate: ``needed`` = used + requested > ``allowed``.

    ``needed`` is also the limit to ask for (a quota preference sets the limit, not the
    increment). Units: GPUs, milli-vCPU or bytes, by quota id.
    """

    quota_id: str
    region: str
    used: int
    requested: int
    allowed: int

    @property
    def needed(self) -> int:
        return self.used + self.requested

    @property
    def short_by(self) -> int:
        return self.needed - self.allowed

    def describe(self, what: str = "revision") -> str:
        """In words; ``what`` is the thing that needs the quota (a revision, a job)."""

        def show(value: int) -> str:
            if self.quota_id == CPU_QUOTA:
                return f"{value / 1000:g} vCPU"
            if self.quota_id == MEMORY_QUOTA:
                return f"{value / 2**30:g} GiB"
            return f"{value} GPU" + ("" if value == 1 else "s")

        return (
            f"{self.quota_id} in {self.region} needs {show(self.needed)} "
            f"({show(self.used)} used by other services + {show(self.requested)} for this "
            f"{what}), limit {show(self.allowed)}: short by {show(self.short_by)}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "quota_id": self.quota_id,
            "region": self.region,
            "used": self.used,
            "requested": self.requested,
            "allowed": self.allowed,
            "needed": self.needed,
            "short_by": self.short_by,
        }


@dataclass(frozen=True)
class Candidate:
    """One way to deploy: a region, a device kind, per-instance resources and max instances.

    ``fits`` is about quota only; ``within_budget`` about the daily budget. The planner
    chooses the first candidate with both.
    """

    kind: Kind
    step: Step
    region: str
    gpu_type: str | None  # "nvidia-l4" for kind gpu, None for cpu
    gpu_zonal_redundancy: bool | None  # None for cpu (--gpu=0 drops the setting)
    max_instances: int
    min_instances: int
    cpu_milli: int
    memory_bytes: int
    concurrency: int
    model: str
    fits: bool
    blocked_by: str | None = None  # the first blocking quota id
    shortfalls: tuple[Shortfall, ...] = ()
    reason: str = ""  # why it fits or not, in words
    cost_per_hour_usd: float = 0.0  # one instance, one active hour
    max_cost_per_day_usd: float = 0.0  # ceiling: max instances busy 24 h
    min_cost_per_day_usd: float = 0.0  # always-on cost of min instances
    within_budget: bool = True
    prices_as_of: str = ""
    image: str = ""  # container image for this kind (GPU or CPU target)

    @property
    def gpus_per_instance(self) -> int:
        return 1 if self.kind == "gpu" else 0

    @property
    def cpu(self) -> str:
        """Per-instance CPU limit as Cloud Run spells it (``"4"``)."""
        return format_cpu(self.cpu_milli)

    @property
    def memory(self) -> str:
        """Per-instance memory limit as Cloud Run spells it (``"16Gi"``)."""
        return format_memory(self.memory_bytes)

    @property
    def usable(self) -> bool:
        return self.fits and self.within_budget

    def container_env(self) -> dict[str, str]:
        """The ``CUTOUT_*`` settings of this candidate's container (manifest and apply).

        A GPU candidate requires its GPU (``CUTOUT_REQUIRE_GPU=1``): a revision whose
        GPU cannot be used stays unready, fails its startup probe on ``/ready``, and
        ``apply`` moves on to the next candidate instead of serving from the CPU at GPU
        prices. A CPU candidate keeps the plain default.
        """
        env = {"CUTOUT_MODEL": self.model, "CUTOUT_DEVICE": "cuda" if self.kind == "gpu" else "cpu"}
        if self.kind == "gpu":
            env["CUTOUT_REQUIRE_GPU"] = "1"
        return env

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "step": self.step,
            "region": self.region,
            "gpu_type": self.gpu_type,
            "gpu_zonal_redundancy": self.gpu_zonal_redundancy,
            "max_instances": self.max_instances,
            "min_instances": self.min_instances,
            "cpu": self.cpu,
            "memory": self.memory,
            "concurrency": self.concurrency,
            "model": self.model,
            "fits": self.fits,
            "blocked_by": self.blocked_by,
            "shortfalls": [s.to_json() for s in self.shortfalls],
            "reason": self.reason,
            "cost_per_hour_usd": self.cost_per_hour_usd,
            "max_cost_per_day_usd": self.max_cost_per_day_usd,
            "min_cost_per_day_usd": self.min_cost_per_day_usd,
            "within_budget": self.within_budget,
            "prices_as_of": self.prices_as_of,
            "image": self.image,
        }


@dataclass(frozen=True)
class Plan:
    """The ordered candidates and the chosen one (None when nothing fits)."""

    chosen: Candidate | None
    candidates: tuple[Candidate, ...]
    # When nothing is chosen: what to request, one line per quota, preferred first.
    requests: tuple[str, ...] = field(default=())

    def fallbacks(self) -> tuple[Candidate, ...]:
        """Usable candidates after the chosen one, in order (for retry at admission)."""
        if self.chosen is None:
            return ()
        index = self.candidates.index(self.chosen)
        return tuple(c for c in self.candidates[index + 1 :] if c.usable)

    def to_json(self) -> dict[str, Any]:
        return {
            "chosen": None if self.chosen is None else self.chosen.to_json(),
            "candidates": [c.to_json() for c in self.candidates],
            "requests": list(self.requests),
        }
