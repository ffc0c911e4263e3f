"""A well-conditioned synthetic InSPyReNet checkpoint, built from the network itself.

The GPU check runs on a bare machine without ``../shared``, so it cannot use the tests'
fixture generator; and that fixture's checkpoint is chaotic (float32 noise alone moves its
logits by up to 0.5 %), which would measure the fixture rather than the port. This one is
built so that a small change of input makes a small change of logits:

* every float tensor is drawn from a seeded torch generator with the fixture's recipe
  (fan-in scaled weights, norm scales near 1, SICA thresholds near 0.5);
* every Swin block's residual branches (``attn.proj``, ``mlp.fc2``) are scaled by
  ``DAMP``, so each block is a small step from identity, as in a trained network;
* the batch norms are calibrated on one smooth synthetic image (a train-mode pass), with
  the biased variance (what train mode normalised with) and a floor of ``VAR_FLOOR``
  times the layer's mean variance: a channel nearly constant on one image would
  otherwise be divided by almost nothing and amplify any change of input.

On this recipe a 1e-4 change of input moves the logits by about 1e-3 (relative L2);
:func:`stability` measures it on the machine, and the check reports the result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["DAMP", "VAR_FLOOR", "build", "smooth_image", "stability"]

DAMP = 0.1
VAR_FLOOR = 0.5
SEED = 0


def smooth_image(size: int, variant: int, device: Any = "cpu") -> Any:
    """A 1 x 3 x size x size normalised input: a soft blob on gradients plus mild noise."""
    import torch

    generator = torch.Generator().manual_seed(1000 + variant)
    axis = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    shift = 0.3 * variant
    blob = torch.sigmoid(8 * (0.45 - (xx - shift) ** 2 - (yy + shift / 2) ** 2))
    noise = 0.2 * torch.randn(size, size, generator=generator)
    channels = [blob * 1.5 - 0.5 + 0.3 * xx, 0.5 * yy - blob, noise + 0.2 * blob]
    return torch.stack(channels)[None].contiguous().to(device)


def _fill(network: Any) -> None:
    import torch

    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for key, tensor in network.state_dict().items():
            if not tensor.is_floating_point() or ".running_" in key:
                continue
            shape = tensor.shape
            if key.endswith("threshold"):
                value = 0.5 + 0.05 * torch.randn(shape, generator=generator)
            elif key.endswith(".bias") or "relative_position_bias_table" in key:
                value = 0.02 * torch.randn(shape, generator=generator)
            elif len(shape) == 1:
                value = 1.0 + 0.1 * torch.randn(shape, generator=generator)
            else:
                value = torch.randn(shape, generator=generator) / shape[1:].numel() ** 0.5
            residual = ".attn.proj." in key or ".mlp.fc2." in key
            if key.startswith("backbone.layers.") and residual:
                value *= DAMP
            tensor.copy_(value)


def _calibrate(network: Any, image: Any) -> None:
    import torch

    norms = {n: m for n, m in network.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    counts: dict[str, int] = {}
    hooks = []
    for name, norm in norms.items():
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: one batch sets the statistics

        def count(module: Any, inputs: Any, name: str = name) -> None:
            counts[name] = inputs[0].numel() // inputs[0].shape[1]

        hooks.append(norm.register_forward_pre_hook(count))
    network.train()
    with torch.no_grad():
        network(image)
    network.eval()
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        for name, norm in norms.items():
            samples = counts[name]
            norm.running_var.mul_((samples - 1) / samples)  # unbiased -> biased
            norm.running_var.clamp_(min=VAR_FLOOR * float(norm.running_var.mean()))


def build(size: int, out: Path, device: str = "cpu") -> Path:
    """Write the checkpoint for a ``size`` model to ``out`` (atomically) and return it;
    ``device`` runs the calibration pass (a GPU makes the 1024 one quick)."""
    import torch

    from cutout.models.inspyrenet.network import build_inspyrenet

    network = build_inspyrenet(size)
    _fill(network)
    network.to(device)
    _calibrate(network, smooth_image(size, 0, device))
    state = {key: value.cpu() for key, value in network.state_dict().items()}
    partial = out.with_suffix(f".{os.getpid()}.partial")
    torch.save(state, partial)
    partial.replace(out)
    return out


def stability(network: Any, image: Any, epsilon: float = 1e-4) -> float:
    """Relative L2 change of ``network``'s logits when ``image`` moves by ``epsilon`` times
    unit Gaussian noise: the reference's own noise floor."""
    import torch

    generator = torch.Generator().manual_seed(7)
    noise = torch.randn(image.shape, generator=generator).to(image.device)
    with torch.inference_mode():
        base = network(image).double()
        moved = network(image + epsilon * noise).double()
    return float((moved - base).norm() / base.norm())
