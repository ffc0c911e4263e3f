"""Cloud Monitoring alert policies for the deployed service.

Four policies, as ``google.cloud.monitoring_v3.AlertPolicy`` objects on Cloud Run's
built-in metrics (resource type ``cloud_run_revision``), and one quota-usage policy per
configured region:

* 5xx ratio: ``run.googleapis.com/request_count`` with ``response_code_class = "5xx"``
  over all requests, above 5 % for 5 minutes;
* p95 latency: ``run.googleapis.com/request_latencies`` (a distribution in ms), 95th
  percentile above the config's ``latency_target_ms`` for 5 minutes;
* instances at max: ``run.googleapis.com/container/instance_count`` summed per region,
  at max instances for 10 minutes (requests are queueing: raise quota or max);
* revisions that fail to become ready: a log-match condition on Cloud Run's
  ``cloudaudit.googleapis.com%2Fsystem_event`` entries of severity ERROR for the
  service (a quota refusal at provisioning lands there too);
* quota usage in REGION: allocation usage over the limit at or above ``quota_percent``
  (80 %) for each quota that blocks a deploy (L4 with and without zonal redundancy, CPU;
  the ids of :mod:`cutout.deploy.types`, their metrics in ``QUOTA_METRICS``), one PromQL
  condition each (:func:`quota_query`) on ``serviceruntime_googleapis_com:
  quota_allocation_usage`` / ``quota_limit`` (``consumer_quota``), created with metric
  validation disabled: the series exist only once something allocates there. One
  policy per region, not per quota: a region is what the planner falls back between and
  what a quota request names; its conditions name the quota; and five regions give
  five policies, not fifteen. Where the metric is not exported, ``cutout deploy status
  --check-quota 80`` on a schedule computes the same from the APIs.

Building them is pure (Google's message classes as data, no client); ``--dry-run``
prints them as JSON, otherwise :func:`cutout.deploy.alerts_live.upsert_policies` creates
or updates them. Each carries the user labels ``app``, ``service`` and ``policy`` (a
stable key, :func:`policy_key`): a second run finds its policies by them (or by display
name, for policies made before the key existed) and updates them instead of adding
duplicates (:func:`matching_policies`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cutout.deploy.config import DeployConfig
from cutout.deploy.quotas import RUN_SERVICE
from cutout.deploy.types import CPU_QUOTA, L4_NO_ZONAL_QUOTA, L4_ZONAL_QUOTA, QUOTA_METRICS
from cutout.errors import BackendUnavailableError

if TYPE_CHECKING:
    from google.cloud.monitoring_v3 import AlertPolicy

__all__ = [
    "ALERTED_QUOTAS",
    "ERROR_RATIO",
    "QUOTA_PERCENT",
    "alert_policies",
    "matching_policies",
    "policy_json",
    "policy_key",
    "quota_query",
]

ERROR_RATIO = 0.05
QUOTA_PERCENT = 80.0
# the quotas whose usage is alerted on, in the planner's ladder order
ALERTED_QUOTAS = (L4_ZONAL_QUOTA, L4_NO_ZONAL_QUOTA, CPU_QUOTA)
_WINDOW_S = 300
_AT_MAX_WINDOW_S = 600
_QUOTA_EVALUATION_S = 60  # PromQL conditions: a positive multiple of 30 s
_QUOTA_LOOKBACK = "1d"  # allocation usage is written when it changes, not every minute
_KEY_LABEL = "policy"


def quota_query(region: str, quota_id: str, percent: float = QUOTA_PERCENT) -> str:
    """PromQL: allocation usage / limit of ``quota_id`` in ``region`` at or above ``percent``.

    Both sides are matched on ``quota_metric`` and ``location``; the tightest limit of the
    metric counts, and a limit of 0 (not offered) or below (unlimited) never fires.
    """
    selector = (
        f'monitored_resource="consumer_quota",service="{RUN_SERVICE}",'
        f'quota_metric="{QUOTA_METRICS[quota_id]}",location="{region}"'
    )
    by = "by (quota_metric, location)"
    usage = (
        f"max {by} (last_over_time("
        f"serviceruntime_googleapis_com:quota_allocation_usage{{{selector}}}[{_QUOTA_LOOKBACK}]))"
    )
    limit = (
        f"min {by} (last_over_time("
        f"serviceruntime_googleapis_com:quota_limit{{{selector}}}[{_QUOTA_LOOKBACK}]))"
    )
    return f"{usage} / on (quota_metric, location) ({limit} > 0) >= {percent / 100:g}"


def policy_key(policy: AlertPolicy) -> str:
    """The stable key of one of our policies (its ``policy`` user label), "" if none."""
    return str(policy.user_labels.get(_KEY_LABEL, ""))


def matching_policies(existing: Sequence[AlertPolicy], wanted: AlertPolicy) -> list[AlertPolicy]:
    """The policies in ``existing`` that ``wanted`` replaces: same ``app``, ``service`` and
    ``policy`` labels; else (made before the key label) the same display name."""
    labels = wanted.user_labels
    keyed = [
        policy
        for policy in existing
        if policy.user_labels.get("app") == labels["app"]
        and policy.user_labels.get("service") == labels["service"]
        and policy_key(policy) == policy_key(wanted)
    ]
    if keyed:
        return keyed
    return [
        policy
        for policy in existing
        if not policy_key(policy) and policy.display_name == wanted.display_name
    ]


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
    quota_percent: float = QUOTA_PERCENT,
) -> list[AlertPolicy]:
    """The four service policies, then one quota-usage policy per configured region;
    ``max_instances`` defaults to the GPU revision's wanted max."""
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

    def policy(
        name: str,
        conditions: Sequence[Any],
        severity: Any,
        *,
        key: str = "",
        text: str = docs,
        **extra: Any,
    ) -> AlertPolicy:
        labels = {"app": "cutout", "service": config.service, _KEY_LABEL: key or _slug(name)}
        return policy_t(
            display_name=f"{config.service}: {name}",
            documentation=policy_t.Documentation(content=text, mime_type="text/markdown"),
            user_labels=labels,
            conditions=list(conditions),
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
    promql = condition_t.PrometheusQueryLanguageCondition

    def quota_condition(region: str, quota_id: str) -> Any:
        return condition_t(
            display_name=f"{quota_id} at or above {quota_percent:g} % of its limit in {region}",
            condition_prometheus_query_language=promql(
                query=quota_query(region, quota_id, quota_percent),
                duration=seconds(_WINDOW_S),
                evaluation_interval=seconds(_QUOTA_EVALUATION_S),
                labels={"quota_id": quota_id},
                # the usage series exist only once something allocates in the region
                disable_metric_validation=True,
            ),
        )

    def quota_docs(region: str) -> str:
        return (
            f"Cloud Run quota in `{region}` (project `{config.project}`) is at or above "
            f"{quota_percent:g} % of its limit: the next deploy may fall back to fewer GPUs, "
            f"another region or the CPU. See `cutout deploy status --config "
            f"cutout-deploy.toml --check-quota {quota_percent:g}` and `cutout deploy plan`; "
            f"ask for more with `cutout deploy quota request --region {region} ...`. "
            f"Runbook: docs/deploy-operations.md."
        )

    quota_policies = [
        policy(
            f"quota usage {region}",
            [quota_condition(region, quota_id) for quota_id in ALERTED_QUOTAS],
            policy_t.Severity.WARNING,
            key=f"quota-{region}",
            text=quota_docs(region),
        )
        for region in config.regions
    ]
    return [
        policy("5xx ratio", [error_ratio], policy_t.Severity.ERROR),
        policy("p95 latency", [latency], policy_t.Severity.WARNING),
        policy("instances at max", [at_max], policy_t.Severity.WARNING),
        policy(
            "revision not ready",
            [not_ready],
            policy_t.Severity.ERROR,
            # log-match conditions require a notification rate limit
            alert_strategy=policy_t.AlertStrategy(
                notification_rate_limit=policy_t.AlertStrategy.NotificationRateLimit(
                    period=seconds(_WINDOW_S)
                ),
                auto_close=seconds(1800),
            ),
        ),
        *quota_policies,
    ]


def _slug(name: str) -> str:
    """``p95 latency`` -> ``p95-latency`` (user label values: lowercase, digits, - and _)."""
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def policy_json(policy: AlertPolicy) -> dict[str, Any]:
    """The policy as the Monitoring REST API spells it (camelCase, enum names)."""
    from google.cloud import monitoring_v3

    document: dict[str, Any] = json.loads(
        monitoring_v3.AlertPolicy.to_json(policy, use_integers_for_enums=False)
    )
    return document
