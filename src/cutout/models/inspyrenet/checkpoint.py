"""Load an official InSPyReNet checkpoint safely and strictly.

The files are plain ``torch.save(state_dict)``; they are read with ``weights_only=True``
(no pickled code runs). Every key, shape and dtype must match the network: anything
missing, unexpected or mis-shaped is a :class:`CheckpointError` that lists it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from cutout.errors import CheckpointError
from cutout.models.inspyrenet.network import InSPyReNet, build_inspyrenet

__all__ = ["check_state_dict", "load_network", "read_state_dict"]

_LISTED = 10  # how many keys an error message names before "and N more"


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """The tensors of a checkpoint file, loaded with ``weights_only=True`` on the CPU."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: checkpoint not found") from exc
    except Exception as exc:  # torch raises pickle/zip/runtime errors for bad files
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    if not isinstance(loaded, dict) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    return {str(key): value for key, value in loaded.items()}


def check_state_dict(network: torch.nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` unless keys, shapes and dtypes match exactly."""
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{key} {tuple(state[key].shape)} {state[key].dtype} "
        f"(expected {tuple(value.shape)} {value.dtype})"
        for key, value in expected.items()
        if key in state and (state[key].shape != value.shape or state[key].dtype != value.dtype)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} mismatched tensors: {_listing(mismatched)}")
    if problems:
        raise CheckpointError(
            f"{source}: not an InSPyReNet Swin-B checkpoint; " + "; ".join(problems)
        )


def load_network(path: Path, base_size: int, *, fuse: bool = True) -> InSPyReNet:
    """Build the network, load ``path`` strictly, switch to eval (and fold batch norms)."""
    state = read_state_dict(path)
    network = build_inspyrenet(base_size)
    check_state_dict(network, state, str(path))
    network.load_state_dict(state, strict=True)
    network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network.fuse() if fuse else network
