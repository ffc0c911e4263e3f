"""``cutout deploy quota request --region R --gpus N [--no-zonal-redundancy] --email E``.

A ``QuotaPreference`` through the Cloud Quotas API for Cloud Run's L4 quota in one
region (service run.googleapis.com, dimension ``region``; the preferred value is the new
LIMIT, not an increment). The answer's ``quota_config.granted_value`` is reported as it
is: it can be 0 or less than asked while Google reviews the request (``reconciling``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cutout.deploy.errors import ResourceNotFoundError
from cutout.deploy.gcp import GcpClients
from cutout.deploy.quotas import RUN_SERVICE
from cutout.deploy.types import L4_NO_ZONAL_QUOTA, L4_ZONAL_QUOTA
from cutout.errors import ConfigError

__all__ = ["QuotaRequestReport", "default_justification", "request_gpu_quota"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class QuotaRequestReport:
    name: str
    quota_id: str
    region: str
    previous_limit: int | None
    preferred: int
    granted: int
    reconciling: bool
    state_detail: str

    def lines(self) -> list[str]:
        before = "unknown" if self.previous_limit is None else str(self.previous_limit)
        status = "under review" if self.reconciling else "settled"
        out = [
            f"{self.quota_id} in {self.region}: limit was {before}, asked for "
            f"{self.preferred}, granted {self.granted} ({status})",
            f"request: {self.name}",
        ]
        if self.state_detail:
            out.append(f"detail: {self.state_detail}")
        return out

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_justification(service: str, gpus: int, zonal: bool) -> str:
    kind = "with" if zonal else "without"
    return (
        f"Cloud Run service {service!r} serves background removal (InSPyReNet) on NVIDIA L4; "
        f"it needs {gpus} L4 GPU instance(s) {kind} zonal redundancy at max instances to "
        "meet its latency target. Deploys currently fall back to CPU-only revisions."
    )


def request_gpu_quota(
    clients: GcpClients,
    project: str,
    region: str,
    gpus: int,
    *,
    email: str,
    zonal_redundancy: bool = True,
    justification: str | None = None,
    service: str = "cutout",
) -> QuotaRequestReport:
    from google.cloud import cloudquotas_v1

    if gpus < 1:
        raise ConfigError(f"--gpus {gpus}: ask for at least 1")
    if not _EMAIL.match(email):
        raise ConfigError(f"--email {email!r}: not an email address")
    quota_id = L4_ZONAL_QUOTA if zonal_redundancy else L4_NO_ZONAL_QUOTA
    info_name = f"projects/{project}/locations/global/services/{RUN_SERVICE}/quotaInfos/{quota_id}"
    previous: int | None = None
    try:
        info = clients.call(f"read {quota_id}", clients.quotas.get_quota_info, name=info_name)
        for entry in info.dimensions_infos:
            if dict(entry.dimensions).get("region") == region:
                previous = int(entry.details.value)
    except ResourceNotFoundError:
        previous = None
    preference = cloudquotas_v1.QuotaPreference(
        service=RUN_SERVICE,
        quota_id=quota_id,
        dimensions={"region": region},
        quota_config=cloudquotas_v1.QuotaConfig(preferred_value=gpus),
        contact_email=email,
        justification=justification or default_justification(service, gpus, zonal_redundancy),
    )
    answer = clients.call(
        f"request {quota_id} = {gpus} in {region}",
        clients.quotas.create_quota_preference,
        parent=f"projects/{project}/locations/global",
        quota_preference=preference,
    )
    return QuotaRequestReport(
        name=answer.name,
        quota_id=quota_id,
        region=region,
        previous_limit=previous,
        preferred=int(answer.quota_config.preferred_value),
        granted=int(answer.quota_config.granted_value or 0),  # unset while under review
        reconciling=bool(answer.reconciling),
        state_detail=str(answer.quota_config.state_detail),
    )
