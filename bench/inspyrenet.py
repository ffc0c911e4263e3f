"""Benchmark: cutout's InSPyReNet on the CPU against the reference package, same checkpoint,
same photos, measured side by side in one run.

    .venv/bin/python bench/inspyrenet.py [--models fast,base] [--photos 3] [--reps 2] [--cli 3]

The reference is transparent-background 1.3.4 (``Remover(mode, ckpt, device="cpu")`` and
its ``transparent-background`` command) in its own environment, bench/.venvs/tbg
(gitignored), installed from this machine's local package files::

    python -m venv bench/.venvs/tbg
    bench/.venvs/tbg/bin/pip install torch==2.14.1 torchvision==0.29.1 transparent-background==1.3.4

Two parts, both on the synthetic checkpoint of ../shared/fixtures/inspyrenet (the
official layout and sizes, so the times are the real ones):

1. **In process (warm).** Each side runs in its own long-lived worker process (so peak
   memory is its own) that loads the checkpoint once and warms up on the first photo;
   the orchestrator then sends the same commands to both in turn, alternating which side
   goes first, so the machine's load falls on both alike. Per photo it times:
   ``default`` (what each command writes with no options: cutout's RGBA PNG; the
   reference's ``rgba`` PNG, which includes pymatting's foreground estimation), ``mask``
   (mask PNG; reference ``map``), ``rgba+fg`` (RGBA with edge-colour correction: cutout
   ``--edges best``, reference ``rgba``), and the bare ``forward`` at the model's size.
   cutout runs with its defaults: a cache (``CUTOUT_HOME``) holding the exported graph,
   exported on first use if missing (timed and reported), so the forward is ONNX
   Runtime's; ``--runtimes torch`` adds the torch forward (``cpu_runtime="torch"``).
2. **The command a user types** (``--cli N``): ``cutout remove --model inspyrenet-fast
   --weights CKPT photo.jpg -o out.png`` against ``transparent-background --source
   photo.jpg --mode fast --ckpt CKPT --device cpu``, whole processes (start, imports,
   load, one photo, exit). cutout's first run starts from an empty cache, so it includes
   the first-use export; it is reported on its own line, then N runs of each side
   alternate.

It prints per-image medians (wall; CPU = the worker's process time), the ratio reference /
cutout, the forward's GFLOP/s against this machine's best fp32 matmul rate (measured
first), peak RSS, and the load average before and after. Wall times are noisy on a
shared machine; the ratios come from one interleaved run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared"
PHOTOS = ["animal-1.jpg", "animal-2.jpg", "girl-1.jpg", "car-2.jpg", "aeroplane.jpg"]
RESULTS = HERE / "results"
TBG = HERE / ".venvs" / "tbg" / "bin"
REFERENCE_PYTHON = TBG / "python"
CUTOUT = Path(sys.executable).parent / "cutout"
MODELS = {"fast": ("inspyrenet-fast", 384), "base": ("inspyrenet-base", 1024)}
OUTPUTS = ("default", "mask", "rgba+fg", "forward")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Callable[[], object]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


# -- workers (each runs in its own process, answering one JSON line per command) ---------
def _reference_side(mode: str, ckpt: Path) -> tuple[dict[str, Any], Callable[..., None]]:
    import numpy as np
    import torch
    from PIL import Image
    from transparent_background import Remover

    start = time.perf_counter()
    remover = Remover(mode=mode, ckpt=str(ckpt), device="cpu")
    load = time.perf_counter() - start
    size = MODELS[mode][1]
    kinds = {"default": "rgba", "mask": "map", "rgba+fg": "rgba"}

    def run(output: str, photo: str = "") -> None:
        if output == "forward":
            with torch.no_grad():
                remover.model(torch.zeros(1, 3, size, size))
            return
        with Image.open(photo) as opened:  # what its command does per file
            image = opened.convert("RGB")
        out = remover.process(image, type=kinds[output])
        out.save(io.BytesIO(), format="PNG")

    info = {"load_s": load, "threads": torch.get_num_threads(), "torch": torch.__version__}
    info["numpy"] = np.__version__
    return info, run


def _cutout_side(mode: str, ckpt: Path, runtime: str) -> tuple[dict[str, Any], Callable[..., None]]:
    import numpy as np
    import torch

    from cutout.backends.torch import TorchBackend
    from cutout.config import load_settings
    from cutout.engine import Engine
    from cutout.models.registry import get_spec
    from cutout.options import RemoveOptions

    model, size = MODELS[mode]
    start = time.perf_counter()
    if runtime == "torch":
        backend = TorchBackend(
            get_spec(model), ckpt, device="cpu", verify=False, cpu_runtime="torch"
        )
        engine = Engine(model, backend=backend)
    else:  # the default: the graph from the cache (exported now if missing)
        engine = Engine(model, weights=ckpt, device="cpu", home=load_settings().home)
    engine.load()
    load = time.perf_counter() - start
    options = {
        "default": RemoveOptions(),
        "mask": RemoveOptions(mask=True, edges="off"),
        "rgba+fg": RemoveOptions(edges="best"),
    }
    batch = np.zeros((1, 3, size, size), np.float32)

    def run(output: str, photo: str = "") -> None:
        if output == "forward":
            engine.backend.predict(batch)
        else:
            engine.remove(Path(photo), options[output])

    info = engine.device
    return {
        "load_s": load,
        "threads": info.threads,
        "torch": torch.__version__,
        "precision": info.precision,
        "device": info.name,
        "fallbacks": list(info.fallbacks),
        "gflop": _forward_gflop(size),
    }, run


def _serve(out: IO[str], side: Callable[[], tuple[dict[str, Any], Callable[..., None]]]) -> None:
    """Load, report, then answer ``{"output", "photo"}`` lines with ``{"wall", "cpu"}``."""
    info, run = side()
    out.write(json.dumps(info) + "\n")
    out.flush()
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "exit":
            break
        result = _timed(lambda c=command: run(c["output"], c.get("photo", "")))
        result["peak_rss_mib"] = _peak_rss_mib()
        out.write(json.dumps(result) + "\n")
        out.flush()


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
    import torch

    n = 2048
    flop = 2 * n**3
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    rates: dict[str, float] = {}
    ta = torch.from_numpy(a)
    rates["torch"] = flop / min(_timed(lambda: ta @ ta)["wall"] for _ in range(5)) / 1e9
    rates["numpy"] = flop / min(_timed(lambda: a @ a)["wall"] for _ in range(5)) / 1e9
    session = _ort_matmul_session(n)
    if session is not None:
        feed = {"a": a, "b": a}
        best = min(_timed(lambda: session.run(None, feed))["wall"] for _ in range(5))
        rates["onnxruntime"] = flop / best / 1e9
    return {"gflops": rates}


def _ort_matmul_session(n: int) -> Any:
    try:
        from onnx import TensorProto, helper
    except ImportError:
        return None
    import onnxruntime as ort

    from cutout.backends.onnx import session_options
    from cutout.cpus import usable_cpus

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
    options = session_options(usable_cpus())
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


# -- orchestration ---------------------------------------------------------------------------
class Worker:
    """A worker process of this script, driven over its stdin/stdout."""

    def __init__(self, python: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [str(python), str(Path(__file__).resolve()), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
            cwd=REPO,
        )
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            assert self.process.stderr is not None
            raise SystemExit(f"worker {self.args} failed:\n{self.process.stderr.read()[-3000:]}")
        result: dict[str, Any] = json.loads(line)
        return result

    def run(self, output: str, photo: Path | None = None) -> dict[str, Any]:
        assert self.process.stdin is not None
        command = {"output": output, "photo": str(photo) if photo else ""}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": "exit"}) + "\n")
        self.process.stdin.close()
        self.process.wait(timeout=60)


def _load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _checkpoint(size: int) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.inspyrenet_fixtures import synthetic_checkpoint

    return synthetic_checkpoint(size)


def _in_process(
    mode: str, ckpt: Path, photos: list[Path], reps: int, runtime: str, home: Path, best: float
) -> dict[str, Any]:
    common = ["--mode", mode, "--ckpt", str(ckpt)]
    env = {"CUTOUT_HOME": str(home)}
    started = time.perf_counter()
    ours = Worker(Path(sys.executable), ["--worker", "cutout", "--runtime", runtime, *common], env)
    our_load = time.perf_counter() - started
    reference = Worker(REFERENCE_PYTHON, ["--worker", "reference", *common])
    sides = {"reference": reference, "cutout": ours}
    for worker in sides.values():  # warm-up: pymatting compiles with numba on first use
        worker.run("rgba+fg", photos[0])
        worker.run("default", photos[0])
    times: dict[str, dict[str, list[dict[str, float]]]] = {
        side: {output: [] for output in OUTPUTS} for side in sides
    }
    turn = 0
    for _ in range(reps):
        for photo in photos:
            for output in OUTPUTS:
                if output == "forward" and photo != photos[0]:
                    continue
                order = ["reference", "cutout"] if turn % 2 == 0 else ["cutout", "reference"]
                turn += 1
                for side in order:
                    times[side][output].append(sides[side].run(output, photo))
    peaks = {side: worker.run("forward")["peak_rss_mib"] for side, worker in sides.items()}
    for worker in sides.values():
        worker.close()
    result = {
        "mode": mode,
        "runtime": runtime,
        "photos": [photo.name for photo in photos],
        "reps": reps,
        "reference": reference.info,
        "cutout": {**ours.info, "process_to_loaded_s": our_load},
        "times": times,
        "peak_rss_mib": peaks,
        "best_matmul_gflops": best,
    }
    _keep(f"inspyrenet-{mode}-{runtime}", result)
    return result


def _report_in_process(result: dict[str, Any]) -> None:
    mode, runtime = result["mode"], result["runtime"]
    ours, reference = result["cutout"], result["reference"]
    times, best = result["times"], result["best_matmul_gflops"]
    print(
        f"\n{mode} ({runtime}); photos {', '.join(result['photos'])}; reps {result['reps']}; "
        f"cutout backend: {ours['device']}"
    )
    print("| output | reference s | cutout s | ratio | reference CPU s | cutout CPU s | note |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for output in OUTPUTS:
        ref = times["reference"][output]
        our = times["cutout"][output]
        ref_s, our_s = _median(ref, "wall"), _median(our, "wall")
        ref_cpu, our_cpu = _median(ref, "cpu"), _median(our, "cpu")
        note = ""
        if output == "forward":
            gflop = ours["gflop"]
            note = (
                f"GFLOP/s {gflop / ref_s:.0f} ({100 * gflop / ref_s / best:.0f}%) / "
                f"{gflop / our_s:.0f} ({100 * gflop / our_s / best:.0f}%) of best matmul"
            )
        print(
            f"| {output} | {ref_s:.2f} | {our_s:.2f} | {ref_s / our_s:.2f}x | "
            f"{ref_cpu:.2f} | {our_cpu:.2f} | {note} |"
        )
    peaks = result["peak_rss_mib"]
    print(
        f"load s: reference {reference['load_s']:.1f} / cutout {ours['load_s']:.1f} "
        f"(cutout's process start to loaded: {ours['process_to_loaded_s']:.1f}); "
        f"peak MiB {peaks['reference']:.0f} / {peaks['cutout']:.0f}; torch "
        f"{reference['torch']} / {ours['torch']}; threads {reference['threads']} / "
        f"{ours['threads']}; {ours['gflop']:.0f} GFLOP per forward"
        + (f"; fallbacks: {ours['fallbacks']}" if ours["fallbacks"] else "")
    )


def _median(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(sample[key] for sample in samples)


# -- the command a user types ----------------------------------------------------------------
def _command(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, **env}, cwd=cwd, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "cpu_total": usage.ru_utime + usage.ru_stime, "stderr": done.stderr}


def _cli(mode: str, ckpt: Path, photo: Path, runs: int) -> dict[str, Any]:
    model = MODELS[mode][0]
    with tempfile.TemporaryDirectory(prefix="inspyrenet-cli-") as tmp:
        work = Path(tmp)
        env = {"CUTOUT_HOME": str(work / "home"), "PYTHONWARNINGS": "ignore"}
        ours = [str(CUTOUT), "remove", "--model", model, "--weights", str(ckpt), str(photo)]
        ours += ["-o", str(work / "out.png")]
        theirs = [str(TBG / "transparent-background"), "--source", str(photo)]
        theirs += ["--dest", str(work / "tbg"), "--mode", mode, "--ckpt", str(ckpt)]
        theirs += ["--device", "cpu"]
        first = _command(ours, env, work)  # from an empty cache: exports the graph first
        lines = [line for line in first["stderr"].splitlines() if line.strip()]
        samples: dict[str, list[float]] = {"cutout": [], "reference": []}
        for turn in range(runs):
            order = ["reference", "cutout"] if turn % 2 == 0 else ["cutout", "reference"]
            for side in order:
                argv = theirs if side == "reference" else ours
                samples[side].append(_command(argv, env, work)["wall"])
        result = {
            "mode": mode,
            "photo": photo.name,
            "first_run_s": first["wall"],
            "first_run_stderr": lines,
            "runs": samples,
        }
    _keep(f"inspyrenet-cli-{mode}", result)
    return result


def _report_cli(result: dict[str, Any]) -> None:
    ref = statistics.median(result["runs"]["reference"])
    ours = statistics.median(result["runs"]["cutout"])
    export = result["first_run_s"] - ours
    print(f"\ncommand line, {result['mode']}, one photo ({result['photo']}), whole processes:")
    print(
        f"  cutout's first run from an empty cache: {result['first_run_s']:.1f} s "
        f"(the one-off export: ~{export:.0f} s); its stderr: {result['first_run_stderr']}"
    )
    runs = result["runs"]
    print(
        f"  then, median of {len(runs['cutout'])}: reference {ref:.2f} s "
        f"({', '.join(f'{t:.2f}' for t in runs['reference'])}), cutout {ours:.2f} s "
        f"({', '.join(f'{t:.2f}' for t in runs['cutout'])}): {ref / ours:.2f}x"
    )


def _keep(name: str, result: dict[str, Any]) -> None:
    """bench/results is gitignored; kept so that a crash later in a long run loses nothing."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))


@contextlib.contextmanager
def _results_channel() -> Iterator[IO[str]]:
    """The worker's answers go to the real stdout; anything the libraries print goes to stderr."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        yield channel
    finally:
        channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fast")
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--cli", type=int, default=3, metavar="N", help="command runs (0: none)")
    parser.add_argument("--runtimes", default="onnxruntime", help="onnxruntime (default), torch")
    parser.add_argument("--worker", choices=("reference", "cutout", "matmul"))
    parser.add_argument("--runtime", default="onnxruntime")
    parser.add_argument("--mode", choices=tuple(MODELS))
    parser.add_argument("--ckpt", type=Path)
    parser.add_argument("--home", type=Path, help="cutout's cache (default: a new, empty one)")
    args = parser.parse_args()
    if args.worker == "matmul":
        print(json.dumps(_matmul_worker()))
        return
    if args.worker:
        with _results_channel() as out:
            if args.worker == "reference":
                _serve(out, lambda: _reference_side(args.mode, args.ckpt))
            else:
                _serve(out, lambda: _cutout_side(args.mode, args.ckpt, args.runtime))
        return
    if not REFERENCE_PYTHON.is_file():
        raise SystemExit(f"{REFERENCE_PYTHON} missing: create bench/.venvs/tbg (see docstring)")
    photos = [SHARED / "images" / name for name in PHOTOS[: args.photos]]
    print(f"load average before: {_load()}; cpus {os.cpu_count()}")
    matmul = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--worker", "matmul"], capture_output=True, text=True
        ).stdout
    )["gflops"]
    best = max(matmul.values())
    print(f"fp32 matmul 2048^3, GFLOP/s: {json.dumps({k: round(v) for k, v in matmul.items()})}")
    with tempfile.TemporaryDirectory(prefix="inspyrenet-bench-") as tmp:
        for mode in args.models.split(","):
            ckpt = _checkpoint(MODELS[mode][1])
            # the first cutout worker exports the graph into an empty cache
            home = args.home or Path(tmp) / "home"
            for runtime in args.runtimes.split(","):
                result = _in_process(mode, ckpt, photos, args.reps, runtime, home, best)
                _report_in_process(result)
            if args.cli:
                _report_cli(_cli(mode, ckpt, photos[0], args.cli))
    print(f"\nload average after: {_load()}")


if __name__ == "__main__":
    main()
