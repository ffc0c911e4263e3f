"""Device names, and which device ``auto`` means on this machine.

The names are ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (the N-th CUDA device) and ``mps``
(Apple). :func:`check_device` is the one check of a name, used by the settings, every
CLI flag and the backends. ``auto`` means CUDA, then Apple MPS, then the CPU;
:func:`resolve_device` is that rule, for the torch backend and ``--quality auto`` alike.

What hardware there is comes from a :class:`DeviceProbe`: torch's view when the torch
extra is installed, otherwise ONNX Runtime's CUDA provider. Tests inject their own.
Nothing is probed, and neither torch nor ONNX Runtime is imported, at import.

ONNX Runtime ships as several distributions that install one and the same
``onnxruntime`` package folder (``onnxruntime`` for the CPU, ``onnxruntime-gpu`` for
CUDA). With two installed, one's files overwrite the other's and CUDA is silently
unavailable; :func:`onnxruntime_conflict` says so, in words a user can act on.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata

from cutout.errors import DeviceError

__all__ = [
    "DEVICE_NAMES",
    "GPU_KINDS",
    "ONNXRUNTIME_DISTRIBUTIONS",
    "DeviceProbe",
    "available_providers",
    "check_device",
    "default_probe",
    "onnxruntime_conflict",
    "onnxruntime_distributions",
    "onnxruntime_probe",
    "resolve_device",
    "select_device",
    "torch_probe",
]

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")
# the device kinds that are a GPU (what ``--require-gpu`` accepts): NVIDIA CUDA, Apple MPS
GPU_KINDS = frozenset({"cuda", "mps"})
_DEVICE = re.compile(r"auto|cpu|mps|cuda(?::[0-9]+)?")

# the distributions that install the `onnxruntime` package (at most one may be installed)
ONNXRUNTIME_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
)


def check_device(name: str) -> str:
    """``name`` when it is a device name, else :class:`DeviceError` listing the names."""
    if _DEVICE.fullmatch(name) is None:
        names = f"{', '.join(DEVICE_NAMES[:-1])} or {DEVICE_NAMES[-1]}"
        raise DeviceError(f"unknown device {name!r}; use {names}")
    return name


@dataclass(frozen=True)
class DeviceProbe:
    """What hardware there is, as a runtime sees it; injectable so device choice is
    testable anywhere. ``source`` names the runtime in error messages."""

    cuda_available: Callable[[], bool]
    mps_available: Callable[[], bool]
    source: str = "torch"


def torch_probe() -> DeviceProbe:
    """torch's view (imports torch: call it only where torch is meant to run)."""
    import torch

    return DeviceProbe(torch.cuda.is_available, torch.backends.mps.is_available)


def onnxruntime_probe() -> DeviceProbe:
    """ONNX Runtime's view: CUDA when its CUDA provider is there; it has no MPS."""
    return DeviceProbe(
        cuda_available=lambda: "CUDAExecutionProvider" in available_providers(),
        mps_available=lambda: False,
        source="ONNX Runtime",
    )


def default_probe() -> DeviceProbe:
    """torch's view when the torch extra is installed, else ONNX Runtime's."""
    if importlib.util.find_spec("torch") is not None:
        return torch_probe()
    return onnxruntime_probe()


def resolve_device(requested: str, probe: DeviceProbe | None = None) -> str:
    """The ``auto`` rule: CUDA, then Apple MPS, then the CPU, by what ``probe`` sees.

    Other names are checked and returned as they are (whether that device exists is
    :func:`select_device`'s question). The probe is consulted only for ``auto``.
    """
    if check_device(requested) != "auto":
        return requested
    probe = probe or default_probe()
    if probe.cuda_available():
        return "cuda"
    return "mps" if probe.mps_available() else "cpu"


def select_device(requested: str, probe: DeviceProbe | None = None) -> str:
    """:func:`resolve_device`, and a :class:`DeviceError` when a named GPU is not there."""
    probe = probe or default_probe()
    target = resolve_device(requested, probe)
    kind = target.partition(":")[0]
    if kind == "cuda" and not probe.cuda_available():
        raise DeviceError(f"device {requested!r} requested but {probe.source} sees no CUDA device")
    if kind == "mps" and not probe.mps_available():
        raise DeviceError(f"device 'mps' requested but {probe.source} sees no Apple MPS device")
    return target


def available_providers() -> tuple[str, ...]:
    """ONNX Runtime's execution providers on this machine (imports onnxruntime)."""
    import onnxruntime as ort

    return tuple(ort.get_available_providers())


def onnxruntime_distributions(
    version: Callable[[str], str] = metadata.version,
) -> tuple[str, ...]:
    """The ONNX Runtime distributions installed (``version`` is injectable for tests)."""
    found = []
    for name in ONNXRUNTIME_DISTRIBUTIONS:
        try:
            version(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return tuple(found)


def onnxruntime_conflict(installed: Sequence[str] | None = None) -> str | None:
    """What is wrong when more than one ONNX Runtime distribution is installed, and the
    commands that leave exactly one; None when there is at most one."""
    installed = onnxruntime_distributions() if installed is None else tuple(installed)
    if len(installed) < 2:
        return None
    keep = "onnxruntime-gpu" if "onnxruntime-gpu" in installed else installed[0]
    return (
        f"{' and '.join(installed)} are installed together: they share one onnxruntime "
        "package folder, so whichever was installed last overwrote the other and CUDA "
        f"may be silently unavailable. Keep exactly one: pip uninstall -y "
        f"{' '.join(installed)} && pip install {keep}"
    )
