"""Properties of the planner over random quotas, usage, configs and budgets."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cutout.deploy.config import DeployConfig
from cutout.deploy.plan import L4_REGIONS, make_plan
from cutout.deploy.types import (
    CPU_QUOTA,
    L4_NO_ZONAL_QUOTA,
    L4_ZONAL_QUOTA,
    MEMORY_QUOTA,
    Candidate,
    Plan,
    QuotaLimits,
    RegionUsage,
)
from tests.deploy.planning import GIB, config

REGIONS = ["us-central1", "europe-west4", "us-east1", "asia-southeast1", "us-west1"]

region_lists = st.lists(st.sampled_from(REGIONS), min_size=1, max_size=3, unique=True)
small = st.integers(min_value=0, max_value=12)
maybe_unlimited = st.one_of(st.none(), small)


@st.composite
def quota_limits(draw: st.DrawFn, region: str) -> QuotaLimits:
    return QuotaLimits(
        region=region,
        l4_gpus_zonal=draw(maybe_unlimited),
        l4_gpus_no_zonal=draw(maybe_unlimited),
        cpu_milli=draw(st.one_of(st.none(), st.integers(0, 120).map(lambda v: v * 1000))),
        memory_bytes=draw(st.one_of(st.none(), st.integers(0, 300).map(lambda g: g * GIB))),
    )


@st.composite
def region_usage(draw: st.DrawFn, region: str) -> RegionUsage:
    return RegionUsage(
        region=region,
        l4_gpus_zonal=draw(small),
        l4_gpus_no_zonal=draw(small),
        cpu_milli=draw(st.integers(0, 80)) * 1000,
        memory_bytes=draw(st.integers(0, 200)) * GIB,
    )


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[DeployConfig, dict[str, QuotaLimits], dict[str, RegionUsage]]:
    regions = draw(region_lists)
    gpu_max = draw(st.integers(1, 6))
    gpu_min = draw(st.integers(0, gpu_max))
    cpu_max = draw(st.integers(1, 8))
    top: dict[str, Any] = {"regions": regions}
    if draw(st.booleans()):
        top["daily_budget_usd"] = draw(st.floats(5, 400))
    cfg = config(
        gpu={
            "max_instances": gpu_max,
            "min_instances": gpu_min,
            "cpu": draw(st.sampled_from(["4", "6", "8"])),
            "memory": draw(st.sampled_from(["16Gi", "24Gi", "32Gi"])),
            "zonal_redundancy": draw(st.booleans()),
            "fewest_max_instances": draw(st.integers(1, gpu_max)),
        },
        cpu={
            "max_instances": cpu_max,
            "min_instances": draw(st.integers(0, cpu_max)),
            "cpu": draw(st.sampled_from(["1", "2", "4", "8"])),
            "memory": draw(st.sampled_from(["2Gi", "4Gi", "8Gi", "16Gi"])),
            "enabled": draw(st.booleans()),
        },
        **top,
    )
    limits = {r: draw(quota_limits(r)) for r in regions if draw(st.integers(0, 9)) > 0}
    usage = {r: draw(region_usage(r)) for r in regions if draw(st.booleans())}
    return cfg, limits, usage


def _needs(candidate: Candidate) -> dict[str, int]:
    needs = {CPU_QUOTA: candidate.cpu_milli, MEMORY_QUOTA: candidate.memory_bytes}
    if candidate.kind == "gpu":
        needs[L4_ZONAL_QUOTA if candidate.gpu_zonal_redundancy else L4_NO_ZONAL_QUOTA] = 1
    return needs


def _really_fits(
    candidate: Candidate, limits: dict[str, QuotaLimits], usage: dict[str, RegionUsage]
) -> bool:
    """Independent check: used + max x per-instance <= limit for every quota."""
    if candidate.kind == "gpu" and candidate.region not in L4_REGIONS:
        return False
    quota = limits.get(candidate.region, QuotaLimits(candidate.region))
    used = usage.get(candidate.region, RegionUsage(candidate.region))
    for quota_id, amount in _needs(candidate).items():
        limit = quota.limit(quota_id)
        if limit is not None and used.used(quota_id) + amount * candidate.max_instances > limit:
            return False
    return True


_STEPS = ("gpu-zonal", "gpu-no-zonal", "gpu-fewer", "cpu")


def _rung(cfg: DeployConfig, candidate: Candidate) -> tuple[int, int, int]:
    """Ladder position: GPU before CPU, then region preference, then the step."""
    return (
        candidate.kind != "gpu",
        cfg.regions.index(candidate.region),
        _STEPS.index(candidate.step),
    )


def _plan(scenario: Any) -> tuple[Plan, Any, Any, Any]:
    cfg, limits, usage = scenario
    return make_plan(cfg, limits, usage), cfg, limits, usage


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_fits_flag_agrees_with_an_independent_quota_check(scenario: Any) -> None:
    plan, _, limits, usage = _plan(scenario)
    for candidate in plan.candidates:
        assert candidate.fits == _really_fits(candidate, limits, usage), candidate
        assert (candidate.blocked_by is None) == (not candidate.shortfalls)
        for shortfall in candidate.shortfalls:
            assert shortfall.short_by > 0


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_chosen_is_the_first_usable_candidate(scenario: Any) -> None:
    plan, cfg, _, _ = _plan(scenario)
    usable = [c for c in plan.candidates if c.fits and c.within_budget]
    assert plan.chosen == (usable[0] if usable else None)
    if plan.chosen is None:
        assert plan.requests, "nothing fits must say what to request"
    else:
        assert plan.requests == ()
        chosen = plan.chosen
        if cfg.daily_budget_usd is not None:
            assert chosen.max_cost_per_day_usd <= cfg.daily_budget_usd + 0.01
        wanted = cfg.gpu if chosen.kind == "gpu" else cfg.cpu
        assert chosen.min_instances <= chosen.max_instances <= wanted.max_instances
        assert chosen.model == wanted.model


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_gpu_only_in_l4_regions_and_always_before_cpu(scenario: Any) -> None:
    plan, cfg, _, _ = _plan(scenario)
    kinds = [c.kind for c in plan.candidates]
    assert kinds == sorted(kinds, key=lambda k: k != "gpu")
    for candidate in plan.candidates:
        if candidate.kind == "gpu" and candidate.fits:
            assert candidate.region in L4_REGIONS
            assert candidate.max_instances >= cfg.fewest_max_instances
        if candidate.kind == "cpu":
            assert candidate.gpu_type is None and candidate.gpu_zonal_redundancy is None
    if not cfg.cpu_fallback:
        assert "cpu" not in kinds


@settings(max_examples=150, deadline=None)
@given(
    scenarios(),
    st.sampled_from(["l4_gpus_zonal", "l4_gpus_no_zonal", "cpu_milli", "memory_bytes"]),
    st.integers(1, 50),
)
def test_more_quota_never_loses_a_deployment(scenario: Any, field: str, extra: int) -> None:
    cfg, limits, usage = scenario
    before = make_plan(cfg, limits, usage)
    unit = {"cpu_milli": 1000, "memory_bytes": GIB}.get(field, 1)
    raised = {}
    for region in cfg.regions:
        quota = limits.get(region, QuotaLimits(region))
        value = getattr(quota, field)
        raised[region] = QuotaLimits(
            **{**quota.__dict__, field: None if value is None else value + extra * unit}
        )
    after = make_plan(cfg, raised, usage)
    if before.chosen is not None:
        assert after.chosen is not None
        # the same rung of the ladder or an earlier one
        assert _rung(cfg, after.chosen) <= _rung(cfg, before.chosen)


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_excluded_usage_only_helps(scenario: Any) -> None:
    """Dropping a service's usage (the one being replaced) never makes the plan worse."""
    cfg, limits, usage = scenario
    with_usage = make_plan(cfg, limits, usage)
    without = make_plan(cfg, limits, {})
    if with_usage.chosen is not None:
        assert without.chosen is not None
        if with_usage.chosen.kind == "gpu":
            assert without.chosen.kind == "gpu"
