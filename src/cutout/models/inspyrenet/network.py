"""InSPyReNet with the Swin-B backbone: the network of transparent-background's checkpoints.

Inference only, one pass (the inference package builds the net with ``threshold=None``,
so the research code's low-/high-resolution pyramid blending never runs). ``forward``
returns the full-resolution pre-sigmoid logits; :func:`saliency` applies the sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cutout.models.inspyrenet.modules import (
    SICA,
    ConvBN,
    ImagePyramid,
    PAADecoder,
    PAAEncoder,
)
from cutout.models.inspyrenet.swin import SwinTransformer, swin_b

__all__ = ["InSPyReNet", "build_inspyrenet"]

BACKBONE_CHANNELS = (128, 128, 256, 512, 1024)
DEPTH = 64


def _resize(x: Tensor, height: int, width: int) -> Tensor:
    if tuple(x.shape[-2:]) == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)


class InSPyReNet(nn.Module):
    """``base_size`` is the square size the checkpoint was trained at (384 or 1024); it
    fixes the pooling size of SICA's context, so dynamic-size inputs keep its behaviour."""

    def __init__(self, backbone: SwinTransformer, base_size: int, depth: int = DEPTH) -> None:
        super().__init__()
        self.base_size = base_size
        self.backbone = backbone
        channels = BACKBONE_CHANNELS
        self.context1 = PAAEncoder(channels[0], depth)
        self.context2 = PAAEncoder(channels[1], depth)
        self.context3 = PAAEncoder(channels[2], depth)
        self.context4 = PAAEncoder(channels[3], depth)
        self.context5 = PAAEncoder(channels[4], depth)
        self.decoder = PAADecoder(depth * 3, depth)
        self.attention0 = SICA(depth, depth, base_size, laplacian_in=True)
        self.attention1 = SICA(depth * 2, depth, base_size // 2, laplacian_in=True)
        self.attention2 = SICA(depth * 2, depth, base_size // 4, laplacian_in=False)
        self.image_pyramid = ImagePyramid(7, 1.0)

    def forward(self, image: Tensor) -> Tensor:
        """N x 3 x H x W normalised image -> N x 1 x H x W saliency logits."""
        height, width = image.shape[-2:]
        x1, x2, x3, x4, x5 = self.backbone(image)
        x1 = self.context1(x1)
        x2 = self.context2(x2)
        x3 = self.context3(x3)
        x4 = self.context4(x4)
        x5 = self.context5(x5)

        f3, d3 = self.decoder([x3, x4, x5])

        f3 = _resize(f3, height // 4, width // 4)
        f2, p2 = self.attention2(torch.cat([x2, f3], 1), d3)
        d2 = self.image_pyramid.reconstruct(d3, p2)

        x1 = _resize(x1, height // 2, width // 2)
        f2 = _resize(f2, height // 2, width // 2)
        f1, p1 = self.attention1(torch.cat([x1, f2], 1), d2, p2)
        d1 = self.image_pyramid.reconstruct(d2, p1)

        f1 = _resize(f1, height, width)
        _, p0 = self.attention0(f1, d1, p1)
        return self.image_pyramid.reconstruct(d1, p0)

    @torch.no_grad()
    def fuse(self) -> InSPyReNet:
        """Fold every batch norm into its conv (inference only; changes the state dict)."""
        for module in self.modules():
            if isinstance(module, ConvBN):
                module.fuse()
        return self


def build_inspyrenet(base_size: int) -> InSPyReNet:
    """An uninitialised network with the official checkpoints' layout."""
    return InSPyReNet(swin_b(), base_size)
