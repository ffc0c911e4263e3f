"""The flags whose values are defined below the CLI (device and quality names), added
the same way by every command that offers them."""

from __future__ import annotations

import argparse

from cutout.devices import DEVICE_NAMES, check_device
from cutout.errors import DeviceError
from cutout.models.inspyrenet.policy import QUALITIES

__all__ = ["add_device_flag", "add_quality_flag", "add_require_gpu_flag", "device_name"]

# a parser or one of its argument groups
_Adds = argparse._ActionsContainer


def device_name(text: str) -> str:
    """argparse ``type`` for ``--device``: a usage error (exit 2) names the valid ones."""
    try:
        return check_device(text)
    except DeviceError as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def add_device_flag(parser: _Adds) -> None:
    parser.add_argument(
        "--device",
        type=device_name,
        metavar="{" + ",".join(DEVICE_NAMES) + "}",
        help="default auto: CUDA, then Apple MPS, then the CPU (or CUTOUT_DEVICE)",
    )


def add_require_gpu_flag(parser: _Adds) -> None:
    """``--require-gpu``: None unless given, so ``CUTOUT_REQUIRE_GPU`` still applies."""
    parser.add_argument(
        "--require-gpu",
        action="store_true",
        default=None,
        help="fail unless the model runs on a GPU, never fall back to the CPU "
        "(or CUTOUT_REQUIRE_GPU=1)",
    )


def add_quality_flag(parser: _Adds) -> None:
    parser.add_argument(
        "--quality",
        choices=QUALITIES,
        help="InSPyReNet for the hardware when no --model: auto = base on a GPU, fast on CPU",
    )
