"""``cutout deploy job apply | run``: the job's live half, through :mod:`cutout.deploy.gcp`.

- :func:`read_job_inputs`: limits (Cloud Quotas) and what EVERY service in each job
  region holds at max instances (Run v2 ``ListServices``; a job replaces no service).
- :func:`apply_job`: create the job in the chosen region, or update it there (a full
  update carrying the etag that was read, so a concurrent change is refused, not
  overwritten); nothing is sent when nothing apply sets has changed. Creating or updating
  a job starts nothing, so quota is not checked here but when an execution starts.
- :func:`start_execution`: ``RunJob`` with overrides; returns the Execution at once (the
  operation's metadata; the operation itself is done only when the execution is).
- :func:`wait_execution`: poll the execution until it completes, reporting progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cutout.deploy.config import DeployConfig
from cutout.deploy.errors import DeployTimeoutError, ResourceNotFoundError
from cutout.deploy.gcp import GcpClients, location_name
from cutout.deploy.job_config import JobConfig
from cutout.deploy.job_plan import JobCandidate
from cutout.deploy.job_spec import build_job, job_changes, job_path, job_summary, merge_job
from cutout.deploy.live import list_quota_infos, list_services
from cutout.deploy.quotas import limits_by_region, usage_in_region
from cutout.deploy.types import Snapshot
from cutout.errors import DeployError

__all__ = [
    "ApplyAction",
    "JobApplyReport",
    "Progress",
    "apply_job",
    "find_jobs",
    "get_job",
    "read_job_inputs",
    "require_job",
    "start_execution",
    "wait_execution",
]

ApplyAction = Literal["created", "updated", "unchanged"]


def read_job_inputs(clients: GcpClients, project: str, regions: tuple[str, ...]) -> Snapshot:
    """The job planner's inputs from the live APIs: no service is left out."""
    limits = limits_by_region(list_quota_infos(clients, project), regions)
    usage = {
        region: usage_in_region(list_services(clients, project, region), region, exclude="")
        for region in regions
    }
    return Snapshot(limits=limits, usage=usage)


def get_job(clients: GcpClients, name: str) -> Any | None:
    """The job (full name), or None when it does not exist."""
    try:
        return clients.call(f"read {name}", clients.jobs.get_job, name=name)
    except ResourceNotFoundError:
        return None


def find_jobs(clients: GcpClients, project: str, job: JobConfig) -> dict[str, Any]:
    """Region -> the job, for each job region where it exists, in the config's order."""
    found = {}
    for region in job.regions:
        existing = get_job(clients, job_path(project, region, job.name))
        if existing is not None:
            found[region] = existing
    return found


@dataclass(frozen=True)
class JobApplyReport:
    name: str  # full name
    region: str
    action: ApplyAction
    changes: tuple[str, ...]  # "field: old -> new"; "field: value" for each when created
    elsewhere: tuple[str, ...] = ()  # other regions where a job of that name exists

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region,
            "action": self.action,
            "changes": list(self.changes),
            "elsewhere": list(self.elsewhere),
        }

    def lines(self) -> list[str]:
        out = [f"{self.action} {self.name}"]
        out += [f"  {change}" for change in self.changes]
        if self.elsewhere:
            out.append(
                f"also exists in {', '.join(self.elsewhere)} (left as it is: delete it with "
                "`gcloud run jobs delete` once this one runs)"
            )
        return out


def apply_job(
    clients: GcpClients,
    config: DeployConfig,
    job: JobConfig,
    choice: JobCandidate,
    *,
    timeout_s: float = 300.0,
) -> JobApplyReport:
    """Create or update the job for ``choice``; see the module docstring."""
    region = choice.region
    name = job_path(config.project, region, job.name)
    wanted = build_job(job, choice)
    found = find_jobs(clients, config.project, job)
    existing = found.get(region)
    others = tuple(r for r in found if r != region)
    if existing is None:
        action = f"create job {job.name} in {region}"
        operation = clients.call(
            action,
            clients.jobs.create_job,
            parent=location_name(config.project, region),
            job=wanted,
            job_id=job.name,
        )
        clients.wait(action, operation, timeout_s)
        settings = tuple(f"{key}: {value}" for key, value in job_summary(wanted).items())
        return JobApplyReport(name, region, "created", settings, others)
    changes = tuple(job_changes(existing, wanted))
    if not changes:
        return JobApplyReport(name, region, "unchanged", (), others)
    action = f"update job {name}"
    operation = clients.call(action, clients.jobs.update_job, job=merge_job(existing, wanted))
    clients.wait(action, operation, timeout_s)
    return JobApplyReport(name, region, "updated", changes, others)


def start_execution(clients: GcpClients, request: Any) -> Any:
    """Start one execution (``RunJobRequest``); the Execution as it starts."""
    operation = clients.call(f"run job {request.name}", clients.jobs.run_job, request=request)
    return operation.metadata


@dataclass(frozen=True)
class Progress:
    """One look at a running execution."""

    elapsed_s: float
    task_count: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    retried: int

    @classmethod
    def of(cls, execution: Any, elapsed_s: float) -> Progress:
        return cls(
            elapsed_s,
            int(execution.task_count),
            int(execution.running_count),
            int(execution.succeeded_count),
            int(execution.failed_count),
            int(execution.cancelled_count),
            int(execution.retried_count),
        )

    def line(self) -> str:
        return (
            f"[{self.elapsed_s:>6.0f} s] {self.succeeded}/{self.task_count} tasks succeeded, "
            f"{self.running} running, {self.failed} failed, {self.retried} retries"
            + (f", {self.cancelled} cancelled" if self.cancelled else "")
        )


def wait_execution(
    clients: GcpClients,
    name: str,
    *,
    timeout_s: float,
    poll_s: float = 10.0,
    on_progress: Callable[[Progress], None] = lambda progress: None,
) -> Any:
    """The execution once it has completed; ``on_progress`` hears of every change."""
    started = time.monotonic()
    last: tuple[int, ...] | None = None
    while True:
        execution = clients.call(f"read {name}", clients.executions.get_execution, name=name)
        progress = Progress.of(execution, time.monotonic() - started)
        counts = (progress.running, progress.succeeded, progress.failed, progress.retried)
        if counts != last:
            on_progress(progress)
            last = counts
        if execution.completion_time:
            return execution
        if time.monotonic() - started >= timeout_s:
            raise DeployTimeoutError(
                f"wait for {name}: still running after {timeout_s:g} s ({progress.line()}); "
                "it goes on: see `cutout deploy job status`"
            )
        time.sleep(poll_s)


def require_job(clients: GcpClients, project: str, job: JobConfig, region: str | None) -> Any:
    """The job in ``region``, or in the first job region that has it; else an error."""
    regions = (region,) if region else job.regions
    for candidate in regions:
        found = get_job(clients, job_path(project, candidate, job.name))
        if found is not None:
            return found
    raise DeployError(
        f"job {job.name} does not exist in {', '.join(regions)}: "
        "create it with `cutout deploy job apply`"
    )
