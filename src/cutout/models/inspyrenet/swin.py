"""Swin Transformer backbone (the detection-style variant InSPyReNet uses), inference only.

Module and parameter names follow the official checkpoints' ``backbone.*`` keys. Two
things differ from the classification Swin and matter for parity: windows are never
shrunk to the feature size (the last stage at 384 is one 12 x 12 window and still
shifts), and feature maps that are not a multiple of the window are zero-padded *after*
the first norm, with the padded tokens left unmasked.

For speed the relative-position bias and the shift mask of a given resolution are
combined once into one additive attention mask and cached, so every block runs a
single ``scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SwinTransformer", "swin_b"]

_MASK_FILL = -100.0  # the value the reference uses for cross-region pairs


def _relative_position_index(window: int) -> Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    flat = coords.flatten(1)
    relative = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0) + (window - 1)
    return relative[:, :, 0] * (2 * window - 1) + relative[:, :, 1]


def _partition(x: Tensor, window: int) -> Tensor:
    """B x H x W x C -> (B * windows) x window^2 x C."""
    batch, height, width, channels = x.shape
    x = x.view(batch, height // window, window, width // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, channels)


def _merge(windows: Tensor, window: int, height: int, width: int) -> Tensor:
    """(B * windows) x window^2 x C -> B x H x W x C."""
    channels = windows.shape[-1]
    x = windows.view(-1, height // window, width // window, window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)


def _shift_mask(padded_h: int, padded_w: int, window: int, shift: int) -> Tensor:
    """windows x N x N additive mask (0 inside a region, -100 across regions)."""
    regions = torch.zeros(1, padded_h, padded_w, 1)
    label = 0
    bounds = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for rows in bounds:
        for cols in bounds:
            regions[:, rows, cols, :] = label
            label += 1
    ids = _partition(regions, window).squeeze(-1)
    diff = ids[:, None, :] - ids[:, :, None]
    return torch.where(diff != 0, torch.tensor(_MASK_FILL), torch.tensor(0.0))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.fc2(F.gelu(self.fc1(x)))
        return out


class WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.window = window
        self.heads = heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", _relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def bias(self) -> Tensor:
        """heads x N x N relative-position bias."""
        tokens = self.window * self.window
        index = self.get_buffer("relative_position_index")
        table = self.relative_position_bias_table[index.reshape(-1)]
        return table.view(tokens, tokens, -1).permute(2, 0, 1).contiguous()

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x: (B * windows) x N x C; mask: (1 or windows) x heads x N x N, additive."""
        count, tokens, channels = x.shape
        qkv = self.qkv(x).view(count, tokens, 3, self.heads, channels // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        windows = mask.shape[0]
        if windows > 1:
            query, key, value = (
                t.reshape(count // windows, windows, self.heads, tokens, -1)
                for t in (query, key, value)
            )
            mask = mask.unsqueeze(0)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask.to(query.dtype))
        out = out.reshape(count, self.heads, tokens, -1).transpose(1, 2)
        projected: Tensor = self.proj(out.reshape(count, tokens, channels))
        return projected

    def forward_unfused(self, x: Tensor, shift: Tensor | None) -> Tensor:
        """The same attention written out, for export (``shift``: windows x N x N)."""
        count, tokens, channels = x.shape
        qkv = self.qkv(x).view(count, tokens, 3, self.heads, channels // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        scale = (channels // self.heads) ** -0.5
        scores = (query * scale) @ key.transpose(-2, -1) + self.bias().unsqueeze(0)
        if shift is not None:
            windows = shift.shape[0]
            scores = scores.view(count // windows, windows, self.heads, tokens, tokens)
            scores = (scores + shift[None, :, None]).view(count, self.heads, tokens, tokens)
        out = torch.softmax(scores, dim=-1) @ value
        projected: Tensor = self.proj(out.transpose(1, 2).reshape(count, tokens, channels))
        return projected


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.window = window
        self.shift = shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, dim * 4)
        self._masks: dict[tuple[int, int, str], Tensor] = {}

    def attention_mask(self, padded_h: int, padded_w: int, device: torch.device) -> Tensor:
        """Bias plus shift mask for one padded resolution, cached (weights are frozen)."""
        key = (padded_h, padded_w, str(device))
        cached = self._masks.get(key)
        if cached is None or torch.is_inference_mode_enabled() is False:
            bias = self.attn.bias().detach()
            if self.shift > 0:
                shift = _shift_mask(padded_h, padded_w, self.window, self.shift).to(device)
                cached = bias.unsqueeze(0) + shift.unsqueeze(1)
            else:
                cached = bias.unsqueeze(0)
            self._masks[key] = cached
        return cached

    def clear_cache(self) -> None:
        self._masks.clear()

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        batch, _, channels = x.shape
        shortcut = x
        x = self.norm1(x).view(batch, height, width, channels)
        pad_b = (self.window - height % self.window) % self.window
        pad_r = (self.window - width % self.window) % self.window
        if pad_b or pad_r:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        padded_h, padded_w = height + pad_b, width + pad_r
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        if torch.onnx.is_in_onnx_export():
            # keep bias and shift mask apart: folded together they are windows x heads
            # x N x N constants per block, over protobuf's 2 GB at 1024
            shift = _shift_mask(padded_h, padded_w, self.window, self.shift) if self.shift else None
            windows = self.attn.forward_unfused(_partition(x, self.window), shift)
        else:
            mask = self.attention_mask(padded_h, padded_w, x.device)
            windows = self.attn(_partition(x, self.window), mask)
        x = _merge(windows, self.window, padded_h, padded_w)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        if pad_b or pad_r:
            x = x[:, :height, :width, :]
        x = shortcut + x.reshape(batch, height * width, channels)
        out: Tensor = x + self.mlp(self.norm2(x))
        return out


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        batch, _, channels = x.shape
        x = x.view(batch, height, width, channels)
        if height % 2 or width % 2:
            x = F.pad(x, (0, 0, 0, width % 2, 0, height % 2))
        # the 2x2 neighbours in the reference's order: (0,0), (1,0), (0,1), (1,1)
        parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
        merged = torch.cat(parts, -1).view(batch, -1, 4 * channels)
        out: Tensor = self.reduction(self.norm(merged))
        return out


class SwinStage(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: int, downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, window, 0 if index % 2 == 0 else window // 2)
            for index in range(depth)
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        for block in self.blocks:
            x = block(x, height, width)
        return x


class PatchEmbed(nn.Module):
    def __init__(self, embed: int, patch: int = 4) -> None:
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, embed, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(embed)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        pad_r, pad_b = (-width) % self.patch, (-height) % self.patch
        if pad_r or pad_b:
            x = F.pad(x, (0, pad_r, 0, pad_b))
        x = self.proj(x)
        batch, channels, out_h, out_w = x.shape
        x = self.norm(x.flatten(2).transpose(1, 2))
        return x.transpose(1, 2).reshape(batch, channels, out_h, out_w)


class SwinTransformer(nn.Module):
    """Returns five maps: the patch embedding and the normed output of each stage."""

    def __init__(
        self,
        embed: int = 128,
        depths: tuple[int, ...] = (2, 2, 18, 2),
        heads: tuple[int, ...] = (4, 8, 16, 32),
        window: int = 12,
    ) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(embed)
        self.num_features = [embed * 2**index for index in range(len(depths))]
        self.layers = nn.ModuleList(
            SwinStage(dim, depth, head, window, index < len(depths) - 1)
            for index, (dim, depth, head) in enumerate(
                zip(self.num_features, depths, heads, strict=True)
            )
        )
        for index, dim in enumerate(self.num_features):
            self.add_module(f"norm{index}", nn.LayerNorm(dim))

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.patch_embed(x)
        height, width = x.shape[-2:]
        outputs = [x]
        tokens = x.flatten(2).transpose(1, 2)
        for index, stage in enumerate(self.layers):
            assert isinstance(stage, SwinStage)
            stage_out = stage(tokens, height, width)
            norm = getattr(self, f"norm{index}")
            batch = stage_out.shape[0]
            feature = norm(stage_out).view(batch, height, width, -1).permute(0, 3, 1, 2)
            outputs.append(feature.contiguous())
            if stage.downsample is not None:
                tokens = stage.downsample(stage_out, height, width)
                height, width = (height + 1) // 2, (width + 1) // 2
        return outputs

    def clear_cache(self) -> None:
        for module in self.modules():
            if isinstance(module, SwinBlock):
                module.clear_cache()


def swin_b() -> SwinTransformer:
    return SwinTransformer(embed=128, depths=(2, 2, 18, 2), heads=(4, 8, 16, 32), window=12)
