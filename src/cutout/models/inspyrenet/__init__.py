"""InSPyReNet (Swin-B): our PyTorch implementation of the official checkpoints' network.

Needs the ``torch`` extra. Submodules: :mod:`.swin` (backbone), :mod:`.modules` (context,
decoder, SICA, pyramid), :mod:`.network` (the model), :mod:`.checkpoint` (strict, safe
loading), :mod:`.export` (ONNX), :mod:`.policy` (``--quality auto``). Importing this
package imports nothing heavy; the submodules import torch.
"""

from __future__ import annotations

from cutout.models.inspyrenet.policy import QUALITIES, choose_model_for_quality

__all__ = ["QUALITIES", "choose_model_for_quality"]
