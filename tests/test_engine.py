"""Engine: lazy loading, stages, batching, stats, thread safety."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cutout
from cutout.backends.fake import FakeBackend
from cutout.engine import STAGES, Engine
from cutout.errors import UnknownModelError, WeightsMissingError
from cutout.options import RemoveOptions
from tests.conftest import EXAMPLES


def _png(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    image = Image.new("RGB", (width, height), (20, 160, 40))
    image.paste(color, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_constructing_an_engine_does_no_io(tmp_path: Path) -> None:
    engine = Engine("inspyrenet-base", device="cpu")  # weights are not present here
    assert not engine.loaded
    with pytest.raises(WeightsMissingError) as info:
        engine.load()
    message = str(info.value)
    assert "inspyrenet-base" in message
    assert "https://github.com/plemeri/transparent-background/releases/download" in message
    assert "cutout models pull inspyrenet-base" in message


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(UnknownModelError, match="u2netp"):
        Engine("no-such-model")


def test_remove_reports_every_stage(fake_engine: Engine) -> None:
    result = fake_engine.remove(_png(120, 80))
    assert set(result.timings) == set(STAGES)
    assert all(seconds >= 0 for seconds in result.timings.values())
    image = Image.open(io.BytesIO(result.data))
    assert image.size == (120, 80)
    assert image.mode == "RGBA"
    assert result.foreground is not None
    assert fake_engine.stats.images == 1


def test_infer_batches_by_shape_and_max_batch() -> None:
    backend = FakeBackend()
    engine = Engine(backend.spec, backend=backend, resize="dynamic")
    items = [engine.prepare(_png(64, 64)) for _ in range(10)]
    items += [engine.prepare(_png(64, 128)) for _ in range(3)]
    saliency = engine.infer(items)
    assert len(saliency) == 13
    # max_batch 8: ten square images make batches of 8 and 2; three tall ones one of 3
    assert sorted(backend.batches) == [2, 3, 8]
    assert saliency[0].shape == (64, 64)
    assert saliency[-1].shape == (128, 64)


def test_batched_and_single_results_are_identical() -> None:
    backend = FakeBackend()
    engine = Engine(backend.spec, backend=backend)
    sources = [_png(90, 60, (i * 40, 10, 200)) for i in range(5)]
    single = [engine.remove(source).data for source in sources]
    prepared = [engine.prepare(source) for source in sources]
    batched = [
        engine.finish(item, saliency)
        for item, saliency in zip(prepared, engine.infer(prepared), strict=True)
    ]
    assert [result.data for result in batched] == single


def test_engine_is_safe_from_many_threads(u2netp_engine: Engine) -> None:
    sources = sorted(EXAMPLES.glob("*.jpg"))
    expected = {path: u2netp_engine.remove(path).data for path in sources}
    errors: list[BaseException] = []
    outputs: list[tuple[Path, bytes]] = []
    lock = threading.Lock()

    def work(path: Path) -> None:
        try:
            data = u2netp_engine.remove(path).data
            with lock:
                outputs.append((path, data))
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(path,)) for path in sources * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(outputs) == len(sources) * 3
    for path, data in outputs:
        assert data == expected[path]


def test_real_model_cuts_out_the_subject(u2netp_engine: Engine) -> None:
    matte = u2netp_engine.matte(EXAMPLES / "animal-1.jpg")
    assert matte.shape == (667, 1000)
    # the tiger lies in the middle; the top rows are sky-like background
    assert matte[300:450, 300:700].mean() > 0.7
    assert matte[:60].mean() < 0.05


def test_one_call_remove_returns_png_bytes() -> None:
    data = cutout.remove(EXAMPLES / "animal-2.jpg", RemoveOptions(mask=True), device="cpu")
    image = Image.open(io.BytesIO(data))
    assert image.mode == "L"
    pixels = np.asarray(image)
    assert pixels.min() == 0
    assert pixels.max() == 255


def test_engine_from_settings_carries_every_model_setting(tmp_path: Path) -> None:
    from cutout.config import load_settings

    weights = tmp_path / "ckpt.pth"
    settings = load_settings(
        model="inspyrenet-fast",
        weights=weights,
        device="cpu",
        threads=1,
        resize="dynamic",
        max_megapixels=2,
    )
    engine = Engine.from_settings(settings)
    assert engine.spec.name == "inspyrenet-fast"
    assert engine.spec.resize == "dynamic"
    assert engine.weights == weights
    assert engine.device_policy == "cpu"
    assert engine.threads == 1
    assert engine.max_pixels == 2_000_000
    assert not engine.loaded


def test_onnx_runtime_on_the_cpu_skips_the_warm_up_forward(
    u2netp_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its session did the one-off work when it opened: a warm-up forward would only delay
    readiness. Backends that warm up (torch, GPUs, the fake) still run one."""
    assert u2netp_engine.device.providers == ("CPUExecutionProvider",)
    calls: list[int] = []
    monkeypatch.setattr(u2netp_engine.backend, "predict", lambda batch: calls.append(1))
    assert u2netp_engine.warmup() == 0.0
    assert u2netp_engine.stats.warmup_seconds == 0.0
    assert calls == []
    backend = FakeBackend()
    with Engine(backend.spec, backend=backend) as engine:
        engine.warmup()
        assert backend.batches == [1]
