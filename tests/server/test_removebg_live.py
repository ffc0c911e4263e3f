"""The remove.bg API on a real ``cutout serve`` (u2netp): sources, parameters, codes."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.corpus import all_cases, bomb_png, pdf, truncated_jpeg
from tests.server.live import LiveServer, live_server, response_image

URL = "/v1.0/removebg"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(env={"CUTOUT_MAX_UPLOAD_BYTES": str(2 * 1024 * 1024)}) as running:
        yield running


def _code(response: httpx.Response) -> str:
    (error,) = response.json()["errors"]
    assert set(error) == {"code", "title", "detail"}
    code: str = error["code"]
    return code


def _png(color: tuple[int, int, int], size: tuple[int, int] = (120, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def test_multipart_upload_defaults(client: httpx.Client, photo: bytes) -> None:
    response = client.post(URL, files={"image_file": ("dog.jpg", photo, "image/jpeg")})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"  # auto: transparent -> PNG
    image = response_image(response)
    assert image.mode == "RGBA" and image.size == (1000, 667)
    assert response.headers["x-width"] == "1000" and response.headers["x-height"] == "667"
    assert response.headers["x-credits-charged"] == "0"
    assert response.headers["x-type"] == "other"
    for side in ("top", "left", "width", "height"):
        assert int(response.headers[f"x-foreground-{side}"]) >= 0


def test_preview_size_downscales_to_a_quarter_megapixel(client: httpx.Client, photo: bytes) -> None:
    for size in ("preview", "small", "regular"):
        response = client.post(URL, files={"image_file": photo}, data={"size": size})
        width, height = response_image(response).size
        assert width * height <= 250_000
        assert width * height > 240_000  # as large as allowed
        assert abs(width / height - 1000 / 667) < 0.01
    full = client.post(URL, files={"image_file": photo}, data={"size": "full"})
    assert response_image(full).size == (1000, 667)


def test_json_body_with_base64_and_json_answer(client: httpx.Client, photo: bytes) -> None:
    response = client.post(
        URL,
        json={"image_file_b64": base64.b64encode(photo).decode(), "size": "preview"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == {
        "result_b64",
        "foreground_top",
        "foreground_left",
        "foreground_width",
        "foreground_height",
    }
    image = Image.open(io.BytesIO(base64.b64decode(data["result_b64"])))
    assert image.format == "PNG"
    assert data["foreground_width"] == int(response.headers["x-foreground-width"])
    assert data["foreground_width"] > 0


def test_form_urlencoded_base64(client: httpx.Client, photo: bytes) -> None:
    response = client.post(
        URL,
        data={
            "image_file_b64": base64.b64encode(photo).decode(),
            "size": "preview",
            "bg_color": "81d4fa",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"  # opaque -> auto picks JPG
    pixel = response_image(response).getpixel((0, 0))
    assert pixel == pytest.approx((0x81, 0xD4, 0xFA), abs=6)


@pytest.mark.parametrize(
    ("fields", "media_type", "mode"),
    [
        ({"format": "png", "bg_color": "red"}, "image/png", "RGB"),
        ({"format": "jpg"}, "image/jpeg", "RGB"),
        ({"channels": "alpha"}, "image/png", "L"),
        ({"channels": "alpha", "format": "jpg"}, "image/jpeg", "L"),
        ({"bg_color": "ff000080"}, "image/png", "RGBA"),  # semi-transparent colour
        ({"type": "animal", "type_level": "2", "add_shadow": "true"}, "image/png", "RGBA"),
    ],
)
def test_format_channels_and_background(
    client: httpx.Client, photo: bytes, fields: dict[str, str], media_type: str, mode: str
) -> None:
    response = client.post(URL, files={"image_file": photo}, data={"size": "preview", **fields})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response_image(response).mode == mode
    if "type" in fields:
        assert response.headers["x-type"] == "animal"


def test_zip_holds_color_and_alpha(client: httpx.Client, photo: bytes) -> None:
    response = client.post(
        URL, files={"image_file": photo}, data={"size": "preview", "format": "zip"}
    )
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
        color = Image.open(io.BytesIO(archive.read("color.jpg")))
        assert alpha.mode == "L" and color.mode == "RGB"
        assert (
            alpha.size
            == color.size
            == (int(response.headers["x-width"]), int(response.headers["x-height"]))
        )


def test_crop_margin_scale_position(client: httpx.Client, photo: bytes) -> None:
    cropped = client.post(
        URL, files={"image_file": photo}, data={"crop": "true", "crop_margin": "10px"}
    )
    assert cropped.status_code == 200, cropped.text
    box_width = int(cropped.headers["x-foreground-width"])
    assert response_image(cropped).size[0] < 1000
    assert abs(response_image(cropped).size[0] - box_width - 20) <= 2  # 10 px either side

    scaled = client.post(
        URL,
        files={"image_file": photo},
        data={"size": "preview", "scale": "50%", "position": "center"},
    )
    assert scaled.status_code == 200, scaled.text
    alpha = np.asarray(response_image(scaled))[:, :, 3]
    columns = np.flatnonzero(alpha.max(axis=0) > 128)
    # the subject spans about half the width, centred
    assert 0.35 < (columns[-1] - columns[0]) / alpha.shape[1] < 0.6
    middle = (columns[-1] + columns[0]) / 2 / alpha.shape[1]
    assert abs(middle - 0.5) < 0.08


def test_background_image_file(client: httpx.Client, photo: bytes) -> None:
    response = client.post(
        URL,
        files={"image_file": photo, "bg_image_file": ("bg.png", _png((0, 200, 0), (300, 200)))},
        data={"size": "preview"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response_image(response).getpixel((0, 0)) == pytest.approx((0, 200, 0), abs=8)


def test_roi_outside_the_subject_is_unknown_foreground(client: httpx.Client, photo: bytes) -> None:
    response = client.post(URL, files={"image_file": photo}, data={"roi": "0 0 30 30"})
    assert response.status_code == 400
    assert _code(response) == "unknown_foreground"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"size": "huge"}, "invalid_size"),
        ({"format": "gif"}, "invalid_format"),
        ({"channels": "rgb"}, "invalid_channels"),
        ({"type": "spaceship"}, "invalid_type"),
        ({"bg_color": "nocolour"}, "invalid_bg_color"),
        ({"crop_margin": "1 2 3"}, "invalid_crop_margin"),
        ({"crop_margin": "600px"}, "invalid_crop_margin"),
        ({"crop_margin": "60%"}, "invalid_crop_margin"),
        ({"scale": "5%"}, "invalid_scale"),
        ({"position": "left"}, "invalid_position"),
        ({"roi": "1 2 3"}, "invalid_roi"),
        ({"roi": "0 0 2000 10"}, "roi_exceeds_bounds"),
        ({"roi": "10 10 10 20"}, "roi_region_empty"),
        ({"crop": "perhaps"}, "invalid_crop"),
        ({"semitransparency": "x"}, "invalid_semitransparency"),
        ({"image_url": "https://example.com/a.jpg"}, "multiple_sources"),
        ({"bg_color": "fff", "bg_image_url": "https://example.com/b.jpg"}, "multiple_bg_sources"),
    ],
)
def test_parameter_errors(
    client: httpx.Client, photo: bytes, fields: dict[str, str], code: str
) -> None:
    response = client.post(URL, files={"image_file": photo}, data=fields)
    assert response.status_code == 400, response.text
    assert _code(response) == code


def test_source_errors(client: httpx.Client) -> None:
    assert _code(client.post(URL, data={"size": "preview"})) == "missing_source"
    assert _code(client.post(URL)) == "missing_source"
    assert _code(client.post(URL, json={"image_url": "https://example.com/a.jpg"})) == (
        "invalid_image_url"  # off by default
    )
    assert _code(client.post(URL, json={"image_file_b64": "!!!not base64"})) == (
        "failed_to_read_image"
    )
    assert _code(client.post(URL, files={"image_file": pdf().data})) == "invalid_file_type"
    assert _code(client.post(URL, files={"image_file": truncated_jpeg().data})) == (
        "failed_to_read_image"
    )
    assert _code(client.post(URL, files={"image_file": bomb_png().data})) == ("resolution_too_high")
    bad_json = client.post(URL, content=b"{nope", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and _code(bad_json) == "invalid_json"


def test_file_too_large_is_413(client: httpx.Client) -> None:
    big = b"\xff\xd8" + b"\0" * (3 * 1024 * 1024)
    response = client.post(URL, files={"image_file": ("big.jpg", big)})
    assert response.status_code == 413
    assert _code(response) == "file_too_large"
    b64 = base64.b64encode(b"\0" * (2 * 1024 * 1024 + 10)).decode()
    response = client.post(URL, json={"image_file_b64": b64})
    assert response.status_code == 413 and _code(response) == "file_too_large"


def test_hostile_inputs(client: httpx.Client) -> None:
    for name, data, error in all_cases():
        response = client.post(URL, files={"image_file": (name, data)}, data={"size": "preview"})
        assert response.status_code < 500, (name, response.text)
        if error is not None:
            assert _code(response) == error.code, name
    assert client.get("/ready").status_code == 200


def test_account(client: httpx.Client) -> None:
    body = client.get("/v1.0/account").json()
    attributes = body["data"]["attributes"]
    assert attributes["credits"]["total"] == 0
    assert attributes["api"] == {"free_calls": 0, "sizes": "all"}
