"""State of the fake Cloud Quotas API v1 for service ``run.googleapis.com``.

``QuotaInfo`` records carry the LIMIT per region in ``dimensions_infos[].details.value``
(never the usage, as the real API). Limits are set by tests with :meth:`set_limit`;
a limit of ``None`` for a region means the quota has no entry there (the default entry,
with empty dimensions, then applies if set). ``CreateQuotaPreference`` answers with
``quota_config.granted_value`` from :attr:`grant` (a scripted policy; 0 is a valid answer)
and, if it grants more than the current limit, raises the limit.

Quota metric names and display names are illustrative (the quota IDs are the ones the
facts file lists, [3P]).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.cloud import cloudquotas_v1

from tests.fakes.run_admission import CPU_QUOTA, GPU_NO_ZR_QUOTA, GPU_ZR_QUOTA, MEM_QUOTA, ApiError

__all__ = ["RUN_SERVICE", "FakeCloudQuotas"]

RUN_SERVICE = "run.googleapis.com"
QuotaInfo = cloudquotas_v1.QuotaInfo.pb()
QuotaPreference = cloudquotas_v1.QuotaPreference.pb()
PROJECT = cloudquotas_v1.QuotaInfo.ContainerType.PROJECT.value

_META: dict[str, tuple[str, str, str]] = {
    # quota id -> (metric, display name, unit)
    GPU_ZR_QUOTA: (
        "run.googleapis.com/nvidia_l4_gpu_allocation",
        "Total Nvidia L4 GPU allocation, per project per region",
        "1/{project}/{region}",
    ),
    GPU_NO_ZR_QUOTA: (
        "run.googleapis.com/nvidia_l4_gpu_allocation_no_zonal_redundancy",
        "Total Nvidia L4 GPU allocation without zonal redundancy, per project per region",
        "1/{project}/{region}",
    ),
    CPU_QUOTA: (
        "run.googleapis.com/cpu_allocation",
        "Total CPU allocation, in milli vCPU, per project per region",
        "1/{project}/{region}",
    ),
    MEM_QUOTA: (
        "run.googleapis.com/memory_allocation",
        "Total memory allocation, in bytes, per project per region",
        "By/{project}/{region}",
    ),
}


@dataclass
class FakeCloudQuotas:
    project: str
    project_number: str
    limits: dict[tuple[str, str], int] = field(default_factory=dict)
    defaults: dict[str, int] = field(default_factory=dict)
    preferences: dict[str, object] = field(default_factory=dict)
    grant: Callable[[object], int] = field(default=lambda preference: 0)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set_limit(self, quota_id: str, region: str, value: int) -> None:
        if quota_id not in _META:
            raise KeyError(quota_id)
        self.limits[(quota_id, region)] = value

    def limit(self, quota_id: str, region: str) -> int | None:
        if (quota_id, region) in self.limits:
            return self.limits[(quota_id, region)]
        return self.defaults.get(quota_id)

    def parent(self) -> str:
        return f"projects/{self.project}/locations/global/services/{RUN_SERVICE}"

    def list_quota_infos(self, parent: str) -> list[object]:
        self._check_parent(parent)
        return [self._info(quota_id) for quota_id in sorted(_META)]

    def get_quota_info(self, name: str) -> object:
        parent, _, quota_id = name.rpartition("/quotaInfos/")
        self._check_parent(parent)
        if quota_id not in _META:
            raise ApiError(404, "NOT_FOUND", f"QuotaInfo {name} not found.")
        return self._info(quota_id)

    def create_quota_preference(self, parent: str, preference_id: str, body: object) -> object:
        if parent not in (
            f"projects/{self.project}/locations/global",
            f"projects/{self.project_number}/locations/global",
        ):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid parent: {parent}")
        if body.service != RUN_SERVICE:  # only run.googleapis.com is modelled
            raise ApiError(400, "INVALID_ARGUMENT", f"Unknown service: {body.service}")
        if body.quota_id not in _META:
            raise ApiError(400, "INVALID_ARGUMENT", f"Unknown quota id: {body.quota_id}")
        region = body.dimensions.get("region")
        if not region:
            raise ApiError(400, "INVALID_ARGUMENT", "dimensions must contain 'region'.")
        preferred = body.quota_config.preferred_value
        current = self.limit(body.quota_id, region) or 0
        if preferred > current and not body.contact_email:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "contact_email is required when requesting a quota increase.",
            )
        with self._lock:
            preference = QuotaPreference()
            preference.CopyFrom(body)
            preference_id = preference_id or uuid.uuid4().hex[:20]
            preference.name = f"{parent}/quotaPreferences/{preference_id}"
            if preference.name in self.preferences:
                raise ApiError(409, "ALREADY_EXISTS", f"{preference.name} already exists.")
            now = datetime.now(UTC)
            preference.create_time.FromDatetime(now)
            preference.update_time.FromDatetime(now)
            preference.etag = uuid.uuid4().hex[:16]
            granted = int(self.grant(preference))
            preference.quota_config.granted_value.value = granted  # an Int64Value wrapper
            preference.quota_config.trace_id = uuid.uuid4().hex
            preference.reconciling = granted < preferred
            if granted < preferred:
                preference.quota_config.state_detail = (
                    "The request is being reviewed; the granted value may change."
                )
            if granted > current:
                self.limits[(body.quota_id, region)] = granted
            self.preferences[preference.name] = preference
            return preference

    def _check_parent(self, parent: str) -> None:
        allowed = {
            f"projects/{p}/locations/global/services/{RUN_SERVICE}"
            for p in (self.project, self.project_number)
        }
        if parent not in allowed:
            raise ApiError(404, "NOT_FOUND", f"Service {parent} not found.")

    def _info(self, quota_id: str) -> object:
        metric, display, unit = _META[quota_id]
        info = QuotaInfo(
            name=f"{self.parent()}/quotaInfos/{quota_id}",
            quota_id=quota_id,
            metric=metric,
            service=RUN_SERVICE,
            is_precise=True,
            container_type=PROJECT,
            dimensions=["region"],
            metric_display_name=display,
            quota_display_name=display,
            metric_unit=unit,
        )
        info.quota_increase_eligibility.is_eligible = True
        if quota_id in self.defaults:
            default = info.dimensions_infos.add()
            default.details.value = self.defaults[quota_id]
        for (qid, region), value in sorted(self.limits.items()):
            if qid != quota_id:
                continue
            entry = info.dimensions_infos.add()
            entry.dimensions["region"] = region
            entry.details.value = value
            entry.applicable_locations.append(region)
        return info
