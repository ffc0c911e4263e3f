"""Export an InSPyReNet checkpoint to ONNX, for ONNX Runtime (``cutout models export-onnx``).

The graph has a fixed input of 1 x 3 x S x S (S = the record's static size); its first
output is the saliency after the sigmoid (1 x 1 x S x S), its second the logits (for
parity checks), so it plugs into the ONNX backend's
contract (which runs a fixed-batch-1 model image by image). The Swin attention masks
depend on the resolution and are folded into the graph as constants, which is why the
spatial size is fixed (dynamic resize stays on the torch backend). torch is imported only
by the export itself, so finding a cached graph costs no torch import.

:func:`cached_graph` is the export on first CPU use: the graph of these exact weights in
the cache, exported first when it is missing, once across processes (an exclusive lock
beside it: a second process that needs it meanwhile waits, then uses the same file),
written atomically, and announced by one log line (``exporting inspyrenet-fast for the
CPU (once, ~1 min)...``) that the CLI and the server show; the library prints nothing.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from cutout.errors import ModelError
from cutout.models import locks
from cutout.models.spec import ModelSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "EXPORT_WAIT_SECONDS",
    "OPSET",
    "cached_graph",
    "export_estimate",
    "export_onnx",
    "onnx_cache_path",
]

logger = logging.getLogger(__name__)

OPSET = 17
# how long a process waits for another one's export of the same graph before giving up
# (and running torch): the 1024 export takes 3 minutes on 2 cores
EXPORT_WAIT_SECONDS = 15 * 60.0
# measured on 2 cores (docs/inspyrenet.md): 45-60 s at 384, about 180 s at 1024
_EXPORT_SECONDS_AT_384 = 60.0


def _saliency_and_logits(network: nn.Module) -> nn.Module:
    """``network`` with the export's two outputs: the sigmoid (saliency) and the logits."""
    import torch
    from torch import Tensor, nn

    class Saliency(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
            logits = self.network(image)
            return torch.sigmoid(logits), logits

    return Saliency().eval()


def onnx_cache_path(spec: ModelSpec, weights_sha256: str, home: Path) -> Path:
    """Where the exported graph of these exact weights lives in the cache under ``home``.

    Keyed by the weights' sha256 and the input size, so a graph is never used with other
    weights, and by the ONNX Runtime version: the cached graph is stored after ONNX
    Runtime's graph optimisations (see :func:`export_onnx`), in that version's operators.
    The torch backend runs the CPU forward through it when it exists.
    """
    import onnxruntime

    runtime = ".".join(onnxruntime.__version__.split(".")[:2])
    name = f"{spec.name}-{spec.input_size}-opset{OPSET}-ort{runtime}-{weights_sha256[:16]}.onnx"
    return home / "onnx" / name


def export_estimate(spec: ModelSpec) -> str:
    """How long the export takes, roughly, for the progress line."""
    seconds = _EXPORT_SECONDS_AT_384 * (spec.input_size / 384) ** 1.1
    return f"~{max(1, round(seconds / 60))} min"


def cached_graph(
    spec: ModelSpec,
    weights: Path,
    weights_sha256: str,
    home: Path,
    *,
    force: bool = False,
    wait: float = EXPORT_WAIT_SECONDS,
) -> Path:
    """The exported graph of ``weights`` (whose sha256 is given) in the cache under
    ``home``, exported first when it is missing (or when ``force``).

    Once across processes: the export runs under an exclusive lock beside the graph; a
    process that finds the lock taken says so once, waits (at most ``wait`` seconds, then
    :class:`ModelError`) and uses the graph the other one wrote. A killed exporter leaves
    no held lock and no graph, only a partial file, removed by the next export.
    """
    path = onnx_cache_path(spec, weights_sha256, home)
    if path.is_file() and not force:
        return path

    def waiting() -> None:
        logger.info("waiting for another process to export %s for the CPU...", spec.name)

    lock = path.with_name(path.name + ".lock")
    try:
        with locks.exclusive(lock, timeout=wait, on_wait=waiting):
            if path.is_file() and not force:
                return path  # another process exported it while this one waited
            for stale in path.parent.glob(f"{path.name}.*.partial*"):
                stale.unlink(missing_ok=True)  # left by a killed export; none runs now
            logger.info("exporting %s for the CPU (once, %s)...", spec.name, export_estimate(spec))
            return export_onnx(spec, weights, path, optimize=True)
    except locks.LockTimeout as exc:
        raise ModelError(f"gave up waiting for the export of {spec.name}: {exc}") from exc
    except OSError as exc:  # the lock beside the graph: a cache this process cannot write
        raise ModelError(f"cannot export {spec.name} into {path.parent}: {exc}") from exc


def export_onnx(spec: ModelSpec, weights: Path, output: Path, *, optimize: bool = False) -> Path:
    """Write ``output`` (an .onnx file) for ``spec`` with ``weights``; returns its path.

    The checkpoint is loaded strictly (a wrong file is a CheckpointError), batch norms
    are folded, and the graph is written atomically (a uniquely named partial file,
    renamed over ``output``). ``optimize`` (the cache's graphs) stores it after ONNX
    Runtime's extended graph optimisations (fused LayerNorm, GELU, MatMul + Add: CPU
    operators of this ONNX Runtime, but no layout specific to this processor), which a
    session would otherwise redo at every start (2.1 -> 0.8 s of CPU at 384); without it,
    the graph is plain ONNX for any runtime.
    """
    if spec.family != "inspyrenet":
        raise ModelError(f"export-onnx supports InSPyReNet models, not {spec.name}")
    import torch

    from cutout.models.inspyrenet.checkpoint import load_network

    wrapped = _saliency_and_logits(load_network(weights, spec.input_size))
    example = torch.zeros(1, 3, spec.input_size, spec.input_size)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=output.parent, prefix=output.name + ".", suffix=".partial")
    os.close(handle)
    partial = Path(name)
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
        if optimize:
            _optimize(partial)
        os.chmod(partial, 0o644)  # mkstemp's 0600 would hide it from other users
        partial.replace(output)
    except Exception as exc:  # the exporter raises many unrelated types; OSError: disk
        partial.unlink(missing_ok=True)
        raise ModelError(f"cannot export {spec.name} to ONNX: {exc}") from exc
    return output


def _optimize(path: Path) -> None:
    """Replace the graph at ``path`` by ONNX Runtime's extended optimisation of it.

    Not an inference session (those are opened by :mod:`cutout.backends.onnx`): one pass of
    the optimiser that writes its result. Extended, not all: the layout transformations of
    "all" depend on this processor's vector width, so they are left to each session.
    """
    import onnxruntime as ort

    optimized = path.with_name(path.name + ".optimized")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(optimized)
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        optimized.replace(path)
    finally:
        optimized.unlink(missing_ok=True)
