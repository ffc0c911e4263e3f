"""How an execution runs in the fake Cloud Run Admin API v2: one step per read of the API.

The first step starts it (ResourcesAvailable and Started succeed) and up to
``parallelism`` tasks (0: all). Each attempt takes ``attempt_ticks`` steps; a failed
attempt is retried at once, in the same slot, while the task has retries left
(``Task.retried``, ``Execution.retried_count``); a task out of retries fails, and the
others carry on. When every task is done the execution completes: Completed succeeded,
or failed with ``execution_reason`` NON_ZERO_EXIT_CODE and the message "Task E-task3
failed with message: The container exited with an error." (gcloud's output in
googlecodelabs/feedback#1369; the same text in an execution's conditions in a public
fixture of v2 JSON). The RunJob operation is done with it: the Execution as result, or
an error.

An :class:`ExecutionScript` says how it goes: which task fails on which attempts with
which exit code, how long an attempt takes, or a ``runner`` called for every attempt
with what the container would see (its args, its env and the ``CLOUD_RUN_*`` task
variables), whose return value is the exit code: a test can run real task code on the
fake's schedule.

Documented guesses: the operation error of a failed execution (FAILED_PRECONDITION with
the Completed message) and of a cancelled one (CANCELLED, "Execution was cancelled."), a
failed attempt's ``last_attempt_result.status`` (UNKNOWN, "The container exited with an
error."), and that tasks keep running after another has failed for good.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.rpc import code_pb2, status_pb2

from tests.fakes.run_job_rules import effective_parallelism

__all__ = ["CONTAINER_ERROR", "ExecutionRun", "ExecutionScript", "TaskAttempt"]

SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED.value
FAILED = run_v2.Condition.State.CONDITION_FAILED.value
NON_ZERO_EXIT = run_v2.Condition.ExecutionReason.NON_ZERO_EXIT_CODE.value
CANCELLED = run_v2.Condition.ExecutionReason.CANCELLED.value
CompletionStatus = run_v2.ExecutionReference.CompletionStatus
CONTAINER_ERROR = "The container exited with an error."
_FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class TaskAttempt:
    """One attempt of one task, as the container would see it."""

    job: str  # short names, as Cloud Run's variables carry them
    execution: str
    index: int
    attempt: int
    count: int
    args: list[str]
    env: dict[str, str]  # the container's env plus the CLOUD_RUN_* task variables


@dataclass
class ExecutionScript:
    """How an execution goes. ``failures[i]`` are the exit codes of task i's first
    attempts (then it succeeds); ``runner``, if given, decides every attempt instead."""

    failures: Mapping[int, Sequence[int]] = field(default_factory=dict)
    attempt_ticks: int = 1
    runner: Callable[[TaskAttempt], int] | None = None


@dataclass
class _TaskState:
    task: Any  # the Task message the API serves
    state: str = "pending"  # pending | running | succeeded | failed | cancelled
    attempt: int = 0
    ticks_left: int = 0


def _stamp(timestamp: Any) -> None:
    timestamp.FromDatetime(datetime.now(UTC))


class ExecutionRun:
    """One unfinished execution: its Execution and Task messages (changed in place), the
    RunJob operation, the script; ``completion_status`` is set when it completes."""

    def __init__(
        self,
        execution: Any,
        tasks: list[Any],
        operation: operations_pb2.Operation,
        script: ExecutionScript,
    ) -> None:
        self.execution = execution
        self.operation = operation
        self.script = script
        self.tasks = [_TaskState(task) for task in tasks]
        self.slots = effective_parallelism(execution)
        self.started = False
        self.completion_status: Any = None

    @property
    def name(self) -> str:
        return str(self.execution.name)

    def step(self) -> bool:
        """One read of the API; true when the execution has now completed."""
        execution = self.execution
        if not self.started:
            self.started = True
            _stamp(execution.start_time)
            for condition in execution.conditions:
                if condition.type_ in ("ResourcesAvailable", "Started"):
                    condition.state = SUCCEEDED
                    _stamp(condition.last_transition_time)
        else:
            for task in self.tasks:
                if task.state == "running":
                    task.ticks_left -= 1
                    if task.ticks_left <= 0:
                        self._finish_attempt(task)
        running = sum(t.state == "running" for t in self.tasks)
        for task in self.tasks:
            if task.state == "pending" and running < self.slots:
                task.state, task.ticks_left = "running", self._ticks()
                _stamp(task.task.start_time)
                running += 1
        execution.running_count = running
        execution.succeeded_count = sum(t.state == "succeeded" for t in self.tasks)
        execution.failed_count = sum(t.state == "failed" for t in self.tasks)
        if all(t.state in _FINISHED for t in self.tasks):
            self._complete()
            return True
        self.operation.metadata.Pack(execution)
        return False

    def cancel(self) -> None:
        for task in self.tasks:
            if task.state not in _FINISHED:
                task.state = "cancelled"
                task.task.reconciling = False
        self.execution.cancelled_count = sum(t.state == "cancelled" for t in self.tasks)
        self._complete(cancelled=True)

    def _ticks(self) -> int:
        return max(self.script.attempt_ticks, 1)

    def _finish_attempt(self, task: _TaskState) -> None:
        exit_code = self._exit_code(task)
        message = task.task
        message.last_attempt_result.exit_code = exit_code
        if exit_code == 0:
            message.last_attempt_result.status.CopyFrom(status_pb2.Status(code=code_pb2.OK))
            task.state = "succeeded"
        else:
            message.last_attempt_result.status.CopyFrom(
                status_pb2.Status(code=code_pb2.UNKNOWN, message=CONTAINER_ERROR)
            )
            if message.retried < message.max_retries:
                message.retried += 1
                self.execution.retried_count += 1
                task.attempt += 1
                task.ticks_left = self._ticks()
                return
            task.state = "failed"
        message.reconciling = False
        _stamp(message.completion_time)
        condition = message.conditions.add(type_="Completed")
        _stamp(condition.last_transition_time)
        if task.state == "succeeded":
            condition.state = SUCCEEDED
        else:
            condition.state = FAILED
            condition.execution_reason = NON_ZERO_EXIT
            condition.message = CONTAINER_ERROR

    def _exit_code(self, task: _TaskState) -> int:
        if self.script.runner is None:
            codes = list(self.script.failures.get(task.task.index, ()))
            return codes[task.attempt] if task.attempt < len(codes) else 0
        execution = self.execution
        container = execution.template.containers[0]
        short = execution.name.rsplit("/", 1)[-1]
        env = {e.name: e.value for e in container.env} | {
            "CLOUD_RUN_TASK_INDEX": str(task.task.index),
            "CLOUD_RUN_TASK_COUNT": str(execution.task_count),
            "CLOUD_RUN_TASK_ATTEMPT": str(task.attempt),
            "CLOUD_RUN_EXECUTION": short,
            "CLOUD_RUN_JOB": execution.job,
        }
        attempt = TaskAttempt(
            execution.job,
            short,
            task.task.index,
            task.attempt,
            execution.task_count,
            list(container.args),
            env,
        )
        return int(self.script.runner(attempt))

    def _complete(self, *, cancelled: bool = False) -> None:
        execution, operation = self.execution, self.operation
        execution.running_count = 0
        execution.reconciling = False
        _stamp(execution.completion_time)
        completed = next(c for c in execution.conditions if c.type_ == "Completed")
        _stamp(completed.last_transition_time)
        failed = [t for t in self.tasks if t.state == "failed"]
        operation.done = True
        if cancelled:
            completed.state = FAILED
            completed.execution_reason = CANCELLED
            completed.message = "Execution was cancelled."
            self.completion_status = CompletionStatus.EXECUTION_CANCELLED
            error = status_pb2.Status(code=code_pb2.CANCELLED, message=completed.message)
            operation.error.CopyFrom(error)
        elif failed:
            completed.state = FAILED
            completed.execution_reason = NON_ZERO_EXIT
            task = failed[0].task.name.rsplit("/", 1)[-1]
            completed.message = f"Task {task} failed with message: {CONTAINER_ERROR}"
            self.completion_status = CompletionStatus.EXECUTION_FAILED
            error = status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=completed.message)
            operation.error.CopyFrom(error)
        else:
            completed.state = SUCCEEDED
            self.completion_status = CompletionStatus.EXECUTION_SUCCEEDED
            operation.response.Pack(execution)
        operation.metadata.Pack(execution)
