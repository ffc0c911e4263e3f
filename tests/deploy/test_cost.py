"""Costs from the dated price table: the facts' figures, daily ceiling, always-on, budget."""

from __future__ import annotations

import pytest

from cutout.deploy.cost import cost_of, instance_cost_per_hour, instances_within_budget
from cutout.deploy.prices import CURRENT, PRICES_2026_08, PriceTable, prices_for_tier

GIB = 2**30


def _l4(zonal: bool, prices: PriceTable = CURRENT) -> float:
    return instance_cost_per_hour(
        gpus=1, zonal_redundancy=zonal, cpu_milli=4000, memory_bytes=16 * GIB, prices=prices
    )


def test_table_is_dated_and_current() -> None:
    assert CURRENT is PRICES_2026_08
    assert CURRENT.as_of == "2026-08" and CURRENT.tier == 1


def test_l4_instance_hour_matches_the_facts() -> None:
    # facts: about $1.05/h without, $1.42/h with zonal redundancy (4 vCPU, 16 GiB)
    assert _l4(False) == pytest.approx(1.0465, abs=5e-4)
    assert _l4(True) == pytest.approx(1.4216, abs=5e-4)


def test_cpu_instance_hour() -> None:
    per_hour = instance_cost_per_hour(
        gpus=0, zonal_redundancy=False, cpu_milli=8000, memory_bytes=16 * GIB, prices=CURRENT
    )
    assert per_hour == pytest.approx((8 * 0.000018 + 16 * 0.000002) * 3600)


def test_daily_ceiling_and_always_on() -> None:
    cost = cost_of(1.0465, max_instances=3, min_instances=1, budget_usd=None)
    assert cost.max_per_day_usd == pytest.approx(1.0465 * 24 * 3)
    assert cost.min_per_day_usd == pytest.approx(1.0465 * 24)
    assert cost.within_budget


def test_budget_fit_is_on_the_ceiling() -> None:
    assert cost_of(1.0, 3, 0, budget_usd=72.0).within_budget
    assert not cost_of(1.0, 3, 0, budget_usd=71.99).within_budget
    assert instances_within_budget(1.0, 72.0) == 3
    assert instances_within_budget(1.0, 71.99) == 2
    assert instances_within_budget(1.0, None) is None


def test_tier_2_is_about_20_percent_more() -> None:
    tier2 = prices_for_tier(CURRENT, 2)
    assert tier2.tier == 2 and tier2.as_of == CURRENT.as_of
    assert _l4(True, tier2) == pytest.approx(_l4(True) * 1.2)
    assert prices_for_tier(CURRENT, 1) is CURRENT
    with pytest.raises(ValueError, match="price tier must be 1 or 2"):
        prices_for_tier(CURRENT, 3)
