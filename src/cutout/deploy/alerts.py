"""Cloud Monitoring alert policies for the deployed service.

Four policies, as ``google.cloud.monitoring_v3.AlertPolicy`` objects on Cloud Run's
built-in metrics (resource type ``cloud_run_revision``):

* 5xx ratio: ``run.googleapis.com/request_count`` with ``response_code_class = "5xx"``
  over all requests, above 5 % for 5 minutes;
* p95 latency: ``run.googleapis.com/request_latencies`` (a distribution in ms), 95th
  percentile above the config's ``latency_target_ms`` for 5 minutes;
* instances at max: ``run.googleapis.com/container/instance_count`` summed per region,
  at max instances for 10 minutes (requests are queueing: raise quota or max);
* revisions that fail to become ready: a log-match condition on Cloud Run's
  ``cloudaudit.googleapis.com%2Fsystem_event`` entries of severity ERROR for the
  service (a quota refusal at provisioning lands there too).

Building them is pure (Google's message classes as data, no client); ``--dry-run``
prints them as JSON, otherwise :func:`cutout.deploy.alerts_live.create_policies` creates
them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cutout.deploy.config import DeployConfig
from cutout.errors import BackendUnavailableError

if TYPE_CHECKING:
    from google.cloud.monitoring_v3 import AlertPolicy

__all__ = ["ERROR_RATIO", "alert_policies", "policy_json"]

ERROR_RATIO = 0.05
_WINDOW_S = 300
_AT_MAX_WINDOW_S = 600


def _revision_filter(config: DeployConfig, metric: str, extra: str = "") -> str:
    return (
        f'resource.type = "cloud_run_revision" AND '
        f'resource.labels.service_name = "{config.service}" AND '
        f'metric.type = "{metric}"{extra}'
    )


def alert_policies(
    config: DeployConfig,
    notification_channels: Sequence[str] = (),
    *,
    max_instances: int | None = None,
) -> list[AlertPolicy]:
    """The four policies; ``max_instances`` defaults to the GPU revision's wanted max."""
    try:
        from google.cloud import monitoring_v3
        from google.protobuf import duration_pb2
    except ImportError as exc:
        raise BackendUnavailableError(
            "cutout deploy alerts needs the deploy extra: pip install 'cutout[deploy]'"
        ) from exc

    policy_t = monitoring_v3.AlertPolicy
    condition_t = policy_t.Condition
    aligner = monitoring_v3.Aggregation.Aligner
    reducer = monitoring_v3.Aggregation.Reducer
    gt = monitoring_v3.ComparisonType.COMPARISON_GT

    def seconds(value: int) -> duration_pb2.Duration:
        return duration_pb2.Duration(seconds=value)

    def aggregation(align: Any, reduce: Any, group_by: list[str]) -> Any:
        return monitoring_v3.Aggregation(
            alignment_period=seconds(60),
            per_series_aligner=align,
            cross_series_reducer=reduce,
            group_by_fields=group_by,
        )

    by_service = ["resource.labels.service_name"]
    docs = (
        f"Service `{config.service}` in project `{config.project}`. Runbook: docs/deploy.md; "
        f"see `cutout deploy status --config cutout-deploy.toml` and "
        f"`cutout deploy plan --config cutout-deploy.toml`."
    )

    def policy(name: str, condition: Any, severity: Any, **extra: Any) -> AlertPolicy:
        return policy_t(
            display_name=f"{config.service}: {name}",
            documentation=policy_t.Documentation(content=docs, mime_type="text/markdown"),
            user_labels={"app": "cutout", "service": config.service},
            conditions=[condition],
            combiner=policy_t.ConditionCombinerType.OR,
            enabled=True,
            notification_channels=list(notification_channels),
            severity=severity,
            **extra,
        )

    requests = "run.googleapis.com/request_count"
    error_ratio = condition_t(
        display_name=f"5xx responses above {ERROR_RATIO:.0%} of requests",
        condition_threshold=condition_t.MetricThreshold(
            filter=_revision_filter(
                config, requests, ' AND metric.labels.response_code_class = "5xx"'
            ),
            aggregations=[aggregation(aligner.ALIGN_RATE, reducer.REDUCE_SUM, by_service)],
            denominator_filter=_revision_filter(config, requests),
            denominator_aggregations=[
                aggregation(aligner.ALIGN_RATE, reducer.REDUCE_SUM, by_service)
            ],
            comparison=gt,
            threshold_value=ERROR_RATIO,
            duration=seconds(_WINDOW_S),
            trigger=condition_t.Trigger(count=1),
        ),
    )
    latency = condition_t(
        display_name=f"p95 latency above {config.latency_target_ms} ms",
        condition_threshold=condition_t.MetricThreshold(
            filter=_revision_filter(config, "run.googleapis.com/request_latencies"),
            aggregations=[
                aggregation(aligner.ALIGN_DELTA, reducer.REDUCE_PERCENTILE_95, by_service)
            ],
            comparison=gt,
            threshold_value=float(config.latency_target_ms),
            duration=seconds(_WINDOW_S),
            trigger=condition_t.Trigger(count=1),
        ),
    )
    ceiling = max_instances if max_instances is not None else config.gpu.max_instances
    at_max = condition_t(
        display_name=f"instances at max ({ceiling}) for 10 minutes",
        condition_threshold=condition_t.MetricThreshold(
            filter=_revision_filter(config, "run.googleapis.com/container/instance_count"),
            aggregations=[
                aggregation(
                    aligner.ALIGN_MAX,
                    reducer.REDUCE_SUM,
                    ["resource.labels.service_name", "resource.labels.location"],
                )
            ],
            comparison=gt,
            # instance counts are whole numbers: "> max - 0.5" is "at max"
            threshold_value=ceiling - 0.5,
            duration=seconds(_AT_MAX_WINDOW_S),
            trigger=condition_t.Trigger(count=1),
        ),
    )
    not_ready = condition_t(
        display_name="revision failed to become ready",
        condition_matched_log=condition_t.LogMatch(
            filter=(
                f'resource.type="cloud_run_revision" AND '
                f'resource.labels.service_name="{config.service}" AND '
                f'logName="projects/{config.project}/logs/'
                f'cloudaudit.googleapis.com%2Fsystem_event" AND severity>=ERROR'
            ),
        ),
    )
    return [
        policy("5xx ratio", error_ratio, policy_t.Severity.ERROR),
        policy("p95 latency", latency, policy_t.Severity.WARNING),
        policy("instances at max", at_max, policy_t.Severity.WARNING),
        policy(
            "revision not ready",
            not_ready,
            policy_t.Severity.ERROR,
            # log-match conditions require a notification rate limit
            alert_strategy=policy_t.AlertStrategy(
                notification_rate_limit=policy_t.AlertStrategy.NotificationRateLimit(
                    period=seconds(_WINDOW_S)
                ),
                auto_close=seconds(1800),
            ),
        ),
    ]


def policy_json(policy: AlertPolicy) -> dict[str, Any]:
    """The policy as the Monitoring REST API spells it (camelCase, enum names)."""
    from google.cloud import monitoring_v3

    document: dict[str, Any] = json.loads(
        monitoring_v3.AlertPolicy.to_json(policy, use_integers_for_enums=False)
    )
    return document
