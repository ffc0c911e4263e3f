"""InSPyReNet (Swin-B) model records: the official checkpoints of transparent-background.

The network lives in :mod:`cutout.models.inspyrenet` (torch extra); these records are data
only, so the base install lists the models and explains how to get their weights.
"""

from __future__ import annotations

from cutout.models.spec import ModelSpec, WeightsSource

__all__ = ["INSPYRENET_SPECS"]

_RELEASE = "https://github.com/plemeri/transparent-background/releases/download/1.2.12"
_LICENCE = "MIT (InSPyReNet, Kim et al., ACCV 2022; transparent-background)"

INSPYRENET_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="inspyrenet-base",
        family="inspyrenet",
        backend="torch",
        input_size=1024,
        weights=WeightsSource(
            filename="ckpt_base.pth",
            url=f"{_RELEASE}/ckpt_base.pth",
            md5="d692e3dd5fa1b9658949d452bebf1cda",
        ),
        licence=_LICENCE,
        description="InSPyReNet Swin-B at 1024x1024, best quality (GPU recommended)",
        upsample="bilinear_align_corners",
        max_batch=16,
    ),
    ModelSpec(
        name="inspyrenet-fast",
        family="inspyrenet",
        backend="torch",
        input_size=384,
        weights=WeightsSource(
            filename="ckpt_fast.pth",
            url=f"{_RELEASE}/ckpt_fast.pth",
            md5="9efdbfbcc49b79ef0f7891c83d2fd52f",
        ),
        licence=_LICENCE,
        description="InSPyReNet Swin-B at 384x384, fast (CPU friendly)",
        upsample="bilinear_align_corners",
        max_batch=16,
    ),
    ModelSpec(
        name="inspyrenet-base-nightly",
        family="inspyrenet",
        backend="torch",
        input_size=1024,
        weights=WeightsSource(
            filename="ckpt_base_nightly.pth",
            url=f"{_RELEASE}/ckpt_base_nightly.pth",
        ),
        licence=_LICENCE,
        description="InSPyReNet Swin-B at 1024x1024, nightly checkpoint (no published digest)",
        upsample="bilinear_align_corners",
        max_batch=16,
    ),
)
