"""The model record: everything code needs to know about a model, as frozen data.

A model is a :class:`ModelSpec`: input size, normalisation, resize and upsampling policy,
where its weights come from and how they are verified (:class:`WeightsSource`), and its
licence. A variant is a new record, not a subclass. The records of each family live in
their own module (``u2netp``, ``inspyrenet_specs``), which imports only this one; the
registry imports those.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from cutout.errors import InvalidOptionError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BackendName",
    "Interpolation",
    "ModelSpec",
    "ResizePolicy",
    "Upsample",
    "WeightsSource",
]

ResizePolicy = Literal["static", "dynamic"]
Interpolation = Literal["bilinear", "lanczos"]
Upsample = Literal["bilinear_align_corners", "bilinear", "lanczos"]
BackendName = Literal["onnx", "torch"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from and how to verify them.

    ``embedded`` weights ship inside the package (``filename`` under
    ``cutout/models/data``); others are downloaded by ``cutout models pull`` from ``url``
    into the weights cache as ``filename``. At least one digest should be known; ``md5``
    exists because some upstreams publish only md5.
    """

    filename: str
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    embedded: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """Everything code needs to know to preprocess for, run and postprocess a model."""

    name: str
    family: str
    backend: BackendName
    input_size: int
    weights: WeightsSource
    licence: str
    description: str
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: ResizePolicy = "static"
    interpolation: Interpolation = "bilinear"
    upsample: Upsample = "bilinear"
    # U^2-Net's reference preprocessing divides by the image's maximum, not by 255.
    scale_by_max: bool = False
    # The largest batch the backend accepts in one forward (u2netp.onnx has a fixed batch 1,
    # which the ONNX backend loops over).
    max_batch: int = 8
    # dynamic resize: the shorter side is capped at this, both sides rounded to ``multiple``.
    dynamic_max_side: int = 1280
    dynamic_multiple: int = 32
    aliases: tuple[str, ...] = field(default=())
    # the resize policies the network accepts (a graph with a fixed input size: static only)
    resize_policies: tuple[ResizePolicy, ...] = ("static", "dynamic")

    def with_resize(self, resize: ResizePolicy) -> ModelSpec:
        """This record with another resize policy; one the model cannot run is refused."""
        if resize not in self.resize_policies:
            allowed = ", ".join(self.resize_policies)
            raise InvalidOptionError(
                f"model {self.name} takes a fixed {self.input_size}x{self.input_size} input: "
                f"resize {resize!r} is not possible (allowed: {allowed})",
                code="invalid_resize",
            )
        return replace(self, resize=resize)
