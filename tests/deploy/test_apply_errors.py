"""Quota errors are recognised from the server's texts, wherever they appear."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from cutout.deploy.errors import (
    GcpApiError,
    QuotaExceededError,
    ResourceNotFoundError,
    parse_quota_violation,
    translate,
)

FIELD = "spec.template.metadata.annotations[autoscaling.knative.dev/maxScale]"
CODELAB = (
    f"{FIELD}: Max instances must be set to 0 or fewer to set the requested total memory. "
    "Consider running your workload in a region with greater capacity, or requesting an "
    "increase in quota for this region. Quota violated: MemAllocPerProjectRegion requested: "
    "85899345920 allowed: 42949672960"
)
TERRAFORM = (
    "Revision 'tf-test-cloudrun-srve4p13q2yof-00001-n45' is not ready and cannot serve "
    "traffic. Quota exceeded for total allowable count of GPUs per project per region."
)


def test_memory_violation_from_a_real_report() -> None:
    violation = parse_quota_violation(CODELAB)
    assert violation is not None
    assert violation.quota_id == "MemAllocPerProjectRegion"
    assert (violation.requested, violation.allowed) == (85899345920, 42949672960)
    assert violation.max_instances_allowed == 0
    assert not violation.zonal_redundancy_hint and not violation.at_provisioning


def test_provisioning_failure_from_a_real_report() -> None:
    violation = parse_quota_violation(TERRAFORM)
    assert violation is not None and violation.at_provisioning
    assert violation.quota_id is None


def test_zonal_hint() -> None:
    text = (
        f"{FIELD}: You do not have quota for using GPUs with zonal redundancy. "
        "You could deploy using GPUs without zonal redundancy instead."
    )
    violation = parse_quota_violation(text)
    assert violation is not None and violation.zonal_redundancy_hint


@pytest.mark.parametrize(
    "text", ["Container failed to start.", "Permission denied on project p.", ""]
)
def test_other_texts_are_not_quota(text: str) -> None:
    assert parse_quota_violation(text) is None


def test_translate_reads_field_violations_and_status() -> None:
    exc = gexc.BadRequest(
        "POST https://run.googleapis.com/v2/x: bad",
        details=[{"fieldViolations": [{"field": FIELD, "description": CODELAB.split(": ", 1)[1]}]}],
    )
    error = translate(exc, "deploy x")
    assert isinstance(error, QuotaExceededError)
    assert error.message.startswith("deploy x: ")
    assert "https://run.googleapis.com" not in error.message


def test_translate_not_found_and_others() -> None:
    assert isinstance(translate(gexc.NotFound("gone"), "read"), ResourceNotFoundError)
    other = translate(gexc.PermissionDenied("no"), "read")
    assert type(other) is GcpApiError and other.status == "PERMISSION_DENIED"
    assert isinstance(translate(ConnectionError("refused"), "read"), GcpApiError)


def test_missing_credentials_say_how_to_log_in() -> None:
    from google.auth import exceptions as auth_exc

    from cutout.deploy.errors import CredentialsError

    error = translate(auth_exc.DefaultCredentialsError("not found"), "create clients")
    assert isinstance(error, CredentialsError)
    assert "gcloud auth application-default login" in error.message
