"""Read the live APIs into the planner's inputs, and save them as a snapshot folder.

Limits come from the Cloud Quotas API (``ListQuotaInfos`` of service run.googleapis.com,
never Compute Engine); usage from the Run v2 ``ListServices`` of each region, leaving out
the service being replaced (:func:`cutout.deploy.quotas.usage_in_region`). A snapshot is
those same responses as REST JSON (lowerCamel names, integer enums, as the API sends
them to the client), readable by :func:`cutout.deploy.snapshot.load_snapshot`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cutout.deploy.config import DeployConfig
from cutout.deploy.gcp import GcpClients, location_name
from cutout.deploy.quotas import RUN_SERVICE, limits_by_region, usage_in_region
from cutout.deploy.snapshot import QUOTA_INFOS_FILE, services_file
from cutout.deploy.types import Snapshot
from cutout.errors import DeployError

__all__ = ["list_quota_infos", "list_services", "read_live", "save_snapshot"]


def _quota_parent(project: str) -> str:
    return f"projects/{project}/locations/global/services/{RUN_SERVICE}"


def list_quota_infos(clients: GcpClients, project: str) -> list[Any]:
    parent = _quota_parent(project)
    pager = clients.call(
        f"list Cloud Run quotas of {project}", clients.quotas.list_quota_infos, parent=parent
    )
    return clients.call(f"read Cloud Run quotas of {project}", list, pager)


def list_services(clients: GcpClients, project: str, region: str) -> list[Any]:
    parent = location_name(project, region)
    pager = clients.call(
        f"list services in {parent}", clients.services.list_services, parent=parent
    )
    return clients.call(f"read services in {parent}", list, pager)


def read_live(clients: GcpClients, config: DeployConfig) -> Snapshot:
    """The planner's inputs, from the live APIs."""
    limits = limits_by_region(list_quota_infos(clients, config.project), config.regions)
    usage = {
        region: usage_in_region(
            list_services(clients, config.project, region), region, exclude=config.service
        )
        for region in config.regions
    }
    return Snapshot(limits=limits, usage=usage)


def _rest_json(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    result: dict[str, Any] = json_format.MessageToDict(
        type(message).pb(message), use_integers_for_enums=True
    )
    return result


def save_snapshot(
    clients: GcpClients, project: str, regions: tuple[str, ...], folder: str | Path
) -> list[Path]:
    """Write ``quotaInfos.json`` and one ``services-REGION.json`` per region; return paths."""
    root = Path(folder)
    infos = list_quota_infos(clients, project)
    documents: list[tuple[Path, dict[str, Any]]] = [
        (root / QUOTA_INFOS_FILE, {"quotaInfos": [_rest_json(i) for i in infos]})
    ]
    for region in regions:
        services = list_services(clients, project, region)
        documents.append(
            (root / services_file(region), {"services": [_rest_json(s) for s in services]})
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        for path, document in documents:
            path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", "utf-8")
    except OSError as exc:
        raise DeployError(f"{root}: cannot write the snapshot: {exc.strerror or exc}") from exc
    return [path for path, _ in documents]
