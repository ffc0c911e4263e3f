"""``POST /v1.0/removebg`` and ``GET /v1.0/account``: the remove.bg API, faithfully.

Bodies: multipart/form-data, application/x-www-form-urlencoded or JSON. Exactly one
source (``image_file``, ``image_file_b64``, ``image_url``) and at most one background
(``bg_color``, ``bg_image_file``, ``bg_image_url``). The answer is the image, or
``{"data": {"result_b64", "foreground_*"}}`` with ``Accept: application/json``; headers
``X-Width``, ``X-Height``, ``X-Credits-Charged``, ``X-Type``, ``X-Foreground-*``, and
cutout's own (``X-Cutout-Confidence``...: remove.bg clients ignore headers they do not
know). cutout's one extension parameter is ``edges``; other unknown names are ignored.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from cutout.errors import InputError
from cutout.imaging.decode import DecodedImage
from cutout.imaging.resize import downscale
from cutout.options import DEFAULT_EDGES, EDGE_LEVELS, Background, RemoveOptions
from cutout.server.auth import API_KEY, authorize
from cutout.server.fetch import fetch_url
from cutout.server.inputs import (
    FORM_TYPES,
    JSON_TYPE,
    Form,
    decode_background,
    decode_base64,
    media_type,
    read_form,
    read_json,
)
from cutout.server.limits import check_file_size
from cutout.server.params import Params
from cutout.server.removebg_params import SIZES, RemoveBgRequest, parse_request
from cutout.server.results import result_headers
from cutout.server.state import ServerState

__all__ = ["BACKGROUNDS", "SOURCES", "router"]

SOURCES = ("image_file", "image_file_b64", "image_url")
BACKGROUNDS = ("bg_color", "bg_image_file", "bg_image_url")

router = APIRouter(tags=["remove.bg"])

_STRING = {"type": "string"}
_FIELDS: dict[str, dict[str, Any]] = {
    "image_file_b64": _STRING,
    "image_url": _STRING,
    "size": {"type": "string", "enum": list(SIZES)},
    "type": _STRING,
    "type_level": _STRING,
    "format": {"type": "string", "enum": ["auto", "png", "jpg", "zip"]},
    "roi": _STRING,
    "crop": {"type": "boolean"},
    "crop_margin": _STRING,
    "scale": _STRING,
    "position": _STRING,
    "channels": {"type": "string", "enum": ["rgba", "alpha"]},
    "add_shadow": {"type": "boolean"},
    "semitransparency": {"type": "boolean"},
    "bg_color": _STRING,
    "bg_image_url": _STRING,
    # cutout's extension (remove.bg has no such parameter)
    "edges": {
        "type": "string",
        "enum": list(EDGE_LEVELS),
        "default": DEFAULT_EDGES,
        "description": "cutout's extension: edge refinement for fur and hair, off to best",
    },
}
_BINARY = {"type": "string", "format": "binary"}
_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image_file": _BINARY,
                        "bg_image_file": _BINARY,
                        **_FIELDS,
                    },
                }
            },
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": _FIELDS}
            },
            "application/json": {"schema": {"type": "object", "properties": _FIELDS}},
        },
    },
    "responses": {
        "200": {
            "description": "the result: image bytes, or JSON with Accept: application/json",
            "content": {
                "image/png": {},
                "image/jpeg": {},
                "application/zip": {},
                "application/json": {},
            },
        },
        "400": {"description": "remove.bg error JSON, e.g. missing_source"},
        "403": {"description": "auth_failed"},
        "413": {"description": "file_too_large"},
        "429": {"description": "rate limit; see Retry-After"},
        "503": {"description": "busy or not ready; see Retry-After"},
    },
}


async def _read_body(request: Request, limit: int) -> Form:
    """The query's fields, then a form's or a JSON object's (which win); other bodies add
    nothing (the image must come as one of the sources)."""
    kind = media_type(request)
    form = Form({}, {})
    if kind in FORM_TYPES:
        form = await read_form(request, limit)
    elif kind == JSON_TYPE:
        form = Form(await read_json(request), {})
    return Form({**request.query_params, **form.fields}, form.files)


def _one_of(
    params: Params, files: dict[str, bytes], names: tuple[str, ...], code: str
) -> str | None:
    """The one source given among ``names`` (None if none); two or more is ``code``."""
    given = [name for name in names if name in files or params.has(name)]
    if len(given) > 1:
        raise InputError(f"give at most one of {', '.join(given)}", code=code)
    return given[0] if given else None


async def _source(name: str, params: Params, files: dict[str, bytes], state: ServerState) -> bytes:
    limit = state.settings.max_upload_bytes
    if name == "image_file":
        if "image_file" in files:
            return files["image_file"]
        # a client that sent the file as a text field: let the decoder judge the bytes
        data = (params.get("image_file") or "").encode("utf-8", "surrogateescape")
        check_file_size(data, limit)
        return data
    if name == "image_file_b64":
        return decode_base64(params.get("image_file_b64") or "", limit, "image_file_b64")
    return await fetch_url(params.get("image_url") or "", state.url_policy, param="image_url")


async def _background_bytes(
    name: str | None, params: Params, files: dict[str, bytes], state: ServerState
) -> bytes | None:
    if name == "bg_image_file":
        return files["bg_image_file"]
    if name == "bg_image_url":
        return await fetch_url(
            params.get("bg_image_url") or "", state.url_policy, param="bg_image_url"
        )
    return None  # none, or bg_color (already parsed)


def _removebg_headers(parsed: RemoveBgRequest) -> dict[str, str]:
    return {
        # self-hosted: nothing is charged (clients parse this as an int, so "0", not "0.0")
        "X-Credits-Charged": "0",
        # no classifier runs: the requested type is echoed, "auto" reports "other"
        "X-Type": parsed.type if parsed.type != "auto" else "other",
    }


@router.post(
    "/v1.0/removebg",
    summary="Remove the background (remove.bg-compatible)",
    response_class=Response,
    openapi_extra=_OPENAPI,
    dependencies=[API_KEY],
)
async def removebg(request: Request) -> Response:
    state: ServerState = request.app.state.cutout
    key = authorize(request)
    charge = state.limiter.charger(key)
    deadline = state.deadline()
    async with state.admission.slot():
        form = await _read_body(request, state.settings.max_upload_bytes)
        params, files = Params(form.fields), form.files
        # the cheap checks first: nothing is downloaded for a request that will fail
        source = _one_of(params, files, SOURCES, "multiple_sources")
        if source is None:
            raise InputError(
                "no image given: send image_file, image_file_b64 or image_url",
                code="missing_source",
            )
        background_source = _one_of(params, files, BACKGROUNDS, "multiple_bg_sources")
        parsed = parse_request(params)
        data = await _source(source, params, files, state)
        background_data = await _background_bytes(background_source, params, files, state)
        background: Background | None = parsed.background
        if background_data is not None:
            background = await decode_background(state, background_data)
        options = parsed.options(background)

        def plan(image: DecodedImage) -> tuple[DecodedImage, RemoveOptions]:
            return downscale(image, parsed.max_megapixels), options

        result = await state.remove(
            data, plan, deadline=deadline, charge=charge, disconnected=request.is_disconnected
        )
    headers = result_headers(result, _removebg_headers(parsed), state.limiter.headers(key))
    if "application/json" in request.headers.get("accept", ""):
        box = result.foreground
        body = {
            "data": {
                "result_b64": base64.b64encode(result.data).decode("ascii"),
                "foreground_top": box.top if box else 0,
                "foreground_left": box.left if box else 0,
                "foreground_width": box.width if box else 0,
                "foreground_height": box.height if box else 0,
            }
        }
        return JSONResponse(body, headers=headers)
    return Response(result.data, media_type=result.media_type, headers=headers)


@router.get("/v1.0/account", summary="Account (remove.bg-compatible)", dependencies=[API_KEY])
async def account(request: Request) -> dict[str, Any]:
    """Self-hosted: no credits are consumed; the numbers say what the rate limit allows."""
    state: ServerState = request.app.state.cutout
    key = authorize(request)
    limit = state.limiter.headers(key)
    free_calls = int(limit["X-RateLimit-Remaining"]) if limit else 0
    return {
        "data": {
            "attributes": {
                "credits": {"total": 0, "subscription": 0, "payg": 0, "enterprise": 0},
                "api": {"free_calls": free_calls, "sizes": "all"},
            }
        }
    }
