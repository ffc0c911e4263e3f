"""Benchmark: cutout's InSPyReNet against the reference package, same checkpoint, same photos.

    .venv/bin/python bench/inspyrenet.py [--models fast,base] [--photos 3] [--reps 1]

The reference is transparent-background 1.3.4 (``Remover(mode, ckpt, device="cpu")``) in
its own environment, bench/.venvs/tbg (gitignored)::

    python -m venv bench/.venvs/tbg
    bench/.venvs/tbg/bin/pip install torch==2.14.1 torchvision==0.29.1 transparent-background==1.3.4

Each side runs in its own process (so peak memory is its own), loads the synthetic
checkpoint of ../shared/fixtures/inspyrenet once, warms up on the first photo, then times
per photo: the mask (decode -> mask PNG; cutout with ``edges="off"``, the model's matte
as the reference gives it) and the RGBA cut-out with edge-colour correction (reference:
pymatting's estimate_foreground_ml; cutout: its default edge stage, which refines the
alpha too), plus the bare forward. It prints per-image medians, the ratio reference / cutout, the
forward's achieved GFLOP/s against this machine's best fp32 matmul rate (measured here),
and peak RSS. Wall times are noisy on a shared machine; the ratio is measured in one run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures" / "inspyrenet"
PHOTOS = ["animal-1.jpg", "animal-2.jpg", "girl-1.jpg", "car-2.jpg", "aeroplane.jpg"]
RESULTS = HERE / "results"
REFERENCE_PYTHON = HERE / ".venvs" / "tbg" / "bin" / "python"
MODELS = {"fast": ("inspyrenet-fast", 384), "base": ("inspyrenet-base", 1024)}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- workers (each runs in its own process) ----------------------------------------------
def _reference_worker(mode: str, ckpt: Path, photos: list[Path], reps: int) -> dict[str, Any]:
    import numpy as np
    import torch
    from PIL import Image
    from transparent_background import Remover

    start = time.perf_counter()
    remover = Remover(mode=mode, ckpt=str(ckpt), device="cpu")
    load = time.perf_counter() - start
    size = MODELS[mode][1]

    def run(photo: Path, kind: str) -> None:
        with Image.open(photo) as opened:
            image = opened.convert("RGB")
        out = remover.process(image, type=kind)
        out.save(io.BytesIO(), format="PNG")

    def forward() -> None:
        with torch.no_grad():
            remover.model(torch.zeros(1, 3, size, size))

    run(photos[0], "rgba")  # warm-up: pymatting compiles with numba on its first call
    times: dict[str, list[float]] = {"mask": [], "rgba": [], "forward": []}
    for _ in range(reps):
        for photo in photos:
            times["mask"].append(_timed(lambda p=photo: run(p, "map")))
            times["rgba"].append(_timed(lambda p=photo: run(p, "rgba")))
        times["forward"].append(_timed(forward))
    return {
        "side": "reference",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_s": load,
        "times": times,
        "peak_rss_mib": _peak_rss_mib(),
        "numpy": np.__version__,
    }


def _cutout_worker(mode: str, ckpt: Path, photos: list[Path], reps: int) -> dict[str, Any]:
    import torch

    from cutout.engine import Engine
    from cutout.options import RemoveOptions

    model, size = MODELS[mode]
    start = time.perf_counter()
    engine = Engine(model, weights=ckpt, device="cpu")
    engine.load()
    load = time.perf_counter() - start
    mask = RemoveOptions(mask=True, edges="off")
    rgba = RemoveOptions()  # the default edge stage: alpha and colours
    batch = torch.zeros(1, 3, size, size).numpy()
    engine.remove(photos[0], rgba)  # warm-up
    times: dict[str, list[float]] = {"mask": [], "rgba": [], "forward": []}
    for _ in range(reps):
        for photo in photos:
            times["mask"].append(_timed(lambda p=photo: engine.remove(p, mask)))
            times["rgba"].append(_timed(lambda p=photo: engine.remove(p, rgba)))
        times["forward"].append(_timed(lambda: engine.backend.predict(batch)))
    info = engine.device
    return {
        "side": "cutout",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "precision": info.precision,
        "device": info.name,
        "load_s": load,
        "times": times,
        "peak_rss_mib": _peak_rss_mib(),
        "gflop": _forward_gflop(size),
    }


def _forward_gflop(size: int) -> float:
    """FLOPs of one forward (multiply-add = 2), counted on the meta device (no compute)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cutout.models.inspyrenet.network import build_inspyrenet

    network = build_inspyrenet(size).to("meta").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        network(torch.zeros(1, 3, size, size, device="meta"))
    return counter.get_total_flops() / 1e9


def _matmul_worker() -> dict[str, Any]:
    """Best fp32 matmul rate here: torch, numpy and ONNX Runtime, 2048^3, best of 5."""
    import numpy as np
    import onnxruntime as ort
    import torch

    n = 2048
    flop = 2 * n**3
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    rates: dict[str, float] = {}
    ta = torch.from_numpy(a)
    rates["torch"] = flop / min(_timed(lambda: ta @ ta) for _ in range(5)) / 1e9
    rates["numpy"] = flop / min(_timed(lambda: a @ a) for _ in range(5)) / 1e9
    session = _ort_matmul_session(n, ort)
    if session is not None:
        rates["onnxruntime"] = (
            flop / min(_timed(lambda: session.run(None, {"a": a, "b": a})) for _ in range(5)) / 1e9
        )
    return {"side": "matmul", "gflops": rates}


def _ort_matmul_session(n: int, ort: Any) -> Any:
    try:
        from onnx import TensorProto, helper
    except ImportError:
        return None
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n]),
        ],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    return ort.InferenceSession(
        model.SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )


# -- orchestration -------------------------------------------------------------------------
def _spawn(python: Path, args: list[str], home: str | None = None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if home is not None:
        env["CUTOUT_HOME"] = home
    done = subprocess.run(
        [str(python), str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    # kept (bench/results is gitignored) so that a crash later in a long run loses nothing
    RESULTS.mkdir(exist_ok=True)
    name = "-".join(a for a in args if not a.startswith(("-", "/")))
    (RESULTS / f"inspyrenet-{name}.json").write_text(json.dumps(result, indent=1))
    return result


def _checkpoint(size: int) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.inspyrenet_fixtures import synthetic_checkpoint

    return synthetic_checkpoint(size)


def _ensure_graph(mode: str, ckpt: Path) -> float:
    """Export the ONNX graph into the cache (what `cutout models export-onnx` does);
    returns the seconds it took, 0 when it was already there."""
    from cutout.config import load_settings
    from cutout.models.inspyrenet.export import export_onnx, onnx_cache_path
    from cutout.models.registry import get_spec
    from cutout.models.weights import file_digest

    spec = get_spec(MODELS[mode][0])
    path = onnx_cache_path(spec, file_digest(ckpt), load_settings().home)
    if path.is_file():
        return 0.0
    return _timed(lambda: export_onnx(spec, ckpt, path))


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fast,base")
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--worker", choices=("reference", "cutout", "matmul"))
    parser.add_argument("--mode", choices=tuple(MODELS))
    parser.add_argument("--ckpt", type=Path)
    parser.add_argument(
        "--runtimes",
        default="onnxruntime",
        help="cutout CPU runtimes to time: onnxruntime (the exported graph), torch, or both",
    )
    args = parser.parse_args()
    photos = [SHARED / "images" / name for name in PHOTOS[: args.photos]]
    if args.worker == "matmul":
        print(json.dumps(_matmul_worker()))
        return
    if args.worker:
        worker = _reference_worker if args.worker == "reference" else _cutout_worker
        print(json.dumps(worker(args.mode, args.ckpt, photos, args.reps)))
        return
    if not REFERENCE_PYTHON.is_file():
        raise SystemExit(f"{REFERENCE_PYTHON} missing: create bench/.venvs/tbg (see docstring)")
    matmul = _spawn(Path(sys.executable), ["--worker", "matmul"])["gflops"]
    best = max(matmul.values())
    print(f"fp32 matmul 2048^3, GFLOP/s: {json.dumps({k: round(v) for k, v in matmul.items()})}")
    print(f"photos: {', '.join(p.name for p in photos)}; reps {args.reps}; cpus {os.cpu_count()}")
    header = (
        f"{'model':<6}{'runtime output':<15}{'reference s':>12}{'cutout s':>10}{'ratio':>7}"
        f"{'  fwd GFLOP/s ref / cutout (% of best matmul)':<48}{'peak MiB ref / cutout':>23}"
    )
    print(header)
    for mode in args.models.split(","):
        ckpt = _checkpoint(MODELS[mode][1])
        common = ["--mode", mode, "--ckpt", str(ckpt), "--photos", str(args.photos)]
        common += ["--reps", str(args.reps)]
        reference = _spawn(REFERENCE_PYTHON, ["--worker", "reference", *common])
        for runtime in args.runtimes.split(","):
            if runtime == "onnxruntime":
                exported = _ensure_graph(mode, ckpt)
                ours = _spawn(Path(sys.executable), ["--worker", "cutout", *common])
            else:
                with tempfile.TemporaryDirectory() as empty_home:  # no graph: torch
                    ours = _spawn(Path(sys.executable), ["--worker", "cutout", *common], empty_home)
                exported = 0.0
            _report(mode, runtime, reference, ours, best, exported)


def _report(
    mode: str,
    runtime: str,
    reference: dict[str, Any],
    ours: dict[str, Any],
    best: float,
    exported: float,
) -> None:
    gflop = ours["gflop"]
    peaks = f"{reference['peak_rss_mib']:>11.0f} / {ours['peak_rss_mib']:.0f}"
    for output in ("mask", "rgba", "forward"):
        ref_s = _median(reference["times"][output])
        our_s = _median(ours["times"][output])
        rates = ""
        if output == "forward":
            ref_rate, our_rate = gflop / ref_s, gflop / our_s
            rates = (
                f"{ref_rate:6.0f} ({100 * ref_rate / best:3.0f}%) / "
                f"{our_rate:4.0f} ({100 * our_rate / best:3.0f}%)"
            )
        label = f"{runtime[:5]} {output}"
        times = f"{ref_s:>12.2f}{our_s:>10.2f}{ref_s / our_s:>6.2f}x"
        print(f"{mode:<6}{label:<15}{times}  {rates:<46}{peaks}")
    print(
        f"{mode}: {gflop:.0f} GFLOP per forward; load s ref {reference['load_s']:.1f} / "
        f"cutout {ours['load_s']:.1f}; torch ref {reference['torch']} / "
        f"cutout {ours['torch']} ({ours['precision']}); threads "
        f"{reference['threads']} / {ours['threads']}; cutout backend: {ours['device']}"
        + (f"; one-off ONNX export {exported:.0f} s" if exported else "")
    )


if __name__ == "__main__":
    main()
