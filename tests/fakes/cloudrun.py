"""State and rules of the fake Cloud Run Admin API v2 (served by :mod:`tests.fakes.gcp`).

Resources are kept as the real protobuf messages (``run_v2.Service.pb()`` etc.), so the
JSON that goes over the wire has exactly the API's field names and types. What the fake
models, and where each rule comes from (../shared/facts/cloud-run-gpu.md unless marked):

- create/update return a long-running operation; the rollout settles after
  ``settle_after`` reads of the operation, service or revisions (a deterministic clock);
- every template change makes a new revision ``SERVICE-NNNNN-xyz``; ready when
  ``reconciling`` is false, ``terminal_condition.state == CONDITION_SUCCEEDED``,
  ``observed_generation == generation`` and ``latest_ready_revision ==
  latest_created_revision``; on failure ``latest_ready_revision`` stays where it was;
- admission (:mod:`tests.fakes.run_admission`) counts max instances x per-instance GPU,
  CPU and memory of every service in the region (the updated service counts only its
  new template) against the ``run.googleapis.com`` quotas and rejects with the
  server's texts;
- scripted failures: ``fail_next_revision(message)`` makes the next revision fail to
  become ready (e.g. the provisioning-time "Quota exceeded for total allowable count of
  GPUs per project per region.");
- Jobs, Executions and Tasks: :mod:`tests.fakes.cloudrun_jobs` (unfinished executions
  count in the services' admission too).

Not verified against Google (documented guesses): the text for deleting a revision that
has traffic, and the operation error code of a failed revision (FAILED_PRECONDITION).
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2, json_format
from google.rpc import code_pb2

from tests.fakes.cloudrun_jobs import JobsApi, JobsState
from tests.fakes.run_admission import (
    CPU_QUOTA,
    GPU_NO_ZR_QUOTA,
    GPU_ZR_QUOTA,
    L4_REGIONS,
    MAX_SCALE_FIELD,
    MEM_QUOTA,
    ApiError,
    Usage,
    add_usage,
    admit,
    validate_template,
)

__all__ = [
    "CPU_QUOTA",
    "GPU_NO_ZR_QUOTA",
    "GPU_ZR_QUOTA",
    "L4_REGIONS",
    "MAX_SCALE_FIELD",
    "MEM_QUOTA",
    "ApiError",
    "FakeCloudRun",
]

_READ_ONLY = [
    "uid",
    "generation",
    "create_time",
    "update_time",
    "delete_time",
    "creator",
    "last_modifier",
    "uri",
    "urls",
    "observed_generation",
    "terminal_condition",
    "conditions",
    "latest_ready_revision",
    "latest_created_revision",
    "traffic_statuses",
    "reconciling",
    "etag",
]

Service = run_v2.Service.pb()
Revision = run_v2.Revision.pb()
Condition = run_v2.Condition.pb()
SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED.value
FAILED = run_v2.Condition.State.CONDITION_FAILED.value
RECONCILING = run_v2.Condition.State.CONDITION_RECONCILING.value
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST.value
REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION.value


def _not_found(what: str, name: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} '{name}' was not found.")


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


@dataclass
class _Rollout:
    operation: operations_pb2.Operation
    service_name: str
    revision_name: str | None
    reads_left: int
    fail_message: str | None


@dataclass
class FakeCloudRun(JobsApi):
    project: str
    project_number: str
    quota_limit: Callable[[str, str], int | None]
    settle_after: int = 1
    services: dict[str, object] = field(default_factory=dict)
    revisions: dict[str, object] = field(default_factory=dict)
    operations: dict[str, operations_pb2.Operation] = field(default_factory=dict)
    jobs: dict[str, object] = field(default_factory=dict)
    executions: dict[str, object] = field(default_factory=dict)
    tasks: dict[str, object] = field(default_factory=dict)
    jobs_state: JobsState = field(default_factory=JobsState)
    _rollouts: list[_Rollout] = field(default_factory=list)
    _fail_next: list[str] = field(default_factory=list)
    _suffixes: itertools.count[int] = field(default_factory=lambda: itertools.count(0))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # scripting -----------------------------------------------------------------------
    def fail_next_revision(self, message: str) -> None:
        """The next revision created fails to become ready with ``message``."""
        self._fail_next.append(message)

    def usage(self, region: str, *, excluding: str | None = None) -> Usage:
        usage = Usage()
        for name, service in self.services.items():
            if name == excluding or f"/locations/{region}/" not in name:
                continue
            add_usage(usage, service.template)
        self.execution_usage(usage, region)
        return usage

    # clock -----------------------------------------------------------------------------
    def tick(self) -> None:
        """One read of the API: rollouts in flight move one step towards done."""
        with self._lock:
            for rollout in list(self._rollouts):
                rollout.reads_left -= 1
                if rollout.reads_left <= 0:
                    self._rollouts.remove(rollout)
                    self._settle(rollout)
            self.advance_jobs()

    # services --------------------------------------------------------------------------
    def list_services(self, parent: str) -> list[object]:
        self._check_location(parent)
        prefix = parent + "/services/"
        return [s for n, s in sorted(self.services.items()) if n.startswith(prefix)]

    def get_service(self, name: str) -> object:
        service = self.services.get(name)
        if service is None:
            raise _not_found("Resource", name)
        return service

    def create_service(
        self, parent: str, service_id: str, body: object, validate_only: bool
    ) -> operations_pb2.Operation:
        with self._lock:
            self._check_location(parent)
            if not service_id:
                raise _invalid("service_id must be set.")
            name = f"{parent}/services/{service_id}"
            if name in self.services:
                raise ApiError(409, "ALREADY_EXISTS", f"Resource '{service_id}' already exists.")
            if body.name:
                raise _invalid("service.name must be empty; use service_id.")
            service = Service()
            service.CopyFrom(body)
            service.name = name
            service.uid = str(uuid.uuid4())
            service.create_time.FromDatetime(datetime.now(UTC))
            service.creator = "fake@example.com"
            region = parent.split("/")[3]
            host = f"{service_id}-{self.project_number}.{region}.run.app"
            service.uri = f"https://{host}"
            service.urls.append(f"https://{host}")
            if not service.traffic:
                service.traffic.add(type_=LATEST, percent=100)
            return self._admit_and_roll(service, previous=None, validate_only=validate_only)

    def update_service(
        self,
        body: object,
        update_mask: list[str],
        validate_only: bool,
        allow_missing: bool,
    ) -> operations_pb2.Operation:
        with self._lock:
            name: str = body.name
            previous = self.services.get(name)
            if previous is None:
                if not allow_missing:
                    raise _not_found("Resource", name)
                parent, _, service_id = name.rpartition("/services/")
                copy_body = Service()
                copy_body.CopyFrom(body)
                copy_body.name = ""
                return self.create_service(parent, service_id, copy_body, validate_only)
            etag = body.etag
            if etag and etag != previous.etag:
                raise ApiError(409, "ABORTED", "Etag mismatch: the resource changed; re-read it.")
            service = Service()
            if update_mask:
                service.CopyFrom(previous)
                field_mask_pb2.FieldMask(paths=update_mask).MergeMessage(
                    body, service, replace_message_field=True, replace_repeated_field=True
                )
            else:
                service.CopyFrom(body)
            # output-only fields are the server's, whatever the client sent back
            field_mask_pb2.FieldMask(paths=_READ_ONLY).MergeMessage(
                previous, service, replace_message_field=True, replace_repeated_field=True
            )
            if not service.traffic:
                service.traffic.add(type_=LATEST, percent=100)
            return self._admit_and_roll(service, previous=previous, validate_only=validate_only)

    def delete_service(self, name: str) -> operations_pb2.Operation:
        with self._lock:
            service = self.services.pop(self.get_service(name).name)
            for rev in [r for r in self.revisions if r.startswith(name + "/revisions/")]:
                del self.revisions[rev]
            return self._finished_operation(name, service)

    # revisions -------------------------------------------------------------------------
    def list_revisions(self, parent: str) -> list[object]:
        self.get_service(parent)
        found = [r for n, r in self.revisions.items() if n.startswith(parent + "/revisions/")]
        # newest first, as the API lists them
        return sorted(found, key=lambda r: r.create_time.ToNanoseconds(), reverse=True)

    def get_revision(self, name: str) -> object:
        revision = self.revisions.get(name)
        if revision is None:
            raise _not_found("Revision", name)
        return revision

    def delete_revision(self, name: str) -> operations_pb2.Operation:
        with self._lock:
            revision = self.get_revision(name)
            service = self.services[revision.service]
            short = name.rsplit("/", 1)[-1]
            referenced = [
                t
                for t in service.traffic
                if t.revision == short
                or (t.type_ == LATEST and service.latest_ready_revision == name)
            ]
            if referenced or service.latest_created_revision == name:
                raise ApiError(
                    400,
                    "FAILED_PRECONDITION",
                    f"Revision {short} cannot be deleted because it is referenced by a traffic "
                    "target or is the latest revision of the service.",
                )
            del self.revisions[name]
            return self._finished_operation(name, revision)

    # operations ------------------------------------------------------------------------
    def get_operation(self, name: str) -> operations_pb2.Operation:
        operation = self.operations.get(name)
        if operation is None:
            raise _not_found("Operation", name)
        return operation

    # internals -------------------------------------------------------------------------
    def _check_location(self, parent: str) -> None:
        parts = parent.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != "locations":
            raise _invalid(f"Invalid parent: {parent}")
        if parts[1] not in (self.project, self.project_number):
            raise ApiError(403, "PERMISSION_DENIED", f"Permission denied on project {parts[1]}.")

    def _validate_traffic(self, service: object, new_revision: str | None) -> None:
        targets = service.traffic
        total = sum(t.percent for t in targets)
        if total != 100:
            raise _invalid(f"Traffic percentages must add up to 100, got {total}.")
        tags = [t.tag for t in targets if t.tag]
        if len(tags) != len(set(tags)):
            raise _invalid("Traffic tags must be unique.")
        prefix = service.name + "/revisions/"
        for target in targets:
            if target.type_ == REVISION:
                known = prefix + target.revision in self.revisions
                if not known and target.revision != new_revision:
                    raise _invalid(f"Revision '{target.revision}' does not exist.")

    def _admit_and_roll(
        self, service: object, *, previous: object | None, validate_only: bool
    ) -> operations_pb2.Operation:
        name: str = service.name
        region = name.split("/")[3]
        validate_template(service, region)
        changed = previous is None or previous.template != service.template
        new_short: str | None = None
        if changed:
            generation_next = (previous.generation if previous else 0) + 1
            new_short = service.template.revision or (
                f"{name.rsplit('/', 1)[-1]}-{generation_next:05d}-{self._suffix()}"
            )
            if f"{name}/revisions/{new_short}" in self.revisions:
                raise ApiError(
                    409,
                    "ALREADY_EXISTS",
                    f"Revision named '{new_short}' with different configuration already exists.",
                )
        self._validate_traffic(service, new_short)
        admit(service.template, region, self.usage(region, excluding=name), self.quota_limit)
        if validate_only:
            return self._finished_operation(name, service)
        service.generation = (previous.generation if previous else 0) + 1
        service.update_time.FromDatetime(datetime.now(UTC))
        service.last_modifier = "fake@example.com"
        service.etag = f'"{uuid.uuid4().hex[:12]}"'
        service.reconciling = True
        service.terminal_condition.CopyFrom(
            Condition(type_="Ready", state=RECONCILING, message="Deploying revision.")
        )
        revision_name = None
        if new_short is not None:
            revision_name = f"{name}/revisions/{new_short}"
            self.revisions[revision_name] = self.revision_from_template(service, revision_name)
            service.latest_created_revision = revision_name
        self.services[name] = service
        operation = operations_pb2.Operation(
            name=f"{name.split('/services/')[0]}/operations/{uuid.uuid4()}", done=False
        )
        operation.metadata.Pack(service)
        self.operations[operation.name] = operation
        fail = self._fail_next.pop(0) if (self._fail_next and revision_name) else None
        self._rollouts.append(_Rollout(operation, name, revision_name, self.settle_after, fail))
        return copy.deepcopy(operation)

    def revision_from_template(self, service: object, name: str) -> object:
        template = service.template
        revision = Revision(
            name=name,
            uid=str(uuid.uuid4()),
            generation=1,
            service=service.name,
            max_instance_request_concurrency=template.max_instance_request_concurrency,
            service_account=template.service_account,
            gpu_zonal_redundancy_disabled=template.gpu_zonal_redundancy_disabled,
            reconciling=True,
            log_uri=f"https://console.cloud.google.com/logs/viewer?project={self.project}",
            etag=f'"{uuid.uuid4().hex[:12]}"',
        )
        revision.create_time.FromDatetime(datetime.now(UTC))
        revision.labels.update(template.labels)
        revision.scaling.CopyFrom(template.scaling)
        revision.containers.extend(template.containers)
        revision.node_selector.CopyFrom(template.node_selector)
        if template.HasField("timeout"):
            revision.timeout.CopyFrom(template.timeout)
        revision.conditions.add(type_="Ready", state=RECONCILING)
        return revision

    def _settle(self, rollout: _Rollout) -> None:
        service = self.services.get(rollout.service_name)
        if service is None:
            return
        service.reconciling = False
        service.observed_generation = service.generation
        operation = rollout.operation
        operation.done = True
        del service.conditions[:]
        if rollout.revision_name is not None:
            revision = self.revisions[rollout.revision_name]
            revision.reconciling = False
            revision.observed_generation = 1
            del revision.conditions[:]
            short = rollout.revision_name.rsplit("/", 1)[-1]
            if rollout.fail_message is not None:
                message = (
                    f"Revision '{short}' is not ready and cannot serve traffic. "
                    f"{rollout.fail_message}"
                )
                revision.conditions.add(type_="Ready", state=FAILED, message=rollout.fail_message)
                service.terminal_condition.CopyFrom(
                    Condition(type_="Ready", state=FAILED, message=message)
                )
                operation.error.CopyFrom(_status(code_pb2.FAILED_PRECONDITION, message))
                self._route(service)
                operation.metadata.Pack(service)
                return
            revision.conditions.add(type_="Ready", state=SUCCEEDED)
            service.latest_ready_revision = rollout.revision_name
        service.conditions.add(type_="RoutesReady", state=SUCCEEDED)
        latest = service.latest_created_revision
        if latest and self._failed(latest):
            # as Knative: the configuration stays failed while its latest revision is,
            # even when a traffic-only change was routed fine
            message = (
                f"Revision '{latest.rsplit('/', 1)[-1]}' is not ready and cannot serve "
                f"traffic. {self.revisions[latest].conditions[0].message}"
            )
            service.conditions.add(type_="ConfigurationsReady", state=FAILED, message=message)
            service.terminal_condition.CopyFrom(
                Condition(type_="Ready", state=FAILED, message=message)
            )
        else:
            service.conditions.add(type_="ConfigurationsReady", state=SUCCEEDED)
            service.terminal_condition.CopyFrom(Condition(type_="Ready", state=SUCCEEDED))
        self._route(service)
        operation.metadata.Pack(service)
        operation.response.Pack(service)

    def _route(self, service: object) -> None:
        """Traffic statuses: what actually serves, with a URL for each tag."""
        del service.traffic_statuses[:]
        ready = service.latest_ready_revision.rsplit("/", 1)[-1]
        host = service.uri.removeprefix("https://")
        for target in service.traffic:
            revision = target.revision if target.type_ == REVISION else ready
            full = f"{service.name}/revisions/{revision}"
            if full not in self.revisions or self._failed(full):
                continue  # the previous routing keeps serving; nothing new to report
            # as Knative's status.traffic: LATEST is reported with the revision it resolved to
            status = service.traffic_statuses.add(
                type_=target.type_, revision=revision, percent=target.percent, tag=target.tag
            )
            if target.tag:
                status.uri = f"https://{target.tag}---{host}"

    def _failed(self, revision_name: str) -> bool:
        revision = self.revisions[revision_name]
        return any(c.type_ == "Ready" and c.state == FAILED for c in revision.conditions)

    def _finished_operation(self, name: str, resource: object) -> operations_pb2.Operation:
        location = "/".join(name.split("/")[:4])
        operation = operations_pb2.Operation(
            name=f"{location}/operations/{uuid.uuid4()}", done=True
        )
        operation.metadata.Pack(resource)
        operation.response.Pack(resource)
        self.operations[operation.name] = operation
        return operation

    def _suffix(self) -> str:
        number = next(self._suffixes)
        letters = "abcdefghijklmnopqrstuvwxyz"
        return "".join(letters[(number * 7 + i * 11) % 26] for i in range(3))


def _status(code: int, message: str) -> object:
    from google.rpc import status_pb2

    return status_pb2.Status(code=code, message=message)


def to_json(message: object) -> dict[str, object]:
    """The REST JSON of a message: lowerCamel names, integer enums, int64 as strings."""
    result: dict[str, object] = json_format.MessageToDict(
        message,
        use_integers_for_enums=True,
    )
    return result
