"""A faithful local fake of the Cloud Run Admin API v2 and the Cloud Quotas API v1.

A real HTTP server on loopback that Google's own Python clients talk to::

    with FakeGcp() as fake:
        fake.quotas.set_limit("NvidiaL4GpuAllocPerProjectRegion", "us-central1", 0)
        client = run_v2.ServicesClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": fake.endpoint},
        )

It serves the REST paths of the generated clients (``/v2/{parent=projects/*/locations/*}
/services``, ``.../jobs``, ``.../jobs/*:run``, ``.../jobs/*/executions``, ``.../executions/*
/tasks``, ``/v2/{name=projects/*/locations/*/operations/*}``, ``/v1/{parent=projects/*/
locations/*/services/*}/quotaInfos``, ``/v1/{parent=projects/*/locations/*}/
quotaPreferences`` ...), parses request bodies with the real protobuf messages (an
unknown field is a 400, as on Google's side) and answers in the REST JSON encoding:
lowerCamel field names, int64 as strings, enums as integers when the client sends
``$alt=json;enum-encoding=int`` (the Python clients always do). Errors are
``{"error": {"code", "message", "status", "details"}}`` as Google's JSON errors.

Every request is recorded in :attr:`FakeGcp.requests` so tests can assert the exact
requests a command sent. The rules of each API live in :mod:`tests.fakes.cloudrun` and
:mod:`tests.fakes.cloudquotas`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.cloud import cloudquotas_v1, run_v2
from google.protobuf import json_format

from tests.fakes.cloudquotas import FakeCloudQuotas
from tests.fakes.cloudrun import ApiError, FakeCloudRun
from tests.fakes.loopback import LoopbackServer

__all__ = ["FakeGcp", "RecordedRequest"]

_SEG = r"[^/:?]+"
_LOC = rf"projects/{_SEG}/locations/{_SEG}"
_JOB = rf"{_LOC}/jobs/{_SEG}"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None


def _snake(path: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), path)


class FakeGcp(LoopbackServer):
    """Both fake APIs behind one loopback HTTP server (``endpoint`` = ``http://127.0.0.1:P``)."""

    def __init__(
        self,
        project: str = "shop-prod",
        project_number: str = "123456789012",
        *,
        settle_after: int = 1,
    ) -> None:
        self.project = project
        self.project_number = project_number
        self.quotas = FakeCloudQuotas(project, project_number)
        self.run = FakeCloudRun(
            project, project_number, self.quotas.limit, settle_after=settle_after
        )
        self.requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []  # internal errors of the fake itself
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            ("GET", re.compile(rf"/v2/({_LOC})/services"), self._list_services),
            ("POST", re.compile(rf"/v2/({_LOC})/services"), self._create_service),
            ("GET", re.compile(rf"/v2/({_LOC}/services/{_SEG})"), self._get_service),
            ("PATCH", re.compile(rf"/v2/({_LOC}/services/{_SEG})"), self._update_service),
            ("DELETE", re.compile(rf"/v2/({_LOC}/services/{_SEG})"), self._delete_service),
            ("GET", re.compile(rf"/v2/({_LOC}/services/{_SEG})/revisions"), self._list_revisions),
            (
                "GET",
                re.compile(rf"/v2/({_LOC}/services/{_SEG}/revisions/{_SEG})"),
                self._get_revision,
            ),
            (
                "DELETE",
                re.compile(rf"/v2/({_LOC}/services/{_SEG}/revisions/{_SEG})"),
                self._delete_revision,
            ),
            ("GET", re.compile(rf"/v2/({_LOC}/operations/{_SEG})"), self._get_operation),
            ("GET", re.compile(rf"/v2/({_LOC})/jobs"), self._list_jobs),
            ("POST", re.compile(rf"/v2/({_LOC})/jobs"), self._create_job),
            ("GET", re.compile(rf"/v2/({_LOC}/jobs/{_SEG})"), self._get_job),
            ("PATCH", re.compile(rf"/v2/({_LOC}/jobs/{_SEG})"), self._update_job),
            ("DELETE", re.compile(rf"/v2/({_LOC}/jobs/{_SEG})"), self._delete_job),
            ("POST", re.compile(rf"/v2/({_LOC}/jobs/{_SEG}):run"), self._run_job),
            ("GET", re.compile(rf"/v2/({_JOB})/executions"), self._list_executions),
            ("GET", re.compile(rf"/v2/({_JOB}/executions/{_SEG})"), self._get_execution),
            ("DELETE", re.compile(rf"/v2/({_JOB}/executions/{_SEG})"), self._delete_execution),
            (
                "POST",
                re.compile(rf"/v2/({_JOB}/executions/{_SEG}):cancel"),
                self._cancel_execution,
            ),
            ("GET", re.compile(rf"/v2/({_JOB}/executions/{_SEG})/tasks"), self._list_tasks),
            (
                "GET",
                re.compile(rf"/v2/({_JOB}/executions/{_SEG}/tasks/{_SEG})"),
                self._get_task,
            ),
            (
                "GET",
                re.compile(rf"/v1/({_LOC}/services/{_SEG})/quotaInfos"),
                self._list_quota_infos,
            ),
            (
                "GET",
                re.compile(rf"/v1/({_LOC}/services/{_SEG}/quotaInfos/{_SEG})"),
                self._get_quota_info,
            ),
            (
                "POST",
                re.compile(rf"/v1/({_LOC})/quotaPreferences"),
                self._create_quota_preference,
            ),
        ]

    def seed_from_snapshot(self, folder: Path) -> None:
        """Load a ``cutout deploy snapshot`` folder: quota limits and the services listed.

        A region-less ``dimensionsInfos`` entry becomes the default limit; a negative
        value (unlimited) a very large one. Each service's latest ready revision is created
        from its template so traffic can point at it.
        """
        document = json.loads((folder / "quotaInfos.json").read_text(encoding="utf-8"))
        for info in document.get("quotaInfos", []):
            quota_id = info["quotaId"]
            for entry in info.get("dimensionsInfos", []):
                value = int(entry.get("details", {}).get("value", 0))
                value = value if value >= 0 else 10**18
                region = entry.get("dimensions", {}).get("region")
                if region:
                    self.quotas.limits[(quota_id, region)] = value
                else:
                    self.quotas.defaults[quota_id] = value
        for path in sorted(folder.glob("services-*.json")):
            listed = json.loads(path.read_text(encoding="utf-8")).get("services", [])
            for item in listed:
                service = run_v2.Service.pb()()
                json_format.ParseDict(item, service, ignore_unknown_fields=True)
                self._seed_service(service)

    def _seed_service(self, service: Any) -> None:
        short = service.latest_ready_revision.rsplit("/", 1)[-1]
        full = f"{service.name}/revisions/{short}"
        service.latest_ready_revision = service.latest_created_revision = full
        self.run.services[service.name] = service
        revision = self.run.revision_from_template(service, full)
        revision.reconciling = False
        del revision.conditions[:]
        revision.conditions.add(type_="Ready", state=4)
        revision.create_time.CopyFrom(service.update_time)
        self.run.revisions[full] = revision

    def requests_to(self, method: str, path_contains: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    # HTTP plumbing ---------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body: dict[str, Any] | None = json.loads(raw) if raw else None
        self.requests.append(RecordedRequest(method, url.path, query, body))
        int_enums = "enum-encoding=int" in query.get("$alt", "")
        status, payload = 200, None
        try:
            for route_method, pattern, function in self._routes:
                match = pattern.fullmatch(url.path)
                if route_method == method and match:
                    self.run.tick()
                    payload = function(match.group(1), query, raw)
                    break
            else:
                raise ApiError(404, "NOT_FOUND", f"No route for {method} {url.path}")
        except ApiError as error:
            status, payload = error.http_status, error.to_json()
        except json_format.ParseError as error:
            status = 400
            payload = ApiError(400, "INVALID_ARGUMENT", f"Invalid JSON payload: {error}").to_json()
        except Exception as error:  # a bug in the fake: answer 500 so the test fails loudly
            status = 500
            payload = ApiError(500, "INTERNAL", f"fake bug: {error!r}").to_json()
            self.errors.append(error)
        if not isinstance(payload, dict):
            payload = json_format.MessageToDict(payload, use_integers_for_enums=int_enums)
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _parse(raw: bytes, message_type: Any) -> Any:
        message = message_type()
        json_format.Parse(raw or b"{}", message)
        return message

    @staticmethod
    def _page(items: list[Any], query: dict[str, str], field: str) -> dict[str, Any]:
        size = int(query.get("pageSize") or 100)
        start = int(query.get("pageToken") or 0)
        chunk = items[start : start + size]
        result: dict[str, Any] = {
            field: [json_format.MessageToDict(i, use_integers_for_enums=True) for i in chunk]
        }
        if start + size < len(items):
            result["nextPageToken"] = str(start + size)
        return result

    @staticmethod
    def _flag(query: dict[str, str], name: str) -> bool:
        return query.get(name, "false").lower() == "true"

    # Cloud Run v2 ----------------------------------------------------------------------
    def _list_services(self, parent: str, query: dict[str, str], raw: bytes) -> Any:
        return self._page(self.run.list_services(parent), query, "services")

    def _create_service(self, parent: str, query: dict[str, str], raw: bytes) -> Any:
        body = self._parse(raw, run_v2.Service.pb())
        return self.run.create_service(
            parent, query.get("serviceId", ""), body, self._flag(query, "validateOnly")
        )

    def _get_service(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.get_service(name)

    def _update_service(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        body = self._parse(raw, run_v2.Service.pb())
        if body.name and body.name != name:
            raise ApiError(400, "INVALID_ARGUMENT", "service.name does not match the URL.")
        body.name = name
        mask = [_snake(p) for p in query.get("updateMask", "").split(",") if p]
        return self.run.update_service(
            body, mask, self._flag(query, "validateOnly"), self._flag(query, "allowMissing")
        )

    def _delete_service(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.delete_service(name)

    def _list_revisions(self, parent: str, query: dict[str, str], raw: bytes) -> Any:
        return self._page(self.run.list_revisions(parent), query, "revisions")

    def _get_revision(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.get_revision(name)

    def _delete_revision(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.delete_revision(name)

    def _get_operation(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.get_operation(name)

    # Cloud Run v2 jobs ----------------------------------------------------------------
    def _list_jobs(self, parent: str, query: dict[str, str], raw: bytes) -> Any:
        return self._page(self.run.list_jobs(parent), query, "jobs")

    def _create_job(self, parent: str, query: dict[str, str], raw: bytes) -> Any:
        body = self._parse(raw, run_v2.Job.pb())
        return self.run.create_job(
            parent, query.get("jobId", ""), body, self._flag(query, "validateOnly")
        )

    def _get_job(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.get_job(name)

    def _update_job(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        body = self._parse(raw, run_v2.Job.pb())
        if body.name and body.name != name:
            raise ApiError(400, "INVALID_ARGUMENT", "job.name does not match the URL.")
        body.name = name
        return self.run.update_job(
            body, self._flag(query, "validateOnly"), self._flag(query, "allowMissing")
        )

    def _delete_job(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.delete_job(name, query.get("etag", ""))

    def _run_job(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.run_job(name, self._parse(raw, run_v2.RunJobRequest.pb()))

    def _list_executions(self, parent: str, query: dict[str, str], raw: bytes) -> Any:
        return self._page(self.run.list_executions(parent), query, "executions")

    def _get_execution(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.get_execution(name)

    def _delete_execution(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.delete_execution(name)

    def _cancel_execution(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.cancel_execution(name)

    def _list_tasks(self, parent: str, query: dict[str, str], raw: bytes) -> Any:
        return self._page(self.run.list_tasks(parent), query, "tasks")

    def _get_task(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.run.get_task(name)

    # Cloud Quotas v1 -------------------------------------------------------------------
    def _list_quota_infos(self, parent: str, query: dict[str, str], raw: bytes) -> Any:
        return self._page(self.quotas.list_quota_infos(parent), query, "quotaInfos")

    def _get_quota_info(self, name: str, query: dict[str, str], raw: bytes) -> Any:
        return self.quotas.get_quota_info(name)

    def _create_quota_preference(self, parent: str, query: dict[str, str], raw: bytes) -> Any:
        body = self._parse(raw, cloudquotas_v1.QuotaPreference.pb())
        return self.quotas.create_quota_preference(parent, query.get("quotaPreferenceId", ""), body)
