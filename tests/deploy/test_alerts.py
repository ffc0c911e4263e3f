"""Alert policies: real metric types, thresholds from the config, created with the real client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import monitoring_v3

from cutout.deploy.alerts import alert_policies, policy_json, quota_query
from cutout.deploy.alerts_live import upsert_policies
from cutout.deploy.types import QUOTA_IDS, QUOTA_METRICS
from cutout.errors import DeployError
from tests.deploy.planning import config
from tests.fakes.monitoring import FakeMonitoring


def _by_name(policies: list[monitoring_v3.AlertPolicy]) -> dict[str, dict[str, Any]]:
    return {p.display_name.split(": ", 1)[1]: policy_json(p) for p in policies}


def test_four_policies_on_cloud_run_metrics() -> None:
    channel = "projects/petshop-prod/notificationChannels/123"
    policies = _by_name(alert_policies(config(latency_target_ms=2500), [channel]))
    assert set(policies) == {
        "5xx ratio",
        "p95 latency",
        "instances at max",
        "revision not ready",
        "quota usage us-central1",
        "quota usage europe-west4",
    }
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


def test_one_quota_policy_per_region_with_a_promql_condition_per_quota() -> None:
    policies = _by_name(alert_policies(config()))
    for region in ("us-central1", "europe-west4"):
        policy = policies[f"quota usage {region}"]
        assert policy["userLabels"] == {
            "app": "cutout",
            "service": "cutout",
            "policy": f"quota-{region}",
        }
        assert policy["severity"] == "WARNING"
        assert "--check-quota 80" in policy["documentation"]["content"]
        conditions = [c["conditionPrometheusQueryLanguage"] for c in policy["conditions"]]
        quota_ids = [c["labels"]["quota_id"] for c in conditions]
        # the planner's quota ids, one source: L4 with and without zonal redundancy, CPU
        assert quota_ids == [QUOTA_IDS[0], QUOTA_IDS[1], QUOTA_IDS[2]]
        for quota_id, condition in zip(quota_ids, conditions, strict=True):
            assert condition["disableMetricValidation"] is True
            assert condition["query"] == quota_query(region, quota_id)
            assert condition["evaluationInterval"] == "60s"
            assert condition["duration"] == "300s"


def test_the_quota_query_is_usage_over_limit_in_one_region() -> None:
    query = quota_query("europe-west4", QUOTA_IDS[1], 80)
    usage, _, rest = query.partition(" / on (quota_metric, location) ")
    assert usage.startswith("max by (quota_metric, location) (last_over_time(")
    assert "serviceruntime_googleapis_com:quota_allocation_usage{" in usage
    assert "serviceruntime_googleapis_com:quota_limit{" in rest
    metric = QUOTA_METRICS[QUOTA_IDS[1]]
    assert metric == "run.googleapis.com/nvidia_l4_gpu_allocation_no_zonal_redundancy"
    for side in (usage, rest):
        assert 'monitored_resource="consumer_quota"' in side
        assert 'service="run.googleapis.com"' in side
        assert f'quota_metric="{metric}"' in side
        assert 'location="europe-west4"' in side
    assert rest.endswith("> 0) >= 0.8")  # a zero (not offered) limit never fires
    assert quota_query("us-central1", QUOTA_IDS[2], 95).endswith(">= 0.95")


def test_max_instances_override() -> None:
    policies = _by_name(alert_policies(config(), max_instances=2))
    threshold = policies["instances at max"]["conditions"][0]["conditionThreshold"]
    assert threshold["thresholdValue"] == 1.5


@pytest.fixture
def monitoring() -> Iterator[FakeMonitoring]:
    with FakeMonitoring("petshop-prod") as fake:
        yield fake


def test_create_with_the_real_client(monitoring: FakeMonitoring) -> None:
    policies = alert_policies(config())
    changes = upsert_policies("petshop-prod", policies, endpoint=monitoring.endpoint)
    assert [c.action for c in changes] == ["created"] * 6
    assert [c.name for c in changes] == sorted(monitoring.policies)
    assert monitoring.calls == ["list"] + ["create"] * 6
    first = monitoring.policies[changes[0].name]
    assert first.display_name == "cutout: 5xx ratio"
    assert first.conditions[0].condition_threshold.threshold_value == 0.05
    quota = monitoring.policies[changes[4].name]
    assert quota.display_name == "cutout: quota usage us-central1"
    assert all(
        c.condition_prometheus_query_language.disable_metric_validation for c in quota.conditions
    )


def test_running_twice_updates_instead_of_duplicating(monitoring: FakeMonitoring) -> None:
    monitoring.page_size = 2  # the listing pages: every page is read
    first = upsert_policies("petshop-prod", alert_policies(config()), endpoint=monitoring.endpoint)
    names = [c.name for c in first]

    again = alert_policies(config(latency_target_ms=1200), quota_percent=90)
    second = upsert_policies("petshop-prod", again, endpoint=monitoring.endpoint)

    assert [c.action for c in second] == ["updated"] * 6
    assert [c.name for c in second] == names
    assert len(monitoring.policies) == 6
    latency = monitoring.policies[names[1]]
    assert latency.conditions[0].condition_threshold.threshold_value == 1200.0
    quota = monitoring.policies[names[4]].conditions[0].condition_prometheus_query_language
    assert quota.query.endswith(">= 0.9")


def test_a_policy_from_before_the_key_label_is_updated_by_display_name(
    monitoring: FakeMonitoring,
) -> None:
    old = alert_policies(config())[0]
    del old.user_labels["policy"]  # as created by an older cutout
    old_name = monitoring.seed(old)
    stranger = monitoring_v3.AlertPolicy(
        display_name="cutout: 5xx ratio", user_labels={"policy": "x"}
    )
    stranger_name = monitoring.seed(stranger)  # someone else's, with a key of its own

    changes = upsert_policies(
        "petshop-prod", alert_policies(config()), endpoint=monitoring.endpoint
    )

    assert (changes[0].action, changes[0].name) == ("updated", old_name)
    assert monitoring.policies[old_name].user_labels["policy"] == "5xx-ratio"
    assert monitoring.policies[stranger_name].user_labels["policy"] == "x"  # untouched
    assert len(monitoring.policies) == 7


def test_duplicates_from_earlier_runs_are_named(monitoring: FakeMonitoring) -> None:
    policies = alert_policies(config())
    copies = [monitoring.seed(policies[0]) for _ in range(2)]
    changes = upsert_policies("petshop-prod", policies, endpoint=monitoring.endpoint)
    assert changes[0].name == copies[0] and changes[0].duplicates == (copies[1],)
    assert "left alone" in changes[0].line()


def test_without_disable_metric_validation_the_fake_refuses_a_quota_policy(
    monitoring: FakeMonitoring,
) -> None:
    """The fake's rule that makes the flag matter: no data yet, no policy."""
    policy = alert_policies(config())[4]
    for condition in policy.conditions:
        condition.condition_prometheus_query_language.disable_metric_validation = False
    with pytest.raises(DeployError, match="no data for metric serviceruntime_googleapis_com"):
        upsert_policies("petshop-prod", [policy], endpoint=monitoring.endpoint)


def test_create_error_is_translated(monitoring: FakeMonitoring) -> None:
    monitoring.denied = True
    with pytest.raises(DeployError, match="create or update alert policies in petshop-prod"):
        upsert_policies("petshop-prod", alert_policies(config()), endpoint=monitoring.endpoint)
