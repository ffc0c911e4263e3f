"""The web page at ``/`` in a real headless Chromium against a real ``cutout serve``.

Debian's chromium is driven by Playwright (Playwright's own browser download does not
work here). The page is used the way a person would: pick or drop a photo, wait for the
result, read the result's pixels back through a canvas.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cutout.options import DEFAULT_EDGES, EDGE_LEVELS
from tests.conftest import EXAMPLES
from tests.server.live import live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULT_TIMEOUT_MS = 90_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

# Reads the result image back: its natural size and how many pixels are fully
# transparent, fully opaque, and the RGBA of the top-left pixel.
READ_PIXELS = """
() => {
  const img = document.getElementById("after");
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let transparent = 0, opaque = 0;
  for (let i = 3; i < data.length; i += 4) {
    if (data[i] <= 5) transparent++;
    else if (data[i] >= 250) opaque++;
  }
  const pixels = data.length / 4;
  return {
    width: canvas.width, height: canvas.height,
    transparent: transparent / pixels, opaque: opaque / pixels,
    corner: Array.from(data.slice(0, 4)),
  };
}
"""

NEW_RESULT = """
(previous) => {
  const img = document.getElementById("after");
  return !img.hidden && img.src && img.src !== previous && img.complete;
}
"""

DROP_FILE = """
([encoded, name, type]) => {
  const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const zone = document.getElementById("drop-zone");
  zone.dispatchEvent(new DragEvent("dragenter", { dataTransfer: transfer, bubbles: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
}
"""


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """A real ``cutout serve`` on the embedded model, ready."""
    with live_server() as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(RESULT_TIMEOUT_MS)
    page.goto(f"{live_url}/")
    yield page
    context.close()


def wait_for_new_result(page: Any, previous: str | None) -> dict[str, Any]:
    page.wait_for_function(NEW_RESULT, arg=previous or "", timeout=RESULT_TIMEOUT_MS)
    pixels: dict[str, Any] = page.evaluate(READ_PIXELS)
    return pixels


def test_page_is_self_contained_and_labelled(browser: Any, live_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    def on_console(message: Any) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("console", on_console)
    response = page.goto(f"{live_url}/")
    assert response is not None and response.status == 200
    page.wait_for_load_state("networkidle")

    assert "cutout" in page.title()
    assert requested, "the page loaded nothing"
    foreign = [url for url in requested if not url.startswith(live_url)]
    assert foreign == [], f"the page loads from elsewhere: {foreign}"
    assert console_errors == []
    # the script ran: before any photo, the button waits for one
    assert page.locator("#submit").is_disabled()

    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, button")]
            .filter((el) => el.type !== "submit" && el.labels.length === 0)
            .map((el) => el.id || el.name)"""
    )
    assert unlabelled == []
    # the hidden file input is still reachable from the keyboard
    page.keyboard.press("Tab")
    for _ in range(6):
        if page.evaluate("document.activeElement.id") == "image-input":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "image-input"
    context.close()


def test_upload_shows_transparent_cutout(page: Any, tmp_path: Path) -> None:
    page.set_input_files("#image-input", str(EXAMPLES / "animal-1.jpg"))
    pixels = wait_for_new_result(page, None)

    assert (pixels["width"], pixels["height"]) == (1000, 667)
    # a cut-out: a real background that went transparent and a subject that stayed
    assert pixels["transparent"] > 0.2, pixels
    assert pixels["opaque"] > 0.1, pixels
    assert page.locator("#before").is_visible()
    assert page.locator("#after").is_visible()
    assert page.locator("#error").is_hidden()
    download = page.locator("#download")
    assert download.is_visible()
    assert download.get_attribute("href").startswith("blob:")
    assert download.get_attribute("download") == "animal-1-cutout.png"
    assert "1000 × 667" in page.locator("#result-info").inner_text()

    # the download link hands over the same PNG the API returned
    with page.expect_download() as info:
        download.click()
    saved = tmp_path / "download.png"
    info.value.save_as(saved)
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page.screenshot(path=str(tmp_path / "web-page.png"), full_page=True)


def test_colour_background_and_format_are_sent(page: Any) -> None:
    page.set_input_files("#image-input", str(EXAMPLES / "animal-2.jpg"))
    first = wait_for_new_result(page, None)
    assert first["transparent"] > 0.1
    previous = page.locator("#after").get_attribute("src")

    page.locator('input[name="background"][value="color"]').check()
    page.locator("#bg-color").fill("#ff0000")
    page.locator("#format").select_option("webp")
    # each change re-runs; wait until the last one (webp) has landed
    page.wait_for_function(
        """(previous) => {
            const link = document.getElementById("download");
            const img = document.getElementById("after");
            return img.src !== previous && !img.hidden && link.download.endsWith(".webp");
        }""",
        arg=previous,
        timeout=RESULT_TIMEOUT_MS,
    )
    pixels = page.evaluate(READ_PIXELS)
    assert pixels["transparent"] == 0.0
    assert pixels["opaque"] == 1.0
    red, green, blue, _ = pixels["corner"]
    assert red > 230 and green < 30 and blue < 30, pixels["corner"]


def test_edge_levels_come_from_the_server_and_the_chosen_one_is_sent(page: Any) -> None:
    edges = page.locator("#edges")
    page.wait_for_function("() => !document.getElementById('edges').disabled")
    offered = page.evaluate("() => [...document.getElementById('edges').options].map(o => o.value)")
    assert offered == list(EDGE_LEVELS)
    assert edges.input_value() == DEFAULT_EDGES  # preselected from /model-info
    level = next(level for level in ("fast", "off") if level != DEFAULT_EDGES)
    edges.select_option(level)

    sent: list[str] = []
    page.on(
        "request", lambda request: sent.append(request.url) if "/v1/remove" in request.url else None
    )
    page.set_input_files("#image-input", str(EXAMPLES / "animal-1.jpg"))
    pixels = wait_for_new_result(page, None)
    assert (pixels["width"], pixels["height"]) == (1000, 667)
    assert pixels["transparent"] > 0.2 and pixels["opaque"] > 0.1, pixels

    assert sent and all(f"edges={level}" in url for url in sent), sent
    # the page shows what the server says it ran, and the result's confidence
    info = page.locator("#result-info").inner_text()
    assert f"edges {level}" in info, info
    confidence = re.search(r"confidence ([01]\.\d{3})", info)
    assert confidence is not None and 0.0 <= float(confidence.group(1)) <= 1.0, info


def test_drop_a_photo(page: Any) -> None:
    encoded = base64.b64encode((EXAMPLES / "car-2.jpg").read_bytes()).decode()
    page.evaluate(DROP_FILE, [encoded, "car-2.jpg", "image/jpeg"])
    pixels = wait_for_new_result(page, None)
    assert (pixels["width"], pixels["height"]) == (1000, 667)
    assert pixels["transparent"] > 0.1
    assert "car-2.jpg" in page.locator("#file-name").inner_text()


def test_not_an_image_shows_the_api_error(page: Any, live_url: str) -> None:
    page.set_input_files(
        "#image-input",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just some text\n"}],
    )
    error = page.locator("#error")
    error.wait_for(state="visible", timeout=RESULT_TIMEOUT_MS)
    shown = error.inner_text().strip()
    assert shown
    assert error.get_attribute("role") == "alert"
    assert page.locator("#after").is_hidden()
    assert page.locator("#download").is_hidden()

    # the page shows what the API said, not a generic message
    answer = httpx.post(
        f"{live_url}/v1/remove",
        files={"image": ("notes.txt", b"just some text\n", "text/plain")},
    )
    assert answer.status_code == 400
    assert shown == answer.json()["errors"][0]["detail"]

    # and recovers: a photo after the error gives a result and clears the message
    page.set_input_files("#image-input", str(EXAMPLES / "animal-2.jpg"))
    wait_for_new_result(page, None)
    assert error.is_hidden()


@pytest.fixture(scope="module")
def keyed_url() -> Iterator[str]:
    with live_server(env={"CUTOUT_API_KEYS": "page-key"}) as server:
        yield server.url


def test_api_key_after_a_403(browser: Any, keyed_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(RESULT_TIMEOUT_MS)
    page.goto(f"{keyed_url}/")
    page.set_input_files("#image-input", str(EXAMPLES / "animal-2.jpg"))
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "API key" in error.inner_text()
    assert page.locator("#after").is_hidden()

    page.locator("#advanced summary").click()
    page.get_by_label("Key").fill("page-key")
    page.get_by_label("Key").press("Enter")
    pixels = wait_for_new_result(page, None)
    assert pixels["transparent"] > 0.1
    assert error.is_hidden()
    # kept for the tab: a reload still has it
    page.reload()
    assert page.get_by_label("Key").input_value() == "page-key"
    context.close()


def test_only_the_page_files_are_served(live_url: str) -> None:
    page = httpx.get(f"{live_url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for name, media_type in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        asset = httpx.get(f"{live_url}/static/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(media_type)
    for path in ["/static/nope.js", "/static/..%2F__init__.py", "/static/..%2Fweb.py"]:
        missing = httpx.get(f"{live_url}{path}")
        assert missing.status_code == 404, path
        assert missing.json()["errors"][0]["code"] == "not_found"
