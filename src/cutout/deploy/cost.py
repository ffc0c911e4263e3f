"""What a candidate costs: per active instance-hour, the daily ceiling, the always-on floor.

GPU revisions must use instance-based billing (CPU always allocated), so an instance
costs the same whether it is busy or idle, and min instances cost that around the clock.
The CPU fallback is billed the same way (the manifest turns CPU throttling off for it
too), so both kinds compare on one scale. There is no GPU free tier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cutout.deploy.prices import PriceTable

__all__ = ["HOURS_PER_DAY", "Cost", "cost_of", "instance_cost_per_hour", "instances_within_budget"]

HOURS_PER_DAY = 24
_SECONDS_PER_HOUR = 3600
_GIB = 2**30


@dataclass(frozen=True)
class Cost:
    per_hour_usd: float  # one instance, one hour
    max_per_day_usd: float  # every max instance up all day: the ceiling
    min_per_day_usd: float  # min instances, always on: the floor
    within_budget: bool


def instance_cost_per_hour(
    *, gpus: int, zonal_redundancy: bool, cpu_milli: int, memory_bytes: int, prices: PriceTable
) -> float:
    """USD for one instance for one hour."""
    gpu_rate = prices.l4_zonal_per_s if zonal_redundancy else prices.l4_no_zonal_per_s
    per_second = (
        gpus * gpu_rate
        + cpu_milli / 1000 * prices.vcpu_per_s
        + memory_bytes / _GIB * prices.gib_per_s
    )
    return per_second * _SECONDS_PER_HOUR


def cost_of(
    per_hour_usd: float, max_instances: int, min_instances: int, budget_usd: float | None
) -> Cost:
    """The daily ceiling at max instances decides the budget fit: it is what could be billed."""
    max_per_day = per_hour_usd * HOURS_PER_DAY * max_instances
    return Cost(
        per_hour_usd=per_hour_usd,
        max_per_day_usd=max_per_day,
        min_per_day_usd=per_hour_usd * HOURS_PER_DAY * min_instances,
        within_budget=budget_usd is None or max_per_day <= budget_usd + 1e-9,
    )


def instances_within_budget(per_hour_usd: float, budget_usd: float | None) -> int | None:
    """The most max instances whose daily ceiling fits the budget (None = no budget)."""
    if budget_usd is None:
        return None
    if per_hour_usd <= 0:
        return None
    return math.floor(budget_usd / (per_hour_usd * HOURS_PER_DAY) + 1e-9)
