"""Which device the ``auto`` policy resolves to, without loading any model.

``auto`` means CUDA, then Apple MPS, then the CPU. torch answers for CUDA and MPS when the
torch extra is installed; otherwise ONNX Runtime's CUDA provider counts as CUDA. Nothing
is probed at import.
"""

from __future__ import annotations

import importlib.util

__all__ = ["resolve_device"]


def resolve_device(policy: str) -> str:
    """``"auto"`` -> ``"cuda"`` | ``"mps"`` | ``"cpu"``; other policies pass through."""
    if policy != "auto":
        return policy
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    from cutout.backends.onnx import available_providers

    return "cuda" if "CUDAExecutionProvider" in available_providers() else "cpu"
