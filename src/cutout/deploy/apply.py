"""``cutout deploy apply``: ship the plan as a new revision, prove it, then move traffic.

For each candidate in order (the plan's chosen one, then its usable fallbacks):

1. create or update the service with a NEW named revision tagged ``candidate`` at 0 %
   traffic; what serves now keeps its traffic (LATEST is pinned to its revision);
2. a quota refusal (at admission, or at provisioning with "Quota exceeded for total
   allowable count of GPUs per project per region") -> the next candidate;
3. wait until ready (rules in :mod:`cutout.deploy.rollout`); a GPU revision that fails
   its startup probe -> the next candidate (it runs with ``CUTOUT_REQUIRE_GPU=1``, so a
   GPU it cannot use keeps ``/ready`` at 503 rather than serving from the CPU); a
   revision that fails for another reason (a container that does not start and listen,
   a CPU revision that never gets ready) stops the apply: the next candidate runs the
   same code, and traffic has not moved;
4. smoke-test the tag URL (:mod:`cutout.deploy.verify`); a failure stops the apply with
   traffic where it was, and the report says which check failed;
5. move traffic: all at once, or through ``gradual`` steps (e.g. 10, 50) with the tag URL
   re-checked at each; then re-check the service URL. A failed re-check puts the old
   traffic back.

``url_for`` maps a Cloud Run URL to one this machine can reach (identity in production;
tests map the fake's ``*.run.app`` URLs to a real ``cutout serve`` on loopback).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cutout.deploy.config import DeployConfig
from cutout.deploy.errors import (
    DeployTimeoutError,
    GcpApiError,
    QuotaExceededError,
    ResourceNotFoundError,
    RevisionNotReadyError,
)
from cutout.deploy.gcp import GcpClients, location_name, service_name
from cutout.deploy.rollout import (
    TrafficLine,
    run_update,
    set_traffic,
    traffic_lines,
    wait_ready,
)
from cutout.deploy.service_spec import (
    CANDIDATE_TAG,
    build_service,
    keep_serving_traffic,
    new_revision_name,
    split_traffic,
    traffic_to,
)
from cutout.deploy.types import Candidate
from cutout.deploy.verify import SmokeExpectation, SmokeReport, smoke_test

__all__ = [
    "STARTUP_PROBE_FAILED",
    "ApplyOptions",
    "ApplyReport",
    "Attempt",
    "apply",
    "describe_request",
    "existing_service",
    "expectation",
]

Outcome = Literal[
    "quota", "gpu-probe-failed", "not-ready", "smoke-failed", "recheck-failed", "served"
]
# the outcomes after which the next candidate is tried
_TRY_NEXT: frozenset[Outcome] = frozenset({"quota", "gpu-probe-failed"})
# Cloud Run's reason for a revision whose startup probe never passed (as the Terraform
# provider's acceptance tests match it: "Revision '...' is not ready and cannot serve
# traffic. The user-provided container failed the configured startup probe checks.")
STARTUP_PROBE_FAILED = "failed the configured startup probe checks"


@dataclass(frozen=True)
class Attempt:
    candidate: Candidate
    revision: str
    outcome: Outcome
    detail: str
    smoke: SmokeReport | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.to_json(),
            "revision": self.revision,
            "outcome": self.outcome,
            "detail": self.detail,
            "smoke": None if self.smoke is None else self.smoke.to_json(),
        }


@dataclass(frozen=True)
class ApplyReport:
    service: str
    attempts: tuple[Attempt, ...]
    traffic: tuple[TrafficLine, ...]

    @property
    def ok(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].outcome == "served"

    @property
    def serving(self) -> Attempt | None:
        return self.attempts[-1] if self.ok else None

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "ok": self.ok,
            "attempts": [a.to_json() for a in self.attempts],
            "traffic": [t.to_json() for t in self.traffic],
        }

    def lines(self) -> list[str]:
        out = [f"service {self.service}"]
        for attempt in self.attempts:
            c = attempt.candidate
            zonal = "" if c.kind == "cpu" else (" zonal" if c.gpu_zonal_redundancy else " no-zonal")
            out.append(
                f"  {attempt.outcome:<14} {c.kind}{zonal} {c.region} max {c.max_instances} "
                f"{c.model} -> {attempt.revision}: {attempt.detail}"
            )
        out.append(
            "traffic now: "
            + (
                ", ".join(
                    f"{t.revision} {t.percent}%" + (f" tag {t.tag}" if t.tag else "")
                    for t in self.traffic
                )
                or "none"
            )
        )
        return out


def _identity(url: str) -> str:
    return url


@dataclass(frozen=True)
class ApplyOptions:
    image: bytes  # the real image the smoke test removes
    gradual: tuple[int, ...] = ()  # traffic percentages before 100, e.g. (10, 50)
    ready_timeout_s: float = 900.0
    poll_s: float = 2.0
    api_key: str | None = None
    url_for: Callable[[str], str] = field(default=_identity)
    expect: Callable[[Candidate], SmokeExpectation] | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def expectation(config: DeployConfig, candidate: Candidate) -> SmokeExpectation:
    """What /model-info and the latency must show for ``candidate``."""
    device = "cuda" if candidate.kind == "gpu" else "cpu"
    return SmokeExpectation(candidate.model, device, float(config.latency_target_ms))


def describe_request(
    config: DeployConfig, candidate: Candidate, existing: Any | None, revision: str
) -> dict[str, Any]:
    """The exact request apply sends for ``candidate`` (method, path, query, JSON body)."""
    from google.cloud import run_v2
    from google.protobuf import json_format

    service = build_service(config, candidate, revision, existing)
    body = json_format.MessageToDict(run_v2.Service.pb(service), use_integers_for_enums=True)
    region = candidate.region
    if existing is None:
        return {
            "method": "POST",
            "path": f"/v2/{location_name(config.project, region)}/services",
            "query": {"serviceId": config.service},
            "body": body,
        }
    return {"method": "PATCH", "path": f"/v2/{existing.name}", "query": {}, "body": body}


def _get_existing(clients: GcpClients, name: str) -> Any | None:
    try:
        return clients.call(f"read {name}", clients.services.get_service, name=name)
    except ResourceNotFoundError:
        return None


def existing_service(clients: GcpClients, config: DeployConfig, region: str) -> Any | None:
    """The service as it is now in ``region``, or None if it does not exist yet."""
    return _get_existing(clients, service_name(config.project, region, config.service))


def _tag_uri(service: Any, revision: str) -> str:
    for status in service.traffic_statuses:
        if status.tag == CANDIDATE_TAG and status.revision == revision and status.uri:
            return str(status.uri)
    raise GcpApiError(f"{service.name}: no URL for tag {CANDIDATE_TAG!r} on {revision}")


class _Run:
    def __init__(self, clients: GcpClients, config: DeployConfig, options: ApplyOptions) -> None:
        self.clients = clients
        self.config = config
        self.options = options

    def smoke(self, url: str, candidate: Candidate) -> SmokeReport:
        expect = (self.options.expect or (lambda c: expectation(self.config, c)))(candidate)
        return smoke_test(
            self.options.url_for(url), expect, self.options.image, api_key=self.options.api_key
        )

    def deploy(self, candidate: Candidate, number: int) -> tuple[Attempt, Any]:
        """One candidate up to a ready, smoke-tested, tagged revision (no traffic moved)."""
        name = service_name(self.config.project, candidate.region, self.config.service)
        revision = new_revision_name(self.config.service, candidate, number, self.options.now())
        full = f"{name}/revisions/{revision}"
        existing = _get_existing(self.clients, name)
        body = build_service(self.config, candidate, revision, existing)
        action = f"deploy {revision} to {name}"
        try:
            run_update(
                self.clients,
                body,
                action,
                create_in=None
                if existing
                else location_name(self.config.project, candidate.region),
                service_id=self.config.service,
                timeout_s=self.options.ready_timeout_s,
            )
            service = wait_ready(
                self.clients,
                name,
                revision=full,
                timeout_s=self.options.ready_timeout_s,
                poll_s=self.options.poll_s,
            )
        except QuotaExceededError as exc:
            return Attempt(candidate, revision, "quota", exc.message), existing
        except RevisionNotReadyError as exc:
            if candidate.kind == "gpu" and STARTUP_PROBE_FAILED in exc.message:
                detail = (
                    f"{exc.message} (a GPU it cannot use keeps /ready at 503 with "
                    f"CUTOUT_REQUIRE_GPU=1; the revision's logs say why); next candidate"
                )
                return Attempt(candidate, revision, "gpu-probe-failed", detail), existing
            return Attempt(candidate, revision, "not-ready", exc.message), existing
        except DeployTimeoutError as exc:
            return Attempt(candidate, revision, "not-ready", exc.message), existing
        report = self.smoke(_tag_uri(service, revision), candidate)
        if not report.ok:
            return Attempt(
                candidate,
                revision,
                "smoke-failed",
                f"smoke test failed at {report.reason}; traffic not moved",
                report,
            ), existing
        return Attempt(candidate, revision, "served", "smoke test passed", report), existing

    def promote(self, attempt: Attempt, before: Any | None) -> Attempt:
        name = service_name(self.config.project, attempt.candidate.region, self.config.service)
        old = keep_serving_traffic(before) if before is not None else []
        steps = [p for p in self.options.gradual if 0 < p < 100] if old else []
        for percent in [*steps, 100]:
            targets = (
                traffic_to(attempt.revision)
                if percent == 100
                else split_traffic(old, attempt.revision, percent, tag=CANDIDATE_TAG)
            )
            service = set_traffic(
                self.clients,
                name,
                targets,
                timeout_s=self.options.ready_timeout_s,
                poll_s=self.options.poll_s,
                served=attempt.revision if percent == 100 else None,
            )
            url = service.uri if percent == 100 else _tag_uri(service, attempt.revision)
            report = self.smoke(url, attempt.candidate)
            if not report.ok:
                if old:
                    set_traffic(
                        self.clients,
                        name,
                        old,
                        timeout_s=self.options.ready_timeout_s,
                        poll_s=self.options.poll_s,
                        forget=attempt.revision,  # never a rollback target
                    )
                where = "previous traffic restored" if old else "nothing to restore"
                return Attempt(
                    attempt.candidate,
                    attempt.revision,
                    "recheck-failed",
                    f"re-check at {percent}% failed at {report.reason}; {where}",
                    report,
                )
        detail = "smoke test passed; 100% traffic" + (
            f" after steps {', '.join(f'{p}%' for p in steps)}" if steps else ""
        )
        return Attempt(attempt.candidate, attempt.revision, "served", detail, report)


def apply(
    clients: GcpClients,
    config: DeployConfig,
    candidates: Sequence[Candidate],
    options: ApplyOptions,
) -> ApplyReport:
    """Try ``candidates`` in order until one serves; see the module docstring."""
    run = _Run(clients, config, options)
    attempts: list[Attempt] = []
    region = candidates[0].region if candidates else config.regions[0]
    for number, candidate in enumerate(candidates, start=1):
        region = candidate.region
        attempt, before = run.deploy(candidate, number)
        if attempt.outcome == "served":
            attempt = run.promote(attempt, before)
        attempts.append(attempt)
        if attempt.outcome not in _TRY_NEXT:
            break
    name = service_name(config.project, region, config.service)
    existing = _get_existing(clients, name)
    traffic = traffic_lines(existing) if existing is not None else ()
    return ApplyReport(name, tuple(attempts), traffic)
