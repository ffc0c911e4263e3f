"""The planner's ladder, scenario by scenario (table-driven)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from cutout.deploy.plan import L4_REGIONS, make_plan
from cutout.deploy.types import (
    CPU_QUOTA,
    L4_NO_ZONAL_QUOTA,
    L4_ZONAL_QUOTA,
    MEMORY_QUOTA,
    QuotaLimits,
    RegionUsage,
)
from tests.deploy.planning import GIB, config, limits, usage


@dataclass
class Case:
    name: str
    limits: list[QuotaLimits]
    expect: tuple[str, str, bool | None, int, str] | None  # kind, region, zonal, max, model
    usage: list[RegionUsage] = field(default_factory=list)
    top: dict[str, Any] = field(default_factory=dict)
    gpu: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "zonal quota available: GPU with zonal redundancy at wanted max",
        [limits("us-central1", zonal=3, no_zonal=3)],
        ("gpu", "us-central1", True, 3, "inspyrenet-base"),
    ),
    Case(
        "zonal-redundant L4 quota 0 but 3 without: GPU without zonal redundancy",
        [limits("us-central1", zonal=0, no_zonal=3)],
        ("gpu", "us-central1", False, 3, "inspyrenet-base"),
    ),
    Case(
        "2 of 3 wanted GPUs: fewer max instances in the same region",
        [limits("us-central1", zonal=0, no_zonal=2), limits("europe-west4", zonal=0)],
        ("gpu", "us-central1", False, 2, "inspyrenet-base"),
    ),
    Case(
        "fewer: zonal wins a tie on instance count",
        [limits("us-central1", zonal=2, no_zonal=2)],
        ("gpu", "us-central1", True, 2, "inspyrenet-base"),
    ),
    Case(
        "fewer: the setting that allows more instances wins",
        [limits("us-central1", zonal=1, no_zonal=2)],
        ("gpu", "us-central1", False, 2, "inspyrenet-base"),
    ),
    Case(
        "fewer than fewest_max_instances: next region instead",
        [limits("us-central1", no_zonal=1), limits("europe-west4", no_zonal=3)],
        ("gpu", "europe-west4", False, 3, "inspyrenet-base"),
        gpu={"fewest_max_instances": 2},
    ),
    Case(
        "fewer never goes below min_instances",
        [limits("us-central1", no_zonal=1), limits("europe-west4", no_zonal=0)],
        ("cpu", "us-central1", None, 4, "inspyrenet-fast"),
        gpu={"min_instances": 2},
    ),
    Case(
        "no GPU quota anywhere: CPU revision on the fast model",
        [limits("us-central1"), limits("europe-west4")],
        ("cpu", "us-central1", None, 4, "inspyrenet-fast"),
    ),
    Case(
        "CPU quota 20 vCPU with an 8 vCPU fallback: max instances 2",
        [limits("us-central1", vcpu=20), limits("europe-west4", vcpu=20)],
        ("cpu", "us-central1", None, 2, "inspyrenet-fast"),
    ),
    Case(
        "memory quota limits the CPU fallback too",
        [limits("us-central1", vcpu=200, gib=40), limits("europe-west4", gib=0)],
        ("cpu", "us-central1", None, 2, "inspyrenet-fast"),
    ),
    Case(
        "first region has no L4: next region",
        [limits("us-east1", zonal=9, no_zonal=9), limits("europe-west4", zonal=3)],
        ("gpu", "europe-west4", True, 3, "inspyrenet-base"),
        top={"regions": ["us-east1", "europe-west4"]},
    ),
    Case(
        "us-west1 is never a GPU region, whatever its quota says",
        [limits("us-west1", zonal=9, no_zonal=9)],
        ("cpu", "us-west1", None, 4, "inspyrenet-fast"),
        top={"regions": ["us-west1"]},
    ),
    Case(
        "GPU in the second region beats CPU in the first",
        [limits("us-central1"), limits("europe-west4", no_zonal=3)],
        ("gpu", "europe-west4", False, 3, "inspyrenet-base"),
    ),
    Case(
        "usage by other services reduces headroom",
        [limits("us-central1", zonal=3, no_zonal=0), limits("europe-west4")],
        ("gpu", "us-central1", True, 1, "inspyrenet-base"),
        usage=[usage("us-central1", zonal=2, vcpu=8, gib=32)],
    ),
    Case(
        "other services' CPU use counts against the GPU revision's CPU too",
        [limits("us-central1", zonal=3, vcpu=20), limits("europe-west4", vcpu=0)],
        ("gpu", "us-central1", True, 2, "inspyrenet-base"),
        usage=[usage("us-central1", vcpu=12)],
    ),
    Case(
        "other services' no-zonal GPUs do not eat the zonal quota",
        [limits("us-central1", zonal=3, no_zonal=3)],
        ("gpu", "us-central1", True, 3, "inspyrenet-base"),
        usage=[usage("us-central1", no_zonal=3)],
    ),
    Case(
        "unlimited quotas (None) fit anything",
        [limits("us-central1", zonal=None, vcpu=None, gib=None)],
        ("gpu", "us-central1", True, 3, "inspyrenet-base"),
    ),
    Case(
        "budget: zonal over budget, no-zonal within",
        [limits("us-central1", zonal=3, no_zonal=3)],
        ("gpu", "us-central1", False, 3, "inspyrenet-base"),
        top={"daily_budget_usd": 80.0},  # zonal 3 x $34.12 = $102.36, no-zonal $75.35
    ),
    Case(
        "budget: fewer GPUs when even no-zonal at wanted max is over",
        [limits("us-central1", zonal=3, no_zonal=3)],
        ("gpu", "us-central1", False, 2, "inspyrenet-base"),
        top={"daily_budget_usd": 60.0},  # 2 x $25.12 = $50.23
    ),
    Case(
        "budget: below one GPU instance, the CPU fallback at what the budget allows",
        [limits("us-central1", zonal=3, no_zonal=3)],
        ("cpu", "us-central1", None, 1, "inspyrenet-fast"),
        top={"daily_budget_usd": 20.0},  # CPU 8 vCPU/16 GiB = $15.21/day each
    ),
    Case(
        "prefer_zonal_redundancy false skips zonal even when it fits",
        [limits("us-central1", zonal=3, no_zonal=3)],
        ("gpu", "us-central1", False, 3, "inspyrenet-base"),
        gpu={"zonal_redundancy": False},
    ),
    Case(
        "CPU fallback disabled: nothing fits",
        [limits("us-central1"), limits("europe-west4")],
        None,
        cpu={"enabled": False},
    ),
    Case(
        "no GPU quota and 4 vCPU per region: nothing fits",
        [limits("us-central1", vcpu=4), limits("europe-west4", vcpu=4)],
        None,
    ),
    Case(
        "a region missing from the limits has no quota",
        [],
        None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ladder(case: Case) -> None:
    cfg = config(gpu=case.gpu, cpu=case.cpu, **case.top)
    plan = make_plan(cfg, {q.region: q for q in case.limits}, {u.region: u for u in case.usage})
    if case.expect is None:
        assert plan.chosen is None
        assert plan.requests, "nothing fits must say what to request"
        return
    assert plan.chosen is not None, [c.reason for c in plan.candidates]
    chosen = plan.chosen
    kind, region, zonal, max_instances, model = case.expect
    assert (chosen.kind, chosen.region, chosen.gpu_zonal_redundancy) == (kind, region, zonal)
    assert (chosen.max_instances, chosen.model) == (max_instances, model)
    assert chosen.fits and chosen.within_budget and chosen.blocked_by is None
    # Everything ranked before the chosen candidate was unusable.
    for earlier in plan.candidates[: plan.candidates.index(chosen)]:
        assert not earlier.usable
    assert plan.requests == ()


def test_cpu_candidate_has_gpu_zero_semantics() -> None:
    plan = make_plan(config(), {"us-central1": limits("us-central1")}, {})
    assert plan.chosen is not None
    assert plan.chosen.kind == "cpu"
    assert plan.chosen.gpu_type is None
    assert plan.chosen.gpu_zonal_redundancy is None
    assert plan.chosen.gpus_per_instance == 0
    assert (plan.chosen.cpu, plan.chosen.memory) == ("8", "16Gi")


def test_ladder_order_lists_every_step() -> None:
    plan = make_plan(
        config(regions=["us-east1", "us-central1"]),
        {"us-central1": limits("us-central1", zonal=0, no_zonal=2)},
        {},
    )
    steps = [(c.step, c.region, c.max_instances) for c in plan.candidates]
    assert steps == [
        ("gpu-zonal", "us-east1", 3),
        ("gpu-zonal", "us-central1", 3),
        ("gpu-no-zonal", "us-central1", 3),
        ("gpu-fewer", "us-central1", 2),
        ("cpu", "us-east1", 4),  # us-east1 has no limits: blocked, and nothing fewer fits
        ("cpu", "us-central1", 4),
    ]
    assert plan.candidates[0].reason == "us-east1 does not offer Cloud Run nvidia-l4 GPUs"
    assert plan.candidates[0].blocked_by is None and not plan.candidates[0].fits
    assert plan.chosen is plan.candidates[3]


def test_nothing_fits_says_which_quota_blocks_by_how_much() -> None:
    cfg = config()
    plan = make_plan(
        cfg,
        {
            "us-central1": limits("us-central1", zonal=1, no_zonal=0, vcpu=4, gib=40),
            "europe-west4": limits("europe-west4", vcpu=4, gib=40),
        },
        {"us-central1": usage("us-central1", zonal=1)},
    )
    assert plan.chosen is None
    first = plan.candidates[0]
    assert first.blocked_by == L4_ZONAL_QUOTA
    gpu = first.shortfalls[0]
    assert (gpu.used, gpu.requested, gpu.allowed, gpu.needed, gpu.short_by) == (1, 3, 1, 4, 3)
    cpu = next(s for s in first.shortfalls if s.quota_id == CPU_QUOTA)
    assert (cpu.needed, cpu.allowed, cpu.short_by) == (12_000, 4_000, 8_000)
    memory = next(s for s in first.shortfalls if s.quota_id == MEMORY_QUOTA)
    assert memory.short_by == 48 * GIB - 40 * GIB
    text = "\n".join(plan.requests)
    assert "gpu with zonal redundancy in us-central1 at 3 max instances" in text
    assert "cutout deploy quota request --region us-central1 --gpus 4 --email" in text
    assert "cutout deploy quota request --region us-central1 --gpus 3 --no-zonal-redundancy" in text
    assert "short by 3 GPUs" in text
    assert "CpuAllocPerProjectRegion in us-central1 needs 12 vCPU" in text
    assert "preferred value 12000" in text
    # the CPU-only option at the wanted 4 x 8 vCPU
    assert "cpu-only in us-central1 at 4 max instances" in text
    assert "short by 28 vCPU" in text


def test_nothing_fits_without_any_l4_region_says_so() -> None:
    plan = make_plan(
        config(regions=["us-west1", "us-east1"], cpu={"enabled": False}),
        {"us-west1": limits("us-west1", zonal=5, no_zonal=5)},
        {},
    )
    assert plan.chosen is None
    assert plan.requests[0].startswith("none of the regions us-west1, us-east1 offers")
    assert "europe-west4" in plan.requests[0]


def test_over_budget_everywhere_says_raise_the_budget() -> None:
    plan = make_plan(
        config(daily_budget_usd=5.0),
        {"us-central1": limits("us-central1", zonal=3, no_zonal=3)},
        {},
    )
    assert plan.chosen is None
    assert all(not c.within_budget for c in plan.candidates if c.fits)
    assert any(line.startswith("budget: cpu in us-central1") for line in plan.requests)
    assert "raise daily_budget_usd (now $5.00)" in plan.requests[-1]


def test_blocked_by_is_the_gpu_quota_of_the_setting() -> None:
    plan = make_plan(config(), {"us-central1": limits("us-central1")}, {})
    by_step = {c.step: c for c in plan.candidates if c.region == "us-central1"}
    assert by_step["gpu-zonal"].blocked_by == L4_ZONAL_QUOTA
    assert by_step["gpu-no-zonal"].blocked_by == L4_NO_ZONAL_QUOTA


def test_fallbacks_are_the_usable_candidates_after_the_chosen() -> None:
    plan = make_plan(
        config(),
        {
            "us-central1": limits("us-central1", zonal=3, no_zonal=3),
            "europe-west4": limits("europe-west4", no_zonal=1),
        },
        {},
    )
    assert plan.chosen is not None and plan.chosen.gpu_zonal_redundancy is True
    fallbacks = plan.fallbacks()
    assert [(c.step, c.region, c.max_instances) for c in fallbacks] == [
        ("gpu-no-zonal", "us-central1", 3),
        ("gpu-fewer", "europe-west4", 1),
        ("cpu", "us-central1", 4),
        ("cpu", "europe-west4", 4),
    ]


def test_costs_on_candidates() -> None:
    plan = make_plan(config(), {"us-central1": limits("us-central1", zonal=3, no_zonal=3)}, {})
    zonal, no_zonal = plan.candidates[0], plan.candidates[1]
    # facts: about $1.42/h with and $1.05/h without zonal redundancy (4 vCPU, 16 GiB)
    assert zonal.cost_per_hour_usd == pytest.approx(1.4216, abs=1e-4)
    assert no_zonal.cost_per_hour_usd == pytest.approx(1.0465, abs=1e-4)
    assert zonal.max_cost_per_day_usd == pytest.approx(1.4216 * 24 * 3, abs=0.01)
    assert zonal.min_cost_per_day_usd == 0.0
    assert zonal.prices_as_of == "2026-08"
    always_on = make_plan(
        config(gpu={"min_instances": 1}), {"us-central1": limits("us-central1", zonal=3)}, {}
    )
    assert always_on.candidates[0].min_cost_per_day_usd == pytest.approx(34.12, abs=0.01)


def test_tier_2_costs_more() -> None:
    quota = {"us-central1": limits("us-central1", zonal=3)}
    tier1 = make_plan(config(), quota, {}).candidates[0]
    tier2 = make_plan(config(price_tier=2), quota, {}).candidates[0]
    assert tier2.cost_per_hour_usd == pytest.approx(tier1.cost_per_hour_usd * 1.2, abs=1e-3)


def test_l4_region_list_matches_the_facts() -> None:
    assert (
        frozenset(
            {
                "asia-southeast1",
                "europe-west1",
                "europe-west4",
                "us-east4",
                "us-central1",
                "asia-south1",
            }
        )
        == L4_REGIONS
    )
    assert "us-west1" not in L4_REGIONS and "us-east1" not in L4_REGIONS
