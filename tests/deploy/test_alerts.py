"""Alert policies: real metric types, thresholds from the config, created with the real client."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.cloud import monitoring_v3

from cutout.deploy.alerts import alert_policies, policy_json
from cutout.deploy.alerts_live import create_policies
from cutout.errors import DeployError
from tests.deploy.planning import config


def _by_name(policies: list[monitoring_v3.AlertPolicy]) -> dict[str, dict[str, Any]]:
    return {p.display_name.split(": ", 1)[1]: policy_json(p) for p in policies}


def test_four_policies_on_cloud_run_metrics() -> None:
    channel = "projects/petshop-prod/notificationChannels/123"
    policies = _by_name(alert_policies(config(latency_target_ms=2500), [channel]))
    assert set(policies) == {"5xx ratio", "p95 latency", "instances at max", "revision not ready"}
    for document in policies.values():
        assert document["notificationChannels"] == [channel]
        assert document["enabled"] is True
        assert document["combiner"] == "OR"

    ratio = policies["5xx ratio"]["conditions"][0]["conditionThreshold"]
    assert 'metric.type = "run.googleapis.com/request_count"' in ratio["filter"]
    assert 'metric.labels.response_code_class = "5xx"' in ratio["filter"]
    assert 'resource.type = "cloud_run_revision"' in ratio["filter"]
    assert 'resource.labels.service_name = "cutout"' in ratio["filter"]
    assert "response_code_class" not in ratio["denominatorFilter"]
    assert ratio["aggregations"][0]["perSeriesAligner"] == "ALIGN_RATE"
    assert ratio["comparison"] == "COMPARISON_GT" and ratio["thresholdValue"] == 0.05
    assert ratio["duration"] == "300s"

    latency = policies["p95 latency"]["conditions"][0]["conditionThreshold"]
    assert 'metric.type = "run.googleapis.com/request_latencies"' in latency["filter"]
    assert latency["aggregations"][0]["crossSeriesReducer"] == "REDUCE_PERCENTILE_95"
    assert latency["thresholdValue"] == 2500.0

    at_max = policies["instances at max"]["conditions"][0]["conditionThreshold"]
    assert 'metric.type = "run.googleapis.com/container/instance_count"' in at_max["filter"]
    assert at_max["thresholdValue"] == 2.5  # gpu.max_instances 3
    assert "resource.labels.location" in at_max["aggregations"][0]["groupByFields"]

    not_ready = policies["revision not ready"]
    log_filter = not_ready["conditions"][0]["conditionMatchedLog"]["filter"]
    assert "cloudaudit.googleapis.com%2Fsystem_event" in log_filter
    assert "projects/petshop-prod/logs/" in log_filter and "severity>=ERROR" in log_filter
    assert not_ready["alertStrategy"]["notificationRateLimit"]["period"] == "300s"


def test_max_instances_override() -> None:
    policies = _by_name(alert_policies(config(), max_instances=2))
    threshold = policies["instances at max"]["conditions"][0]["conditionThreshold"]
    assert threshold["thresholdValue"] == 1.5


class _FakeMonitoring:
    """Loopback gRPC stand-in for google.monitoring.v3.AlertPolicyService/CreateAlertPolicy.

    Requests and responses go through the real protobuf messages; a denied call answers
    PERMISSION_DENIED as Monitoring does.
    """

    def __init__(self) -> None:
        self.denied = False
        self.requests: list[monitoring_v3.CreateAlertPolicyRequest] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handler = grpc.method_handlers_generic_handler(
            "google.monitoring.v3.AlertPolicyService",
            {
                "CreateAlertPolicy": grpc.unary_unary_rpc_method_handler(
                    self._create,
                    request_deserializer=monitoring_v3.CreateAlertPolicyRequest.deserialize,
                    response_serializer=monitoring_v3.AlertPolicy.serialize,
                )
            },
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def _create(
        self, request: monitoring_v3.CreateAlertPolicyRequest, context: grpc.ServicerContext
    ) -> monitoring_v3.AlertPolicy:
        self.requests.append(request)
        if self.denied:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "Permission monitoring.alertPolicies.create denied (or it may not exist).",
            )
        policy = monitoring_v3.AlertPolicy(request.alert_policy)
        policy.name = f"{request.name}/alertPolicies/{len(self.requests)}"
        return policy

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def monitoring() -> Iterator[_FakeMonitoring]:
    fake = _FakeMonitoring()
    fake.server.start()
    yield fake
    fake.server.stop(grace=None)


def test_create_with_the_real_client(monitoring: _FakeMonitoring) -> None:
    policies = alert_policies(config())
    names = create_policies("petshop-prod", policies, endpoint=monitoring.endpoint)
    assert names == [f"projects/petshop-prod/alertPolicies/{i}" for i in range(1, 5)]
    assert [r.name for r in monitoring.requests] == ["projects/petshop-prod"] * 4
    first = monitoring.requests[0].alert_policy
    assert first.display_name == "cutout: 5xx ratio"
    assert first.conditions[0].condition_threshold.threshold_value == 0.05


def test_create_error_is_translated(monitoring: _FakeMonitoring) -> None:
    monitoring.denied = True
    with pytest.raises(DeployError, match="create alert policies in petshop-prod"):
        create_policies("petshop-prod", alert_policies(config()), endpoint=monitoring.endpoint)
