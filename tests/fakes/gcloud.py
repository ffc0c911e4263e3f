"""A fake ``gcloud`` for the multi-region load balancer, as the deploy tooling runs it.

:meth:`FakeGcloud.execute` answers one argv the way gcloud does, as far as the tooling
reads it: the exit status, and the resource as JSON for ``describe ... --format=json``
(the Compute API's shape: ``selfLink``, and ``backends[].group`` as the NEG's URL).
State: the compute resources by (collection, scope, name), ``--global`` or a region.
Rules mirrored from gcloud:

* ``create`` of a resource that exists fails ("already exists");
* ``describe`` of one that does not fails ("was not found");
* ``backend-services add-backend`` fails when the backend service or the NEG is
  missing, or the NEG is already one of its backends;
* ``run services replace FILE`` succeeds (create or replace).

:meth:`fail` scripts a genuine error for the commands that start with a given text.
Every argv is recorded in :attr:`calls`, and the reason of each failure in
:attr:`errors`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cutout.deploy.gcp import GcloudResult

__all__ = ["FakeGcloud"]

_API = "https://www.googleapis.com/compute/v1"
_PATHS = {
    "network-endpoint-groups": "networkEndpointGroups",
    "backend-services": "backendServices",
    "url-maps": "urlMaps",
    "ssl-certificates": "sslCertificates",
    "target-https-proxies": "targetHttpsProxies",
    "addresses": "addresses",
    "forwarding-rules": "forwardingRules",
}


def _flags(argv: Sequence[str]) -> dict[str, str]:
    flags = {}
    for arg in argv:
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            flags[key] = value
    return flags


@dataclass
class FakeGcloud:
    resources: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, prefix: str, returncode: int = 1) -> None:
        """Commands starting with ``prefix`` exit with ``returncode`` (a genuine error)."""
        self.failures[prefix] = returncode

    def commands(self, verb: str) -> list[str]:
        """The recorded commands with ``verb`` (``create``, ``describe``, ``add-backend``)."""
        return [shlex.join(argv) for argv in self.calls if verb in argv[1:4]]

    def execute(self, argv: Sequence[str], capture: bool) -> GcloudResult:
        self.calls.append(list(argv))
        text = shlex.join(argv)
        for prefix, code in self.failures.items():
            if text.startswith(prefix):
                return self._error(code, f"scripted failure of {text}")
        if tuple(argv[:4]) == ("gcloud", "run", "services", "replace"):
            return GcloudResult(0)
        if tuple(argv[:2]) != ("gcloud", "compute"):
            return self._error(2, f"unknown command {text}")
        collection, verb, name = argv[2], argv[3], argv[4]
        flags = _flags(argv)
        scope = "global" if "global" in flags else f"regions/{flags.get('region', '')}"
        key = (collection, scope, name)
        if verb == "describe":
            if key not in self.resources:
                return self._error(1, f"The resource '{self._url(flags, *key)}' was not found")
            return GcloudResult(0, json.dumps(self.resources[key]) if capture else "")
        if verb == "create":
            if key in self.resources:
                return self._error(1, f"The resource '{self._url(flags, *key)}' already exists")
            self.resources[key] = {"name": name, "selfLink": self._url(flags, *key)}
            if collection == "backend-services":
                self.resources[key]["backends"] = []
            return GcloudResult(0)
        if verb == "add-backend":
            return self._add_backend(key, flags)
        return self._error(2, f"unknown command {text}")

    def _add_backend(self, key: tuple[str, str, str], flags: dict[str, str]) -> GcloudResult:
        neg = ("network-endpoint-groups", f"regions/{flags['network-endpoint-group-region']}",
               flags["network-endpoint-group"])  # fmt: skip
        if key not in self.resources or neg not in self.resources:
            return self._error(1, "Could not fetch resource: was not found")
        group = self._url(flags, *neg)
        backends = self.resources[key]["backends"]
        if any(backend["group"] == group for backend in backends):
            return self._error(1, f"Backend [{neg[2]}] already exists in [{key[2]}]")
        backends.append({"group": group, "balancingMode": "UTILIZATION"})
        return GcloudResult(0)

    def _url(self, flags: dict[str, str], collection: str, scope: str, name: str) -> str:
        return f"{_API}/projects/{flags.get('project', '')}/{scope}/{_PATHS[collection]}/{name}"

    def _error(self, code: int, message: str) -> GcloudResult:
        self.errors.append(message)
        return GcloudResult(code)
