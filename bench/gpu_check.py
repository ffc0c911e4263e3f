"""The GPU check: parity, throughput, edges, serve start-up and the out-of-memory path.

    bench/gpu_check.sh [--dry-run] [--out FILE]     (the wrapper: venv from wheels, timeout)
    python bench/gpu_check.py [--dry-run] [--out FILE]

Sections (each a key of the JSON printed last; a table of the figures before it):

* ``parity``: InSPyReNet on the device (float32, and the autocast precision the backend
  uses) against the CPU's float32 forward, on a well-conditioned synthetic checkpoint
  (``gpu_checkpoint.py``): logits relative L2, and the 8-bit matte's mean difference in
  levels. ``stability`` is the CPU reference's own change for a 1e-4 change of input; above
  ``CHAOTIC`` the checkpoint, not the port, would be measured, and the check says
  ``chaotic`` instead of judging parity;
* ``throughput``: images per second of the backend's batched forward (host tensors in,
  saliency out) and peak device memory, inspyrenet-base (1024) and -fast (384) at batch
  1, 4 and 16;
* ``edges``: the engine's default edge stage (``balanced``) on an 8 MP photo, timed by
  the engine (``timings["edges"]``); beside a model on a GPU the engine runs its torch
  path on the same device (``gpu_path``), on the CPU numpy and OpenCV;
* ``serve``: ``cutout serve --require-gpu`` from process start to the first 200 on
  ``POST /v1/remove``;
* ``oom``: the backend under a capped memory fraction at batch 16: the recorded fallbacks
  (halving, then the CPU).

``--dry-run`` proves the script on a machine without a GPU in under a minute: the CPU,
inspyrenet-fast only, batches 1 and 2, a 2 MP photo, ``cutout serve`` without
``--require-gpu`` (and a check that with it ``/ready`` answers 503 ``gpu_unavailable``),
no out-of-memory section.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import gpu_checkpoint
from load import free_port, serve_command, stop

__all__ = ["CHAOTIC", "Plan", "main", "run"]

DRY_SIZE = 96
CHAOTIC = 1e-3  # the reference's relative change for a 1e-4 input change, above: chaotic
MODELS = {"inspyrenet-base": 1024, "inspyrenet-fast": 384}


@dataclass(frozen=True)
class Plan:
    """What one run measures: the full GPU check, or the short CPU dry run."""

    device: str
    models: tuple[str, ...]
    batches: tuple[int, ...]
    reps: int
    photo_side: tuple[int, int]
    serve_model: str
    # the dry run's network input side (a registered model at a smaller size: 16x cheaper
    # than 384 on the CPU); None: each model's own
    input_size: int | None = None

    def size(self, model: str) -> int:
        return self.input_size or MODELS[model]

    def spec(self, model: str) -> Any:
        from cutout.models.registry import get_spec

        spec = get_spec(model)
        if self.input_size is None:
            return spec
        return dataclasses.replace(spec, input_size=self.input_size)

    @classmethod
    def for_run(cls, dry_run: bool, device: str) -> Plan:
        if dry_run:
            fast = "inspyrenet-fast"
            return cls(device, (fast,), (1, 2), 1, (1632, 1224), fast, input_size=DRY_SIZE)
        return cls(device, tuple(MODELS), (1, 4, 16), 5, (3264, 2448), "inspyrenet-base")


def _torch() -> Any:
    import torch

    return torch


def machine() -> dict[str, Any]:
    torch = _torch()
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "gpu": None,
        "gpu_memory_bytes": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_bytes=int(props.total_memory))
    return info


def _backend(spec: Any, weights: Path, device: str) -> Any:
    """The torch backend as the engine builds it, without the ONNX graph cache: on the CPU
    this runs torch (no export), on a GPU exactly what the server runs."""
    from cutout.backends.torch import TorchBackend

    backend = TorchBackend(
        spec, weights, device=device, verify=False, cpu_runtime="torch", home=None
    )
    backend.load()
    return backend


def _rel_l2(actual: Any, expected: Any) -> float:
    diff = np.asarray(actual, np.float64) - np.asarray(expected, np.float64)
    return float(np.linalg.norm(diff) / np.linalg.norm(np.asarray(expected, np.float64)))


def _matte_levels(saliency: Any, reference: Any, spec: Any) -> float:
    """Mean |difference| of the 8-bit mattes (levels) at a 4:3 photo of the input's width."""
    width, height = spec.input_size, spec.input_size * 3 // 4
    ours = _matte8(saliency, spec, width, height)
    base = _matte8(reference, spec, width, height)
    return float(np.mean(np.abs(ours - base)))


def _matte8(saliency: Any, spec: Any, width: int, height: int) -> Any:
    from cutout.imaging.tensor import saliency_to_matte8

    return saliency_to_matte8(np.asarray(saliency, np.float32), spec, width, height).astype(
        np.int16
    )


def parity(plan: Plan, weights: Path, model: str) -> dict[str, Any]:
    torch = _torch()
    from cutout.models.inspyrenet.checkpoint import load_network

    size = plan.size(model)
    spec = plan.spec(model)
    image = gpu_checkpoint.smooth_image(size, 1)
    reference = load_network(weights, size)
    torch.set_num_threads(os.cpu_count() or 1)
    noise_floor = gpu_checkpoint.stability(reference, image)
    with torch.inference_mode():
        expected = reference(image).float()
    del reference
    backend = _backend(spec, weights, plan.device)
    network = backend.network
    target = torch.device(plan.device)
    rows: dict[str, Any] = {}
    precisions = [("float32", None)]
    if backend.device.precision in ("float16", "bfloat16") and target.type != "cpu":
        precisions.append((backend.device.precision, getattr(torch, backend.device.precision)))
    for label, dtype in precisions:
        with torch.inference_mode():
            inputs = image.to(target).contiguous(memory_format=torch.channels_last)
            with torch.autocast(target.type, dtype=dtype or torch.float32, enabled=bool(dtype)):
                logits = network(inputs).float().cpu()
        rows[label] = {
            "logits_rel_l2": _rel_l2(logits, expected),
            "matte_mean_diff_levels": _matte_levels(
                torch.sigmoid(logits)[0, 0], torch.sigmoid(expected)[0, 0], spec
            ),
        }
    # the backend's own path (autocast on a GPU): saliency as the engine receives it
    saliency = backend.predict(image.numpy())[0]
    rows["backend"] = {
        "precision": backend.device.precision,
        "matte_mean_diff_levels": _matte_levels(saliency, torch.sigmoid(expected)[0, 0], spec),
    }
    backend.close()
    chaotic = noise_floor > CHAOTIC
    return {
        "model": model,
        "size": size,
        "device": plan.device,
        "stability": {"perturbation": 1e-4, "logits_rel_l2": noise_floor, "chaotic": chaotic},
        "chaotic": chaotic,
        **rows,
    }


def _rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def throughput(plan: Plan, weights: dict[str, Path]) -> list[dict[str, Any]]:
    torch = _torch()
    rows = []
    for model in plan.models:
        size = plan.size(model)
        backend = _backend(plan.spec(model), weights[model], plan.device)
        on_cuda = backend.device.kind == "cuda"
        generator = np.random.default_rng(0)
        for batch in plan.batches:
            tensor = generator.standard_normal((batch, 3, size, size), dtype=np.float32)
            backend.predict(tensor)  # warm-up: cuDNN autotuning for this shape
            if on_cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            started = time.perf_counter()
            for _ in range(plan.reps):
                backend.predict(tensor)  # numpy out: waits for the device
            elapsed = time.perf_counter() - started
            peak = int(torch.cuda.max_memory_allocated()) if on_cuda else None
            rows.append(
                {
                    "model": model,
                    "size": size,
                    "batch": batch,
                    "reps": plan.reps,
                    "device": backend.device.kind,
                    "precision": backend.device.precision,
                    "images_per_s": batch * plan.reps / elapsed,
                    "peak_memory_bytes": peak,
                    "rss_bytes": None if on_cuda else _rss_bytes(),
                    "fallbacks": list(backend.device.fallbacks),
                }
            )
        backend.close()
    return rows


def photo(width: int, height: int) -> bytes:
    """A JPEG of a furry-edged subject on a textured background (synthetic, seeded)."""
    import io

    from PIL import Image

    generator = np.random.default_rng(3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width / 2, height / 2
    radius = np.hypot((xx - cx) / (0.3 * width), (yy - cy) / (0.35 * height))
    angle = np.arctan2(yy - cy, xx - cx)
    edge = 1 + 0.05 * np.sin(angle * 90)  # a ragged, hair-like outline
    alpha = np.clip((edge - radius) * 20, 0, 1)[..., None]
    background = np.stack(
        [120 + 60 * np.sin(xx / 37), 150 + 40 * np.cos(yy / 23), 90 + 30 * np.sin((xx + yy) / 51)],
        axis=-1,
    )
    subject = np.array([200.0, 140.0, 90.0]) + 25 * generator.standard_normal((height, width, 1))
    pixels = np.clip(alpha * subject + (1 - alpha) * background, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def edges(plan: Plan, weights: Path, model: str, home: Path) -> dict[str, Any]:
    from cutout.backends.edges import TorchEdgeRefiner
    from cutout.engine import Engine
    from cutout.options import RemoveOptions

    data = photo(*plan.photo_side)
    engine = Engine(
        plan.spec(model), weights=weights, device=plan.device, home=home, cpu_runtime="torch"
    )
    options = RemoveOptions()
    runs = []
    with engine:
        engine.warmup()
        for _ in range(2 if plan.reps > 1 else 1):
            runs.append(engine.remove(data, options))
        refiner = engine.edge_refiner
    gpu_path = isinstance(refiner, TorchEdgeRefiner)
    timings = [run.timings for run in runs]
    width, height = plan.photo_side
    return {
        "model": model,
        "level": options.edges,
        "megapixels": width * height / 1e6,
        "edges_s": min(t["edges"] for t in timings),
        "total_s": min(sum(t.values()) for t in timings),
        "stages_s": {k: v for k, v in timings[-1].items()},
        # the engine runs the torch path beside a model on a GPU (cutout.backends.edges)
        "gpu_path": gpu_path,
        "refiner": type(refiner).__name__ if gpu_path else "refine_edges (numpy, OpenCV)",
    }


def _post(client: httpx.Client, url: str, data: bytes) -> httpx.Response:
    files = {"image": ("photo.jpg", data, "image/jpeg")}
    return client.post(f"{url}/v1/remove", files=files)


def _spawn(command: Sequence[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def _tail(log: Any) -> str:
    log.seek(0)
    text: str = log.read().decode(errors="replace")
    return text[-2000:]


def serve(plan: Plan, weights: Path, home: Path, timeout: float = 240.0) -> dict[str, Any]:
    """Start to first 200 on POST /v1/remove; ``--require-gpu`` on a GPU. Without a GPU the
    server starts without it, and a second one with it must keep /ready at 503."""
    env = {**os.environ, "CUTOUT_HOME": str(home), "CUTOUT_CPU_RUNTIME": "torch"}
    side = 640
    if plan.input_size is not None:  # the dry run: a small photo at its own size
        env["CUTOUT_RESIZE"] = "dynamic"
        side = plan.input_size
    require = plan.device != "cpu"
    extra = ["--weights", str(weights), "--log-level", "warning"]
    data = photo(side, side * 3 // 4)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = serve_command(plan.serve_model, port, [*extra, *(["--require-gpu"] * require)])
    result: dict[str, Any] = {"model": plan.serve_model, "require_gpu": require}
    with tempfile.TemporaryFile() as log, httpx.Client(timeout=60.0) as client:
        started = time.perf_counter()
        process = _spawn(command, env, log)
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"cutout serve exited {process.returncode}: {_tail(log)}")
                if time.perf_counter() - started > timeout:
                    last = result.get("last_answer")
                    raise RuntimeError(f"no 200 within {timeout:.0f} s ({last}): {_tail(log)}")
                try:
                    if "health_s" not in result:
                        client.get(f"{url}/health")
                        result["health_s"] = time.perf_counter() - started
                    response = _post(client, url, data)
                except httpx.TransportError:
                    time.sleep(0.02)
                    continue
                if response.status_code == 200:
                    result["first_response_s"] = time.perf_counter() - started
                    result["status"] = 200
                    result["content_type"] = response.headers.get("content-type")
                    info = client.get(f"{url}/model-info").json()
                    result["device"] = info.get("device")
                    break
                result["last_answer"] = f"{response.status_code} {response.text[:200]}"
                time.sleep(0.05)
        finally:
            stop(process)
    result.pop("last_answer", None)
    if not require:
        result["require_gpu_without_gpu"] = _ready_refused(plan, weights, env, extra, timeout)
    return result


def _ready_refused(
    plan: Plan, weights: Path, env: dict[str, str], extra: list[str], timeout: float
) -> dict[str, Any]:
    """``--require-gpu`` on a machine without a GPU: /ready must say 503 gpu_unavailable."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = serve_command(plan.serve_model, port, [*extra, "--require-gpu"])
    with tempfile.TemporaryFile() as log, httpx.Client(timeout=30.0) as client:
        started = time.perf_counter()
        process = _spawn(command, env, log)
        try:
            while time.perf_counter() - started < timeout:
                if process.poll() is not None:
                    return {"exited": process.returncode, "log": _tail(log)}
                try:
                    response = client.get(f"{url}/ready")
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                codes = [error.get("code") for error in response.json().get("errors", [])]
                if response.status_code != 503 or "not_ready" not in codes:
                    return {"ready_status": response.status_code, "codes": codes}
                time.sleep(0.1)
            raise RuntimeError(f"/ready still loading after {timeout:.0f} s")
        finally:
            stop(process)


def oom(plan: Plan, weights: Path, model: str = "inspyrenet-fast") -> dict[str, Any]:
    """The backend at batch 16 under a memory cap: halving, then the CPU. Two caps: room
    for a few images (halving that ends on the GPU) and less than one (down to the CPU)."""
    if plan.device == "cpu":
        return {"skipped": "needs CUDA"}
    torch = _torch()
    size = plan.size(model)
    batch = np.random.default_rng(1).standard_normal((16, 3, size, size), dtype=np.float32)
    total = torch.cuda.get_device_properties(0).total_memory
    cases = {}
    for label, room in (("halving", 3.0), ("cpu", 0.3)):
        backend = _backend(plan.spec(model), weights, plan.device)
        backend.predict(batch[:1])
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        resident = torch.cuda.memory_allocated()
        backend.predict(batch[:1])
        one_image = torch.cuda.max_memory_allocated() - resident
        torch.cuda.empty_cache()
        cap = torch.cuda.memory_reserved() + room * one_image
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total))
        started = time.perf_counter()
        try:
            out = backend.predict(batch)
            error = None
        except Exception as exc:  # recorded: the check reports, the caller judges
            out, error = None, f"{type(exc).__name__}: {exc}"[:300]
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0)
        cases[label] = {
            "cap_bytes": int(cap),
            "one_image_bytes": int(one_image),
            "seconds": time.perf_counter() - started,
            "images_out": None if out is None else int(out.shape[0]),
            "fallbacks": list(backend.device.fallbacks),
            "final_device": backend.device.kind,
            "max_batch": backend.max_batch,
            "error": error,
        }
        backend.close()
    return {"model": model, "batch": 16, **cases}


def run(dry_run: bool, device: str | None = None) -> dict[str, Any]:
    torch = _torch()
    started = time.perf_counter()
    device = device or ("cuda" if torch.cuda.is_available() and not dry_run else "cpu")
    plan = Plan.for_run(dry_run, device)
    report: dict[str, Any] = {"dry_run": dry_run, "device": device, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        weights = {}
        built = time.perf_counter()
        for model in plan.models:
            path = work / f"{model}.pth"
            weights[model] = gpu_checkpoint.build(plan.size(model), path, device)
        report["checkpoints_s"] = time.perf_counter() - built
        fast = "inspyrenet-fast"
        report["parity"] = [parity(plan, weights[m], m) for m in plan.models]
        report["throughput"] = throughput(plan, weights)
        home = work / "home"
        report["edges"] = edges(plan, weights[plan.serve_model], plan.serve_model, home)
        report["serve"] = serve(plan, weights[plan.serve_model], home)
        report["oom"] = oom(plan, weights[fast])
    report["seconds"] = time.perf_counter() - started
    return report


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    return str(value)


def table(report: dict[str, Any]) -> str:
    lines = [f"device {report['device']} ({report['machine'].get('gpu') or 'CPU'}), "]
    lines[0] += f"torch {report['machine']['torch']}, cuda {report['machine']['cuda']}"
    lines += ["", "| parity | stability | chaotic | precision | logits rel-L2 | matte diff |"]
    lines.append("| --- | ---: | --- | --- | ---: | ---: |")
    for row in report["parity"]:
        for key in ("float32", "float16", "bfloat16", "backend"):
            if key in row:
                entry = row[key]
                label = f"{key} ({entry['precision']})" if key == "backend" else key
                lines.append(
                    f"| {row['model']} | {_num(row['stability']['logits_rel_l2'])} | "
                    f"{row['chaotic']} | {label} | {_num(entry.get('logits_rel_l2'))} | "
                    f"{_num(entry['matte_mean_diff_levels'])} |"
                )
    lines += ["", "| throughput | batch | images/s | peak memory MB | RSS MB |"]
    lines.append("| --- | ---: | ---: | ---: | ---: |")
    for row in report["throughput"]:
        peak = row["peak_memory_bytes"]
        rss = row["rss_bytes"]
        lines.append(
            f"| {row['model']} ({row['device']} {row['precision']}) | {row['batch']} | "
            f"{_num(row['images_per_s'])} | {_num(None if peak is None else peak / 2**20)} | "
            f"{_num(None if rss is None else rss / 2**20)} |"
        )
    edge = report["edges"]
    serve = report["serve"]
    lines += [
        "",
        f"edges ({edge['level']}, {edge['megapixels']:.1f} MP, GPU path: {edge['gpu_path']}): "
        f"{_num(edge['edges_s'])} s of {_num(edge['total_s'])} s",
        f"serve {serve['model']} (--require-gpu {serve['require_gpu']}): health "
        f"{_num(serve.get('health_s'))} s, first 200 {_num(serve.get('first_response_s'))} s",
    ]
    if "require_gpu_without_gpu" in serve:
        lines.append(f"serve --require-gpu without a GPU: {serve['require_gpu_without_gpu']}")
    lines.append(f"oom: {json.dumps(report['oom'])}")
    lines.append(f"total {report['seconds']:.1f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, short: proves the script")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    report = run(args.dry_run)
    report["environment"] = os.environ.get("GPU_CHECK_ENVIRONMENT", f"current ({sys.prefix})")
    print(table(report), flush=True)
    text = json.dumps(report, sort_keys=True)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
