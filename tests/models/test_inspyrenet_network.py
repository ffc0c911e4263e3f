"""Our InSPyReNet against the reference implementation's outputs, and strict loading."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cutout.errors import CheckpointError  # noqa: E402
from cutout.models.inspyrenet.checkpoint import (  # noqa: E402
    check_state_dict,
    load_network,
    read_state_dict,
)
from cutout.models.inspyrenet.network import build_inspyrenet  # noqa: E402
from tests.inspyrenet_fixtures import (  # noqa: E402
    FIXTURES,
    MAX_RELATIVE_L2,
    MIN_CORRELATION,
    correlation,
    reference_input,
    reference_logits,
    relative_l2,
    synthetic_checkpoint,
    synthetic_network,
)


def _logits(size: int, image: np.ndarray) -> np.ndarray:
    network = synthetic_network(size)
    with torch.inference_mode():
        return network(torch.from_numpy(image)).numpy()  # type: ignore[operator]


def test_layout_matches_the_official_manifest() -> None:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    expected = {key: (tuple(shape), dtype) for key, shape, dtype in manifest["tensors"]}
    state = build_inspyrenet(384).state_dict()
    actual = {key: (tuple(value.shape), str(value.dtype)) for key, value in state.items()}
    assert actual == expected


def test_parity_384_with_the_reference() -> None:
    logits = _logits(384, reference_input(384))
    expected = reference_logits(384)
    assert logits.shape == expected.shape == (1, 1, 384, 384)
    assert relative_l2(logits, expected) < MAX_RELATIVE_L2
    assert correlation(logits, expected) >= MIN_CORRELATION


@pytest.mark.slow
def test_parity_1024_with_the_reference() -> None:
    logits = _logits(1024, reference_input(1024))
    expected = reference_logits(1024)
    assert logits.shape == expected.shape == (1, 1, 1024, 1024)
    assert relative_l2(logits, expected) < MAX_RELATIVE_L2
    assert correlation(logits, expected) >= MIN_CORRELATION


def test_unfused_network_matches_the_fused_one() -> None:
    """Folding batch norms is an optimisation: both forms compute the same function."""
    image = reference_input(384)[:, :, :192, :256].copy()  # also a non-square input
    unfused = load_network(synthetic_checkpoint(384), 384, fuse=False)
    with torch.inference_mode():
        plain = unfused(torch.from_numpy(image)).numpy()
    fused = _logits(384, image)
    assert fused.shape == (1, 1, 192, 256)
    assert relative_l2(fused, plain) < 1e-3


def test_missing_and_unexpected_keys_are_listed() -> None:
    network = build_inspyrenet(384)
    state = dict(network.state_dict())
    del state["attention0.threshold"]
    state["decoder.extra.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError) as caught:
        check_state_dict(network, state, "ckpt.pth")
    message = str(caught.value)
    assert "1 missing keys: attention0.threshold" in message
    assert "1 unexpected keys: decoder.extra.weight" in message
    assert caught.value.code == "checkpoint_mismatch"


def test_wrong_shapes_and_dtypes_are_listed() -> None:
    network = build_inspyrenet(384)
    state = dict(network.state_dict())
    state["backbone.norm3.weight"] = torch.zeros(512)
    state["context1.branch0.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.float32)
    with pytest.raises(CheckpointError) as caught:
        check_state_dict(network, state, "ckpt.pth")
    message = str(caught.value)
    assert "2 mismatched tensors" in message
    assert "backbone.norm3.weight (512,) torch.float32 (expected (1024,)" in message
    assert "num_batches_tracked () torch.float32 (expected () torch.int64)" in message


def test_a_foreign_checkpoint_file_is_refused_with_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError, match=r"1625 missing keys: .*unexpected keys: fc.weight"):
        load_network(path, 384)


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    """weights_only=True: a checkpoint that carries a callable is refused, not executed."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (marker.touch, ())  # type: ignore[return-value]

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"x": Payload()}))
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_state_dict(path)
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match=str(path)):
        read_state_dict(path)
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "absent.pth")


def test_export_attention_is_the_same_as_the_fused_mask() -> None:
    """The exporter's written-out attention equals the cached-mask SDPA path."""
    from cutout.models.inspyrenet.swin import SwinBlock, _partition, _shift_mask

    torch.manual_seed(0)
    block = SwinBlock(128, 4, 12, 6).eval()
    with torch.no_grad():
        block.attn.relative_position_bias_table.normal_(0, 0.5)
        windows = _partition(torch.randn(2, 36, 24, 128), 12)
        fused = block.attn(windows, block.attention_mask(36, 24, windows.device))
        written_out = block.attn.forward_unfused(windows, _shift_mask(36, 24, 12, 6))
    torch.testing.assert_close(fused, written_out, rtol=1e-4, atol=1e-5)
