"""Pytest fixtures for the live deploy tooling: the fake Google APIs and a stand-in revision.

Import the fixtures into a test module (``from tests.fakes.fixtures import *``-free:
name them explicitly). ``fake_gcp`` is a started :class:`~tests.fakes.gcp.FakeGcp`,
``gcp_clients`` the REAL Google clients pointed at it, ``standin`` a real ``cutout serve``
on loopback (the embedded u2netp on this machine's CPU) that stands in for every
revision URL, and ``to_standin`` maps the fake's ``*.run.app`` URLs to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cutout.deploy.config import DeployConfig, parse_config
from cutout.deploy.gcp import GcpClients
from tests.conftest import EXAMPLES
from tests.fakes.gcp import FakeGcp
from tests.server.live import LiveServer, live_server

__all__ = [
    "CPU_QUOTA",
    "GPU_NO_ZR",
    "GPU_ZR",
    "MEM_QUOTA",
    "PROJECT",
    "deploy_config",
    "fake_gcp",
    "gcp_clients",
    "make_config",
    "smoke_image",
    "standin",
    "to_standin",
]

PROJECT = "petshop-prod"
GPU_ZR = "NvidiaL4GpuAllocPerProjectRegion"
GPU_NO_ZR = "NvidiaL4GpuAllocNoZonalRedundancyPerProjectRegion"
CPU_QUOTA = "CpuAllocPerProjectRegion"
MEM_QUOTA = "MemAllocPerProjectRegion"
GIB = 2**30


def make_config(**overrides: Any) -> DeployConfig:
    data: dict[str, Any] = {
        "project": PROJECT,
        "service": "cutout",
        "regions": ["us-central1", "europe-west4"],
        "image": "us-central1-docker.pkg.dev/petshop-prod/cutout/cutout:0.1.0",
        "latency_target_ms": 60000,
        "gpu": {"max_instances": 3, "cpu": "4", "memory": "16Gi", "model": "inspyrenet-base"},
        "cpu": {"max_instances": 4, "cpu": "8", "memory": "16Gi", "model": "inspyrenet-fast"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data, "test config")


@pytest.fixture
def deploy_config() -> DeployConfig:
    return make_config()


@pytest.fixture
def fake_gcp() -> Iterator[FakeGcp]:
    with FakeGcp(PROJECT, "418305719264") as fake:
        for region in ("us-central1", "europe-west4", "us-east1"):
            fake.quotas.set_limit(CPU_QUOTA, region, 200_000)
            fake.quotas.set_limit(MEM_QUOTA, region, 400 * GIB)
        yield fake
        assert fake.errors == [], f"the fake itself failed: {fake.errors}"


@pytest.fixture
def gcp_clients(fake_gcp: FakeGcp) -> GcpClients:
    clients = GcpClients.create(endpoint=fake_gcp.endpoint)
    return clients


@pytest.fixture(scope="module")
def standin() -> Iterator[LiveServer]:
    with live_server(env={"CUTOUT_MODEL": "u2netp", "CUTOUT_DEVICE": "cpu"}) as server:
        yield server


@pytest.fixture
def to_standin(standin: LiveServer) -> Callable[[str], str]:
    def rewrite(url: str) -> str:
        assert url.startswith("https://") and url.endswith(".run.app"), url
        return standin.url

    return rewrite


@pytest.fixture(scope="session")
def smoke_image() -> bytes:
    return (EXAMPLES / "animal-1.jpg").read_bytes()


def push_revisions(clients: GcpClients, count: int, region: str = "us-central1") -> list[str]:
    """Create the service (if needed) and ``count`` revisions through the real client,
    each taking all traffic via LATEST (as ``gcloud run deploy`` would); short names."""
    from google.cloud import run_v2

    from cutout.deploy.errors import ResourceNotFoundError

    parent = f"projects/{PROJECT}/locations/{region}"
    name = f"{parent}/services/cutout"
    made = []
    for _ in range(count):
        try:
            service = clients.call("get", clients.services.get_service, name=name)
        except ResourceNotFoundError:
            service = None
        image = f"example.com/cutout:{uuid.uuid4().hex[:8]}"  # a new template each time
        template = run_v2.RevisionTemplate(
            containers=[
                run_v2.Container(
                    image=image,
                    resources=run_v2.ResourceRequirements(limits={"cpu": "2", "memory": "4Gi"}),
                )
            ],
            scaling=run_v2.RevisionScaling(max_instance_count=2),
        )
        if service is None:
            operation = clients.services.create_service(
                parent=parent, service=run_v2.Service(template=template), service_id="cutout"
            )
        else:
            service.template = template
            operation = clients.services.update_service(service=service)
        done = clients.wait("push", operation, 10)
        made.append(done.latest_ready_revision.rsplit("/", 1)[-1])
    return made
