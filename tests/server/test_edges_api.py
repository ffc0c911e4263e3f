"""The edge option and the confidence header in both API dialects: ``edges`` read the same
way (levels, default, errors), ``refine_edges`` kept as the native API's old spelling of
``edges=best``, ``X-Cutout-Confidence`` and ``X-Cutout-Edges`` on every image result.

An app built in this process on the fake backend (instant, no weights), served by a real
uvicorn.
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
from cutout.options import DEFAULT_EDGES, EDGE_LEVELS
from cutout.server.app import create_app
from tests.server.live import ready_client

NATIVE = "/v1/remove"
REMOVEBG = "/v1.0/removebg"


def _photo() -> bytes:
    image = Image.new("RGB", (120, 90), (235, 235, 235))
    image.paste((150, 60, 30), (30, 20, 90, 70))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


PHOTO = _photo()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    backend = FakeBackend()
    app = create_app(Settings(), engine=Engine(backend.spec, backend=backend))
    with ready_client(app) as http:
        yield http


def _native(client: httpx.Client, **fields: str) -> httpx.Response:
    return client.post(NATIVE, files={"image": ("photo.png", PHOTO)}, data=fields)


def _removebg(client: httpx.Client, **fields: str) -> httpx.Response:
    return client.post(REMOVEBG, files={"image_file": ("photo.png", PHOTO)}, data=fields)


def _ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code == 200, response.text
    return response


def _confidence(response: httpx.Response) -> float:
    text = response.headers["x-cutout-confidence"]
    assert len(text.split(".")[1]) == 3, text  # 3 decimals
    value = float(text)
    assert 0.0 <= value <= 1.0
    return value


@pytest.mark.parametrize("level", EDGE_LEVELS)
def test_each_level_runs_in_both_dialects(client: httpx.Client, level: str) -> None:
    for response in (_native(client, edges=level), _removebg(client, edges=level)):
        _ok(response)
        assert response.headers["x-cutout-edges"] == level
        _confidence(response)


def test_the_level_also_comes_as_a_query_parameter(client: httpx.Client) -> None:
    query = _ok(client.post(NATIVE, params={"edges": "fast"}, content=PHOTO))
    assert query.headers["x-cutout-edges"] == "fast"
    # a form field wins over the query, as for every native option
    both = _ok(
        client.post(NATIVE, params={"edges": "fast"}, files={"image": PHOTO}, data={"edges": "off"})
    )
    assert both.headers["x-cutout-edges"] == "off"
    removebg = _ok(client.post(REMOVEBG, params={"edges": "fast"}, files={"image_file": PHOTO}))
    assert removebg.headers["x-cutout-edges"] == "fast"


def test_the_default_level_is_the_one_default(client: httpx.Client) -> None:
    for response in (_native(client), _removebg(client), _native(client, edges="")):
        assert _ok(response).headers["x-cutout-edges"] == DEFAULT_EDGES


def test_the_level_changes_the_result(client: httpx.Client) -> None:
    def alpha(level: str) -> np.ndarray:
        response = _ok(_native(client, edges=level, mask="true"))
        return np.asarray(Image.open(io.BytesIO(response.content)), dtype=int)

    assert np.abs(alpha("best") - alpha("off")).max() > 0


@pytest.mark.parametrize("bad", ["bogus", "BEST!", "1"])
def test_a_bad_level_is_the_same_400_in_both(client: httpx.Client, bad: str) -> None:
    for response in (_native(client, edges=bad), _removebg(client, edges=bad)):
        assert response.status_code == 400, response.text
        (error,) = response.json()["errors"]
        assert error["code"] == "invalid_edges"
        assert bad in error["detail"] and "best" in error["detail"]
    # the native API refuses it before reading the body
    query = client.post(NATIVE, params={"edges": "bogus"}, content=b"")
    assert query.status_code == 400 and query.json()["errors"][0]["code"] == "invalid_edges"


@pytest.mark.parametrize(
    ("fields", "level"),
    [
        ({"refine_edges": "true"}, "best"),
        ({"refine-edges": "yes"}, "best"),
        ({"refine_edges": "false"}, DEFAULT_EDGES),
        ({"refine_edges": "true", "edges": "fast"}, "fast"),  # edges wins
    ],
)
def test_refine_edges_is_the_old_spelling_of_best(
    client: httpx.Client, fields: dict[str, str], level: str
) -> None:
    assert _ok(_native(client, **fields)).headers["x-cutout-edges"] == level


def test_a_bad_refine_edges_is_still_refused(client: httpx.Client) -> None:
    response = _native(client, refine_edges="maybe", edges="fast")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_refine_edges"


def test_removebg_ignores_names_it_does_not_know(client: httpx.Client) -> None:
    """edges is cutout's one extension; anything else unknown is ignored, as before (a
    client sending a newer remove.bg parameter still gets its image)."""
    response = _ok(_removebg(client, some_future_option="1", refine_edges="maybe"))
    assert response.headers["x-cutout-edges"] == DEFAULT_EDGES


def test_removebg_json_answers_carry_the_headers(client: httpx.Client) -> None:
    response = client.post(
        REMOVEBG,
        files={"image_file": ("photo.png", PHOTO)},
        data={"edges": "fast"},
        headers={"Accept": "application/json"},
    )
    _ok(response)
    assert set(response.json()["data"]) >= {"result_b64", "foreground_top"}
    assert response.headers["x-cutout-edges"] == "fast"
    _confidence(response)


def test_every_image_format_carries_the_confidence(client: httpx.Client) -> None:
    for fmt in ("png", "webp", "jpg", "zip"):
        _confidence(_ok(_native(client, format=fmt)))
    _confidence(_ok(_native(client, mask="true")))
    _confidence(_ok(_removebg(client, channels="alpha")))


def test_model_info_lists_the_levels_and_the_default(client: httpx.Client) -> None:
    info = client.get("/model-info").json()
    assert info["edges"] == {"levels": list(EDGE_LEVELS), "default": DEFAULT_EDGES}
