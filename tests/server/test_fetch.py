"""image_url fetching: refusal rules, then one allowed fetch from a loopback server.

A loopback server must be refused by the real policy (that is the point), so the fetch
itself is tested with ``address_allowed`` overridden, the test-only door in UrlPolicy.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from PIL import Image

from cutout.backends.fake import FakeBackend
from cutout.config import Settings
from cutout.engine import Engine
from cutout.errors import FileTooLargeError, InputError, InvalidOptionError
from cutout.server.app import create_app
from cutout.server.fetch import (
    UrlPolicy,
    fetch_url,
    host_allowed,
    is_public_address,
    resolve_target,
)
from tests.server.live import serve_in_thread

PUBLIC = "93.184.215.14"


def _policy(**changes: object) -> UrlPolicy:
    base = UrlPolicy(
        enabled=True,
        allow_hosts=("images.example.com", "*.cdn.example.net"),
        resolver=lambda host, port: [PUBLIC],
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_host_allow_list() -> None:
    allowed = ("images.example.com", "*.cdn.example.net")
    assert host_allowed("images.example.com", allowed)
    assert host_allowed("IMAGES.example.com.", allowed)
    assert host_allowed("a.cdn.example.net", allowed)
    assert not host_allowed("cdn.example.net", allowed)
    assert not host_allowed("evil-images.example.com", allowed)
    assert not host_allowed("images.example.com.evil.org", allowed)


def test_disabled_by_default() -> None:
    with pytest.raises(InvalidOptionError) as info:
        resolve_target("https://images.example.com/a.jpg", UrlPolicy())
    assert info.value.code == "invalid_image_url"
    assert "disabled" in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://images.example.com/a.jpg",
        "gopher://images.example.com/",
        "https://other.example.com/a.jpg",
        "https://user:pw@images.example.com/a.jpg",
        "http://127.0.0.1/a.jpg",
        "https://images.example.com:99999/a.jpg",
        "not a url",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(InvalidOptionError) as info:
        resolve_target(url, _policy(allow_hosts=("images.example.com", "127.0.0.1")))
    assert info.value.code == "invalid_image_url"


def test_allowed_name_resolving_to_private_address_is_refused() -> None:
    # DNS rebinding: the name is allowed, its answer is not
    policy = _policy(resolver=lambda host, port: [PUBLIC, "10.0.0.5"])
    with pytest.raises(InvalidOptionError) as info:
        resolve_target("https://images.example.com/a.jpg", policy, param="bg_image_url")
    assert info.value.code == "invalid_bg_image_url"
    assert "10.0.0.5" in info.value.message


def test_resolved_once_and_pinned() -> None:
    calls: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return [PUBLIC]

    target = resolve_target("https://images.example.com/p/a.jpg?x=1", _policy(resolver=resolver))
    assert calls == [("images.example.com", 443)]
    assert target.url == f"https://{PUBLIC}:443/p/a.jpg?x=1"
    assert target.host == "images.example.com"


def test_unresolvable_host_is_a_download_failure() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(InputError) as info:
        resolve_target("https://images.example.com/a.jpg", _policy(resolver=resolver))
    assert info.value.code == "failed_image_download"


def _dog_png() -> bytes:
    image = Image.new("RGB", (80, 60), (10, 10, 10))
    image.paste((240, 200, 60), (20, 15, 60, 45))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# -- a real fetch from a loopback server, through the test-only override ---------------
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/photo.png": (200, {"Content-Type": "image/png"}, b"\x89PNG fake body"),
            "/big": (200, {}, b"x" * 5000),
            "/redirect": (302, {"Location": "/photo.png"}, b""),
            "/elsewhere": (302, {"Location": "http://forbidden.example.org/x"}, b""),
            "/missing": (404, {}, b"no"),
            "/slow": (200, {}, b"late"),
            "/dog.png": (200, {"Content-Type": "image/png"}, _dog_png()),
        }
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path.startswith("/loop"):
            depth = int(self.path.removeprefix("/loop") or "0")
            routes[self.path] = (302, {"Location": f"/loop{depth + 1}"}, b"")
        status, headers, body = routes.get(self.path, (404, {}, b""))
        self.server.seen_hosts.append(self.headers.get("Host", ""))  # type: ignore[attr-defined]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen_hosts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def _loopback_policy(**changes: object) -> UrlPolicy:
    base = UrlPolicy(
        enabled=True,
        allow_hosts=("localhost",),
        address_allowed=lambda address: address.is_loopback,  # TEST ONLY
        resolver=lambda host, port: ["127.0.0.1"],
        timeout_s=5.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_real_policy_refuses_the_loopback_origin(origin: tuple[str, ThreadingHTTPServer]) -> None:
    url, _ = origin
    policy = replace(_loopback_policy(), address_allowed=is_public_address)
    with pytest.raises(InvalidOptionError) as info:
        asyncio.run(fetch_url(url + "/photo.png", policy))
    assert info.value.code == "invalid_image_url"


def test_allowed_fetch_sends_the_host_name(origin: tuple[str, ThreadingHTTPServer]) -> None:
    url, server = origin
    data = asyncio.run(fetch_url(url + "/photo.png", _loopback_policy()))
    assert data == b"\x89PNG fake body"
    port = url.rsplit(":", 1)[1]
    assert server.seen_hosts[-1] == f"localhost:{port}"  # type: ignore[attr-defined]


def test_redirects_are_followed_and_rechecked(origin: tuple[str, ThreadingHTTPServer]) -> None:
    url, _ = origin
    assert asyncio.run(fetch_url(url + "/redirect", _loopback_policy())) == b"\x89PNG fake body"
    with pytest.raises(InvalidOptionError) as info:
        asyncio.run(fetch_url(url + "/elsewhere", _loopback_policy()))
    assert "forbidden.example.org" in info.value.message


def test_at_most_three_redirects(origin: tuple[str, ThreadingHTTPServer]) -> None:
    url, _ = origin
    with pytest.raises(InputError) as info:
        asyncio.run(fetch_url(url + "/loop0", _loopback_policy()))
    assert info.value.code == "failed_image_download"
    assert "redirects" in info.value.message


def test_size_cap(origin: tuple[str, ThreadingHTTPServer]) -> None:
    url, _ = origin
    with pytest.raises(FileTooLargeError):
        asyncio.run(fetch_url(url + "/big", _loopback_policy(max_bytes=1000)))


def test_http_error_status(origin: tuple[str, ThreadingHTTPServer]) -> None:
    url, _ = origin
    with pytest.raises(InputError) as info:
        asyncio.run(fetch_url(url + "/missing", _loopback_policy(), param="bg_image_url"))
    assert info.value.code == "failed_bg_download"


def test_time_limit(origin: tuple[str, ThreadingHTTPServer]) -> None:
    url, _ = origin
    with pytest.raises(InputError) as info:
        asyncio.run(fetch_url(url + "/slow", _loopback_policy(timeout_s=0.3)))
    assert info.value.code == "failed_image_download"
    assert "longer than" in info.value.message


def test_image_url_through_the_api(origin: tuple[str, ThreadingHTTPServer]) -> None:
    """remove.bg's image_url end to end, with the test-only loopback override."""
    url, _ = origin
    backend = FakeBackend()
    settings = Settings(allow_urls=True, url_allow_hosts=("localhost",))
    app = create_app(settings, engine=Engine(backend.spec, backend=backend))
    # the real policy refuses the loopback origin; tests widen only the address check
    state = app.state.cutout
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        refused = client.post("/v1.0/removebg", data={"image_url": url + "/dog.png"})
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["code"] == "invalid_image_url"
        state.url_policy = replace(state.url_policy, address_allowed=lambda address: True)
        fetched = client.post(
            "/v1.0/removebg",
            data={"image_url": url + "/dog.png", "bg_image_url": url + "/missing"},
        )
        assert fetched.status_code == 400
        assert fetched.json()["errors"][0]["code"] == "failed_bg_download"
        ok = client.post("/v1.0/removebg", data={"image_url": url + "/dog.png"})
        assert ok.status_code == 200, ok.text
        assert Image.open(io.BytesIO(ok.content)).size == (80, 60)
