"""U^2-Net small (u2netp): the embedded default model, 320x320, ONNX, 4.6 MB.

Reference pre/postprocessing (U^2-Net's own code and rembg): resize to 320 with Lanczos,
divide by the image's maximum, ImageNet mean/std; the first output is the saliency map
after sigmoid; min-max normalise it, resize back with Lanczos.
"""

from __future__ import annotations

from cutout.models.spec import ModelSpec, WeightsSource

__all__ = ["U2NETP"]

U2NETP = ModelSpec(
    name="u2netp",
    family="u2net",
    backend="onnx",
    input_size=320,
    weights=WeightsSource(
        filename="u2netp.onnx",
        url="https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2netp.onnx",
        sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        md5="8e83ca70e441ab06c318d82300c84806",
        size=4_574_861,
        embedded=True,
    ),
    licence="Apache-2.0 (U^2-Net, Xuebin Qin et al., Pattern Recognition 2020)",
    description="U^2-Net small, 1.1 M parameters; embedded, runs offline on any CPU",
    interpolation="lanczos",
    upsample="lanczos",
    scale_by_max=True,
    resize_policies=("static",),
    max_batch=8,
)
