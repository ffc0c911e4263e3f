"""The native API and the operations endpoints on a real ``cutout serve`` (u2netp)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from cutout.options import DEFAULT_EDGES, EDGE_LEVELS
from tests.corpus import EXPECTED_SIZES, all_cases
from tests.server.live import LiveServer, live_server, response_image
from tests.transparent import half_transparent_png, transparent_columns

PROJECT = "shop-project"
REVISION = "cutout-00042-abc"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    env = {"CUTOUT_GCP_PROJECT": PROJECT, "K_REVISION": REVISION, "CUTOUT_DEVICE": "cpu"}
    with live_server(env=env) as running:
        yield running


def _error(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert set(error) == {"code", "title", "detail"}
    assert error["title"] and error["detail"]
    code: str = error["code"]
    return code


def test_health_and_ready(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model": "u2netp"}


def test_model_info(client: httpx.Client) -> None:
    info = client.get("/model-info").json()
    assert info["model"] == "u2netp"
    assert info["family"] == "u2net"
    assert info["input_size"] == 320
    assert info["resize"] == "static"
    assert re.fullmatch(r"[0-9a-f]{64}", info["weights_sha256"])
    assert info["device"]["kind"] == "cpu"
    assert info["precision"] == "float32"
    assert info["fallbacks"] == []
    assert info["load_seconds"] > 0
    assert info["warmup_seconds"] == 0  # ONNX Runtime on the CPU needs no warm-up forward
    assert info["batch"]["max_batch"] == 8
    assert info["limits"]["max_upload_bytes"] == 25 * 1024 * 1024
    assert "onnxruntime" in info["versions"]
    assert info["revision"] == REVISION
    assert info["edges"] == {"levels": list(EDGE_LEVELS), "default": DEFAULT_EDGES}


def test_models_registry(client: httpx.Client) -> None:
    body = client.get("/v1/models").json()
    names = [model["name"] for model in body["models"]]
    assert body["serving"] == "u2netp"
    assert "u2netp" in names
    serving = [model for model in body["models"] if model["serving"]]
    assert [model["name"] for model in serving] == ["u2netp"]
    assert serving[0]["embedded"] is True


def test_remove_raw_body(client: httpx.Client, photo: bytes) -> None:
    response = client.post("/v1/remove", content=photo)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = response_image(response)
    assert image.mode == "RGBA"
    assert image.size == (1000, 667)
    assert (int(response.headers["x-width"]), int(response.headers["x-height"])) == image.size
    alpha = np.asarray(image)[:, :, 3]
    assert alpha.min() == 0 and alpha.max() == 255
    top = int(response.headers["x-foreground-top"])
    left = int(response.headers["x-foreground-left"])
    width = int(response.headers["x-foreground-width"])
    height = int(response.headers["x-foreground-height"])
    assert 0 <= left < left + width <= 1000 and 0 <= top < top + height <= 667
    # the box holds the subject: the matte outside it is empty
    outside = alpha.copy()
    outside[top : top + height, left : left + width] = 0
    assert outside.max() < 128
    timing = response.headers["server-timing"]
    stages = ("decode", "preprocess", "infer", "postprocess", "edges", "compose", "encode")
    assert [part.split(";")[0] for part in timing.split(", ")] == list(stages)
    for stage in stages:
        assert re.search(rf"\b{stage};dur=\d+(\.\d+)?", timing), timing
    assert response.headers["x-cutout-edges"] == DEFAULT_EDGES
    confidence = response.headers["x-cutout-confidence"]
    assert re.fullmatch(r"[01]\.\d{3}", confidence) and 0.0 <= float(confidence) <= 1.0


def test_remove_multipart_with_options(client: httpx.Client, photo: bytes) -> None:
    response = client.post(
        "/v1/remove",
        params={"format": "png"},
        files={"image": ("dog.jpg", photo, "image/jpeg")},
        data={"format": "jpg", "bg": "white", "crop": "true", "margin": "10"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"  # the form wins over the query
    image = response_image(response)
    assert image.mode == "RGB"
    assert image.size[0] < 1000 and image.size[1] < 667  # cropped to the subject
    assert image.getpixel((0, 0)) == pytest.approx((255, 255, 255), abs=8)


@pytest.mark.parametrize(
    ("query", "media_type", "mode"),
    [
        ("mask=true", "image/png", "L"),
        ("format=webp", "image/webp", "RGBA"),
        ("format=auto", "image/png", "RGBA"),
        ("format=auto&bg=red", "image/jpeg", "RGB"),
        ("bg=blur:10&format=png", "image/png", "RGB"),
        ("threshold=0.5&invert=true", "image/png", "RGBA"),
    ],
)
def test_remove_options(
    client: httpx.Client, photo: bytes, query: str, media_type: str, mode: str
) -> None:
    response = client.post(f"/v1/remove?{query}", content=photo)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response_image(response).mode == mode


def test_canvas_and_zip(client: httpx.Client, photo: bytes) -> None:
    response = client.post("/v1/remove?canvas=300x200&fill=0.5", content=photo)
    assert response.status_code == 200
    assert response_image(response).size == (300, 200)
    zipped = client.post("/v1/remove?format=zip", content=photo)
    assert zipped.headers["content-type"] == "application/zip"
    assert zipped.content[:2] == b"PK"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("bg=notacolour", "invalid_bg"),
        ("bg=/etc/passwd", "invalid_bg"),  # the server never opens client-named files
        ("format=gif", "invalid_format"),
        ("canvas=big", "invalid_canvas"),
        ("threshold=2", "invalid_threshold"),
        ("fill=0", "invalid_fill"),
        ("margin=1 2 3", "invalid_margin"),
        ("crop=maybe", "invalid_crop"),
        ("quality=0", "invalid_quality"),
    ],
)
def test_bad_options_are_400(client: httpx.Client, photo: bytes, query: str, code: str) -> None:
    response = client.post(f"/v1/remove?{query}", content=photo)
    assert response.status_code == 400
    assert _error(response) == code


def test_hostile_inputs_are_4xx_and_the_server_stays_up(client: httpx.Client) -> None:
    for name, data, error in all_cases():
        response = client.post("/v1/remove", files={"image": (name, data)})
        assert response.status_code < 500, (name, response.text)
        if error is None:
            assert response.status_code == 200, (name, response.text)
            if name in EXPECTED_SIZES:
                assert response_image(response).size == EXPECTED_SIZES[name], name
        else:
            assert response.status_code in (400, 413), name
            assert _error(response) == error.code, name
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200


def test_missing_image_and_unknown_routes(client: httpx.Client) -> None:
    response = client.post("/v1/remove", files={"other": ("x.jpg", b"abc")})
    assert response.status_code == 400
    assert _error(response) == "failed_to_read_image"
    assert _error(client.post("/v1/remove", content=b"")) == "failed_to_read_image"
    missing = client.get("/nope")
    assert missing.status_code == 404 and _error(missing) == "not_found"
    wrong = client.get("/v1/remove")
    assert wrong.status_code == 405 and _error(wrong) == "method_not_allowed"


def test_request_id_metrics_and_logs(
    server: LiveServer, client: httpx.Client, photo: bytes
) -> None:
    trace = "105445aa7843bc8bf206b12000100000"
    response = client.post(
        "/v1/remove?format=jpg",
        content=photo,
        headers={"X-Request-Id": "order-17", "X-Cloud-Trace-Context": f"{trace}/1;o=1"},
    )
    assert response.headers["x-request-id"] == "order-17"
    assert len(client.get("/health").headers["x-request-id"]) == 32  # generated

    metrics = client.get("/metrics").text
    assert re.search(
        r'cutout_requests_total\{method="POST",route="/v1/remove",status="200"\} [1-9]', metrics
    )
    assert 'cutout_stage_seconds_count{stage="infer"}' in metrics
    assert re.search(r"cutout_model_load_seconds [0-9.]+", metrics)
    assert 'cutout_device_info{kind="cpu"' in metrics
    assert "cutout_queue_depth 0.0" in metrics

    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert all({"severity", "message", "time"} <= set(entry) for entry in entries)
    (entry,) = [e for e in entries if e.get("requestId") == "order-17"]
    assert entry["severity"] == "INFO"
    assert entry["httpRequest"]["requestMethod"] == "POST"
    assert entry["httpRequest"]["status"] == 200
    assert entry["httpRequest"]["requestUrl"] == "/v1/remove?format=jpg"
    assert entry["httpRequest"]["latency"].endswith("s")
    assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{trace}"
    assert entry["logging.googleapis.com/spanId"] == "1"


@pytest.mark.parametrize(
    ("path", "field", "fields"),
    [
        ("/v1/remove", "image", {}),
        ("/v1/remove", "image", {"mask": "true"}),
        ("/v1/remove", "image", {"bg": "0000ff", "format": "png"}),
        ("/v1.0/removebg", "image_file", {"size": "full"}),
        ("/v1.0/removebg", "image_file", {"size": "full", "channels": "alpha"}),
        ("/v1.0/removebg", "image_file", {"size": "full", "bg_color": "0000ff", "format": "png"}),
    ],
    ids=["native", "native-mask", "native-colour", "removebg", "removebg-alpha", "removebg-colour"],
)
def test_an_rgba_inputs_transparent_half_stays_transparent(
    client: httpx.Client, path: str, field: str, fields: dict[str, str]
) -> None:
    response = client.post(
        path, files={field: ("cut-before.png", half_transparent_png(), "image/png")}, data=fields
    )
    assert response.status_code == 200, response.text
    pixels = np.asarray(response_image(response))
    hidden = transparent_columns(pixels.shape[1])
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        assert (pixels[:, :hidden] == (0, 0, 255)).all()  # the new background shows
    else:
        alpha = pixels if pixels.ndim == 2 else pixels[..., 3]
        assert (alpha[:, :hidden] == 0).all()
        assert alpha[:, hidden:].max() == 255
    assert 0.0 <= float(response.headers["x-cutout-confidence"]) <= 1.0
