"""The Knative Service YAML: GPU via node selector, --gpu=0 semantics for CPU, no invented keys."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cutout.deploy.manifest import KNOWN_ANNOTATIONS, build_manifest, manifest_yaml
from cutout.deploy.plan import make_plan
from cutout.deploy.types import Candidate
from tests.deploy.planning import config, limits

INVENTED = ("run.googleapis.com/gpu-quota-aware", "run.googleapis.com/fallback-cpu-mode")


def _chosen(zonal: int, no_zonal: int, **top: Any) -> Candidate:
    plan = make_plan(
        config(**top), {"us-central1": limits("us-central1", zonal=zonal, no_zonal=no_zonal)}, {}
    )
    assert plan.chosen is not None
    return plan.chosen


def _render(candidate: Candidate, **kwargs: Any) -> dict[str, Any]:
    text = manifest_yaml(build_manifest(config(), candidate, **kwargs))
    document: dict[str, Any] = yaml.safe_load(text)
    for word in INVENTED:
        assert word not in text
    return document


def _template(document: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    template = document["spec"]["template"]
    return template["metadata"]["annotations"], template["spec"]


def test_gpu_with_zonal_redundancy() -> None:
    document = _render(_chosen(3, 3))
    assert document["apiVersion"] == "serving.knative.dev/v1"
    assert document["kind"] == "Service"
    assert document["metadata"] == {"name": "cutout"}
    annotations, spec = _template(document)
    assert annotations == {
        "autoscaling.knative.dev/maxScale": "3",
        "autoscaling.knative.dev/minScale": "0",
        "run.googleapis.com/cpu-throttling": "false",
    }
    assert spec["nodeSelector"] == {"run.googleapis.com/accelerator": "nvidia-l4"}
    container = spec["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert spec["containerConcurrency"] == 4
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["CUTOUT_MODEL"] == "inspyrenet-base" and env["CUTOUT_DEVICE"] == "cuda"
    # a GPU it cannot use keeps /ready at 503: the startup probe fails, never a CPU revision
    assert env["CUTOUT_REQUIRE_GPU"] == "1"
    assert container["startupProbe"]["httpGet"] == {"path": "/ready", "port": 8080}
    # startup window within Cloud Run's 240 s
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] <= 240
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert "readinessProbe" not in container
    assert container["ports"] == [{"name": "http1", "containerPort": 8080}]


def test_gpu_without_zonal_redundancy_sets_the_annotation() -> None:
    annotations, spec = _template(_render(_chosen(0, 2)))
    assert annotations["run.googleapis.com/gpu-zonal-redundancy-disabled"] == "true"
    assert annotations["autoscaling.knative.dev/maxScale"] == "2"
    assert "nodeSelector" in spec


def test_cpu_candidate_has_no_gpu_anything() -> None:
    candidate = _chosen(0, 0)
    assert candidate.kind == "cpu"
    text = manifest_yaml(build_manifest(config(), candidate))
    for absent in ("nvidia", "accelerator", "gpu-zonal", "nodeSelector"):
        assert absent not in text
    annotations, spec = _template(yaml.safe_load(text))
    assert annotations["autoscaling.knative.dev/maxScale"] == "4"
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"
    container = spec["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "16Gi"}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["CUTOUT_MODEL"] == "inspyrenet-fast" and env["CUTOUT_DEVICE"] == "cpu"
    assert "CUTOUT_REQUIRE_GPU" not in env  # the plain default
    assert spec["containerConcurrency"] == 1


@pytest.mark.parametrize(("zonal", "no_zonal"), [(3, 3), (0, 3), (0, 1), (0, 0)])
def test_only_known_annotations_and_max_scale_always_set(zonal: int, no_zonal: int) -> None:
    annotations, _ = _template(_render(_chosen(zonal, no_zonal)))
    assert set(annotations) <= KNOWN_ANNOTATIONS
    assert int(annotations["autoscaling.knative.dev/maxScale"]) >= 1
    for value in annotations.values():
        assert isinstance(value, str)  # Kubernetes annotations are strings


def test_readiness_probe_and_min_instances_override() -> None:
    document = _render(_chosen(3, 3), readiness_probe=True, min_instances=1)
    annotations, spec = _template(document)
    assert annotations["autoscaling.knative.dev/minScale"] == "1"
    assert spec["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_per_kind_images() -> None:
    cfg = config(gpu={"image": "r.example/cutout-gpu:1"}, cpu={"image": "r.example/cutout-cpu:1"})
    gpu = make_plan(cfg, {"us-central1": limits("us-central1", zonal=3)}, {}).chosen
    cpu = make_plan(cfg, {"us-central1": limits("us-central1")}, {}).chosen
    assert gpu is not None and cpu is not None
    assert build_manifest(cfg, gpu)["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "r.example/cutout-gpu:1"
    )
    assert build_manifest(cfg, cpu)["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "r.example/cutout-cpu:1"
    )
