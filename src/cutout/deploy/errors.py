"""Errors of the live deploy tooling, and the one place Google's exceptions are read.

::

    DeployError (cutout.errors)
    ├── GcpApiError               any other Run / Quotas API failure (status + message)
    │   ├── ResourceNotFoundError the service, revision or quota is not there
    │   └── QuotaExceededError    admission or provisioning refused for quota
    ├── CredentialsError          no usable Application Default Credentials
    ├── RevisionNotReadyError     the new revision failed to become ready (not quota)
    ├── DeployTimeoutError        the rollout did not settle in time
    └── SmokeTestError            the tagged revision failed its smoke test

:func:`translate` turns a ``google.api_core`` exception into one of these, recognising
the server's quota texts::

    ...: You do not have quota for using GPUs with zonal redundancy. ...
         You could deploy using GPUs without zonal redundancy instead.
    ...: Max instances must be set to N or fewer to set the requested total CPU. ...
         Quota violated: CpuAllocPerProjectRegion requested: 60000 allowed: 20000
    Revision 'R' is not ready and cannot serve traffic. Quota exceeded for total
         allowable count of GPUs per project per region.

The first is the hint gcloud's ``run deploy`` looks for before it offers a retry without
zonal redundancy (Google Cloud SDK source). The second, at admission, is quoted in public
reports for CPU and memory (https://github.com/googlecodelabs/feedback/issues/1856,
https://github.com/googlecodelabs/feedback/issues/2311); the third, at provisioning, in
https://github.com/GoogleCloudPlatform/magic-modules/pull/17149.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cutout.errors import DeployError

__all__ = [
    "CredentialsError",
    "DeployTimeoutError",
    "GcpApiError",
    "QuotaExceededError",
    "QuotaViolation",
    "ResourceNotFoundError",
    "RevisionNotReadyError",
    "SmokeTestError",
    "parse_quota_violation",
    "translate",
]

ZONAL_HINT = "You could deploy using GPUs without zonal redundancy instead."
_NO_ZONAL_QUOTA_TEXT = "You do not have quota for using GPUs with zonal redundancy"
_PROVISIONING_TEXT = "Quota exceeded for total allowable count of GPUs per project per region"
_VIOLATED = re.compile(r"Quota violated:\s*(\w+)\s+requested:\s*(\d+)\s+allowed:\s*(\d+)")
_MAX_FEWER = re.compile(r"Max instances must be set to (\d+) or fewer")


@dataclass(frozen=True)
class QuotaViolation:
    """What a quota error said, as far as its text tells."""

    quota_id: str | None  # e.g. CpuAllocPerProjectRegion; None when the text names none
    requested: int | None
    allowed: int | None
    max_instances_allowed: int | None  # "Max instances must be set to N or fewer"
    zonal_redundancy_hint: bool  # the server suggests deploying without zonal redundancy
    at_provisioning: bool  # admitted, then refused when instances were provisioned


class GcpApiError(DeployError):
    """A Google Cloud API call failed for a reason other than the ones below."""

    code = "gcp_api_error"

    def __init__(self, message: str, *, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class ResourceNotFoundError(GcpApiError):
    code = "not_found"


class QuotaExceededError(GcpApiError):
    """Cloud Run refused the revision for quota; ``violation`` says which, if it can."""

    code = "quota_exceeded"

    def __init__(self, message: str, violation: QuotaViolation, *, status: str | None = None):
        super().__init__(message, status=status)
        self.violation = violation


class CredentialsError(DeployError):
    """No usable Google credentials (Application Default Credentials)."""

    code = "no_credentials"


class RevisionNotReadyError(DeployError):
    code = "revision_not_ready"


class DeployTimeoutError(DeployError):
    code = "deploy_timeout"


class SmokeTestError(DeployError):
    code = "smoke_test_failed"


def parse_quota_violation(text: str) -> QuotaViolation | None:
    """The quota facts in a server message, or None if it is not a quota error."""
    violated = _VIOLATED.search(text)
    fewer = _MAX_FEWER.search(text)
    hint = ZONAL_HINT in text or _NO_ZONAL_QUOTA_TEXT in text
    provisioning = _PROVISIONING_TEXT in text
    if not (violated or hint or provisioning):
        return None
    return QuotaViolation(
        quota_id=violated.group(1) if violated else None,
        requested=int(violated.group(2)) if violated else None,
        allowed=int(violated.group(3)) if violated else None,
        max_instances_allowed=int(fewer.group(1)) if fewer else None,
        zonal_redundancy_hint=hint,
        at_provisioning=provisioning,
    )


def _texts(exc: Any) -> list[str]:
    texts = [str(getattr(exc, "message", "") or exc)]
    for detail in getattr(exc, "details", None) or ():
        if isinstance(detail, dict):
            for violation in detail.get("fieldViolations", ()):
                texts.append(f"{violation.get('field', '')}: {violation.get('description', '')}")
    return texts


def _status(exc: Any) -> str | None:
    """The gRPC status name: from the class, else from the JSON error (HTTP 400 is several)."""
    if exc.grpc_status_code is not None:
        return str(exc.grpc_status_code.name)
    try:
        status = exc.response.json()["error"]["status"]
    except (AttributeError, ValueError, KeyError, TypeError):
        return None
    return str(status) if status else None


def translate(exc: BaseException, action: str) -> DeployError:
    """One ``google.api_core`` exception -> the matching :class:`DeployError`.

    ``action`` says what was being done ("create service cutout in us-central1").
    """
    from google.api_core import exceptions as gexc

    # the client prefixes "POST http://...: "; the server's words are what matter, once
    texts = [re.sub(r"^[A-Z]+ https?://\S+: ", "", t) for t in _texts(exc)]
    message = " ".join(dict.fromkeys(t for t in texts if t))
    status = _status(exc) if isinstance(exc, gexc.GoogleAPICallError) else None
    violation = parse_quota_violation(message)
    text = f"{action}: {message}"
    if violation is not None:
        return QuotaExceededError(text, violation, status=status)
    if isinstance(exc, gexc.NotFound):
        return ResourceNotFoundError(text, status=status)
    if isinstance(exc, gexc.GoogleAPIError | OSError):
        return GcpApiError(text, status=status)
    from google.auth import exceptions as auth_exc

    if isinstance(exc, auth_exc.DefaultCredentialsError):
        return CredentialsError(
            f"{action}: no Google credentials: run `gcloud auth application-default login` "
            "or attach a service account"
        )
    if isinstance(exc, auth_exc.GoogleAuthError):
        return CredentialsError(f"{action}: {exc}")
    return GcpApiError(f"{action}: unexpected {type(exc).__name__}: {exc}", status=status)
