"""``cutout info``: versions, devices, ONNX Runtime providers, models and their weights.

Works on the base install: torch is reported when installed and skipped when not.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
from importlib import metadata
from typing import Any

__all__ = ["collect", "register"]

_PACKAGES = ("cutout", "numpy", "pillow", "pillow-heif", "onnxruntime", "onnxruntime-gpu", "torch")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "info", help="versions, devices and models", description="What cutout runs on."
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _torch_devices() -> dict[str, Any]:
    if importlib.util.find_spec("torch") is None:
        return {"torch": "not installed (pip install 'cutout[torch]')"}
    try:
        import torch
    except Exception as exc:  # a broken torch install must not break `cutout info`
        return {"torch": f"cannot import: {type(exc).__name__}: {exc}"}
    cuda = bool(torch.cuda.is_available())
    devices: dict[str, Any] = {
        "cuda": cuda,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else [],
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "torch_threads": int(torch.get_num_threads()),
    }
    return devices


def _providers() -> list[str] | str:
    from cutout.devices import available_providers

    try:
        return list(available_providers())
    except ImportError as exc:
        return f"onnxruntime unavailable: {exc}"


def collect() -> dict[str, Any]:
    from cutout.cli.models import weights_state
    from cutout.config import load_settings
    from cutout.cpus import machine_cpus, usable_cpus
    from cutout.devices import onnxruntime_conflict, onnxruntime_distributions
    from cutout.models.registry import all_specs
    from cutout.models.weights import cache_dir

    home = load_settings().home
    versions = {package: _version(package) for package in _PACKAGES}
    versions["python"] = platform.python_version()
    models = []
    for spec in all_specs():
        state = weights_state(spec, home)
        models.append(
            {
                "name": spec.name,
                "backend": spec.backend,
                "weights": str(state.path),
                "source": state.source,
                "present": state.present,
            }
        )
    return {
        "versions": versions,
        "platform": platform.platform(),
        "devices": {
            "cpu_cores": machine_cpus(),
            # what thread counts are sized from: affinity, capped by a cgroup CPU quota
            "usable_cpus": usable_cpus(),
            **_torch_devices(),
        },
        "onnxruntime_providers": _providers(),
        # two builds share one package folder: CUDA may then be silently unavailable
        "onnxruntime_distributions": list(onnxruntime_distributions()),
        "onnxruntime_conflict": onnxruntime_conflict(),
        "weights_cache": str(cache_dir(home)),
        "models": models,
    }


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    out = sys.stdout
    out.write("versions\n")
    for name, version in info["versions"].items():
        out.write(f"  {name:<14} {version or 'not installed'}\n")
    out.write(f"platform\n  {info['platform']}\n")
    out.write("devices\n")
    for name, value in info["devices"].items():
        shown = ", ".join(value) if isinstance(value, list) else value
        out.write(f"  {name:<14} {shown if shown != '' else 'none'}\n")
    providers = info["onnxruntime_providers"]
    shown = ", ".join(providers) if isinstance(providers, list) else providers
    out.write(f"onnxruntime providers\n  {shown}\n")
    if info["onnxruntime_conflict"] is not None:
        out.write(f"onnxruntime WARNING\n  {info['onnxruntime_conflict']}\n")
    out.write(f"models (weights cache: {info['weights_cache']})\n")
    for model in info["models"]:
        state = "present" if model["present"] else "missing"
        if model["source"] == "embedded":
            state = "embedded"
        out.write(f"  {model['name']:<24} {model['backend']:<6} {state:<8} {model['weights']}\n")
    return 0
