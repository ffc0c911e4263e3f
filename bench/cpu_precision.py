"""What lower precision would buy InSPyReNet on this CPU, and what it costs in the matte.

    .venv/bin/python bench/cpu_precision.py [--size 384] [--photos 4] [--reps 3]

Variants of the forward, each timed (median wall and CPU of ``--reps`` runs, interleaved)
and compared, per photo, with the float32 ONNX Runtime graph cutout runs by default:

* ``fp32 ort``: the default (the cached, optimised export); ``+spin`` and ``+daz`` are the
  same graph with intra-op threads that spin between operators, and with denormals
  flushed to zero (session options cutout does not set);
* ``int8 ort``: ONNX Runtime's dynamic quantisation of the plain export (MatMul and Gemm
  weights to int8, per channel; activations quantised at run time; the convolutions stay
  float32), the usual int8 path on a CPU with VNNI;
* ``fp32 torch``: cutout's torch network (the parity reference of the tests);
* ``bf16 torch``: the same under ``torch.autocast("cpu", torch.bfloat16)`` (oneDNN's bf16
  kernels; this CPU has AVX-512 BF16, no AMX).

The matte cost is measured where a user sees it: the 8-bit matte at the photo's size
(``saliency_to_matte8``), mean and max |difference| in levels against fp32 ORT, and the
share of pixels that moved by more than 8 levels. Two checkpoints: the synthetic one of
../shared/fixtures (chaotic by construction: float32 noise alone moves its logits by up to
0.5 %, so it overstates any precision loss) and a *well-conditioned* variant of it, the
same tensors with every Swin block's residual branches (``attn.proj``, ``mlp.fc2``) scaled
by ``--damp`` so that each block is a small step from identity, as in a trained network;
the noise floor of each is the torch fp32 row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared"
PHOTOS = ["animal-1.jpg", "animal-2.jpg", "girl-1.jpg", "car-2.jpg", "aeroplane.jpg"]


def _load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _damped(checkpoint: Path, damp: float, out: Path) -> Path:
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    for key, tensor in state.items():
        if key.startswith("backbone.layers.") and (".attn.proj." in key or ".mlp.fc2." in key):
            state[key] = tensor * damp
    torch.save(state, out)
    return out


def _variants(spec: Any, checkpoint: Path, work: Path) -> dict[str, Any]:
    """name -> a function batch (1x3xSxS float32) -> saliency (1xSxS)."""
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from cutout.backends.onnx import session_options
    from cutout.cpus import usable_cpus
    from cutout.models.inspyrenet.checkpoint import load_network
    from cutout.models.inspyrenet.export import export_onnx

    threads = usable_cpus()
    torch.set_num_threads(threads)
    plain = export_onnx(spec, checkpoint, work / "plain.onnx")
    optimised = export_onnx(spec, checkpoint, work / "optimised.onnx", optimize=True)
    started = time.perf_counter()
    quantize_dynamic(
        str(plain),
        str(work / "int8.onnx"),
        op_types_to_quantize=["MatMul", "Gemm"],
        per_channel=True,
        weight_type=QuantType.QInt8,
    )
    print(f"  int8 quantisation: {time.perf_counter() - started:.0f} s", flush=True)

    def session(path: Path, entries: dict[str, str] | None = None) -> Any:
        options = session_options(threads)
        for key, value in (entries or {}).items():
            options.add_session_config_entry(key, value)
        loaded = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda batch: loaded.run(None, {"image": batch})[0][:, 0]

    network = load_network(checkpoint, spec.input_size)

    def torch_forward(bf16: bool) -> Any:
        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                logits = network(torch.from_numpy(batch))
            return torch.sigmoid(logits.float())[:, 0].numpy()

        return run

    return {
        "fp32 ort": session(optimised),
        "fp32 ort +spin": session(optimised, {"session.intra_op.allow_spinning": "1"}),
        "fp32 ort +daz": session(optimised, {"session.set_denormal_as_zero": "1"}),
        "int8 ort": session(work / "int8.onnx"),
        "fp32 torch": torch_forward(False),
        "bf16 torch": torch_forward(True),
    }


def _measure(
    label: str, checkpoint: Path, photos: list[Path], reps: int, work: Path
) -> dict[str, Any]:
    from cutout.imaging.decode import decode
    from cutout.imaging.tensor import preprocess, saliency_to_matte8
    from cutout.models.registry import get_spec

    spec = get_spec("inspyrenet-fast")
    variants = _variants(spec, checkpoint, work)
    inputs = []
    for photo in photos:
        image = decode(photo)
        inputs.append((image, preprocess(image.rgb, spec)[None]))
    for run in variants.values():  # warm-up
        run(inputs[0][1])
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    mattes: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    for rep in range(reps):
        for image, batch in inputs:
            for name, run in variants.items():
                wall, cpu = time.perf_counter(), time.process_time()
                saliency = run(batch)
                times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
                if rep == 0:
                    matte = saliency_to_matte8(saliency[0], spec, image.width, image.height)
                    mattes[name].append(matte.astype(np.int16))
    rows = {}
    for name in variants:
        deltas = [
            np.abs(ours - base) for ours, base in zip(mattes[name], mattes["fp32 ort"], strict=True)
        ]
        rows[name] = {
            "wall_s": statistics.median(t[0] for t in times[name]),
            "cpu_s": statistics.median(t[1] for t in times[name]),
            "mean_levels": float(np.mean([d.mean() for d in deltas])),
            "max_levels": int(max(d.max() for d in deltas)),
            "over_8_percent": float(np.mean([100 * (d > 8).mean() for d in deltas])),
            "matte_spread": float(np.mean([m.std() for m in mattes[name]])),
        }
    return {"checkpoint": label, "rows": rows}


def _report(result: dict[str, Any]) -> None:
    rows = result["rows"]
    base = rows["fp32 ort"]["wall_s"]
    print(f"\n{result['checkpoint']}:")
    print(
        "| variant | forward s | CPU s | speed vs fp32 ort | mean abs diff (levels) "
        "| max abs diff | pixels > 8 levels | matte std |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in rows.items():
        print(
            f"| {name} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} | {base / row['wall_s']:.2f}x | "
            f"{row['mean_levels']:.2f} | {row['max_levels']} | {row['over_8_percent']:.2f} % | "
            f"{row['matte_spread']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--damp", type=float, default=0.1)
    parser.add_argument("--only", choices=("synthetic", "damped"))
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tests.inspyrenet_fixtures import synthetic_checkpoint

    photos = [SHARED / "images" / name for name in PHOTOS[: args.photos]]
    print(f"load average before: {_load()}; photos {', '.join(p.name for p in photos)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="cpu-precision-") as tmp:
        work = Path(tmp)
        synthetic = synthetic_checkpoint(384)
        cases = {
            "synthetic checkpoint (chaotic)": lambda: synthetic,
            f"well-conditioned (residual branches x {args.damp})": lambda: _damped(
                synthetic, args.damp, work / "damped.pth"
            ),
        }
        for label, make in cases.items():
            if args.only and (args.only == "damped") != label.startswith("well"):
                continue
            print(f"{label}: load average {_load()}", flush=True)
            case = work / label.split()[0]
            case.mkdir()
            result = _measure(label, make(), photos, args.reps, case)
            _report(result)
            results.append(result)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "cpu-precision.json").write_text(json.dumps(results, indent=1))
    print(f"\nload average after: {_load()}")


if __name__ == "__main__":
    main()
