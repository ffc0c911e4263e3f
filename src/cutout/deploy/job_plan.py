"""The job planner: how many tasks, how many at once, where, on which device. Pure.

A bulk run is one Cloud Run Jobs execution of ``cutout batch SRC DST``: ``task_count``
tasks, each taking its shard of the items (``CLOUD_RUN_TASK_INDEX`` of
``CLOUD_RUN_TASK_COUNT``), ``parallelism`` of them at once.

**Task count.** One task's expected time, model start-up plus its items x seconds per
image, must stay under ``target_fraction`` of the task timeout (a GPU task runs at most
1 hour; https://cloud.google.com/run/docs/configuring/task-timeout). The fraction leaves
room for slow images, shards a little over the average (items go to shards by a hash of
their name) and the retry of a task that was moved. So a task takes at most
``floor((fraction x timeout - start-up) / seconds per image)`` items, and there are
enough tasks for that, at least as many as run at once (up to one task per item), and a
whole number of waves of parallel tasks (no slot idles while the last wave runs).

**The ladder** (the service planner's, :mod:`cutout.deploy.plan`, with the job's tasks
as its instances: admission counts parallelism x per-task GPU, CPU and memory, next to
what the services in the region hold at their max instances, the same quotas):

1. ``job.device = "gpu"``: for each region in order that offers L4 GPUs to jobs, an L4
   job without zonal redundancy (jobs have no other kind) at the wanted parallelism,
   then the most parallel tasks that fit, down to ``fewest_parallelism``;
2. for each region in order: a CPU job, at the wanted parallelism, else the most that fit;
3. nothing fits: the quota to request, as for services.

Costs: a task is billed while it runs, per vCPU-second, GiB-second and L4-second
(:mod:`cutout.deploy.prices`); a run costs about (tasks x start-up + items x seconds per
image) x the per-task rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cutout.deploy.config import DeployConfig, KindConfig
from cutout.deploy.job_config import JobConfig, JobKindConfig
from cutout.deploy.plan import CandidateBuilder, request_text
from cutout.deploy.prices import CURRENT, PriceTable
from cutout.deploy.types import Candidate, Kind, QuotaLimits, RegionUsage, Step

__all__ = [
    "JOB_L4_REGIONS",
    "MAX_TASKS",
    "JobCandidate",
    "JobPlan",
    "TaskSizing",
    "cost_per_images",
    "make_job_plan",
    "offers_l4_jobs",
    "size_tasks",
]

# Regions where jobs get L4 GPUs (https://cloud.google.com/run/docs/configuring/jobs/gpu,
# read 2026-12; asia-south1 by invitation). us-east4 offers L4s to services, but that page
# did not list it for jobs: left out until verified.
JOB_L4_REGIONS: frozenset[str] = frozenset(
    {"us-central1", "asia-southeast1", "europe-west1", "europe-west4", "asia-south1"}
)
MAX_TASKS = 10_000  # per execution, https://cloud.google.com/run/quotas
COST_UNIT_IMAGES = 10_000


def offers_l4_jobs(region: str) -> bool:
    return region in JOB_L4_REGIONS


@dataclass(frozen=True)
class TaskSizing:
    """How ``items`` split into tasks for one kind of job at one parallelism."""

    items: int
    task_count: int
    parallelism: int  # effective: never more than the tasks
    most_items_per_task: int  # what one task may take within the target
    items_per_task: int  # what the fullest task gets on average: ceil(items / tasks)
    task_s: float  # expected time of that task: start-up + its items
    wall_s: float  # expected time of the run: waves of parallel tasks
    problem: str | None = None  # why this kind cannot do the run at all

    def to_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "task_count": self.task_count,
            "parallelism": self.parallelism,
            "most_items_per_task": self.most_items_per_task,
            "items_per_task": self.items_per_task,
            "expected_task_s": round(self.task_s, 1),
            "expected_wall_s": round(self.wall_s, 1),
            "problem": self.problem,
        }


def size_tasks(
    items: int, kind: JobKindConfig, parallelism: int, target_fraction: float
) -> TaskSizing:
    """Enough tasks that each ends within ``target_fraction`` of its timeout (module doc)."""
    budget_s = target_fraction * kind.task_timeout_s - kind.startup_s
    most = math.floor(budget_s / kind.seconds_per_image + 1e-9) if budget_s > 0 else 0
    if most < 1:
        return TaskSizing(
            items, 0, 0, 0, 0, 0.0, 0.0,
            problem=(
                f"start-up {kind.startup_s:g} s + one image at {kind.seconds_per_image:g} s "
                f"is more than {target_fraction:g} x the {kind.task_timeout_s} s task timeout"
            ),
        )  # fmt: skip
    wanted = max(math.ceil(items / most), min(parallelism, items), 1)
    if parallelism > 0 and wanted > parallelism:
        # whole waves: no slot idles in the last one, and every task is shorter
        wanted = math.ceil(wanted / parallelism) * parallelism
    tasks = min(wanted, MAX_TASKS)
    per_task = math.ceil(items / tasks)
    task_s = kind.startup_s + per_task * kind.seconds_per_image
    running = max(1, min(parallelism, tasks))
    problem = None
    if wanted > MAX_TASKS:
        problem = (
            f"{items} items need {wanted} tasks of at most {most}; an execution runs at most "
            f"{MAX_TASKS}: split the source into several runs"
        )
    return TaskSizing(
        items=items,
        task_count=tasks,
        parallelism=running,
        most_items_per_task=most,
        items_per_task=per_task,
        task_s=task_s,
        wall_s=math.ceil(tasks / running) * task_s,
        problem=problem,
    )


def cost_per_images(
    per_task_hour_usd: float, kind: JobKindConfig, target_fraction: float, images: int
) -> float:
    """USD for ``images`` images: every item's seconds plus each task's start-up."""
    sizing = size_tasks(images, kind, 1, target_fraction)
    seconds = images * kind.seconds_per_image + sizing.task_count * kind.startup_s
    return per_task_hour_usd * seconds / 3600


@dataclass(frozen=True)
class JobCandidate:
    """One way to run the job: the quota view (:class:`Candidate`, instances = parallel
    tasks) and the sizing of its tasks."""

    candidate: Candidate
    sizing: TaskSizing
    resources: JobKindConfig
    run_cost_usd: float
    cost_per_10000_images_usd: float

    @property
    def kind(self) -> Kind:
        return self.candidate.kind

    @property
    def region(self) -> str:
        return self.candidate.region

    @property
    def usable(self) -> bool:
        return self.candidate.usable and self.sizing.problem is None

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "kind": c.kind,
            "step": c.step,
            "region": c.region,
            "gpu_type": c.gpu_type,
            "gpu_zonal_redundancy": c.gpu_zonal_redundancy,
            "cpu": c.cpu,
            "memory": c.memory,
            "model": c.model,
            "image": c.image,
            "fits": c.fits,
            "usable": self.usable,
            "blocked_by": c.blocked_by,
            "shortfalls": [s.to_json() for s in c.shortfalls],
            "reason": self.sizing.problem or c.reason,
            **self.sizing.to_json(),
            "task_timeout_s": self.resources.task_timeout_s,
            "seconds_per_image": self.resources.seconds_per_image,
            "seconds_per_image_source": self.resources.seconds_per_image_source,
            "startup_s": self.resources.startup_s,
            "cost_per_task_hour_usd": c.cost_per_hour_usd,
            "run_cost_usd": round(self.run_cost_usd, 2),
            "cost_per_10000_images_usd": round(self.cost_per_10000_images_usd, 2),
            "prices_as_of": c.prices_as_of,
        }


@dataclass(frozen=True)
class JobPlan:
    items: int
    chosen: JobCandidate | None
    candidates: tuple[JobCandidate, ...]
    requests: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "chosen": None if self.chosen is None else self.chosen.to_json(),
            "candidates": [c.to_json() for c in self.candidates],
            "requests": list(self.requests),
        }


def _as_instances(kind: JobKindConfig) -> KindConfig:
    """A job's tasks as the service planner's instances: one per parallel task."""
    return KindConfig(
        max_instances=kind.parallelism,
        min_instances=0,
        cpu_milli=kind.cpu_milli,
        memory_bytes=kind.memory_bytes,
        concurrency=1,
        model=kind.model,
        image=kind.image,
    )


class _JobLadder:
    def __init__(
        self,
        config: DeployConfig,
        job: JobConfig,
        limits: Mapping[str, QuotaLimits],
        usage: Mapping[str, RegionUsage],
        items: int,
        prices: PriceTable,
    ) -> None:
        as_service = replace(
            config,
            regions=job.regions,
            gpu=_as_instances(job.gpu),
            cpu=_as_instances(job.cpu),
            daily_budget_usd=None,  # a run's cost is shown, not capped
            prefer_zonal_redundancy=False,
            fewest_max_instances=job.gpu.fewest_parallelism,
            cpu_fallback=job.cpu_fallback,
        )
        self.config = as_service
        self.builder = CandidateBuilder(as_service, limits, usage, prices, what="job")
        self.job = job
        self.items = items

    def one(
        self, kind: Kind, step: Step, region: str, parallelism: int, *, offered: bool = True
    ) -> JobCandidate:
        resources = self.job.gpu if kind == "gpu" else self.job.cpu
        sizing = size_tasks(self.items, resources, parallelism, self.job.target_fraction)
        zonal = False if kind == "gpu" else None
        candidate = self.builder.candidate(
            kind, step, region, zonal, max(sizing.parallelism, 1), offered=offered
        )
        if not offered:
            candidate = replace(
                candidate,
                reason=f"{region} does not offer Cloud Run {self.config.gpu_type} GPUs to jobs",
            )
        per_hour = candidate.cost_per_hour_usd
        seconds = self.items * resources.seconds_per_image + sizing.task_count * resources.startup_s
        return JobCandidate(
            candidate=candidate,
            sizing=sizing,
            resources=resources,
            run_cost_usd=per_hour * seconds / 3600,
            cost_per_10000_images_usd=cost_per_images(
                per_hour, resources, self.job.target_fraction, COST_UNIT_IMAGES
            ),
        )

    def rungs(self, kind: Kind, region: str) -> list[JobCandidate]:
        """The wanted parallelism, then the most that fit (if fewer and enough)."""
        resources = self.job.gpu if kind == "gpu" else self.job.cpu
        step: Step = "gpu-no-zonal" if kind == "gpu" else "cpu"
        if kind == "gpu" and not offers_l4_jobs(region):
            return [self.one(kind, step, region, resources.parallelism, offered=False)]
        wanted = self.one(kind, step, region, resources.parallelism)
        found = [wanted]
        if wanted.candidate.fits:
            return found
        most = self.builder.most_instances(kind, False if kind == "gpu" else None, region)
        if resources.fewest_parallelism <= most < wanted.sizing.parallelism:
            fewer: Step = "gpu-fewer" if kind == "gpu" else "cpu"
            found.append(self.one(kind, fewer, region, most))
        return found


def _requests(ladder: _JobLadder, candidates: tuple[JobCandidate, ...]) -> tuple[str, ...]:
    """What to ask for when nothing is usable: one line per way out, preferred first."""
    lines: list[str] = []
    wanted = [c for c in candidates if c.candidate.step in ("gpu-no-zonal", "cpu")]
    gpu = [c for c in wanted if c.kind == "gpu" and offers_l4_jobs(c.region)]
    if ladder.job.device == "gpu" and not gpu:
        lines.append(
            f"none of the job regions {', '.join(ladder.job.regions)} offers Cloud Run L4 "
            f"GPUs to jobs; add one of {', '.join(sorted(JOB_L4_REGIONS))}"
        )
    first_cpu = [c for c in wanted if c.kind == "cpu"][:1]
    for option in [*gpu[:1], *first_cpu]:
        if option.sizing.problem is not None:
            lines.append(f"{option.kind} job: {option.sizing.problem}")
            continue
        if not option.candidate.shortfalls:
            continue
        asks = "; ".join(request_text(ladder.config, s, "job") for s in option.candidate.shortfalls)
        what = "L4 job" if option.kind == "gpu" else "CPU job"
        lines.append(
            f"{what} in {option.region} at {option.sizing.parallelism} parallel tasks: {asks}"
        )
    return tuple(lines)


def make_job_plan(
    config: DeployConfig,
    job: JobConfig,
    limits: Mapping[str, QuotaLimits],
    usage: Mapping[str, RegionUsage],
    items: int,
    prices: PriceTable = CURRENT,
) -> JobPlan:
    """Rank every way to run ``items`` images and choose the first that fits.

    ``usage`` is what EVERY service in each region holds (the job runs beside them,
    replacing none: :func:`cutout.deploy.quotas.usage_in_region` with ``exclude=""``).
    """
    ladder = _JobLadder(config, job, limits, usage, max(items, 0), prices)
    rungs: list[JobCandidate] = []
    if job.device == "gpu":
        for region in job.regions:
            rungs += ladder.rungs("gpu", region)
    if job.cpu_fallback:
        for region in job.regions:
            rungs += ladder.rungs("cpu", region)
    candidates = tuple(rungs)
    chosen = next((c for c in candidates if c.usable), None)
    requests = () if chosen is not None else _requests(ladder, candidates)
    return JobPlan(items=items, chosen=chosen, candidates=candidates, requests=requests)
