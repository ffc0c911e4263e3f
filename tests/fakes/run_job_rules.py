"""Validation rules of the fake Cloud Run Admin API v2 for jobs and RunJob overrides.

From ../shared/facts/cloud-run-jobs.md: task_count 1..10,000 (default 1), max_retries
0..10 (default 3), task timeout default 600 s and at most 168 h, or 1 h for a task with a
GPU; the GPU shape as for services (one ``nvidia.com/gpu`` = "1", the nvidia-l4 node
selector, >= 4 CPU and 16 GiB, an L4 region: :func:`tests.fakes.run_admission.
validate_template`) and ``gpu_zonal_redundancy_disabled`` set. The task variables Cloud
Run sets are reserved; the text is the services' ("The following reserved env names
were provided: PORT. These values are automatically set by the system.", seen in many
deploy logs). NOT_FOUND as Google words it for a job ("Resource 'J' of kind 'JOB' in
region 'R' in project 'P' does not exist.", stephengpope/no-code-architects-toolkit#213);
EXECUTION and TASK follow the pattern.

Documented guesses: the other texts, and a quota refusal for an execution worded as the
services' with "Parallelism" for "Max instances", on ``template.parallelism``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.cloud import run_v2

from tests.fakes.run_admission import MAX_SCALE_FIELD, ApiError, validate_template

__all__ = [
    "MAX_RETRIES",
    "MAX_TASKS",
    "RESERVED_ENV",
    "apply_overrides",
    "as_parallelism_error",
    "as_revision_template",
    "effective_parallelism",
    "missing",
    "validate_execution",
]

MAX_TASKS = 10_000
MAX_RETRIES = 10
DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT_S = 600
CPU_TIMEOUT_S = 168 * 3600
GPU_TIMEOUT_S = 3600
RESERVED_ENV = frozenset(
    {
        "CLOUD_RUN_TASK_INDEX",
        "CLOUD_RUN_TASK_COUNT",
        "CLOUD_RUN_TASK_ATTEMPT",
        "CLOUD_RUN_EXECUTION",
        "CLOUD_RUN_JOB",
    }
)
RevisionTemplate = run_v2.RevisionTemplate.pb()
Service = run_v2.Service.pb()


def _invalid(message: str, violation: str | None = None) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message, field_violation=violation)


def missing(kind: str, name: str) -> ApiError:
    """NOT_FOUND for ``projects/P/locations/R/.../NAME`` of ``kind`` (JOB, EXECUTION...)."""
    parts = name.split("/")
    return ApiError(
        404,
        "NOT_FOUND",
        f"Resource '{parts[-1]}' of kind '{kind}' in region '{parts[3]}' in project "
        f"'{parts[1]}' does not exist.",
    )


def as_revision_template(
    task_template: Any, instances: int, annotations: Mapping[str, str] | None = None
) -> Any:
    """A task template seen as a service revision at ``instances`` max instances: what
    the services' shape and quota rules read."""
    revision = RevisionTemplate()
    revision.containers.extend(task_template.containers)
    revision.node_selector.CopyFrom(task_template.node_selector)
    revision.gpu_zonal_redundancy_disabled = task_template.gpu_zonal_redundancy_disabled
    revision.scaling.max_instance_count = instances
    revision.annotations.update(annotations or {})
    return revision


def effective_parallelism(execution: Any) -> int:
    """How many tasks of an Execution (or ExecutionTemplate) run at once; 0 is all."""
    count = execution.task_count or 1
    return min(execution.parallelism, count) if execution.parallelism else count


def apply_overrides(template: Any, overrides: Any) -> None:
    """RunJobRequest.Overrides on an ExecutionTemplate (a copy of the job's): task_count,
    timeout, and per container args (replaced, or cleared) and env (merged by name)."""
    if overrides.task_count:
        template.task_count = overrides.task_count
    if overrides.HasField("timeout"):
        template.template.timeout.CopyFrom(overrides.timeout)
    for override in overrides.container_overrides:
        containers = template.template.containers
        if override.name:
            matching = [c for c in containers if c.name == override.name]
        else:
            matching = list(containers[:1])
        if not matching:
            raise _invalid(f"Container '{override.name}' is not in the job's template.")
        container = matching[0]
        if override.clear_args or override.args:
            del container.args[:]
            container.args.extend(override.args)
        for variable in override.env:
            kept = [e for e in container.env if e.name != variable.name]
            del container.env[:]
            container.env.extend([*kept, variable])


def validate_execution(template: Any, region: str, annotations: Mapping[str, str]) -> None:
    """The rules an ExecutionTemplate (a job's, or with RunJob's overrides) must keep;
    fills in the API's defaults."""
    task = template.template
    if not task.HasField("max_retries"):
        task.max_retries = DEFAULT_RETRIES
    if not task.HasField("timeout"):
        task.timeout.seconds = DEFAULT_TIMEOUT_S
    if template.task_count == 0:
        template.task_count = 1
    if not 1 <= template.task_count <= MAX_TASKS:
        raise _invalid(
            f"template.task_count must be between 1 and {MAX_TASKS}.", "template.task_count"
        )
    if template.parallelism < 0:
        raise _invalid("template.parallelism must not be negative.", "template.parallelism")
    if not 0 <= task.max_retries <= MAX_RETRIES:
        raise _invalid(
            f"template.template.max_retries must be between 0 and {MAX_RETRIES}.",
            "template.template.max_retries",
        )
    for position, container in enumerate(task.containers):
        reserved = sorted({e.name for e in container.env} & RESERVED_ENV)
        if reserved:
            path = f"template.template.containers[{position}].env"
            raise _invalid(
                f"{path}: The following reserved env names were provided: "
                f"{', '.join(reserved)}. These values are automatically set by the system.",
                path,
            )
    shape = Service(template=as_revision_template(task, 1), annotations=annotations)
    validate_template(shape, region)
    gpus = sum(int(c.resources.limits.get("nvidia.com/gpu", "0") or 0) for c in task.containers)
    limit = GPU_TIMEOUT_S if gpus else CPU_TIMEOUT_S
    if task.timeout.seconds + task.timeout.nanos / 1e9 > limit:
        what = "A task that uses a GPU" if gpus else "A task"
        raise _invalid(
            f"template.template.timeout: {what} can run at most {limit} seconds.",
            "template.template.timeout",
        )
    if gpus and not task.gpu_zonal_redundancy_disabled:
        raise _invalid(
            "template.template.gpu_zonal_redundancy_disabled: jobs use GPUs without zonal "
            "redundancy; set gpu_zonal_redundancy_disabled.",
            "template.template.gpu_zonal_redundancy_disabled",
        )


def as_parallelism_error(refused: ApiError) -> ApiError:
    """The services' quota refusal, said of an execution's parallelism."""
    if refused.field_violation != MAX_SCALE_FIELD:
        return refused
    message = refused.message.replace(MAX_SCALE_FIELD, "template.parallelism").replace(
        "Max instances must be set to", "Parallelism must be set to"
    )
    return ApiError(400, refused.status, message, field_violation="template.parallelism")
