"""A tiny stand-in for InSPyReNet's exported graph, and an exporter that writes it.

The stand-in has the export's interface (``image`` 1 x 3 x S x S in; ``saliency`` and
``logits`` 1 x 1 x S x S out) and computes the sigmoid of the channel mean, so tests can
tell by the numbers which runtime answered, and need no 60-second export.

Run as a script it is a process that loads the torch backend with the stand-in exporter in
place, for the tests of the export on first use across processes::

    python -m tests.graph_stand_in HOME WEIGHTS START_AT EXPORT_SECONDS LOG
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from cutout.arrays import FloatArray
from cutout.models.registry import get_spec
from cutout.models.spec import ModelSpec

__all__ = ["SPEC", "stand_in", "stand_in_exporter", "stand_in_graph"]

SPEC = get_spec("inspyrenet-fast")


def stand_in_graph(path: Path, size: int = SPEC.input_size) -> None:
    import onnx
    from onnx import TensorProto, helper

    shape = [1, 3, size, size]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["logits"], axes=[1], keepdims=1),
            helper.make_node("Sigmoid", ["logits"], ["saliency"]),
        ],
        "stand-in",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [
            helper.make_tensor_value_info("saliency", TensorProto.FLOAT, [1, 1, size, size]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, size, size]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def stand_in(batch: FloatArray) -> FloatArray:
    result: FloatArray = (1 / (1 + np.exp(-batch.mean(axis=1)))).astype(np.float32)
    return result


def stand_in_exporter(seconds: float = 0.0, log: Path | None = None) -> object:
    """A replacement for ``export.export_onnx``: notes the call in ``log``, takes
    ``seconds``, then writes the stand-in the way the real one writes (partial, rename)."""

    def export_onnx(
        spec: ModelSpec, weights: Path, output: Path, *, optimize: bool = False
    ) -> Path:
        if log is not None:
            with log.open("a") as handle:
                handle.write(f"{os.getpid()}\n")
        time.sleep(seconds)
        partial = output.with_name(f"{output.name}.{os.getpid()}.partial")
        stand_in_graph(partial, spec.input_size)
        partial.replace(output)
        return output

    return export_onnx


def _main(home: Path, weights: Path, start_at: float, seconds: float, log: Path) -> None:
    from cutout.backends.torch import TorchBackend
    from cutout.models.inspyrenet import export

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    export.export_onnx = stand_in_exporter(seconds, log)  # type: ignore[assignment]
    time.sleep(max(0.0, start_at - time.time()))  # both processes start together
    backend = TorchBackend(SPEC, weights, device="cpu", threads=1, verify=False, home=home)
    backend.load()
    batch = np.ones((1, 3, SPEC.input_size, SPEC.input_size), np.float32)
    assert backend.graph is not None and backend.network is None, backend.device
    np.testing.assert_allclose(backend.predict(batch), stand_in(batch), atol=1e-6)
    print("graph", flush=True)


if __name__ == "__main__":
    _main(
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        float(sys.argv[3]),
        float(sys.argv[4]),
        Path(sys.argv[5]),
    )
