"""Both API dialects read their inputs and write their results through the same helpers:
the same bad input is the same error in both, and the same image gets the same headers.

An app built in this process on the fake backend (instant, no weights) with a small
upload limit, served by a real uvicorn.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from cutout.backends.fake import FakeBackend
from cutout.config import Settings
from cutout.engine import Engine
from cutout.errors import DecodeError, FileTooLargeError
from cutout.server.app import create_app
from cutout.server.inputs import decode_base64
from cutout.server.results import RESULT_HEADERS
from tests.corpus import pdf
from tests.server.live import ready_client, response_image

LIMIT = 64 * 1024
NATIVE = "/v1/remove"
REMOVEBG = "/v1.0/removebg"


def _png(color: tuple[int, int, int, int], size: tuple[int, int] = (90, 60)) -> bytes:
    image = Image.new("RGBA", size, (240, 240, 240, 255))
    image.paste(
        Image.new("RGBA", (size[0] // 2, size[1] // 2), color), (size[0] // 4, size[1] // 4)
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


PHOTO = _png((200, 30, 30, 255))


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    backend = FakeBackend()
    app = create_app(Settings(max_upload_bytes=LIMIT), engine=Engine(backend.spec, backend=backend))
    with ready_client(app) as http:
        yield http


def _error(response: httpx.Response) -> tuple[int, str, str]:
    (error,) = response.json()["errors"]
    return response.status_code, error["code"], error["detail"]


def _both(
    client: httpx.Client, photo: bytes, background: bytes | None = None, **fields: str
) -> tuple[httpx.Response, httpx.Response]:
    """The same request in each dialect's names: (native, remove.bg)."""
    native_files = {"image": ("photo.png", photo)}
    removebg_files = {"image_file": ("photo.png", photo)}
    if background is not None:
        native_files["bg_image"] = ("bg.png", background)
        removebg_files["bg_image_file"] = ("bg.png", background)
    native = client.post(NATIVE, files=native_files, data=fields)
    removebg = client.post(REMOVEBG, files=removebg_files, data={"size": "full", **fields})
    return native, removebg


@pytest.mark.parametrize(
    ("background", "status", "code"),
    [
        (b"this is not an image", 400, "failed_to_read_image"),
        (pdf().data, 400, "invalid_file_type"),
        (b"\x89PNG" + b"\0" * LIMIT, 413, "file_too_large"),
    ],
)
def test_a_bad_background_photo_is_the_same_error_in_both(
    client: httpx.Client, background: bytes, status: int, code: str
) -> None:
    native, removebg = _both(client, PHOTO, background)
    assert _error(native)[:2] == _error(removebg)[:2] == (status, code)
    assert "bg_image" in _error(native)[2] and "bg_image" in _error(removebg)[2]


def test_an_upload_over_the_limit_is_413_in_both(client: httpx.Client) -> None:
    native, removebg = _both(client, b"\xff\xd8" + b"\0" * LIMIT)
    assert _error(native)[:2] == _error(removebg)[:2] == (413, "file_too_large")


def test_the_same_image_gets_the_same_result_headers(client: httpx.Client) -> None:
    native, removebg = _both(client, PHOTO)
    assert native.status_code == removebg.status_code == 200, (native.text, removebg.text)
    for name in (*RESULT_HEADERS, "X-Model"):
        assert name in native.headers and name in removebg.headers, name
        if name != "Server-Timing":
            assert native.headers[name] == removebg.headers[name], name
    assert native.headers["x-model"] == "fake"
    # what only remove.bg's dialect adds
    assert removebg.headers["x-credits-charged"] == "0"
    assert "x-credits-charged" not in native.headers


@pytest.mark.parametrize(
    ("native", "removebg", "media_type"),
    [
        ({"bg": "red"}, {"bg_color": "red"}, "image/jpeg"),  # opaque: JPEG
        ({"bg": "ff000080"}, {"bg_color": "ff000080"}, "image/png"),  # see-through: PNG
        ({}, {}, "image/png"),  # a cut-out: PNG
    ],
)
def test_auto_format_is_chosen_the_same_way_in_both(
    client: httpx.Client, native: dict[str, str], removebg: dict[str, str], media_type: str
) -> None:
    files = {"image": PHOTO}
    first = client.post(NATIVE, params={"format": "auto", **native}, files=files)
    second = client.post(REMOVEBG, files={"image_file": PHOTO}, data=removebg)
    assert first.headers["content-type"] == second.headers["content-type"] == media_type


def test_an_opaque_background_photo_is_jpeg_under_auto(client: httpx.Client) -> None:
    native, removebg = _both(client, PHOTO, _png((0, 200, 0, 255)), format="auto")
    assert native.headers["content-type"] == removebg.headers["content-type"] == "image/jpeg"


def _alpha(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(response_image(response).getchannel("A"))


def test_semitransparency_false_makes_the_matte_hard(client: httpx.Client) -> None:
    # edges off: the fake model's own soft matte (refinement makes this square's edge hard)
    soft = _alpha(client.post(REMOVEBG, files={"image_file": PHOTO}, data={"edges": "off"}))
    assert ((soft > 0) & (soft < 255)).any(), "the fake matte should have soft edges"
    explicit = _alpha(
        client.post(
            REMOVEBG,
            files={"image_file": PHOTO},
            data={"semitransparency": "true", "edges": "off"},
        )
    )
    assert np.array_equal(explicit, soft)  # true is the default
    hard = _alpha(
        client.post(
            REMOVEBG,
            files={"image_file": PHOTO},
            data={"semitransparency": "false", "edges": "off"},
        )
    )
    assert set(np.unique(hard)) <= {0, 255}
    # the hard matte is the soft one cut at one half (give or take 8-bit rounding)
    assert (hard[soft >= 129] == 255).all() and (hard[soft <= 126] == 0).all()


def test_decode_base64() -> None:
    assert decode_base64("aGVsbG8=", 100, "image_file_b64") == b"hello"
    assert decode_base64(" data:image/png;base64,aGVsbG8 ", 100, "image_file_b64") == b"hello"
    with pytest.raises(DecodeError):
        decode_base64("A", 100, "image_file_b64")  # one character is no whole byte
    with pytest.raises(FileTooLargeError):
        decode_base64("A" * 200, 100, "image_file_b64")  # refused before decoding
    with pytest.raises(FileTooLargeError):
        decode_base64("A" * 136, 100, "image_file_b64")  # 102 bytes once decoded
