"""The ``--quality`` policy: which InSPyReNet record suits the hardware.

``auto`` picks the 1024 base model on a GPU (CUDA or Apple MPS) and the 384 fast model on
the CPU, where the base model costs roughly ten times as much per image. ``best`` and
``fast`` override the hardware. Pure: no torch import, no device probing.
"""

from __future__ import annotations

from typing import Literal, get_args

from cutout.errors import InvalidOptionError

__all__ = ["QUALITIES", "Quality", "choose_model_for_quality"]

# the one list of quality names: settings, every CLI flag and this policy use it
Quality = Literal["auto", "best", "fast"]
QUALITIES: tuple[Quality, ...] = get_args(Quality)
_GPU_KINDS = ("cuda", "mps")


def choose_model_for_quality(quality: str, device: str) -> str:
    """The model name for ``quality`` ("auto" | "best" | "fast") on ``device``.

    ``device`` is the kind the backend runs on ("cpu", "cuda", "cuda:1", "mps"), i.e.
    the resolved device, not the "auto" policy.
    """
    if quality not in QUALITIES:
        raise InvalidOptionError(
            f"quality must be one of {', '.join(QUALITIES)}, not {quality!r}",
            code="invalid_quality",
        )
    if quality == "best":
        return "inspyrenet-base"
    if quality == "fast":
        return "inspyrenet-fast"
    kind = device.split(":", 1)[0].lower()
    return "inspyrenet-base" if kind in _GPU_KINDS else "inspyrenet-fast"
