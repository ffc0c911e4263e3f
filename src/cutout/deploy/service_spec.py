"""The Run v2 request for one plan candidate: revision template and traffic.

Rules (https://cloud.google.com/run/docs/configuring/services/gpu and the v2 ``Service``
reference, https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services):
a GPU revision carries an ``nvidia.com/gpu`` limit of 1, ``node_selector.accelerator``,
``cpu_idle = False`` (instance-based billing) and ``gpu_zonal_redundancy_disabled``; a
CPU revision has none of them (``--gpu=0`` semantics). Max instances are always set (v2
would default to 100). No ``run.googleapis.com/*`` or ``autoscaling.knative.dev/*``
annotations: v2 rejects them.

Probes: startup on ``/ready`` (the model is loaded and warm), liveness on ``/health``. A GPU
candidate runs with ``CUTOUT_REQUIRE_GPU=1`` (:meth:`Candidate.container_env`): a revision
whose GPU cannot be used never passes its startup probe, and an instance that loses its GPU
later fails its liveness probe and is restarted, never serving from the CPU.

A new revision is NAMED (``template.revision``) so a traffic target can point at it by
name with a tag and 0 %: a ``LATEST`` target would follow whatever becomes ready, and
the revision serving now would lose its traffic before the smoke test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cutout.deploy.config import DeployConfig
from cutout.deploy.types import Candidate

__all__ = [
    "CANDIDATE_TAG",
    "KIND_LABEL",
    "MODEL_LABEL",
    "build_service",
    "keep_serving_traffic",
    "new_revision_name",
    "split_traffic",
    "traffic_to",
]

CANDIDATE_TAG = "candidate"
KIND_LABEL = "cutout-kind"  # gpu | cpu: how status tells the device of each revision
MODEL_LABEL = "cutout-model"
_REVISION = 2  # TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
_LATEST = 1
STARTUP_PERIOD_S = 5
STARTUP_FAILURES = 48  # 48 x 5 s = 240 s, the longest startup Cloud Run allows
LIVENESS_PERIOD_S = 30
LIVENESS_FAILURES = 3


def new_revision_name(
    service: str, candidate: Candidate, attempt: int = 1, now: datetime | None = None
) -> str:
    """``cutout-gpu-20261129-013000-1``: the service name first, as Cloud Run requires;
    the attempt number keeps fallbacks tried in the same second apart."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{service}-{candidate.kind}-{stamp}-{attempt}"


def _template(config: DeployConfig, candidate: Candidate, revision: str) -> Any:
    from google.cloud import run_v2

    limits = {"cpu": candidate.cpu, "memory": candidate.memory}
    if candidate.kind == "gpu":
        limits["nvidia.com/gpu"] = "1"
    container = run_v2.Container(
        name="cutout",
        image=candidate.image or config.image,
        env=[run_v2.EnvVar(name=n, value=v) for n, v in candidate.container_env().items()],
        resources=run_v2.ResourceRequirements(
            limits=limits, cpu_idle=False, startup_cpu_boost=True
        ),
        ports=[run_v2.ContainerPort(name="http1", container_port=8080)],
        startup_probe=run_v2.Probe(
            http_get=run_v2.HTTPGetAction(path="/ready"),
            period_seconds=STARTUP_PERIOD_S,
            failure_threshold=STARTUP_FAILURES,
            timeout_seconds=4,
        ),
        # 503 only when a required GPU was lost after start-up: restart onto a fresh one
        liveness_probe=run_v2.Probe(
            http_get=run_v2.HTTPGetAction(path="/health"),
            period_seconds=LIVENESS_PERIOD_S,
            failure_threshold=LIVENESS_FAILURES,
            timeout_seconds=5,
        ),
    )
    template = run_v2.RevisionTemplate(
        revision=revision,
        labels={KIND_LABEL: candidate.kind, MODEL_LABEL: candidate.model},
        containers=[container],
        scaling=run_v2.RevisionScaling(
            min_instance_count=candidate.min_instances,
            max_instance_count=candidate.max_instances,
        ),
        max_instance_request_concurrency=candidate.concurrency,
    )
    if candidate.kind == "gpu":
        template.node_selector = run_v2.NodeSelector(accelerator=candidate.gpu_type or "nvidia-l4")
        template.gpu_zonal_redundancy_disabled = not candidate.gpu_zonal_redundancy
    return template


def keep_serving_traffic(service: Any) -> list[Any]:
    """The service's traffic as explicit REVISION targets, minus our candidate tag.

    ``LATEST`` is pinned to the revision that is latest-ready now, so a new revision
    becoming ready moves nothing.
    """
    from google.cloud import run_v2

    latest = service.latest_ready_revision.rsplit("/", 1)[-1]
    kept = []
    for target in service.traffic:
        revision = latest if int(target.type_) == _LATEST else target.revision
        tag = "" if target.tag == CANDIDATE_TAG else target.tag
        if not revision or (target.percent == 0 and not tag):
            continue
        kept.append(
            run_v2.TrafficTarget(
                type_=_REVISION, revision=revision, percent=target.percent, tag=tag
            )
        )
    return kept


def traffic_to(revision: str, *, tag: str = "") -> list[Any]:
    """All traffic to one revision (promotion or rollback)."""
    from google.cloud import run_v2

    return [run_v2.TrafficTarget(type_=_REVISION, revision=revision, percent=100, tag=tag)]


def split_traffic(old: list[Any], revision: str, percent: int, *, tag: str) -> list[Any]:
    """``percent`` to ``revision`` (with ``tag``), the rest shared by ``old`` pro rata."""
    from google.cloud import run_v2

    targets = [run_v2.TrafficTarget(type_=_REVISION, revision=revision, percent=percent, tag=tag)]
    serving = [t for t in old if t.percent > 0 and t.revision != revision]
    total_old = sum(t.percent for t in serving)
    remaining = 100 - percent
    for index, target in enumerate(serving):
        share = (
            remaining - sum(t.percent for t in targets[1:])
            if index == len(serving) - 1
            else round(remaining * target.percent / total_old)
        )
        targets.append(
            run_v2.TrafficTarget(
                type_=_REVISION, revision=target.revision, percent=share, tag=target.tag
            )
        )
    for target in old:  # 0 % tagged targets keep their URLs
        if target.percent == 0 and target.tag and target.revision != revision:
            targets.append(target)
    return targets


def build_service(
    config: DeployConfig,
    candidate: Candidate,
    revision: str,
    existing: Any | None,
) -> Any:
    """The Service to create (``existing`` None) or to send as the full update."""
    from google.cloud import run_v2

    template = _template(config, candidate, revision)
    if existing is None:
        # A new service has nothing to keep: the only revision takes all traffic.
        return run_v2.Service(template=template, traffic=traffic_to(revision, tag=CANDIDATE_TAG))
    service = run_v2.Service(existing)
    service.template = template
    kept = keep_serving_traffic(existing)
    if not any(t.percent for t in kept):
        kept = traffic_to(revision)
        kept[0].tag = CANDIDATE_TAG
        service.traffic = kept
        return service
    service.traffic = [
        *kept,
        run_v2.TrafficTarget(type_=_REVISION, revision=revision, percent=0, tag=CANDIDATE_TAG),
    ]
    return service
