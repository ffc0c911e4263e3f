"""Strip-parallel helpers and the work split with them (ICC conversion, matte upsampling):
the answer must not depend on how many strips the image was cut into."""

from __future__ import annotations

import concurrent.futures
import importlib
import inspect
import io
import itertools
import threading

import numpy as np
import pytest
from PIL import Image, ImageCms
from tests.conftest import SHARED_IMAGES

from cutout.cpus import usable_cpus
from cutout.imaging import parallel
from cutout.imaging.icc import rgb_to_srgb, rgbx_to_srgb
from cutout.imaging.tensor import saliency_to_matte
from cutout.models.registry import get_spec


def test_strip_bounds_cover_every_row_once() -> None:
    bounds = parallel.strip_bounds(1001, 50 << 20, threads=4)
    assert bounds[0] == 0 and bounds[-1] == 1001 and len(bounds) == 5
    assert all(a < b for a, b in itertools.pairwise(bounds))
    # small images stay in one piece; never more strips than rows
    assert parallel.strip_bounds(1001, 1000, threads=4) == [0, 1001]
    assert len(parallel.strip_bounds(3, 50 << 20, threads=8)) == 4


def test_map_strips_keeps_order_and_uses_threads() -> None:
    seen: set[str] = set()

    def job(first: int, end: int) -> tuple[int, int]:
        seen.add(threading.current_thread().name)
        return first, end

    bounds = [0, 10, 20, 30]
    assert parallel.map_strips(job, bounds) == [(0, 10), (10, 20), (20, 30)]
    if parallel.workers() > 1:
        assert any(name.startswith("cutout-strip") for name in seen)


def test_icc_conversion_in_strips_equals_one_whole_transform() -> None:
    with Image.open(SHARED_IMAGES / "aeroplane.jpg") as opened:
        icc = opened.info["icc_profile"]
        rgb = np.asarray(opened.convert("RGB").crop((0, 0, 1600, 900)))
    whole = ImageCms.profileToProfile(
        Image.fromarray(rgb),
        ImageCms.ImageCmsProfile(io.BytesIO(icc)),
        ImageCms.createProfile("sRGB"),
        outputMode="RGB",
    )
    assert parallel.strip_bounds(900, rgb.nbytes, threads=8)[1] < 900  # really split
    before = rgb.copy()
    assert np.array_equal(rgb_to_srgb(rgb, icc), np.asarray(whole))
    assert np.array_equal(rgb, before)  # the transform ran on copies, not on the input


def test_icc_conversion_of_rgbx_in_place_equals_the_rgb_conversion() -> None:
    with Image.open(SHARED_IMAGES / "aeroplane.jpg") as opened:
        icc = opened.info["icc_profile"]
        rgb = np.asarray(opened.convert("RGB").crop((0, 0, 1600, 900)))
    rgbx = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    converted = rgbx_to_srgb(rgbx, icc)
    assert converted.shape == rgb.shape and converted.flags["C_CONTIGUOUS"]
    assert np.array_equal(converted, rgb_to_srgb(rgb, icc))
    assert not np.array_equal(converted, rgb)  # Adobe RGB really changed colour
    with pytest.raises(ValueError, match="H x W x 4"):
        rgbx_to_srgb(rgb, icc)


def test_icc_lookup_table_gives_exactly_the_lcms_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    from collections import OrderedDict

    from cutout.imaging import icc as icc_module

    monkeypatch.setattr(icc_module, "_luts", OrderedDict())
    monkeypatch.setattr(icc_module, "_converted", OrderedDict())
    with Image.open(SHARED_IMAGES / "aeroplane.jpg") as opened:
        icc = opened.info["icc_profile"]
        rgb = np.asarray(opened.convert("RGB").crop((0, 0, 640, 360)))
    rgbx = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    expected = rgb_to_srgb(rgb, icc)
    monkeypatch.setattr(icc_module, "LUT_AFTER_PIXELS", 2 * rgb.shape[0] * rgb.shape[1])
    assert np.array_equal(rgbx_to_srgb(rgbx.copy(), icc), expected)
    assert not icc_module._luts  # one image's worth of pixels: not earned yet
    assert np.array_equal(rgbx_to_srgb(rgbx.copy(), icc), expected)  # built by this call
    assert len(icc_module._luts) == 1
    assert np.array_equal(rgbx_to_srgb(rgbx.copy(), icc), expected)  # looked up
    # a quarter of a million colours beyond the photo's (B 0-3): the table is lcms's answer
    everything = np.arange(1 << 24, dtype="<u4").view(np.uint8).reshape(4096, 4096, 4)
    looked_up = rgbx_to_srgb(everything[:64].copy(), icc)
    assert np.array_equal(looked_up, rgb_to_srgb(np.ascontiguousarray(everything[:64, :, :3]), icc))


def test_matte_upsampled_in_strips_equals_one_resize_within_one_level() -> None:
    rng = np.random.default_rng(0)
    saliency = rng.random((320, 320)).astype(np.float32)
    matte = saliency_to_matte(saliency, get_spec("u2netp"), 2000, 1500)
    low, high = saliency.min(), saliency.max()
    small = Image.fromarray(((saliency - low) / (high - low + 1e-8) * 255).astype(np.uint8))
    whole = np.asarray(small.resize((2000, 1500), Image.Resampling.LANCZOS)) / 255.0
    difference = np.abs(matte - whole)
    # fixed-point rounding at strip edges may move a rare pixel by one level
    assert difference.max() <= 1.0 / 255.0 + 1e-6
    assert (difference > 1e-6).mean() < 0.001


def test_workers_are_the_usable_cpus() -> None:
    assert parallel.workers() == usable_cpus()


@pytest.mark.parametrize(
    "module_name",
    ["decode", "encode", "fast_png", "icc", "parallel", "tensor"],
)
def test_all_lists_exactly_the_public_names(module_name: str) -> None:
    module = importlib.import_module(f"cutout.imaging.{module_name}")
    exported = set(module.__all__)
    assert all(hasattr(module, name) for name in exported)
    defined_here = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
    }
    assert defined_here <= exported, defined_here - exported


def test_run_all_returns_each_job_s_result_in_order() -> None:
    threads: set[str] = set()

    def job(value: int) -> int:
        threads.add(threading.current_thread().name)
        return value * 10

    assert parallel.run_all([lambda: job(1), lambda: job(2), lambda: job(3)]) == [10, 20, 30]
    assert parallel.run_all([]) == []
    if parallel.workers() >= 2:
        assert threading.current_thread().name in threads  # the last job: the caller's
        assert any(name.startswith("cutout-strip") for name in threads)


def test_nested_calls_from_the_pool_run_inline_instead_of_waiting_on_it() -> None:
    """Each strip's job runs more jobs: on a pool as small as the machine's, waiting on
    the pool from inside it could wait forever; nested calls run in the calling thread."""
    bounds = parallel.strip_bounds(64, 64 << 20, threads=parallel.workers())

    def strip(first: int, end: int) -> list[int]:
        inner = parallel.map_strips(lambda a, b: b - a, [first, (first + end) // 2, end])
        both = parallel.run_all([lambda: first, lambda: end])
        return [sum(inner), *both]

    with concurrent.futures.ThreadPoolExecutor(1) as watchdog:
        done = watchdog.submit(parallel.map_strips, strip, bounds)
        results = done.result(timeout=30)
    assert results == [[end - first, first, end] for first, end in itertools.pairwise(bounds)]
