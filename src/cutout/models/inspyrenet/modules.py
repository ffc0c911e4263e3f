"""InSPyReNet's heads: context modules (PAA_e), the decoder (PAA_d), SICA and the pyramid.

Names of submodules follow the official checkpoints' keys. Several reshapes below are
``view``s of a contiguous N x C x H x W tensor to shapes whose axes do not line up with
C, H and W (the axial attention's ``h`` mode, SICA's pooled features): they are what the
published network computes, so they are kept as they are, not "fixed".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SICA", "ConvBN", "ImagePyramid", "PAADecoder", "PAAEncoder"]


def _same_padding(kernel: int, dilation: int) -> int:
    effective = kernel + (kernel - 1) * (dilation - 1)
    # the reference's formula: floor(k/2) for odd effective kernels, one less for even
    return effective // 2 + (effective % 2 - 1)


class ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (+ ReLU). ``fuse()`` folds the norm into the conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int],
        *,
        dilation: int = 1,
        bn: bool = True,
        relu: bool = False,
    ) -> None:
        super().__init__()
        size = (kernel, kernel) if isinstance(kernel, int) else kernel
        padding = (_same_padding(size[0], dilation), _same_padding(size[1], dilation))
        self.conv = nn.Conv2d(
            in_channels, out_channels, size, padding=padding, dilation=dilation, bias=False
        )
        self.bn: nn.BatchNorm2d | None = nn.BatchNorm2d(out_channels) if bn else None
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the (frozen) batch-norm statistics into the conv's weight and bias."""
        if self.bn is None:
            return
        bn = self.bn
        assert bn.running_var is not None and bn.running_mean is not None
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(
            self.conv.in_channels,
            self.conv.out_channels,
            self.conv.kernel_size,  # type: ignore[arg-type]
            padding=self.conv.padding,  # type: ignore[arg-type]
            dilation=self.conv.dilation,  # type: ignore[arg-type]
            bias=True,
        )
        fused.weight.copy_(self.conv.weight * scale.view(-1, 1, 1, 1))
        assert fused.bias is not None
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv = fused
        self.bn = None


class AxialAttention(nn.Module):
    """Self-attention along the rows ('h') or the columns ('w') with a learnt gate."""

    def __init__(self, channels: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.query_conv = ConvBN(channels, channels // 8, 1)
        self.key_conv = ConvBN(channels, channels // 8, 1)
        self.value_conv = ConvBN(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        axis = height if self.mode == "h" else width
        query = self.query_conv(x).reshape(batch, -1, axis).transpose(1, 2)
        key = self.key_conv(x).reshape(batch, -1, axis)
        attention = torch.softmax(torch.bmm(query, key), dim=-1)
        value = self.value_conv(x).reshape(batch, -1, axis)
        out = torch.bmm(value, attention.transpose(1, 2)).view(batch, channels, height, width)
        return self.gamma * out + x


class PAAKernel(nn.Module):
    def __init__(self, in_channels: int, channels: int, receptive: int) -> None:
        super().__init__()
        self.conv0 = ConvBN(in_channels, channels, 1)
        self.conv1 = ConvBN(channels, channels, (1, receptive))
        self.conv2 = ConvBN(channels, channels, (receptive, 1))
        self.conv3 = ConvBN(channels, channels, 3, dilation=receptive)
        self.Hattn = AxialAttention(channels, "h")
        self.Wattn = AxialAttention(channels, "w")

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv2(self.conv1(self.conv0(x)))
        out: Tensor = self.conv3(self.Hattn(x) + self.Wattn(x))
        return out


class PAAEncoder(nn.Module):
    """PAA_e: a 1x1 branch and three axial-attention branches, plus a residual."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.branch0 = ConvBN(in_channels, channels, 1)
        self.branch1 = PAAKernel(in_channels, channels, 3)
        self.branch2 = PAAKernel(in_channels, channels, 5)
        self.branch3 = PAAKernel(in_channels, channels, 7)
        self.conv_cat = ConvBN(4 * channels, channels, 3)
        self.conv_res = ConvBN(in_channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)]
        return F.relu(self.conv_cat(torch.cat(branches, 1)) + self.conv_res(x))


class PAADecoder(nn.Module):
    """PAA_d over the three deepest levels; returns (features, saliency logits)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(in_channels, channels, 3)
        self.conv2 = ConvBN(channels, channels, 3)
        self.conv3 = ConvBN(channels, channels, 3)
        self.conv4 = ConvBN(channels, channels, 3)
        self.conv5 = ConvBN(channels, 1, 3, bn=False)
        self.Hattn = AxialAttention(channels, "h")
        self.Wattn = AxialAttention(channels, "w")

    def forward(self, levels: list[Tensor]) -> tuple[Tensor, Tensor]:
        size = levels[0].shape[-2:]
        resized = [levels[0]] + [
            F.interpolate(level, size=size, mode="bilinear", align_corners=True)
            for level in levels[1:]
        ]
        x = self.conv1(torch.cat(resized[::-1], 1))
        x = self.conv2(self.Hattn(x) + self.Wattn(x))
        x = self.conv4(self.conv3(x))
        return x, self.conv5(x)


class SICA(nn.Module):
    """Scale-invariant context attention: refines features with the coarser map's
    foreground / background / uncertain regions and predicts a Laplacian residual."""

    def __init__(self, in_channels: int, channels: int, stage_size: int, laplacian_in: bool):
        super().__init__()
        self.channels = channels
        self.stage_size = stage_size
        self.laplacian_in = laplacian_in
        self.contexts = 5 if laplacian_in else 3
        self.conv_query = nn.Sequential(
            ConvBN(in_channels, channels, 3, relu=True), ConvBN(channels, channels, 3, relu=True)
        )
        self.conv_key = nn.Sequential(
            ConvBN(in_channels, channels, 1, relu=True), ConvBN(channels, channels, 1, relu=True)
        )
        self.conv_value = nn.Sequential(
            ConvBN(in_channels, channels, 1, relu=True), ConvBN(channels, channels, 1, relu=True)
        )
        self.conv_out1 = ConvBN(channels, channels, 3, relu=True)
        self.conv_out2 = ConvBN(in_channels + channels, channels, 3, relu=True)
        self.conv_out3 = ConvBN(channels, channels, 3, relu=True)
        self.conv_out4 = ConvBN(channels, 1, 1)
        self.threshold = nn.Parameter(torch.tensor([0.5]))
        if laplacian_in:
            self.lthreshold = nn.Parameter(torch.tensor([0.5]))

    def forward(
        self, x: Tensor, saliency: Tensor, laplacian: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        batch, _, height, width = x.shape
        size = (height, width)
        prob = torch.sigmoid(
            F.interpolate(saliency, size=size, mode="bilinear", align_corners=False)
        )
        offset = prob - self.threshold
        regions = [offset.clamp(0, 1), (-offset).clamp(0, 1), self.threshold - offset.abs()]
        if self.laplacian_in:
            assert laplacian is not None
            lprob = torch.sigmoid(
                F.interpolate(laplacian, size=size, mode="bilinear", align_corners=False)
            )
            loffset = lprob - self.lthreshold
            regions += [loffset.clamp(0, 1), (-loffset).clamp(0, 1)]
        stage = (self.stage_size, self.stage_size)
        pixels = self.stage_size * self.stage_size
        pooled = _resize(x, stage).reshape(batch, pixels, -1)
        weights = _resize(torch.cat(regions, 1), stage).reshape(batch, self.contexts, pixels)
        context = torch.bmm(weights, pooled).transpose(1, 2).unsqueeze(3)

        query = self.conv_query(x).reshape(batch, self.channels, -1).transpose(1, 2)
        key = self.conv_key(context).reshape(batch, self.channels, -1)
        value = self.conv_value(context).reshape(batch, self.channels, -1).transpose(1, 2)
        similarity = torch.softmax(torch.bmm(query, key) * self.channels**-0.5, dim=-1)
        refined = torch.bmm(similarity, value).transpose(1, 2).reshape(batch, -1, height, width)
        refined = self.conv_out1(refined)
        x = self.conv_out3(self.conv_out2(torch.cat([x, refined], 1)))
        return x, self.conv_out4(x)


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == size:
        return x  # bilinear to the same size is the identity
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _gaussian_kernel(size: int, sigma: float) -> Tensor:
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-(offsets**2) / (2 * sigma * sigma))
    weights = weights / weights.sum()
    return torch.outer(weights, weights).float()


class ImagePyramid(nn.Module):
    """Laplacian pyramid reconstruction with a 7x7, sigma-1 Gaussian (single channel)."""

    kernel: Tensor

    def __init__(self, size: int = 7, sigma: float = 1.0) -> None:
        super().__init__()
        self.pad = size // 2
        # not in the checkpoints: a fixed filter, so a non-persistent buffer
        self.register_buffer("kernel", (_gaussian_kernel(size, sigma) * 4)[None, None], False)

    def expand(self, x: Tensor) -> Tensor:
        """Double the size: zero-insertion upsampling, then the Gaussian (times 4)."""
        batch, channels, height, width = x.shape
        up = x.new_zeros(batch, channels, height, 2, width, 2)
        up[:, :, :, 0, :, 0] = x
        up = up.view(batch, channels, 2 * height, 2 * width)
        up = F.pad(up, (self.pad,) * 4, mode="reflect")
        return F.conv2d(up, self.kernel.to(up.dtype))

    def reconstruct(self, coarse: Tensor, laplacian: Tensor) -> Tensor:
        expanded = self.expand(coarse)
        if laplacian.shape[-2:] != expanded.shape[-2:]:
            laplacian = F.interpolate(
                laplacian, size=expanded.shape[-2:], mode="bilinear", align_corners=True
            )
        return expanded + laplacian
