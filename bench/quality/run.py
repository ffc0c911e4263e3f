"""The edge-quality benchmark: each method run as the CLI a user would type, on a folder of
synthetic composites, timed, and scored against the exact truth (see docs/quality.md).

    .venv/bin/python bench/quality/run.py                         # 12 cases, every method
    .venv/bin/python bench/quality/run.py --cases 4 --methods "cutout,rembg -a"
    .venv/bin/python bench/quality/run.py --json results.json --keep /tmp/quality

The cases are generated once per (generator source, seed, count, size) and cached under
``.cache/quality/``. Each method is one command on the whole folder, with the wall time
of that command (start-up and model load included) divided by the number of images. The
rembg methods need ``bench/.venvs/rembg`` (see bench/README.md); they run offline, with
``U2NET_HOME`` holding the same ``u2netp.onnx`` as cutout's. A method that cannot run is
reported and skipped.

A new method, or a new level of an option, is one line in :data:`METHODS`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.quality import machine, synth
from bench.quality.metrics import spearman
from bench.quality.score import read_confidences, read_cutout, score
from bench.quality.tables import print_ratios, print_table

__all__ = ["METHODS", "Method", "cutout", "main", "rembg"]

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "quality"
REMBG_VENV = REPO / "bench" / ".venvs" / "rembg"
MODEL_FILE = REPO / "src" / "cutout" / "models" / "data" / "u2netp.onnx"
REFERENCE = "rembg -a"


@dataclass(frozen=True)
class Method:
    """A command line; ``{input}``, ``{output}`` (folders) and ``{report}`` are filled in.

    ``report``: the command also writes a JSON-lines report with a ``confidence`` per
    image to ``{report}``; the Spearman correlation of 1 - confidence with band SAD is
    then computed.
    """

    name: str
    program: str  # "cutout" or "rembg"
    arguments: tuple[str, ...]
    report: bool = False


def cutout(*options: str) -> Method:
    """``cutout remove DIR -o OUT [options]``, with the cutout of this environment."""
    return Method(
        " ".join(("cutout", *options)), "cutout", ("remove", "{input}", "-o", "{output}", *options)
    )


def rembg(*options: str) -> Method:
    """``rembg p -m u2netp [options] DIR OUT``, from bench/.venvs/rembg."""
    return Method(
        " ".join(("rembg", *options)),
        "rembg",
        ("p", "-m", "u2netp", *options, "{input}", "{output}"),
    )


# One line per method, named by its options. rembg's -a defaults: trimap foreground > 240
# and background < 10 on u2netp's mask, both eroded by a 10 px square, closed-form alpha
# (pymatting's estimate_alpha_cf) on the whole image, then estimate_foreground_ml.
METHODS = (
    cutout(),
    cutout("--edges", "off"),
    cutout("--edges", "fast"),
    cutout("--edges", "best"),
    rembg(),
    rembg("-a"),
)


def _with_report(method: Method) -> Method:
    arguments = (*method.arguments, "--report", "{report}")
    return Method(method.name, method.program, arguments, report=True)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def cutout_has_report(program: list[str], env: dict[str, str]) -> bool:
    """Whether this cutout's ``remove`` takes ``--report`` (a per-image confidence)."""
    helped = subprocess.run(
        [*program, "remove", "--help"], env=env, capture_output=True, text=True, check=False
    )
    return "--report" in helped.stdout


@dataclass
class Outcome:
    """What one method did on the cases: time, per-case scores, and any failure."""

    method: str
    seconds: float = math.nan
    images: int = 0
    cases: dict[str, dict[str, float]] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def per_image(self) -> float:
        return self.seconds / self.images if self.images else math.nan

    def mean(self, names: list[str] | None = None) -> dict[str, float]:
        """Mean of every score over the cases it has (of ``names``, when given)."""
        chosen = [scores for name, scores in self.cases.items() if names is None or name in names]
        keys = {key for scores in chosen for key in scores}
        return {key: float(sum(s[key] for s in chosen) / len(chosen)) for key in keys}

    def correlation(self) -> float | None:
        """Spearman of (1 - confidence) with band SAD, when confidences were reported."""
        common = [name for name in self.cases if name in self.confidence]
        if len(common) < 2:
            return None
        doubt = [1 - self.confidence[name] for name in common]
        return spearman(doubt, [self.cases[name]["band_sad"] for name in common])


def _programs() -> dict[str, list[str]]:
    console = Path(sys.executable).with_name("cutout")
    programs = {"cutout": [str(console)] if console.exists() else [sys.executable, "-m", "cutout"]}
    rembg_bin = REMBG_VENV / "bin" / "rembg"
    if rembg_bin.exists():
        programs["rembg"] = [str(rembg_bin)]
    return programs


def _environment(home: Path) -> dict[str, str]:
    """This environment without CUTOUT_* (defaults are defaults), rembg offline."""
    shutil.copyfile(MODEL_FILE, home / "u2netp.onnx")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CUTOUT_")}
    env["U2NET_HOME"] = str(home)
    return env


def _cases(args: argparse.Namespace, root: Path | None) -> Path:
    """The case folder under ``root`` (``--keep``) or the cache, named by the generator's
    code and parameters (so a stale one is never reused); generated when missing."""
    folder = (root or CACHE) / synth.cache_key(args.cases, args.seed, args.size)
    if not (folder / "cases.json").exists():
        print(f"generating {args.cases} cases in {folder} ...", flush=True)
        started = time.perf_counter()
        synth.write_cases(folder, args.cases, args.seed, args.size)
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def run_method(
    method: Method, programs: dict[str, list[str]], cases: Path, out: Path, env: dict[str, str]
) -> Outcome:
    """Run ``method`` on ``cases/images`` into ``out`` (timed), then score each output."""
    outcome = Outcome(method.name)
    if method.program not in programs:
        venv = REMBG_VENV.relative_to(REPO)
        outcome.errors.append(
            f"skipped: no {venv} (python3 -m venv {venv} && {venv}/bin/pip install "
            "'rembg[cli]' onnxruntime)"
        )
        return outcome
    names = [info["name"] for info in json.loads((cases / "cases.json").read_text())]
    report = out.with_suffix(".jsonl")
    fill = {"input": str(cases / "images"), "output": str(out), "report": str(report)}
    command = programs[method.program] + [part.format(**fill) for part in method.arguments]
    shutil.rmtree(out, ignore_errors=True)  # rembg p skips outputs that exist
    report.unlink(missing_ok=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    outcome.seconds = time.perf_counter() - started
    outcome.images = len(names)
    if done.returncode != 0:
        outcome.errors.append(f"exit {done.returncode}: {done.stderr.strip()[-500:]}")
    for name in names:
        path = out / f"{name}.png"
        if not path.exists():
            outcome.errors.append(f"{name}: no output")
            continue
        alpha, foreground = read_cutout(path)
        outcome.cases[name] = score(alpha, foreground, synth.read_truth(cases, name))
    if method.report and report.exists():
        outcome.confidence = read_confidences(report)
    return outcome


def _select(names: str | None) -> list[Method]:
    if not names:
        return list(METHODS)
    known = {method.name: method for method in METHODS}
    chosen = [part.strip() for part in names.split(",") if part.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; known: {', '.join(known)}")
    return [known[name] for name in chosen]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=synth.DEFAULT_CASES)
    parser.add_argument("--seed", type=int, default=synth.DEFAULT_SEED)
    parser.add_argument("--size", type=int, default=synth.DEFAULT_SIZE, help="long side, px")
    parser.add_argument(
        "--methods",
        help="comma-separated names (default: all): "
        + ", ".join(method.name for method in METHODS),
    )
    parser.add_argument("--json", type=Path, help="write per-case results here")
    parser.add_argument("--keep", type=Path, help="keep the cases and outputs in this folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    methods = _select(args.methods)
    before = machine.describe()
    print(machine.summary(before), flush=True)
    with tempfile.TemporaryDirectory(prefix="cutout-quality-") as temporary:
        root = args.keep.resolve() if args.keep else None
        cases = _cases(args, root)
        env = _environment(Path(temporary))
        programs = _programs()
        if "cutout" in programs and cutout_has_report(programs["cutout"], env):
            methods = [_with_report(m) if m.program == "cutout" else m for m in methods]
        outputs = (root or Path(temporary)) / "out"
        outcomes = []
        for method in methods:
            print(f"running {method.name} ...", flush=True)
            outcome = run_method(method, programs, cases, outputs / _slug(method.name), env)
            for error in outcome.errors:
                print(f"  {method.name}: {error}", flush=True)
            if outcome.cases:
                print(f"  {outcome.seconds:.1f} s, {outcome.per_image:.2f} s/image", flush=True)
            outcomes.append(outcome)
    after = machine.describe()
    infos = json.loads((cases / "cases.json").read_text())
    scored = [outcome for outcome in outcomes if outcome.cases]
    for info in infos:
        title = f"{info['name']}: {info['subject']} on {info['background']}"
        rows = {o.method: o.cases[info["name"]] for o in scored if info["name"] in o.cases}
        print_table(title, rows)
    for kind, names in _kinds(infos).items():
        by_kind = {o.method: o.mean(names) for o in scored}
        print_table(f"mean over the {len(names)} cases on a {kind} background", by_kind)
    means = {o.method: o.mean() for o in scored}
    extra = {o.method: {"s/img": o.per_image, "rho": o.correlation()} for o in scored}
    print_table(f"mean over {len(infos)} cases", means, extra)
    print_ratios(means, extra, REFERENCE)
    print(f"load average after: {after['load_average']}")
    if args.json:
        _write_json(args, before, after, infos, outcomes)
    return 0 if all(not outcome.errors for outcome in outcomes) else 1


def _kinds(infos: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Case names by kind of background, in the order the kinds first appear."""
    kinds: dict[str, list[str]] = {}
    for info in infos:
        kinds.setdefault(str(info.get("kind", "?")), []).append(str(info["name"]))
    return kinds


def _write_json(
    args: argparse.Namespace,
    before: dict[str, Any],
    after: dict[str, Any],
    infos: list[dict[str, Any]],
    outcomes: list[Outcome],
) -> None:
    document = {
        "machine": before,
        "load_average_after": after["load_average"],
        "cases": infos,
        "options": {"cases": args.cases, "seed": args.seed, "size": args.size},
        "methods": [
            {
                "name": outcome.method,
                "seconds": outcome.seconds,
                "seconds_per_image": outcome.per_image,
                "errors": outcome.errors,
                "mean": outcome.mean() if outcome.cases else {},
                "mean_by_kind": {
                    kind: outcome.mean(names)
                    for kind, names in _kinds(infos).items()
                    if any(name in outcome.cases for name in names)
                },
                "confidence_spearman": outcome.correlation(),
                "cases": outcome.cases,
                "confidence": outcome.confidence,
            }
            for outcome in outcomes
        ],
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
