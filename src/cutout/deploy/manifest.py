"""The Knative ``serving.knative.dev/v1`` Service YAML for a planned candidate.

This is what ``gcloud run services replace FILE --region R`` reads and what users keep in
git. Every key is one Cloud Run documents
(https://cloud.google.com/run/docs/reference/yaml/v1,
https://cloud.google.com/run/docs/configuring/services/gpu):

* the GPU is a node selector ``run.googleapis.com/accelerator: nvidia-l4`` plus an
  ``nvidia.com/gpu: "1"`` limit, never an annotation;
* ``run.googleapis.com/cpu-throttling: "false"`` (instance-based billing, required for
  GPUs; kept for the CPU fallback so both kinds cost what the planner said);
* ``autoscaling.knative.dev/maxScale`` always (unset would mean 100 instances);
* ``run.googleapis.com/gpu-zonal-redundancy-disabled: "true"`` only when off;
* startup probe on ``/ready`` (the model is loaded), liveness on ``/health``;
* a GPU candidate has ``CUTOUT_REQUIRE_GPU=1`` (:meth:`Candidate.container_env`): a GPU
  that cannot be used keeps ``/ready`` at 503, so the revision fails its startup probe
  instead of serving from the CPU, and a GPU lost later turns ``/health`` 503, so the
  liveness probe restarts the instance;
* a CPU candidate has ``--gpu=0`` semantics: no GPU limit, no node selector, no zonal key.

There are no ``gpu-quota-aware`` or ``fallback-cpu-mode`` annotations: they do not exist;
the fallback is the planner's job. :data:`KNOWN_ANNOTATIONS` lists every key used here.
"""

from __future__ import annotations

from typing import Any

from cutout.deploy.config import DeployConfig
from cutout.deploy.types import Candidate

__all__ = [
    "CONTAINER_PORT",
    "KNOWN_ANNOTATIONS",
    "build_manifest",
    "manifest_yaml",
    "replace_command",
]

CONTAINER_PORT = 8080
ACCELERATOR_SELECTOR = "run.googleapis.com/accelerator"
MAX_SCALE = "autoscaling.knative.dev/maxScale"
MIN_SCALE = "autoscaling.knative.dev/minScale"
CPU_THROTTLING = "run.googleapis.com/cpu-throttling"
ZONAL_DISABLED = "run.googleapis.com/gpu-zonal-redundancy-disabled"
KNOWN_ANNOTATIONS = frozenset({MAX_SCALE, MIN_SCALE, CPU_THROTTLING, ZONAL_DISABLED})

# Startup may take the model load: Cloud Run allows a probe window up to 240 s.
_STARTUP_PERIOD_S = 10
_STARTUP_FAILURES = 24  # 24 x 10 s = 240 s
_REQUEST_TIMEOUT_S = 300


def _probe(path: str, *, period: int, failures: int, timeout: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": CONTAINER_PORT},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def build_manifest(
    config: DeployConfig,
    candidate: Candidate,
    *,
    revision_suffix: str | None = None,
    readiness_probe: bool = False,
    min_instances: int | None = None,
) -> dict[str, Any]:
    """The Service document for ``candidate``; ``readiness_probe`` adds one on ``/ready``
    (needed for multi-region service health), ``min_instances`` overrides the plan's."""
    minimum = candidate.min_instances if min_instances is None else min_instances
    annotations: dict[str, str] = {
        MAX_SCALE: str(candidate.max_instances),
        MIN_SCALE: str(minimum),
        CPU_THROTTLING: "false",
    }
    limits: dict[str, str] = {"cpu": candidate.cpu, "memory": candidate.memory}
    pod_spec: dict[str, Any] = {
        "containerConcurrency": candidate.concurrency,
        "timeoutSeconds": _REQUEST_TIMEOUT_S,
    }
    if candidate.kind == "gpu":
        if candidate.gpu_type is None:
            raise ValueError("a GPU candidate needs a gpu_type")
        limits["nvidia.com/gpu"] = str(candidate.gpus_per_instance)
        pod_spec["nodeSelector"] = {ACCELERATOR_SELECTOR: candidate.gpu_type}
        if candidate.gpu_zonal_redundancy is False:
            annotations[ZONAL_DISABLED] = "true"
    container: dict[str, Any] = {
        "image": candidate.image or config.image,
        "ports": [{"name": "http1", "containerPort": CONTAINER_PORT}],
        "env": [
            *({"name": name, "value": value} for name, value in candidate.container_env().items()),
            {"name": "CUTOUT_GCP_PROJECT", "value": config.project},
        ],
        "resources": {"limits": limits},
        "startupProbe": _probe(
            "/ready", period=_STARTUP_PERIOD_S, failures=_STARTUP_FAILURES, timeout=5
        ),
        "livenessProbe": _probe("/health", period=30, failures=3, timeout=5),
    }
    if readiness_probe:
        container["readinessProbe"] = _probe("/ready", period=10, failures=3, timeout=5)
    pod_spec["containers"] = [container]
    template_metadata: dict[str, Any] = {"annotations": annotations}
    if revision_suffix:
        template_metadata["name"] = f"{config.service}-{revision_suffix}"
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": config.service},
        "spec": {
            "template": {"metadata": template_metadata, "spec": pod_spec},
            "traffic": [{"latestRevision": True, "percent": 100}],
        },
    }


def manifest_yaml(document: dict[str, Any]) -> str:
    import yaml

    text: str = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    return text


def replace_command(config: DeployConfig, region: str, path: str) -> str:
    return f"gcloud run services replace {path} --region={region} --project={config.project}"
