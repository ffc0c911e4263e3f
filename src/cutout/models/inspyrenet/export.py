"""Export an InSPyReNet checkpoint to ONNX, for ONNX Runtime (``cutout models export-onnx``).

The graph has a fixed input of 1 x 3 x S x S (S = the record's static size); its first
output is the saliency after the sigmoid (1 x 1 x S x S), its second the logits (for
parity checks), so it plugs into the ONNX backend's
contract (which runs a fixed-batch-1 model image by image). The Swin attention masks
depend on the resolution and are folded into the graph as constants, which is why the
spatial size is fixed (dynamic resize stays on the torch backend).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from cutout.errors import ModelError
from cutout.models.inspyrenet.checkpoint import load_network
from cutout.models.spec import ModelSpec

__all__ = ["OPSET", "export_onnx", "onnx_cache_path"]

OPSET = 17


class _Saliency(nn.Module):
    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.network(image)
        return torch.sigmoid(logits), logits


def onnx_cache_path(spec: ModelSpec, weights_sha256: str, home: Path) -> Path:
    """Where the exported graph of these exact weights lives in the cache under ``home``.

    Keyed by the weights' sha256 and the input size, so a graph is never used with other
    weights. The torch backend runs the CPU forward through it when it exists.
    """
    name = f"{spec.name}-{spec.input_size}-opset{OPSET}-{weights_sha256[:16]}.onnx"
    return home / "onnx" / name


def export_onnx(spec: ModelSpec, weights: Path, output: Path) -> Path:
    """Write ``output`` (an .onnx file) for ``spec`` with ``weights``; returns its path.

    The checkpoint is loaded strictly (a wrong file is a CheckpointError), batch norms
    are folded, and the graph is written atomically.
    """
    if spec.family != "inspyrenet":
        raise ModelError(f"export-onnx supports InSPyReNet models, not {spec.name}")
    network = load_network(weights, spec.input_size)
    wrapped = _Saliency(network).eval()
    example = torch.zeros(1, 3, spec.input_size, spec.input_size)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # the TorchScript exporter is deprecated in favour of dynamo (which needs
            # onnxscript); it handles this network and needs no extra package
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                (example,),
                str(partial),
                input_names=["image"],
                output_names=["saliency", "logits"],
                opset_version=OPSET,
                dynamo=False,
                do_constant_folding=True,
            )
    except Exception as exc:  # the exporter raises many unrelated types
        partial.unlink(missing_ok=True)
        raise ModelError(f"cannot export {spec.name} to ONNX: {exc}") from exc
    partial.replace(output)
    return output
