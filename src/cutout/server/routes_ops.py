"""Operations endpoints: ``/health``, ``/ready``, ``/model-info``, ``/v1/models``, ``/metrics``.

``/health`` is liveness: 200 while the process can recover by itself (also while the
model loads or after it failed), 503 only when a GPU is required (``--require-gpu``) and
the model cannot use one, the one state a restart cures (Cloud Run's liveness probe
restarts the instance onto a fresh GPU). ``/ready`` is readiness: 200 once the model is
loaded and warm, else 503 with the reason (``not_ready``, ``model_failed``,
``gpu_unavailable``).
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from cutout import __version__
from cutout.models.registry import all_specs
from cutout.options import DEFAULT_EDGES, EDGE_LEVELS
from cutout.server.errors import error_body
from cutout.server.metrics import CONTENT_TYPE
from cutout.server.state import ServerState

__all__ = ["backend_versions", "model_info", "router"]

router = APIRouter(tags=["operations"])


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.cutout
    return state


def backend_versions() -> dict[str, str]:
    """Versions of the packages that compute results (torch only when it is loaded)."""
    versions = {"cutout": __version__, "python": platform.python_version()}
    for package in ("onnxruntime", "numpy", "pillow", "fastapi", "uvicorn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["torch"] = str(getattr(torch, "__version__", "unknown"))
    return versions


def model_info(state: ServerState) -> dict[str, Any]:
    engine = state.engine
    spec = engine.spec
    settings = state.settings
    info: dict[str, Any] = {
        "status": state.loader.status,
        "error": state.loader.error,
        "model": spec.name,
        "family": spec.family,
        "backend": spec.backend,
        "licence": spec.licence,
        "input_size": spec.input_size,
        "resize": spec.resize,
        "device_policy": engine.device_policy,
        "batch": {
            "max_batch": settings.max_batch,
            "model_max_batch": spec.max_batch,
            "max_wait_ms": settings.batch_wait_ms,
            "queue_size": settings.queue_size,
        },
        "limits": {
            "max_upload_bytes": settings.max_upload_bytes,
            "max_megapixels": settings.max_megapixels,
            "request_timeout_s": settings.request_timeout_s,
            "shutdown_grace_s": settings.shutdown_grace_s,
        },
        "require_gpu": settings.require_gpu,
        # the edge levels the image routes take (parameter edges), for clients and the page
        "edges": {"levels": list(EDGE_LEVELS), "default": DEFAULT_EDGES},
        "versions": backend_versions(),
        "revision": settings.k_revision,
    }
    if state.loader.status == "ready":
        device = engine.device
        backend = engine.backend
        info.update(
            {
                "weights_sha256": backend.weights_sha256,
                "device": {
                    "kind": device.kind,
                    "name": device.name,
                    "precision": device.precision,
                    "threads": device.threads,
                    "memory_total_bytes": device.memory_total_bytes,
                    "providers": list(device.providers),
                },
                "precision": device.precision,
                "fallbacks": list(device.fallbacks),
                "load_seconds": round(engine.stats.load_seconds, 4),
                "warmup_seconds": round(engine.stats.warmup_seconds, 4),
                "ready_seconds": (
                    round(state.loader.ready_seconds, 4)
                    if state.loader.ready_seconds is not None
                    else None
                ),
            }
        )
    return info


@router.get(
    "/health",
    summary="Liveness: 200 while the process answers, 503 when a required GPU is lost",
    responses={503: {"description": "a GPU is required and the model cannot use one"}},
)
async def health(request: Request) -> JSONResponse:
    problem = _state(request).gpu_unavailable
    if problem is None:
        return JSONResponse({"status": "ok"})
    body = {"status": "unhealthy", **error_body("gpu_unavailable", problem)}
    return JSONResponse(body, status_code=503)


@router.get(
    "/ready",
    summary="Readiness: 200 once the model is loaded and warm, else 503",
    responses={503: {"description": "loading, failed, or a required GPU unavailable"}},
)
async def ready(request: Request) -> JSONResponse:
    state = _state(request)
    status = state.loader.status
    if status == "ready":
        return JSONResponse({"status": "ready", "model": state.engine.spec.name})
    if status == "loading":
        code, detail = "not_ready", "the model is loading"
    else:
        code, detail = state.loader.error_code or "model_failed", f"{state.loader.error}"
    body = {"status": status, **error_body(code, detail)}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})


@router.get("/model-info", summary="The model, device, limits and versions in use")
async def get_model_info(request: Request) -> dict[str, Any]:
    return model_info(_state(request))


@router.get("/v1/models", summary="The model registry")
async def models(request: Request) -> dict[str, Any]:
    serving = _state(request).engine.spec.name
    return {
        "serving": serving,
        "models": [
            {
                "name": spec.name,
                "family": spec.family,
                "backend": spec.backend,
                "input_size": spec.input_size,
                "resize": spec.resize,
                "licence": spec.licence,
                "description": spec.description,
                "embedded": spec.weights.embedded,
                "aliases": list(spec.aliases),
                "serving": spec.name == serving,
            }
            for spec in all_specs()
        ],
    }


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(request: Request) -> Response:
    state = _state(request)
    return Response(state.metrics.render(state.refresh_gauges), media_type=CONTENT_TYPE)
