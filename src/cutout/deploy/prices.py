"""A dated Cloud Run price table (instance-based billing).

Read 2026-08: the vCPU rate from https://cloud.google.com/run/pricing (Tier 1 USD); the
L4 and memory rates and the Tier 2 factor from third-party summaries that agree with
each other. A 4 vCPU / 16 GiB L4 instance comes to about $1.05/h without and $1.42/h
with zonal redundancy; there is no GPU free tier.

Prices change; every cost the planner shows says which table it used (``as_of``).
Update by adding a new table and pointing :data:`CURRENT` at it, never by editing an
old one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["CURRENT", "PRICES_2026_08", "PriceTable", "prices_for_tier"]


@dataclass(frozen=True)
class PriceTable:
    """USD per second of one instance's resources, Tier 1 unless scaled."""

    as_of: str
    tier: int
    l4_zonal_per_s: float  # one L4 with zonal redundancy
    l4_no_zonal_per_s: float  # one L4 without zonal redundancy
    vcpu_per_s: float  # instance-based billing
    gib_per_s: float
    tier2_factor: float
    source: str


PRICES_2026_08 = PriceTable(
    as_of="2026-08",
    tier=1,
    l4_zonal_per_s=0.0002909,
    l4_no_zonal_per_s=0.0001867,
    vcpu_per_s=0.000018,
    gib_per_s=0.000002,
    # Tier 2 regions cost about 20 % more (third-party sources agree; not verified).
    tier2_factor=1.2,
    source="https://cloud.google.com/run/pricing and third-party summaries, read 2026-08; "
    "Tier 1 USD",
)
CURRENT = PRICES_2026_08


def prices_for_tier(table: PriceTable, tier: int) -> PriceTable:
    """The same table scaled to a pricing tier (1 or 2)."""
    if tier == table.tier:
        return table
    if tier != 2 or table.tier != 1:
        raise ValueError(f"price tier must be 1 or 2, got {tier}")
    factor = table.tier2_factor
    return replace(
        table,
        tier=2,
        l4_zonal_per_s=table.l4_zonal_per_s * factor,
        l4_no_zonal_per_s=table.l4_no_zonal_per_s * factor,
        vcpu_per_s=table.vcpu_per_s * factor,
        gib_per_s=table.gib_per_s * factor,
    )
