"""``cutout deploy job status``: the job's executions, and the tasks of one of them.

From Run v2 (``ExecutionsClient.list_executions``, newest first, and
``TasksClient.list_tasks``): per execution its state (running, succeeded, failed,
cancelled: the ``Completed`` condition once ``completion_time`` is set), task counts
(``succeeded_count``, ``failed_count``, ``cancelled_count``, ``running_count``,
``retried_count``) and the Completed message; per task its state, ``retried`` of
``max_retries`` and the last attempt's exit code. Which items failed is in the shard
reports under the execution's destination; the CLI reads them (:mod:`cutout.batch`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cutout.deploy.gcp import GcpClients
from cutout.deploy.job_spec import destination_of, job_summary, kind_of

__all__ = ["ExecutionStatus", "JobStatus", "TaskStatus", "read_job_status"]

_SUCCEEDED = 4  # Condition.State.CONDITION_SUCCEEDED
_CANCELLED_REASON = 3  # Condition.ExecutionReason.CANCELLED
_SHOWN_TASKS = 50


def _completed(conditions: Any) -> Any | None:
    return next((c for c in conditions if c.type_ == "Completed"), None)


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ExecutionStatus:
    name: str  # short
    state: str  # pending | running | succeeded | failed | cancelled
    created: str
    completed: str
    task_count: int
    parallelism: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    retried: int
    message: str
    destination: str | None  # DST of its `cutout batch SRC DST`
    log_uri: str

    @classmethod
    def of(cls, execution: Any) -> ExecutionStatus:
        completed = _completed(execution.conditions)
        if execution.completion_time:
            if completed is not None and int(completed.state) == _SUCCEEDED:
                state = "succeeded"
            elif completed is not None and int(completed.execution_reason) == _CANCELLED_REASON:
                state = "cancelled"
            else:
                state = "failed"
        else:
            state = "running" if execution.start_time else "pending"
        containers = execution.template.containers
        return cls(
            name=_short(execution.name),
            state=state,
            created=execution.create_time.isoformat() if execution.create_time else "",
            completed=execution.completion_time.isoformat() if execution.completion_time else "",
            task_count=int(execution.task_count),
            parallelism=int(execution.parallelism),
            running=int(execution.running_count),
            succeeded=int(execution.succeeded_count),
            failed=int(execution.failed_count),
            cancelled=int(execution.cancelled_count),
            retried=int(execution.retried_count),
            message="" if completed is None or state == "succeeded" else str(completed.message),
            destination=destination_of(list(containers[0].args)) if containers else None,
            log_uri=str(execution.log_uri),
        )

    def line(self) -> str:
        return (
            f"{self.name:<24} {self.state:<9} {self.created[:19]:<19}  {self.task_count} tasks: "
            f"{self.succeeded} succeeded, {self.failed} failed, {self.running} running, "
            f"{self.retried} retries" + (f"  ({self.message})" if self.message else "")
        )


@dataclass(frozen=True)
class TaskStatus:
    index: int
    state: str  # pending | running | succeeded | failed | cancelled
    retried: int
    max_retries: int
    exit_code: int | None
    message: str

    @classmethod
    def of(cls, task: Any, execution_done: bool) -> TaskStatus:
        completed = _completed(task.conditions)
        if completed is not None and int(completed.execution_reason) == _CANCELLED_REASON:
            state = "cancelled"
        elif task.completion_time:
            succeeded = completed is not None and int(completed.state) == _SUCCEEDED
            state = "succeeded" if succeeded else "failed"
        elif execution_done:
            state = "cancelled"  # the execution ended before this task did
        else:
            state = "running" if task.start_time else "pending"
        attempt = task.last_attempt_result
        ran = bool(task.start_time) and ("last_attempt_result" in task)
        return cls(
            index=int(task.index),
            state=state,
            retried=int(task.retried),
            max_retries=int(task.max_retries),
            exit_code=int(attempt.exit_code) if ran else None,
            message=str(attempt.status.message) if ran and attempt.status.code else "",
        )

    def line(self) -> str:
        code = "-" if self.exit_code is None else str(self.exit_code)
        return (
            f"  {self.index:>5}  {self.state:<9}  {self.retried}/{self.max_retries:<6}  {code:>4}"
            + (f"  {self.message}" if self.message else "")
        )


@dataclass(frozen=True)
class JobStatus:
    job: str  # full name
    region: str
    settings: dict[str, str]  # what apply sets (job_spec.job_summary)
    kind: str
    executions: tuple[ExecutionStatus, ...]  # newest first
    shown: ExecutionStatus | None  # the execution whose tasks are listed
    tasks: tuple[TaskStatus, ...]

    @property
    def ok(self) -> bool:
        """False when the shown execution failed or was cancelled."""
        return self.shown is None or self.shown.state not in ("failed", "cancelled")

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "region": self.region,
            "kind": self.kind,
            "settings": self.settings,
            "executions": [asdict(e) for e in self.executions],
            "execution": None if self.shown is None else asdict(self.shown),
            "tasks": [asdict(t) for t in self.tasks],
            "ok": self.ok,
        }

    def lines(self) -> list[str]:
        s = self.settings
        device = f"{s['accelerator']} no zonal" if self.kind == "gpu" else "cpu"
        out = [
            f"job {self.job}",
            f"  {device}, {s['cpu']} vCPU {s['memory']} per task, {s['task_count']} tasks, "
            f"parallelism {s['parallelism']}, max retries {s['max_retries']}, "
            f"timeout {s['task_timeout_s']} s; {s['args']}",
        ]
        if not self.executions:
            return [*out, "no executions yet: start one with `cutout deploy job run`"]
        out.append("executions (newest first):")
        out += [f"  {e.line()}" for e in self.executions]
        if self.shown is None:
            return out
        quiet = [t for t in self.tasks if t.state == "succeeded" and not t.retried]
        listed = [t for t in self.tasks if t not in quiet]
        out.append(f"tasks of {self.shown.name} (failed, retried or not done):")
        out.append("  index  state      retried  exit")
        out += [t.line() for t in listed[:_SHOWN_TASKS]]
        if len(listed) > _SHOWN_TASKS:
            out.append(f"  ... and {len(listed) - _SHOWN_TASKS} more")
        if quiet:
            out.append(f"  {len(quiet)} more succeeded at the first attempt")
        return out


def read_job_status(
    clients: GcpClients, job: Any, *, execution: str | None = None, limit: int = 5
) -> JobStatus:
    """The job's newest ``limit`` executions; the tasks of ``execution`` (short or full
    name) or of the newest one."""
    region = job.name.split("/")[3]
    pager = clients.call(
        f"list executions of {job.name}", clients.executions.list_executions, parent=job.name
    )
    found: list[Any] = clients.call(f"list executions of {job.name}", list, pager)
    chosen = found[0] if found else None
    if execution is not None:
        full = execution if "/" in execution else f"{job.name}/executions/{execution}"
        chosen = clients.call(f"read {full}", clients.executions.get_execution, name=full)
    tasks: tuple[TaskStatus, ...] = ()
    if chosen is not None:
        pager = clients.call(
            f"list tasks of {chosen.name}", clients.tasks.list_tasks, parent=chosen.name
        )
        listed: list[Any] = clients.call(f"list tasks of {chosen.name}", list, pager)
        done = bool(chosen.completion_time)
        tasks = tuple(TaskStatus.of(t, done) for t in sorted(listed, key=lambda t: t.index))
    return JobStatus(
        job=job.name,
        region=region,
        settings=job_summary(job),
        kind=kind_of(job),
        executions=tuple(ExecutionStatus.of(e) for e in found[:limit]),
        shown=None if chosen is None else ExecutionStatus.of(chosen),
        tasks=tasks,
    )
