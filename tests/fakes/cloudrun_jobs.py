"""Jobs, Executions and Tasks of the fake Cloud Run Admin API v2 (mixed into
:class:`tests.fakes.cloudrun.FakeCloudRun`, served by :mod:`tests.fakes.gcp`).

Resources are the real protobuf messages (facts: ../shared/facts/cloud-run-jobs.md):

- CreateJob / UpdateJob return a long-running operation that settles after
  ``settle_after`` reads (the services' clock); DeleteJob finishes at once and takes the
  job's executions and tasks with it; ALREADY_EXISTS for a second create; an etag that
  does not match is ABORTED; the rules a job must keep: :mod:`tests.fakes.run_job_rules`;
- RunJob (overrides: task_count, timeout, per container args / clear_args / env merged
  by name) returns an operation whose metadata and result are the Execution, done when
  the execution is; its tasks are ``E-task0`` ... as the API names them. Admission counts
  parallelism x per-task GPU, CPU and memory of every unfinished execution in the
  region next to the services at max instances (:func:`tests.fakes.run_admission.admit`;
  the services' admission counts the executions too);
- executions run one step per read of the API, as scripted: :mod:`tests.fakes.
  run_executions` (:meth:`JobsApi.script_next_execution`);
- CancelExecution stops what has not finished (``cancelled_count``, completion status
  EXECUTION_CANCELLED; cancelling a finished one is FAILED_PRECONDITION, a guessed
  text); DeleteExecution removes one, running or not.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2

from tests.fakes.run_admission import ApiError, Usage, add_usage, admit
from tests.fakes.run_executions import ExecutionRun, ExecutionScript
from tests.fakes.run_job_rules import (
    apply_overrides,
    as_parallelism_error,
    as_revision_template,
    effective_parallelism,
    missing,
    validate_execution,
)

__all__ = ["JobsApi", "JobsState"]

Job = run_v2.Job.pb()
Execution = run_v2.Execution.pb()
Task = run_v2.Task.pb()
Condition = run_v2.Condition.pb()
SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED.value
RECONCILING = run_v2.Condition.State.CONDITION_RECONCILING.value
PENDING = run_v2.ExecutionReference.CompletionStatus.EXECUTION_PENDING.value
_ABORTED = "Etag mismatch: the resource changed; re-read it."
_JOB_READ_ONLY = [
    "uid",
    "generation",
    "create_time",
    "update_time",
    "delete_time",
    "creator",
    "last_modifier",
    "observed_generation",
    "terminal_condition",
    "conditions",
    "execution_count",
    "latest_created_execution",
    "reconciling",
    "etag",
]


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


@dataclass
class _JobRollout:
    operation: operations_pb2.Operation
    job_name: str
    reads_left: int


@dataclass
class JobsState:
    """The fake's bookkeeping for jobs beside the resources themselves."""

    runs: list[ExecutionRun] = field(default_factory=list)
    rollouts: list[_JobRollout] = field(default_factory=list)
    scripts: list[tuple[str | None, ExecutionScript]] = field(default_factory=list)
    suffixes: itertools.count[int] = field(default_factory=lambda: itertools.count(0))


class JobsApi:
    """The Jobs, Executions and Tasks calls; ``self`` is a FakeCloudRun."""

    project: str
    project_number: str
    quota_limit: Callable[[str, str], int | None]
    settle_after: int
    operations: dict[str, operations_pb2.Operation]
    jobs: dict[str, Any]
    executions: dict[str, Any]
    tasks: dict[str, Any]
    jobs_state: JobsState
    _lock: Any

    # scripting -------------------------------------------------------------------------
    def script_next_execution(self, script: ExecutionScript, *, job: str | None = None) -> None:
        """The next execution (of ``job``, a full name, if given) runs as ``script``."""
        self.jobs_state.scripts.append((job, script))

    def execution_usage(self, usage: Usage, region: str) -> None:
        """Add what the unfinished executions in ``region`` hold: parallelism x per task."""
        for run in self.jobs_state.runs:
            if f"/locations/{region}/" in run.name:
                instances = effective_parallelism(run.execution)
                add_usage(usage, as_revision_template(run.execution.template, instances))

    # jobs ------------------------------------------------------------------------------
    def list_jobs(self, parent: str) -> list[Any]:
        self._check_location(parent)
        prefix = parent + "/jobs/"
        return [job for name, job in sorted(self.jobs.items()) if name.startswith(prefix)]

    def get_job(self, name: str) -> Any:
        job = self.jobs.get(name)
        if job is None:
            raise missing("JOB", name)
        return job

    def create_job(self, parent: str, job_id: str, body: Any, validate_only: bool) -> Any:
        with self._lock:
            self._check_location(parent)
            if not job_id:
                raise _invalid("job_id must be set.")
            name = f"{parent}/jobs/{job_id}"
            if name in self.jobs:
                raise ApiError(409, "ALREADY_EXISTS", f"Resource '{job_id}' already exists.")
            if body.name:
                raise _invalid("job.name must be empty; use job_id.")
            job = Job()
            job.CopyFrom(body)
            job.name = name
            job.uid = str(uuid.uuid4())
            job.create_time.FromDatetime(datetime.now(UTC))
            job.creator = "fake@example.com"
            return self._admit_job(job, previous=None, validate_only=validate_only)

    def update_job(self, body: Any, validate_only: bool, allow_missing: bool) -> Any:
        with self._lock:
            previous = self.jobs.get(body.name)
            if previous is None:
                if not allow_missing:
                    raise missing("JOB", body.name)
                parent, _, job_id = body.name.rpartition("/jobs/")
                fresh = Job()
                fresh.CopyFrom(body)
                fresh.name = ""
                return self.create_job(parent, job_id, fresh, validate_only)
            if body.etag and body.etag != previous.etag:
                raise ApiError(409, "ABORTED", _ABORTED)
            job = Job()
            job.CopyFrom(body)
            field_mask_pb2.FieldMask(paths=_JOB_READ_ONLY).MergeMessage(
                previous, job, replace_message_field=True, replace_repeated_field=True
            )
            return self._admit_job(job, previous=previous, validate_only=validate_only)

    def delete_job(self, name: str, etag: str = "") -> operations_pb2.Operation:
        with self._lock:
            job = self.get_job(name)
            if etag and etag != job.etag:
                raise ApiError(409, "ABORTED", _ABORTED)
            for execution in [e for e in self.executions if e.startswith(name + "/executions/")]:
                self._drop_execution(execution)
            del self.jobs[name]
            return self._finished_operation(name, job)

    def run_job(self, name: str, request: Any) -> operations_pb2.Operation:
        with self._lock:
            job = self.get_job(name)
            if request.etag and request.etag != job.etag:
                raise ApiError(409, "ABORTED", _ABORTED)
            template = copy.deepcopy(job.template)
            apply_overrides(template, request.overrides)
            region = name.split("/")[3]
            validate_execution(template, region, job.annotations)
            instances = effective_parallelism(template)
            try:
                admit(
                    as_revision_template(template.template, instances),
                    region,
                    self.usage(region),  # the services and the unfinished executions
                    self.quota_limit,
                )
            except ApiError as refused:
                raise as_parallelism_error(refused) from None
            execution = self._new_execution(job, template)
            if request.validate_only:
                return self._finished_operation(name, execution)
            return self._start_execution(job, execution)

    # executions ------------------------------------------------------------------------
    def list_executions(self, parent: str) -> list[Any]:
        self.get_job(parent)
        found = [e for n, e in self.executions.items() if n.startswith(parent + "/executions/")]
        return sorted(found, key=lambda e: e.create_time.ToNanoseconds(), reverse=True)

    def get_execution(self, name: str) -> Any:
        execution = self.executions.get(name)
        if execution is None:
            raise missing("EXECUTION", name)
        return execution

    def cancel_execution(self, name: str) -> operations_pb2.Operation:
        with self._lock:
            execution = self.get_execution(name)
            run = self._run_of(name)
            if run is None:
                raise ApiError(
                    400,
                    "FAILED_PRECONDITION",
                    f"Execution {name.rsplit('/', 1)[-1]} has already completed.",
                )
            run.cancel()
            self._completed(run)
            return self._finished_operation(name, execution)

    def delete_execution(self, name: str) -> operations_pb2.Operation:
        with self._lock:
            execution = self.get_execution(name)
            self._drop_execution(name)
            return self._finished_operation(name, execution)

    # tasks -----------------------------------------------------------------------------
    def list_tasks(self, parent: str) -> list[Any]:
        self.get_execution(parent)
        found = [t for n, t in self.tasks.items() if n.startswith(parent + "/tasks/")]
        return sorted(found, key=lambda t: t.index)

    def get_task(self, name: str) -> Any:
        task = self.tasks.get(name)
        if task is None:
            raise missing("TASK", name)
        return task

    # clock -----------------------------------------------------------------------------
    def advance_jobs(self) -> None:
        """One read of the API: job rollouts and executions move one step."""
        for rollout in list(self.jobs_state.rollouts):
            rollout.reads_left -= 1
            if rollout.reads_left <= 0:
                self.jobs_state.rollouts.remove(rollout)
                self._settle_job(rollout)
        for run in list(self.jobs_state.runs):
            if run.step():
                self._completed(run)

    # internals -------------------------------------------------------------------------
    def _admit_job(self, job: Any, *, previous: Any, validate_only: bool) -> Any:
        region = job.name.split("/")[3]
        validate_execution(job.template, region, job.annotations)
        if validate_only:
            return self._finished_operation(job.name, job)
        job.generation = (previous.generation if previous else 0) + 1
        job.update_time.FromDatetime(datetime.now(UTC))
        job.last_modifier = "fake@example.com"
        job.etag = f'"{uuid.uuid4().hex[:12]}"'
        job.reconciling = True
        job.terminal_condition.CopyFrom(Condition(type_="Ready", state=RECONCILING))
        self.jobs[job.name] = job
        location = job.name.split("/jobs/")[0]
        operation = operations_pb2.Operation(name=f"{location}/operations/{uuid.uuid4()}")
        operation.metadata.Pack(job)
        self.operations[operation.name] = operation
        self.jobs_state.rollouts.append(_JobRollout(operation, job.name, self.settle_after))
        return copy.deepcopy(operation)

    def _settle_job(self, rollout: _JobRollout) -> None:
        job = self.jobs.get(rollout.job_name)
        if job is None:
            return
        job.reconciling = False
        job.observed_generation = job.generation
        job.terminal_condition.CopyFrom(Condition(type_="Ready", state=SUCCEEDED))
        job.terminal_condition.last_transition_time.FromDatetime(datetime.now(UTC))
        rollout.operation.done = True
        rollout.operation.metadata.Pack(job)
        rollout.operation.response.Pack(job)

    def _new_execution(self, job: Any, template: Any) -> Any:
        job_id = job.name.rsplit("/", 1)[-1]
        short = f"{job_id}-{self._execution_suffix()}"
        execution = Execution(
            name=f"{job.name}/executions/{short}",
            uid=str(uuid.uuid4()),
            creator="fake@example.com",
            generation=1,
            job=job_id,
            parallelism=template.parallelism,
            task_count=template.task_count,
            reconciling=True,
            log_uri=f"https://console.cloud.google.com/logs/viewer?project={self.project}",
            etag=f'"{uuid.uuid4().hex[:12]}"',
        )
        execution.labels.update(template.labels)
        execution.annotations.update(template.annotations)
        execution.template.CopyFrom(template.template)
        execution.create_time.FromDatetime(datetime.now(UTC))
        for kind in ("ResourcesAvailable", "Started", "Completed"):
            execution.conditions.add(type_=kind, state=RECONCILING)
        return execution

    def _start_execution(self, job: Any, execution: Any) -> operations_pb2.Operation:
        self.executions[execution.name] = execution
        short = execution.name.rsplit("/", 1)[-1]
        tasks = []
        for index in range(execution.task_count):
            task_name = f"{execution.name}/tasks/{short}-task{index}"
            tasks.append(self._new_task(execution, task_name, index))
            self.tasks[task_name] = tasks[-1]
        job.execution_count += 1
        job.latest_created_execution.name = execution.name
        job.latest_created_execution.create_time.CopyFrom(execution.create_time)
        job.latest_created_execution.completion_status = PENDING
        location = job.name.split("/jobs/")[0]
        operation = operations_pb2.Operation(name=f"{location}/operations/{uuid.uuid4()}")
        operation.metadata.Pack(execution)
        self.operations[operation.name] = operation
        run = ExecutionRun(execution, tasks, operation, self._script_for(job.name))
        self.jobs_state.runs.append(run)
        return copy.deepcopy(operation)

    def _new_task(self, execution: Any, name: str, index: int) -> Any:
        template = execution.template
        task = Task(
            name=name,
            uid=str(uuid.uuid4()),
            generation=1,
            job=execution.job,
            execution=execution.name.rsplit("/", 1)[-1],
            index=index,
            max_retries=template.max_retries,
            service_account=template.service_account,
            reconciling=True,
            log_uri=execution.log_uri,
            etag=f'"{uuid.uuid4().hex[:12]}"',
        )
        task.create_time.FromDatetime(datetime.now(UTC))
        task.containers.extend(template.containers)
        task.timeout.CopyFrom(template.timeout)
        task.node_selector.CopyFrom(template.node_selector)
        if template.HasField("gpu_zonal_redundancy_disabled"):
            task.gpu_zonal_redundancy_disabled = template.gpu_zonal_redundancy_disabled
        return task

    def _script_for(self, job_name: str) -> ExecutionScript:
        for position, (wanted, script) in enumerate(self.jobs_state.scripts):
            if wanted in (None, job_name):
                del self.jobs_state.scripts[position]
                return script
        return ExecutionScript()

    def _completed(self, run: ExecutionRun) -> None:
        self.jobs_state.runs.remove(run)
        job = self.jobs.get(run.name.split("/executions/")[0])
        if job is not None and job.latest_created_execution.name == run.name:
            job.latest_created_execution.completion_status = run.completion_status.value
            job.latest_created_execution.completion_time.CopyFrom(run.execution.completion_time)

    def _run_of(self, name: str) -> ExecutionRun | None:
        return next((run for run in self.jobs_state.runs if run.name == name), None)

    def _drop_execution(self, name: str) -> None:
        run = self._run_of(name)
        if run is not None:
            self.jobs_state.runs.remove(run)
        self.executions.pop(name, None)
        for task in [t for t in self.tasks if t.startswith(name + "/tasks/")]:
            del self.tasks[task]

    def _execution_suffix(self) -> str:
        number = next(self.jobs_state.suffixes)
        letters = "abcdefghijklmnopqrstuvwxyz"
        return "".join(letters[(number * 7 + i * 11) % 26] for i in range(5))

    # FakeCloudRun's -------------------------------------------------------------------
    def usage(self, region: str, *, excluding: str | None = None) -> Usage:
        raise NotImplementedError

    def _check_location(self, parent: str) -> None:
        raise NotImplementedError

    def _finished_operation(self, name: str, resource: object) -> operations_pb2.Operation:
        raise NotImplementedError
