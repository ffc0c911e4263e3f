"""The layers of ``cutout.deploy``, checked from the source: planners never reach Google.

* planners: pure functions of the config and the planner's inputs; no Google library
  at all, nothing of the other two layers;
* message modules: pure too, but they build or read Google's message classes (protobuf
  data: a Run v2 ``Service``, a Monitoring ``AlertPolicy``, a saved
  ``ListServicesResponse``); never a client, credentials or a transport, nothing live;
* live: they talk to Google, through ``gcp.py`` (the clients, the ``gcloud`` command
  line, ``call``) and ``errors.py`` (Google's exceptions translated), or to the deployed
  service (``verify.py``).

Every import counts, at module level, in functions and under ``TYPE_CHECKING``, and
within ``cutout.deploy`` transitively. Each deploy module must be in exactly one list.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "src" / "cutout" / "deploy"

PLANNERS = frozenset(
    {"__init__", "config", "cost", "manifest", "multiregion", "plan", "prices", "types", "units"}
    | {"job_config", "job_plan"}
)
MESSAGES = frozenset({"alerts", "quotas", "service_spec", "snapshot"} | {"job_spec"})
LIVE = frozenset(
    {
        "alerts_live", "apply", "cleanup", "errors", "gcp", "live", "multiregion_live",
        "quota_request", "rollback", "rollout", "status", "verify",
    }
    | {"job_live", "job_status"}
)  # fmt: skip
# What reaches Google rather than describing data: credentials, transports, clients.
_CLIENT_SIDE = ("google.auth", "google.api_core", "grpc")


@cache
def _imports(module: str) -> frozenset[str]:
    """Every module (and ``module.name``) that ``cutout/deploy/<module>.py`` imports."""
    tree = ast.parse((DEPLOY / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            found |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    return frozenset(found)


def _deploy_imports(module: str) -> set[str]:
    """The ``cutout.deploy`` modules ``module`` imports, directly or through each other."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in _imports(todo.pop()):
            short = name.removeprefix("cutout.deploy.")
            if name.startswith("cutout.deploy.") and short not in seen and "." not in short:
                seen.add(short)
                todo.append(short)
    return seen


def test_every_deploy_module_is_in_one_layer() -> None:
    modules = {path.stem for path in DEPLOY.glob("*.py")}
    assert modules == PLANNERS | MESSAGES | LIVE
    assert len(PLANNERS) + len(MESSAGES) + len(LIVE) == len(modules)


@pytest.mark.parametrize("module", sorted(PLANNERS))
def test_planners_import_no_google_and_nothing_live(module: str) -> None:
    reached = _deploy_imports(module)
    assert reached <= PLANNERS, f"{module} reaches {sorted(reached - PLANNERS)}"
    for name in {module} | reached:
        google = sorted(i for i in _imports(name) if i.startswith(("google", "grpc")))
        assert google == [], f"{name} imports {google}"


@pytest.mark.parametrize("module", sorted(MESSAGES))
def test_message_modules_use_google_data_never_a_client(module: str) -> None:
    reached = _deploy_imports(module)
    assert reached <= PLANNERS | MESSAGES, f"{module} reaches {sorted(reached & LIVE)}"
    for name in {module} | reached:
        clients = sorted(
            i
            for i in _imports(name)
            if i.startswith(_CLIENT_SIDE) or ".services" in i or i.endswith("Client")
        )
        assert clients == [], f"{name} imports {clients}"


def test_only_the_boundary_reaches_google_itself() -> None:
    reaching = {
        module
        for module in PLANNERS | MESSAGES | LIVE
        if any(i.startswith(_CLIENT_SIDE) or i == "subprocess" for i in _imports(module))
    }
    assert reaching == {"gcp", "errors"}
