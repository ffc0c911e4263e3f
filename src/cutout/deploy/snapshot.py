"""Saved API responses for offline planning: one folder, the real REST JSON shapes.

::

    DIR/quotaInfos.json            Cloud Quotas ListQuotaInfosResponse for
                                   projects/P/locations/global/services/run.googleapis.com
    DIR/services-REGION.json       Run v2 ListServicesResponse of projects/P/locations/REGION

camelCase field names, as the REST API returns them (``quotaInfos``, ``dimensionsInfos``,
``maxInstanceCount``, ``gpuZonalRedundancyDisabled``); enums as integers or names. The
files are parsed with the client libraries' own message classes, so a field the API
does not have is an error only if it is mistyped, never silently read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cutout.deploy.quotas import limits_by_region, usage_in_region
from cutout.deploy.types import Snapshot
from cutout.errors import DeployError

if TYPE_CHECKING:
    from google.cloud.cloudquotas_v1 import QuotaInfo
    from google.cloud.run_v2 import Service

__all__ = [
    "QUOTA_INFOS_FILE",
    "SnapshotError",
    "load_snapshot",
    "read_quota_infos",
    "read_services",
    "services_file",
]

QUOTA_INFOS_FILE = "quotaInfos.json"


class SnapshotError(DeployError):
    """A snapshot folder is missing a file or holds something that is not the API's JSON."""

    code = "bad_snapshot"


def services_file(region: str) -> str:
    return f"services-{region}.json"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SnapshotError(
            f"{path}: missing (save one with `cutout deploy snapshot {path.parent}`)"
        ) from exc
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _parse(path: Path, message_type: Any, top_keys: frozenset[str]) -> Any:
    text = _read(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path}: not JSON: {exc}") from exc
    name = message_type.__name__
    if not isinstance(document, dict):
        raise SnapshotError(f"{path}: a {name} is a JSON object")
    # Nested fields newer than the client library are tolerated; a wrong top level
    # (snake_case, another response) is not, or it would read as an empty response.
    unknown = sorted(set(document) - top_keys)
    if unknown:
        raise SnapshotError(
            f"{path}: unexpected field {unknown[0]!r} for a {name} "
            f"(expected {', '.join(sorted(top_keys))})"
        )
    if document.get("nextPageToken"):
        raise SnapshotError(f"{path}: holds only the first page (nextPageToken is set)")
    try:
        return message_type.from_json(text, ignore_unknown_fields=True)
    except Exception as exc:  # protobuf's ParseError; its module moves between versions
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SnapshotError(f"{path}: not a {name}: {first_line}") from exc


def read_quota_infos(folder: str | Path) -> list[QuotaInfo]:
    from google.cloud.cloudquotas_v1 import ListQuotaInfosResponse

    response = _parse(
        Path(folder) / QUOTA_INFOS_FILE,
        ListQuotaInfosResponse,
        frozenset({"quotaInfos", "nextPageToken"}),
    )
    return list(response.quota_infos)


def read_services(folder: str | Path, region: str) -> list[Service]:
    from google.cloud.run_v2 import ListServicesResponse

    response = _parse(
        Path(folder) / services_file(region),
        ListServicesResponse,
        frozenset({"services", "nextPageToken", "unreachable"}),
    )
    return list(response.services)


def load_snapshot(folder: str | Path, regions: tuple[str, ...], service: str) -> Snapshot:
    """Limits and other services' usage in each region, from a saved snapshot."""
    root = Path(folder)
    if not root.is_dir():
        raise SnapshotError(f"{root}: not a folder")
    limits = limits_by_region(read_quota_infos(root), regions)
    usage = {
        region: usage_in_region(read_services(root, region), region, exclude=service)
        for region in regions
    }
    return Snapshot(limits=limits, usage=usage)
