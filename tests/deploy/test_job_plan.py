"""The job planner: task sizing against the timeout, and the ladder, case by case."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutout.deploy.job_plan import (
    MAX_TASKS,
    cost_per_images,
    make_job_plan,
    offers_l4_jobs,
    size_tasks,
)
from cutout.deploy.plan import L4_REGIONS
from cutout.deploy.prices import CURRENT
from cutout.deploy.snapshot import load_snapshot
from cutout.deploy.types import L4_NO_ZONAL_QUOTA, QuotaLimits, RegionUsage
from tests.deploy.jobs import job_configs
from tests.deploy.planning import limits, usage

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def _gpu() -> Any:
    return job_configs()[1].gpu


# sizing --------------------------------------------------------------------------------
def test_a_task_ends_within_the_target_fraction_of_the_gpu_hour() -> None:
    gpu = _gpu()  # 2 s per image, 60 s start-up, 3600 s timeout
    sizing = size_tasks(120_000, gpu, 3, 0.6)
    assert sizing.most_items_per_task == (2160 - 60) // 2 == 1050
    # 115 tasks of at most 1050 images, rounded up to whole waves of 3
    assert math.ceil(120_000 / 1050) == 115 and sizing.task_count == 117
    assert sizing.items_per_task == math.ceil(120_000 / 117) == 1026
    assert sizing.task_s == 60 + 1026 * 2 <= 0.6 * 3600
    assert sizing.wall_s == 39 * sizing.task_s
    assert sizing.problem is None


def test_few_items_still_use_every_parallel_slot_and_no_more() -> None:
    gpu = _gpu()
    ten = size_tasks(10, gpu, 3, 0.6)
    assert (ten.task_count, ten.parallelism, ten.items_per_task) == (3, 3, 4)
    two = size_tasks(2, gpu, 3, 0.6)
    assert (two.task_count, two.parallelism, two.items_per_task) == (2, 2, 1)
    empty = size_tasks(0, gpu, 3, 0.6)
    assert (empty.task_count, empty.items_per_task) == (1, 0)


def test_tasks_come_in_whole_waves() -> None:
    sizing = size_tasks(5000, _gpu(), 2, 0.6)  # 5 tasks of 1050 would leave a slot idle
    assert (sizing.task_count, sizing.items_per_task) == (6, 834)
    assert sizing.wall_s == pytest.approx(3 * (60 + 834 * 2))


def test_a_start_up_longer_than_the_target_is_a_problem_not_a_plan() -> None:
    gpu = replace(_gpu(), startup_s=2200.0)
    sizing = size_tasks(100, gpu, 3, 0.6)
    assert sizing.task_count == 0 and sizing.problem is not None
    assert "more than 0.6 x the 3600 s task timeout" in sizing.problem


def test_more_than_10000_tasks_is_a_problem() -> None:
    slow = replace(_gpu(), seconds_per_image=1000.0)  # 2 images per task
    sizing = size_tasks(30_000, slow, 3, 0.6)
    assert sizing.task_count == MAX_TASKS
    assert sizing.problem is not None and "split the source" in sizing.problem


@settings(max_examples=200, deadline=None)
@given(
    items=st.integers(0, 2_000_000),
    seconds=st.floats(0.05, 120),
    startup=st.floats(0, 600),
    timeout=st.integers(600, 3600),
    fraction=st.floats(0.3, 0.9),
    parallelism=st.integers(1, 50),
)
def test_sizing_properties(
    items: int, seconds: float, startup: float, timeout: int, fraction: float, parallelism: int
) -> None:
    kind = replace(_gpu(), seconds_per_image=seconds, startup_s=startup, task_timeout_s=timeout)
    sizing = size_tasks(items, kind, parallelism, fraction)
    if sizing.task_count == 0:  # start-up + one image do not fit
        assert startup + seconds > fraction * timeout - 1e-6
        return
    assert 1 <= sizing.task_count <= MAX_TASKS
    assert 1 <= sizing.parallelism <= min(parallelism, sizing.task_count)
    if sizing.problem is None:
        # every item has a task, and the fullest task ends within the target
        assert sizing.task_count * sizing.items_per_task >= items
        assert sizing.task_s <= fraction * timeout + 1e-6
        assert sizing.items_per_task <= sizing.most_items_per_task


def test_cost_per_10000_images_from_the_price_table() -> None:
    _, job = job_configs()
    gpu_hour = (CURRENT.l4_no_zonal_per_s + 4 * CURRENT.vcpu_per_s + 16 * CURRENT.gib_per_s) * 3600
    # 10,000 x 2 s of work and 10 tasks' start-up (1050 images a task)
    expected = gpu_hour * (10_000 * 2 + 10 * 60) / 3600
    assert cost_per_images(gpu_hour, job.gpu, 0.6, 10_000) == pytest.approx(expected)
    assert expected == pytest.approx(5.99, abs=0.01)


# the ladder ----------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    limits: list[QuotaLimits]
    expect: tuple[str, str, str, int] | None  # kind, step, region, parallelism
    usage: list[RegionUsage] = field(default_factory=list)
    job: dict[str, Any] = field(default_factory=dict)
    gpu: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)
    items: int = 100_000


CASES = [
    Case(
        "non-zonal L4 quota for 3: a GPU job at 3 parallel tasks",
        [limits("us-central1", zonal=0, no_zonal=3)],
        ("gpu", "gpu-no-zonal", "us-central1", 3),
    ),
    Case(
        "zonal L4 quota is no use to a job: jobs run without zonal redundancy",
        [limits("us-central1", zonal=9, no_zonal=0), limits("europe-west4", vcpu=200)],
        ("cpu", "cpu", "us-central1", 4),
    ),
    Case(
        "a service holds 2 of 4 non-zonal L4s: 2 parallel tasks beside it",
        [limits("us-central1", no_zonal=4)],
        ("gpu", "gpu-fewer", "us-central1", 2),
        usage=[usage("us-central1", no_zonal=2, vcpu=8, gib=32)],
    ),
    Case(
        "services' CPU counts against the GPU job's CPU too",
        [limits("us-central1", no_zonal=3, vcpu=20)],
        ("gpu", "gpu-fewer", "us-central1", 1),
        usage=[usage("us-central1", vcpu=14)],
    ),
    Case(
        "no L4 left in the first region: the second region's",
        [limits("us-central1", no_zonal=0), limits("europe-west4", no_zonal=3)],
        ("gpu", "gpu-no-zonal", "europe-west4", 3),
    ),
    Case(
        "fewer than fewest_parallelism: the next region instead",
        [limits("us-central1", no_zonal=1), limits("europe-west4", no_zonal=3)],
        ("gpu", "gpu-no-zonal", "europe-west4", 3),
        gpu={"fewest_parallelism": 2},
    ),
    Case(
        "us-east4 is not a jobs L4 region (not on the jobs page): CPU there",
        [limits("us-east4", no_zonal=9)],
        ("cpu", "cpu", "us-east4", 4),
        job={"regions": ["us-east4"]},
    ),
    Case(
        "no GPU quota: a CPU job on the fast model",
        [limits("us-central1"), limits("europe-west4")],
        ("cpu", "cpu", "us-central1", 4),
    ),
    Case(
        "20 vCPU for 8-vCPU CPU tasks: 2 at once",
        [limits("us-central1", vcpu=20), limits("europe-west4", vcpu=20)],
        ("cpu", "cpu", "us-central1", 2),
    ),
    Case(
        "device cpu skips the GPU rungs",
        [limits("us-central1", no_zonal=3)],
        ("cpu", "cpu", "us-central1", 4),
        job={"device": "cpu"},
    ),
    Case(
        "few items need fewer parallel tasks, and then they fit",
        [limits("us-central1", no_zonal=2)],
        ("gpu", "gpu-no-zonal", "us-central1", 2),
        items=2,
    ),
    Case(
        "no CPU fallback and no GPU quota: nothing",
        [limits("us-central1"), limits("europe-west4")],
        None,
        cpu={"enabled": False},
    ),
    Case(
        "4 vCPU per region: nothing fits",
        [limits("us-central1", vcpu=4), limits("europe-west4", vcpu=4)],
        None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ladder(case: Case) -> None:
    config, job = job_configs(case.job, gpu=case.gpu or None, cpu=case.cpu or None)
    plan = make_job_plan(
        config,
        job,
        {lim.region: lim for lim in case.limits},
        {use.region: use for use in case.usage},
        case.items,
    )
    if case.expect is None:
        assert plan.chosen is None and plan.requests
        return
    assert plan.chosen is not None, plan.to_json()
    chosen = plan.chosen
    got = (chosen.kind, chosen.candidate.step, chosen.region, chosen.sizing.parallelism)
    assert got == case.expect
    assert chosen.candidate.max_instances == chosen.sizing.parallelism
    if chosen.kind == "gpu":
        assert chosen.candidate.gpu_zonal_redundancy is False
        assert offers_l4_jobs(chosen.region)


def test_every_gpu_rung_uses_the_non_zonal_quota_and_jobs_regions_are_service_regions() -> None:
    assert offers_l4_jobs("us-central1") and not offers_l4_jobs("us-east4")
    config, job = job_configs()
    plan = make_job_plan(config, job, {}, {}, 1000)
    gpu = [c for c in plan.candidates if c.kind == "gpu"]
    assert gpu and all(c.candidate.blocked_by == L4_NO_ZONAL_QUOTA for c in gpu)
    assert {r for r in ("us-central1", "europe-west4") if offers_l4_jobs(r)} <= L4_REGIONS


def test_nothing_fits_says_what_to_request_for_the_job() -> None:
    config, job = job_configs()
    plan = make_job_plan(config, job, {"us-central1": limits("us-central1", vcpu=4)}, {}, 1000)
    assert plan.chosen is None
    first = plan.requests[0]
    assert first.startswith("L4 job in us-central1 at 3 parallel tasks: ")
    assert "3 GPUs for this job" in first
    assert "--gpus 3 --no-zonal-redundancy" in first
    assert any(r.startswith("CPU job in us-central1 at 4 parallel tasks") for r in plan.requests)


def _from_snapshot(name: str, items: int = 120_000, **job: Any) -> Any:
    config, job_config = job_configs(job)
    snapshot = load_snapshot(SNAPSHOTS / name, job_config.regions, service="")
    return make_job_plan(config, job_config, snapshot.limits, snapshot.usage, items)


@pytest.mark.parametrize(
    ("snapshot", "expect"),
    [
        ("zonal-none", ("gpu", "gpu-no-zonal", "us-central1", 3)),  # GPU fits
        ("job-shared-l4", ("gpu", "gpu-fewer", "us-central1", 2)),  # fewer parallel tasks
        ("incident", ("gpu", "gpu-fewer", "europe-west4", 2)),  # another region
        ("no-gpu-quota", ("cpu", "cpu", "us-central1", 2)),  # a CPU job
        ("nothing-fits", None),
    ],
)
def test_quota_scenarios_from_snapshots(
    snapshot: str, expect: tuple[str, str, str, int] | None
) -> None:
    plan = _from_snapshot(snapshot)
    if expect is None:
        assert plan.chosen is None and len(plan.requests) == 2
        return
    assert plan.chosen is not None
    c = plan.chosen
    assert (c.kind, c.candidate.step, c.region, c.sizing.parallelism) == expect


def test_the_job_counts_the_service_it_runs_beside() -> None:
    """A service plan leaves `cutout` itself out (its new revision replaces it); a job
    replaces nothing, so the 2 L4s `cutout` holds leave 2 of 4 for the job."""
    plan = _from_snapshot("job-shared-l4")
    wanted = plan.candidates[0]
    (shortfall,) = wanted.candidate.shortfalls
    assert (shortfall.used, shortfall.requested, shortfall.allowed) == (2, 3, 4)
    assert "2 GPUs used by other services + 3 GPUs for this job" in wanted.candidate.reason
