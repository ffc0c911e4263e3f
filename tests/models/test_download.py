"""Downloads against a real HTTP server on loopback: good, wrong, cut-off, resumed files."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cutout.errors import ChecksumError, DownloadError
from cutout.models import digests
from cutout.models.download import download
from cutout.models.registry import get_spec
from cutout.models.spec import ModelSpec
from cutout.models.weights import cache_dir, resolve_weights, verify_file
from tests.models.weights_server import PAYLOAD, PAYLOAD_SHA256, WeightsServer, serve, spec_for


@pytest.fixture
def server() -> Iterator[WeightsServer]:
    with serve() as running:
        yield running


def _spec(server: WeightsServer, path: str, *, md5_only: bool = False) -> ModelSpec:
    return spec_for(get_spec("inspyrenet-fast"), server.base_url + path, md5_only=md5_only)


def test_good_file_lands_in_cache_verified(server: WeightsServer, tmp_path: Path) -> None:
    spec = _spec(server, "/good.bin")
    seen: list[tuple[int, int | None]] = []
    result = download(spec, home=tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert result.path == cache_dir(tmp_path) / "test-weights.bin"
    assert result.path.read_bytes() == PAYLOAD
    assert result.sha256 == PAYLOAD_SHA256
    assert result.downloaded and result.verified and not result.resumed
    assert not result.path.with_name("test-weights.bin.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    # and the engine's resolver now finds it without any network
    assert resolve_weights(spec, home=tmp_path).path == result.path


@pytest.mark.parametrize("md5_only", [False, True])
def test_a_pulled_file_is_not_hashed_again_on_load(
    server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, md5_only: bool
) -> None:
    """The pull verified it and remembered the digests of the file it renamed into place."""
    spec = _spec(server, "/good.bin", md5_only=md5_only)
    result = download(spec, home=tmp_path)

    def no_hashing(path: Path, algorithms: tuple[str, ...]) -> dict[str, str]:
        raise AssertionError(f"{path} hashed again")

    monkeypatch.setattr(digests, "compute", no_hashing)
    assert verify_file(spec, result.path, home=tmp_path) == PAYLOAD_SHA256
    assert resolve_weights(spec, home=tmp_path).path == result.path


def test_md5_only_spec_is_checked_with_md5(server: WeightsServer, tmp_path: Path) -> None:
    result = download(_spec(server, "/good.bin", md5_only=True), home=tmp_path)
    assert result.path.read_bytes() == PAYLOAD


def test_verified_cached_file_is_not_downloaded_again(
    server: WeightsServer, tmp_path: Path
) -> None:
    spec = _spec(server, "/good.bin")
    download(spec, home=tmp_path)
    again = download(spec, home=tmp_path)
    assert not again.downloaded
    assert len(server.requests) == 1
    forced = download(spec, home=tmp_path, force=True)
    assert forced.downloaded
    assert len(server.requests) == 2


def test_wrong_checksum_is_refused_and_nothing_is_left(
    server: WeightsServer, tmp_path: Path
) -> None:
    spec = _spec(server, "/wrong.bin")
    with pytest.raises(ChecksumError, match="do not match the published digest"):
        download(spec, home=tmp_path)
    assert [path.name for path in cache_dir(tmp_path).iterdir()] == ["test-weights.bin.lock"]


def test_cut_off_file_keeps_part_and_names_model_url_and_manual_step(
    server: WeightsServer, tmp_path: Path
) -> None:
    spec = _spec(server, "/cut.bin")
    with pytest.raises(DownloadError) as info:
        download(spec, home=tmp_path, attempts=2)
    message = info.value.message
    assert "test-model" in message
    assert server.base_url + "/cut.bin" in message
    assert "--weights PATH" in message
    part = cache_dir(tmp_path) / "test-weights.bin.part"
    assert part.is_file()
    assert not (cache_dir(tmp_path) / "test-weights.bin").exists()
    # the second attempt asked for the rest of the file, from what the first one kept
    ranges = [header for _, header in server.requests]
    assert ranges[0] is None
    assert ranges[1] is not None
    start = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= len(PAYLOAD) // 2


def test_cut_off_transfer_is_resumed_with_range(server: WeightsServer, tmp_path: Path) -> None:
    result = download(_spec(server, "/flaky.bin"), home=tmp_path)
    assert result.path.read_bytes() == PAYLOAD
    assert result.resumed
    assert server.requests[0] == ("/flaky.bin", None)
    path, header = server.requests[1]
    assert path == "/flaky.bin"
    assert header is not None and header.startswith("bytes=") and header != "bytes=0-"


def test_existing_part_file_is_resumed(server: WeightsServer, tmp_path: Path) -> None:
    part = cache_dir(tmp_path) / "test-weights.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:1000])
    result = download(_spec(server, "/good.bin"), home=tmp_path)
    assert result.resumed
    assert result.path.read_bytes() == PAYLOAD
    assert server.requests == [("/good.bin", "bytes=1000-")]


def test_server_ignoring_range_restarts_cleanly(server: WeightsServer, tmp_path: Path) -> None:
    part = cache_dir(tmp_path) / "test-weights.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:1000])
    result = download(_spec(server, "/norange.bin"), home=tmp_path)
    assert not result.resumed
    assert result.path.read_bytes() == PAYLOAD  # not 1000 stale bytes + the whole file


def test_stale_part_failing_checksum_is_retried_from_scratch(
    server: WeightsServer, tmp_path: Path
) -> None:
    part = cache_dir(tmp_path) / "test-weights.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\xff" * 1000)  # bytes of some other file
    result = download(_spec(server, "/good.bin"), home=tmp_path)
    assert result.path.read_bytes() == PAYLOAD
    assert server.requests == [("/good.bin", "bytes=1000-"), ("/good.bin", None)]


def test_part_longer_than_resource_restarts(server: WeightsServer, tmp_path: Path) -> None:
    part = cache_dir(tmp_path) / "test-weights.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD + b"extra")
    result = download(_spec(server, "/good.bin"), home=tmp_path)
    assert result.path.read_bytes() == PAYLOAD


def test_http_error_is_a_download_error(server: WeightsServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(_spec(server, "/missing.bin"), home=tmp_path)


def test_damaged_cached_file_is_replaced(server: WeightsServer, tmp_path: Path) -> None:
    target = cache_dir(tmp_path) / "test-weights.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"damaged")
    result = download(_spec(server, "/good.bin"), home=tmp_path)
    assert result.downloaded
    assert target.read_bytes() == PAYLOAD


def test_unreachable_server_says_offline_and_manual_step(tmp_path: Path) -> None:
    with serve() as stopped:
        url = stopped.base_url + "/good.bin"
    spec = spec_for(get_spec("inspyrenet-fast"), url)
    with pytest.raises(DownloadError) as info:
        download(spec, home=tmp_path)
    assert "test-model" in info.value.message
    assert url in info.value.message
    assert "offline" in info.value.message
    assert "--weights PATH" in info.value.message


def test_url_override_is_used(server: WeightsServer, tmp_path: Path) -> None:
    spec = _spec(server, "/missing.bin")
    result = download(spec, home=tmp_path, url=server.base_url + "/good.bin")
    assert result.path.read_bytes() == PAYLOAD


def test_spec_without_url_is_a_clear_error(tmp_path: Path) -> None:
    spec = spec_for(get_spec("inspyrenet-fast"), "")
    with pytest.raises(DownloadError, match="test-model has no download URL"):
        download(spec, home=tmp_path)


def test_concurrent_pulls_take_turns_and_download_once(
    server: WeightsServer, tmp_path: Path
) -> None:
    spec = _spec(server, "/good.bin")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: download(spec, home=tmp_path), range(2)))
    assert sorted(result.downloaded for result in results) == [False, True]
    assert len(server.requests) == 1
    assert results[0].path.read_bytes() == PAYLOAD
