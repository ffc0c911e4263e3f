"""A local fake of Cloud Monitoring's ``AlertPolicyService`` (gRPC, as the real client speaks).

Requests and responses go through the real protobuf messages on a loopback gRPC server::

    with FakeMonitoring("petshop-prod") as fake:
        upsert_policies("petshop-prod", policies, endpoint=fake.endpoint)
        fake.policies  # name -> AlertPolicy, as stored

Rules modelled (from the ``google.monitoring.v3`` protos and the API reference):

- ``CreateAlertPolicy``: the server names the policy (``projects/P/alertPolicies/ID``)
  and each condition (``.../conditions/ID``); ``ListAlertPolicies`` pages with
  ``next_page_token`` (``page_size`` here forces small pages); ``UpdateAlertPolicy``
  without an ``update_mask`` replaces the whole policy, keeps its name, names new
  conditions, and answers NOT_FOUND for a name that does not exist;
- a PromQL condition's ``evaluation_interval`` must be a positive multiple of 30 s and its
  ``duration`` not negative;
- metric validation: a PromQL condition that does not set ``disable_metric_validation``
  is refused (INVALID_ARGUMENT) when a metric it reads has no data yet (the metrics with
  data are :attr:`FakeMonitoring.known_metrics`, empty by default). The wording of that
  error is a guess;
- ``denied``: every call answers PERMISSION_DENIED, as for a caller without the role.
"""

from __future__ import annotations

import itertools
import re
import threading
from concurrent import futures
from types import TracebackType
from typing import Any

import grpc
from google.cloud import monitoring_v3

__all__ = ["FakeMonitoring"]

_SERVICE = "google.monitoring.v3.AlertPolicyService"
# a PromQL metric name as Cloud Monitoring maps them: domain_with_underscores:metric_path
_PROMQL_METRIC = re.compile(r"\b([a-z0-9_]+_googleapis_com:[a-z0-9_]+)\b")


class FakeMonitoring:
    def __init__(self, project: str) -> None:
        self.project = project
        self.policies: dict[str, monitoring_v3.AlertPolicy] = {}
        self.calls: list[str] = []
        self.denied = False
        self.page_size = 1000
        self.known_metrics: set[str] = set()
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        unary = grpc.unary_unary_rpc_method_handler
        handler = grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "CreateAlertPolicy": unary(
                    self._create,
                    request_deserializer=monitoring_v3.CreateAlertPolicyRequest.deserialize,
                    response_serializer=monitoring_v3.AlertPolicy.serialize,
                ),
                "ListAlertPolicies": unary(
                    self._list,
                    request_deserializer=monitoring_v3.ListAlertPoliciesRequest.deserialize,
                    response_serializer=monitoring_v3.ListAlertPoliciesResponse.serialize,
                ),
                "UpdateAlertPolicy": unary(
                    self._update,
                    request_deserializer=monitoring_v3.UpdateAlertPolicyRequest.deserialize,
                    response_serializer=monitoring_v3.AlertPolicy.serialize,
                ),
            },
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeMonitoring:
        self.server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.server.stop(grace=None)

    def seed(self, policy: monitoring_v3.AlertPolicy) -> str:
        """Store a policy as if created earlier (e.g. by an older cutout); its name."""
        with self._lock:
            stored = self._named(monitoring_v3.AlertPolicy(policy))
            self.policies[stored.name] = stored
            return stored.name

    # -- handlers ----------------------------------------------------------------------
    def _begin(self, method: str, parent: str, context: grpc.ServicerContext) -> None:
        self.calls.append(method)
        if self.denied:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission monitoring.alertPolicies.{method} denied (or it may not exist).",
            )
        if parent != f"projects/{self.project}":
            context.abort(grpc.StatusCode.NOT_FOUND, f"Project {parent} not found.")

    def _create(
        self, request: monitoring_v3.CreateAlertPolicyRequest, context: grpc.ServicerContext
    ) -> monitoring_v3.AlertPolicy:
        self._begin("create", request.name, context)
        policy = monitoring_v3.AlertPolicy(request.alert_policy)
        if policy.name:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Field name must be empty.")
        self._validate(policy, context)
        with self._lock:
            stored = self._named(policy)
            self.policies[stored.name] = stored
            return monitoring_v3.AlertPolicy(stored)

    def _list(
        self, request: monitoring_v3.ListAlertPoliciesRequest, context: grpc.ServicerContext
    ) -> monitoring_v3.ListAlertPoliciesResponse:
        self._begin("list", request.name, context)
        with self._lock:
            names = sorted(self.policies)
            start = int(request.page_token or 0)
            size = min(request.page_size or self.page_size, self.page_size)
            page = [
                monitoring_v3.AlertPolicy(self.policies[n]) for n in names[start : start + size]
            ]
        more = start + size < len(names)
        return monitoring_v3.ListAlertPoliciesResponse(
            alert_policies=page,
            next_page_token=str(start + size) if more else "",
            total_size=len(names),
        )

    def _update(
        self, request: monitoring_v3.UpdateAlertPolicyRequest, context: grpc.ServicerContext
    ) -> monitoring_v3.AlertPolicy:
        policy = monitoring_v3.AlertPolicy(request.alert_policy)
        self._begin("update", policy.name.split("/alertPolicies/")[0], context)
        if request.update_mask.paths:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "the fake replaces whole policies only")
        self._validate(policy, context)
        with self._lock:
            if policy.name not in self.policies:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Alert policy {policy.name} not found.")
            stored = self._named(policy)
            self.policies[stored.name] = stored
            return monitoring_v3.AlertPolicy(stored)

    # -- rules -------------------------------------------------------------------------
    def _named(self, policy: monitoring_v3.AlertPolicy) -> monitoring_v3.AlertPolicy:
        if not policy.name:
            policy.name = f"projects/{self.project}/alertPolicies/{next(self._ids)}"
        for condition in policy.conditions:
            if not condition.name:
                condition.name = f"{policy.name}/conditions/{next(self._ids)}"
        return policy

    def _validate(self, policy: monitoring_v3.AlertPolicy, context: grpc.ServicerContext) -> None:
        for condition in policy.conditions:
            if "condition_prometheus_query_language" not in condition:
                continue
            promql: Any = condition.condition_prometheus_query_language
            interval = promql.evaluation_interval.total_seconds()
            if interval and (interval <= 0 or interval % 30):
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "evaluation_interval must be a positive multiple of 30s.",
                )
            if promql.duration.total_seconds() < 0:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "duration must not be negative.")
            if promql.disable_metric_validation:
                continue
            missing = sorted(set(_PROMQL_METRIC.findall(promql.query)) - self.known_metrics)
            if missing:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Condition '{condition.display_name}': no data for metric {missing[0]}; "
                    "set disable_metric_validation to create it anyway.",
                )
