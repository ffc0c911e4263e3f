"""The Run v2 ``Job`` for a job plan's candidate, what changed, and a ``RunJobRequest``.

Shapes from googleapis ``google/cloud/run/v2/job.proto``, ``execution_template.proto``
and ``task_template.proto`` (facts: ../shared/facts/cloud-run-jobs.md):
``Job{labels, template: ExecutionTemplate{labels, task_count, parallelism,
template: TaskTemplate{containers, max_retries, timeout, service_account,
node_selector, gpu_zonal_redundancy_disabled}}}``. A GPU task has one
``nvidia.com/gpu: "1"`` limit, the ``nvidia-l4`` node selector and
``gpu_zonal_redundancy_disabled = True`` (jobs run without zonal redundancy); a CPU task
has none of them. The container runs ``cutout batch SRC DST [args]`` and is told the
model and device as the service is (``CUTOUT_MODEL``, ``CUTOUT_DEVICE``); the
``CLOUD_RUN_TASK_*`` variables are Cloud Run's (reserved: never set here).

``RunJobRequest.overrides`` can change the task count, the task timeout and the
container's args for one execution; parallelism only by updating the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cutout.deploy.job_config import JobConfig
from cutout.deploy.job_plan import JobCandidate
from cutout.deploy.service_spec import KIND_LABEL, MODEL_LABEL

__all__ = [
    "BATCH_COMMAND",
    "CONTAINER",
    "batch_args",
    "build_job",
    "describe_job_request",
    "destination_of",
    "job_changes",
    "job_path",
    "job_summary",
    "kind_of",
    "merge_job",
    "run_request",
]

CONTAINER = "cutout"
BATCH_COMMAND = ("cutout", "batch")  # the image's entry point is `cutout` (CMD serve)
_GPU = "nvidia.com/gpu"


def job_path(project: str, region: str, name: str) -> str:
    return f"projects/{project}/locations/{region}/jobs/{name}"


def batch_args(source: str, destination: str, extra: Sequence[str]) -> list[str]:
    """The container's args after ``cutout``: ``batch SRC DST [options]``."""
    return [BATCH_COMMAND[1], source, destination, *extra]


def build_job(job: JobConfig, choice: JobCandidate) -> Any:
    """The ``run_v2.Job`` (without name: the API takes ``job_id``) for ``choice``."""
    from google.cloud import run_v2
    from google.protobuf import duration_pb2

    candidate = choice.candidate
    limits = {"cpu": candidate.cpu, "memory": candidate.memory}
    if candidate.kind == "gpu":
        limits[_GPU] = "1"
    container = run_v2.Container(
        name=CONTAINER,
        image=candidate.image,
        command=[BATCH_COMMAND[0]],
        args=batch_args(job.source, job.destination, job.args),
        env=[
            run_v2.EnvVar(name="CUTOUT_MODEL", value=candidate.model),
            run_v2.EnvVar(name="CUTOUT_DEVICE", value="cuda" if candidate.kind == "gpu" else "cpu"),
        ],
        resources=run_v2.ResourceRequirements(limits=limits),
    )
    task = run_v2.TaskTemplate(
        containers=[container],
        max_retries=job.max_retries,
        timeout=duration_pb2.Duration(seconds=choice.resources.task_timeout_s),
    )
    if job.service_account:
        task.service_account = job.service_account
    if candidate.kind == "gpu":
        task.node_selector = run_v2.NodeSelector(accelerator=candidate.gpu_type or "nvidia-l4")
        task.gpu_zonal_redundancy_disabled = True
    labels = {KIND_LABEL: candidate.kind, MODEL_LABEL: candidate.model}
    return run_v2.Job(
        labels=labels,
        template=run_v2.ExecutionTemplate(
            labels=labels,
            task_count=choice.sizing.task_count,
            parallelism=choice.sizing.parallelism,
            template=task,
        ),
    )


def merge_job(existing: Any, wanted: Any) -> Any:
    """``existing`` (with its name, etag and foreign labels) carrying ``wanted``'s template."""
    from google.cloud import run_v2

    job = run_v2.Job(existing)
    job.template = wanted.template
    for key, value in wanted.labels.items():
        job.labels[key] = value
    return job


def kind_of(job: Any) -> str:
    """``gpu`` or ``cpu``: from the task template's GPU limit (any job, ours or not)."""
    containers = job.template.template.containers
    gpu = any(c.resources.limits.get(_GPU) for c in containers)
    return "gpu" if gpu or job.template.template.node_selector.accelerator else "cpu"


def destination_of(args: Sequence[str]) -> str | None:
    """DST of ``batch SRC DST ...`` container args; None for another command."""
    if len(args) >= 3 and args[0] == BATCH_COMMAND[1]:
        return str(args[2])
    return None


def job_summary(job: Any) -> dict[str, str]:
    """What apply sets on a job, in words: compared to say what changed."""
    execution = job.template
    task = execution.template
    container = task.containers[0] if task.containers else None
    limits = dict(container.resources.limits) if container else {}
    return {
        "image": container.image if container else "",
        "command": " ".join(container.command) if container else "",
        "args": " ".join(container.args) if container else "",
        "env": ", ".join(f"{e.name}={e.value}" for e in container.env) if container else "",
        "cpu": limits.get("cpu", ""),
        "memory": limits.get("memory", ""),
        "gpu": limits.get(_GPU, "0"),
        "accelerator": task.node_selector.accelerator or "-",
        "gpu_zonal_redundancy_disabled": str(bool(task.gpu_zonal_redundancy_disabled)).lower(),
        "task_count": str(execution.task_count),
        "parallelism": str(execution.parallelism),
        "max_retries": str(task.max_retries),
        "task_timeout_s": str(int(task.timeout.total_seconds())) if task.timeout else "",
        "service_account": task.service_account or "-",
        "labels": ", ".join(
            f"{k}={job.labels[k]}" for k in sorted(job.labels) if k in (KIND_LABEL, MODEL_LABEL)
        ),
    }


def job_changes(existing: Any, wanted: Any) -> list[str]:
    """``field: old -> new`` for every field apply sets that differs."""
    before, after = job_summary(existing), job_summary(wanted)
    return [f"{k}: {before[k] or '-'} -> {after[k] or '-'}" for k in after if before[k] != after[k]]


def describe_job_request(
    project: str, region: str, name: str, job: Any, existing: Any | None
) -> dict[str, Any]:
    """The exact request apply sends (method, path, query, JSON body as the client sends it)."""
    from google.cloud import run_v2
    from google.protobuf import json_format

    body = json_format.MessageToDict(run_v2.Job.pb(job), use_integers_for_enums=True)
    if existing is None:
        return {
            "method": "POST",
            "path": f"/v2/projects/{project}/locations/{region}/jobs",
            "query": {"jobId": name},
            "body": body,
        }
    return {"method": "PATCH", "path": f"/v2/{existing.name}", "query": {}, "body": body}


def run_request(
    name: str,
    *,
    task_count: int | None = None,
    args: Sequence[str] | None = None,
    timeout_s: int | None = None,
) -> Any:
    """A ``RunJobRequest`` for the job ``name`` with these overrides (None: the job's)."""
    from google.cloud import run_v2
    from google.protobuf import duration_pb2

    overrides = run_v2.RunJobRequest.Overrides()
    if task_count is not None:
        overrides.task_count = task_count
    if timeout_s is not None:
        overrides.timeout = duration_pb2.Duration(seconds=timeout_s)
    if args is not None:
        overrides.container_overrides = [
            run_v2.RunJobRequest.Overrides.ContainerOverride(
                name=CONTAINER, args=list(args), clear_args=not args
            )
        ]
    return run_v2.RunJobRequest(name=name, overrides=overrides)
