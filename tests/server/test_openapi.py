"""``/openapi.json`` and ``/docs`` of a real server describe the API that is really there.

Three directions: every route the app serves is documented (and the web page is not);
every documented option of ``/v1/remove`` is really read (a bad value of it is a 400
naming it); the remove.bg operation documents remove.bg's parameters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from cutout.config import Settings
from cutout.options import DEFAULT_EDGES, EDGE_LEVELS
from cutout.server.app import create_app
from cutout.server.routes_native import OPTION_PARAMETERS
from tests.conftest import EXAMPLES
from tests.server.live import live_server

# what issue 4 asks for; the app may serve more, never less
REQUIRED_OPERATIONS = {
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/model-info"),
    ("get", "/v1/models"),
    ("post", "/v1/remove"),
    ("post", "/v1.0/removebg"),
    ("get", "/v1.0/account"),
    ("get", "/metrics"),
}

# remove.bg's request fields (../shared/facts/remove-bg-api.md)
REMOVEBG_FIELDS = {
    "image_file",
    "image_file_b64",
    "image_url",
    "size",
    "type",
    "format",
    "roi",
    "crop",
    "crop_margin",
    "scale",
    "position",
    "channels",
    "bg_color",
    "bg_image_url",
    "bg_image_file",
    "add_shadow",
}

# a value each documented option type must refuse
BAD_VALUES = {"boolean": "maybe", "number": "lots", "integer": "many"}
BAD_STRINGS = {
    "bg": "not-a-colour",
    "margin": "wide",
    "canvas": "big",
    "format": "bmp",
    "edges": "finest",
}


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """A real ``cutout serve`` on the embedded model, ready."""
    with live_server() as server:
        yield server.url


@pytest.fixture(scope="module")
def schema(live_url: str) -> dict[str, Any]:
    response = httpx.get(f"{live_url}/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(schema: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def served_operations(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every API route, through included routers of any depth."""
    for route in routes:
        # FastAPI >= 0.16x wraps each included router instead of copying its routes
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from served_operations(
                inner.routes, prefix + (getattr(context, "prefix", "") or "")
            )
        elif isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods or ():
                yield method.lower(), prefix + route.path


def test_every_route_is_documented(schema: dict[str, Any]) -> None:
    served = set(served_operations(create_app(Settings()).routes))
    documented = operations(schema)
    assert served <= documented, f"served but not documented: {served - documented}"
    assert documented <= served, f"documented but not served: {documented - served}"
    assert documented >= REQUIRED_OPERATIONS, f"missing: {REQUIRED_OPERATIONS - documented}"
    # the web page is not part of the API
    assert "/" not in schema["paths"]
    assert not any(path.startswith("/static") for path in schema["paths"])


def test_every_operation_has_a_summary_and_responses(schema: dict[str, Any]) -> None:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            assert operation.get("responses"), f"{method.upper()} {path} has no responses"


def test_remove_documents_every_option_and_the_body(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/v1/remove"]["post"]
    documented = {param["name"]: param for param in operation["parameters"]}
    assert set(OPTION_PARAMETERS) <= set(documented)
    for name, param in documented.items():
        assert param["in"] == ("query" if name in OPTION_PARAMETERS else "header"), param
        assert param.get("description"), f"{name} has no description"
    body = operation["requestBody"]["content"]
    multipart = body["multipart/form-data"]["schema"]
    assert multipart["properties"]["image"]["format"] == "binary"
    assert "image" in multipart["required"]
    responses = operation["responses"]
    assert "image/png" in responses["200"]["content"]
    assert {"400", "413", "503"} <= set(responses)


@pytest.mark.parametrize("name", sorted(OPTION_PARAMETERS))
def test_documented_option_is_really_read(live_url: str, schema: dict[str, Any], name: str) -> None:
    """A bad value of each documented option is refused with a 400 naming it."""
    operation = schema["paths"]["/v1/remove"]["post"]
    param = next(param for param in operation["parameters"] if param["name"] == name)
    kind = param["schema"].get("type", "string")
    bad = BAD_STRINGS.get(name) or BAD_VALUES.get(kind)
    if bad is None:
        pytest.fail(f"no bad value known for {name} ({kind}): add one to BAD_STRINGS")
    response = httpx.post(
        f"{live_url}/v1/remove",
        params={name: bad},
        files={"image": ("animal-2.jpg", (EXAMPLES / "animal-2.jpg").read_bytes(), "image/jpeg")},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert name.replace("_", "") in error["code"].replace("_", ""), error


def test_edges_is_documented_from_the_one_list_of_levels(schema: dict[str, Any]) -> None:
    native = schema["paths"]["/v1/remove"]["post"]
    [param] = [param for param in native["parameters"] if param["name"] == "edges"]
    assert param["schema"]["enum"] == list(EDGE_LEVELS)
    assert param["schema"]["default"] == DEFAULT_EDGES
    [legacy] = [param for param in native["parameters"] if param["name"] == "refine_edges"]
    assert legacy["schema"]["deprecated"] is True
    removebg = schema["paths"]["/v1.0/removebg"]["post"]["requestBody"]["content"]
    for content in removebg.values():
        edges = content["schema"]["properties"]["edges"]
        assert edges["enum"] == list(EDGE_LEVELS) and edges["default"] == DEFAULT_EDGES
    headers = native["responses"]["200"]["headers"]
    assert headers["X-Cutout-Confidence"]["schema"]["type"] == "number"


def test_removebg_documents_its_fields(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/v1.0/removebg"]["post"]
    content = operation["requestBody"]["content"]
    assert "multipart/form-data" in content
    fields = set(content["multipart/form-data"]["schema"]["properties"])
    assert fields >= REMOVEBG_FIELDS, f"missing: {REMOVEBG_FIELDS - fields}"
    assert content["multipart/form-data"]["schema"]["properties"]["image_file"]["format"] == (
        "binary"
    )
    responses = operation["responses"]
    assert "200" in responses
    assert {"400", "403"} <= set(responses)


def test_docs_page_points_at_the_schema(live_url: str) -> None:
    response = httpx.get(f"{live_url}/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


def test_schema_describes_cutout(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    assert "cutout" in schema["info"]["title"].lower()
    assert schema["info"]["version"]
