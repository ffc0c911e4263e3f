"""TorchBackend: contract, batching and the out-of-memory fallbacks (device choice: test_devices).

No GPU here: the GPU paths run on the CPU with injected failures. A CPU-only torch
really cannot move a model to CUDA, so "GPU failed to initialise" is the real failure;
out-of-memory is injected with a forward pre-hook that raises torch.OutOfMemoryError.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.inspyrenet_fixtures import (  # noqa: E402
    MAX_RELATIVE_L2,
    reference_input,
    reference_logits,
    relative_l2,
    synthetic_checkpoint,
)
from tests.probes import probe  # noqa: E402

from cutout.backends import create_backend  # noqa: E402
from cutout.backends.base import Backend  # noqa: E402
from cutout.backends.torch import TorchBackend, next_step  # noqa: E402
from cutout.errors import ChecksumError, DeviceError  # noqa: E402
from cutout.models.registry import get_spec  # noqa: E402
from cutout.models.weights import file_digest  # noqa: E402

SPEC = get_spec("inspyrenet-fast")


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchBackend]:
    # the torch forward (by default the CPU runs the graph exported into home)
    home = tmp_path_factory.mktemp("home")
    loaded = TorchBackend(
        SPEC,
        synthetic_checkpoint(384),
        device="cpu",
        threads=2,
        verify=False,
        home=home,
        cpu_runtime="torch",
    )
    loaded.load()
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def single_saliency(backend: TorchBackend) -> np.ndarray:
    return backend.predict(reference_input(384))


def test_out_of_memory_policy() -> None:
    assert next_step("cuda", 16) == ("halve", 8)
    assert next_step("cuda", 1) == ("cpu", 1)
    assert next_step("mps", 1) == ("cpu", 1)
    assert next_step("cpu", 4) == ("halve", 2)
    assert next_step("cpu", 1) == ("fail", 1)


def test_contract_and_saliency_is_the_sigmoid_of_the_reference(
    backend: TorchBackend, single_saliency: np.ndarray
) -> None:
    assert isinstance(backend, Backend)
    assert single_saliency.shape == (1, 384, 384)
    assert single_saliency.dtype == np.float32
    assert single_saliency.min() >= 0.0 and single_saliency.max() <= 1.0
    expected = 1 / (1 + np.exp(-reference_logits(384)[:, 0]))
    assert relative_l2(single_saliency, expected) < MAX_RELATIVE_L2
    info = backend.device
    assert (info.kind, info.precision, info.threads, info.fallbacks) == ("cpu", "float32", 2, [])
    assert info.providers == ("torch",)
    assert backend.weights_sha256 == file_digest(synthetic_checkpoint(384))


def test_factory_builds_the_torch_backend() -> None:
    built = create_backend(SPEC, synthetic_checkpoint(384), device="cpu", verify=False)
    assert isinstance(built, TorchBackend)
    assert built.network is None  # building loads nothing


def test_out_of_memory_halves_the_batch_and_still_answers(
    backend: TorchBackend, single_saliency: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def fail_once_on_a_batch(module: object, args: tuple[torch.Tensor]) -> None:
        calls.append(args[0].shape[0])
        if args[0].shape[0] > 1 and len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    assert backend.network is not None
    handle = backend.network.register_forward_pre_hook(fail_once_on_a_batch)
    batch = np.concatenate([reference_input(384)] * 2)
    try:
        with caplog.at_level(logging.WARNING, logger="cutout.backends.torch"):
            saliency = backend.predict(batch)
    finally:
        handle.remove()
        backend.max_batch = SPEC.max_batch
        fallbacks = list(backend.device.fallbacks)
        backend.device.fallbacks.clear()
    assert calls == [2, 1, 1]
    assert fallbacks == ["cpu out of memory at batch 2 -> 1"]
    assert "out of memory at batch 2 -> 1" in caplog.text
    assert saliency.shape == (2, 384, 384)
    np.testing.assert_allclose(saliency[0], single_saliency[0], atol=1e-4)
    np.testing.assert_allclose(saliency[1], single_saliency[0], atol=1e-4)


def test_out_of_memory_with_one_image_on_the_cpu_is_a_device_error(
    backend: TorchBackend,
) -> None:
    def always_fail(module: object, args: tuple[torch.Tensor]) -> None:
        raise torch.OutOfMemoryError("DefaultCPUAllocator: can't allocate memory")

    assert backend.network is not None
    handle = backend.network.register_forward_pre_hook(always_fail)
    try:
        with pytest.raises(DeviceError, match=r"out of memory .* on the CPU with one image"):
            backend.predict(reference_input(384))
    finally:
        handle.remove()
        backend.device.fallbacks.clear()


def test_gpu_that_fails_to_initialise_falls_back_to_the_cpu(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """This torch has no CUDA: telling the backend a GPU exists makes .to('cuda') fail."""
    fallback = TorchBackend(
        SPEC,
        synthetic_checkpoint(384),
        device="auto",
        verify=False,
        probe=probe(cuda=True),
        home=tmp_path,
        cpu_runtime="torch",  # on the CPU it falls back to: no export needed here
    )
    with caplog.at_level(logging.WARNING, logger="cutout.backends.torch"):
        fallback.load()
    try:
        assert fallback.device.kind == "cpu"
        assert len(fallback.device.fallbacks) == 1
        assert fallback.device.fallbacks[0].startswith("cuda failed to initialise (")
        assert fallback.device.fallbacks[0].endswith("-> cpu")
        assert caplog.text.count("failed to initialise") == 1
    finally:
        fallback.close()


def test_official_weights_are_checked_against_the_published_md5(tmp_path: Path) -> None:
    """verify=True is what the engine passes for files resolved from the cache."""
    checked = TorchBackend(SPEC, synthetic_checkpoint(384), device="cpu", verify=True)
    with pytest.raises(
        ChecksumError, match=r"md5 .* does not match 9efdbfbcc49b79ef0f7891c83d2fd52f"
    ):
        checked.load()
    assert checked.network is None
