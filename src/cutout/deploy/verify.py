"""The smoke test a revision must pass before it gets traffic.

Against a base URL (the revision's tag URL on Cloud Run; a loopback ``cutout serve`` in
tests), in order, stopping at the first failure:

1. ``GET /health`` answers 200;
2. ``GET /ready`` answers 200 (the model is loaded and warm);
3. ``GET /model-info`` reports the planned model and device kind (a GPU revision that
   fell back to the CPU fails here: it would be slow and cost GPU prices);
4. ``POST /v1/remove`` with one real image answers 200 with an image that has an alpha
   channel, within the latency target.

Each check is timed; the report says which check failed and why, in words.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Check", "SmokeExpectation", "SmokeReport", "smoke_test"]


@dataclass(frozen=True)
class SmokeExpectation:
    model: str
    device: str  # "cuda" | "cpu": the device kind /model-info must report
    latency_target_ms: float


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "seconds": self.seconds}


@dataclass(frozen=True)
class SmokeReport:
    url: str
    checks: tuple[Check, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def reason(self) -> str:
        failed = [c for c in self.checks if not c.ok]
        return f"{failed[0].name}: {failed[0].detail}" if failed else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "reason": self.reason,
            "checks": [c.to_json() for c in self.checks],
        }


def _describe(response: Any) -> str:
    text = response.text[:200].replace("\n", " ")
    return f"HTTP {response.status_code}: {text}"


def _check_model_info(body: Any, expect: SmokeExpectation) -> str | None:
    """None if /model-info matches the plan, else what differs."""
    if not isinstance(body, dict):
        return "not a JSON object"
    model = body.get("model")
    device = body.get("device")
    kind = device.get("kind") if isinstance(device, dict) else device
    problems = []
    if model != expect.model:
        problems.append(f"model is {model!r}, planned {expect.model!r}")
    if kind != expect.device:
        fallbacks = body.get("fallbacks") or []
        why = f" (fallbacks: {'; '.join(map(str, fallbacks))})" if fallbacks else ""
        problems.append(f"device is {kind!r}, planned {expect.device!r}{why}")
    return "; ".join(problems) or None


def _check_cutout(response: Any) -> str | None:
    from PIL import Image, UnidentifiedImageError

    if response.status_code != 200:
        return _describe(response)
    try:
        with Image.open(io.BytesIO(response.content)) as result:
            bands = result.getbands()
            size = result.size
    except (UnidentifiedImageError, OSError) as exc:
        return f"the answer is not an image: {exc}"
    if "A" not in bands:
        return f"the result has no alpha channel (bands {''.join(bands)})"
    if size[0] < 1 or size[1] < 1:
        return "the result is empty"
    return None


def smoke_test(
    base_url: str,
    expect: SmokeExpectation,
    image: bytes,
    *,
    api_key: str | None = None,
    timeout_s: float = 120.0,
) -> SmokeReport:
    """Run the four checks against ``base_url``; never raises for a failing revision."""
    import httpx

    base = base_url.rstrip("/")
    headers = {"X-Api-Key": api_key} if api_key else {}
    checks: list[Check] = []

    def record(name: str, started: float, problem: str | None, ok_detail: str) -> bool:
        seconds = round(time.perf_counter() - started, 4)
        checks.append(Check(name, problem is None, problem or ok_detail, seconds))
        return problem is None

    current = "/health"
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        try:
            for path in ("/health", "/ready"):
                current = path
                started = time.perf_counter()
                response = client.get(base + path)
                problem = None if response.status_code == 200 else _describe(response)
                if not record(path, started, problem, "200"):
                    return SmokeReport(base, tuple(checks))
            current = "/model-info"
            started = time.perf_counter()
            response = client.get(base + "/model-info")
            try:
                body = response.json() if response.status_code == 200 else None
            except ValueError:
                body = None
            problem = _describe(response) if body is None else _check_model_info(body, expect)
            if not record(
                "/model-info", started, problem, f"model {expect.model} on {expect.device}"
            ):
                return SmokeReport(base, tuple(checks))
            current = "/v1/remove"
            started = time.perf_counter()
            response = client.post(
                base + "/v1/remove", files={"image": ("smoke.jpg", image, "image/jpeg")}
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            problem = _check_cutout(response)
            if problem is None and elapsed_ms > expect.latency_target_ms:
                problem = (
                    f"took {elapsed_ms:.0f} ms, over the latency target "
                    f"{expect.latency_target_ms:.0f} ms"
                )
            record("/v1/remove", started, problem, f"{elapsed_ms:.0f} ms")
        except httpx.HTTPError as exc:
            checks.append(Check(current, False, f"{type(exc).__name__}: {exc}", 0.0))
    return SmokeReport(base, tuple(checks))
