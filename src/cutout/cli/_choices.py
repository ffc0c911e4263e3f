"""The flags whose values are defined below the CLI (device and quality names), added
the same way by every command that offers them."""

from __future__ import annotations

import argparse

from cutout.devices import DEVICE_NAMES, check_device
from cutout.errors import DeviceError
from cutout.models.inspyrenet.policy import QUALITIES

__all__ = ["add_device_flag", "add_quality_flag", "device_name"]

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


def add_quality_flag(parser: _Adds) -> None:
    parser.add_argument(
        "--quality",
        choices=QUALITIES,
        help="InSPyReNet for the hardware when no --model: auto = base on a GPU, fast on CPU",
    )
