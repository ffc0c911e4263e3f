"""``POST /v1.0/removebg`` and ``GET /v1.0/account``: the remove.bg API, faithfully.

Bodies: multipart/form-data, application/x-www-form-urlencoded or JSON. Exactly one
source (``image_file``, ``image_file_b64``, ``image_url``) and at most one background
(``bg_color``, ``bg_image_file``, ``bg_image_url``). The answer is the image, or
``{"data": {"result_b64", "foreground_*"}}`` with ``Accept: application/json``; headers
``X-Width``, ``X-Height``, ``X-Credits-Charged``, ``X-Type``, ``X-Foreground-*``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from PIL import Image
from starlette.datastructures import UploadFile

from cutout.errors import CutoutError, DecodeError, FileTooLargeError, InputError
from cutout.imaging.decode import DecodedImage
from cutout.options import Background, ImageBackground, RemoveOptions
from cutout.server.auth import API_KEY, authorize
from cutout.server.fetch import fetch_url
from cutout.server.limits import body_limit, check_file_size
from cutout.server.params import Params
from cutout.server.removebg_params import SIZES, RemoveBgRequest, parse_request
from cutout.server.routes_native import result_headers
from cutout.server.state import ServerState

__all__ = ["BACKGROUNDS", "SOURCES", "downscale", "router"]

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


def downscale(image: DecodedImage, max_megapixels: float | None) -> DecodedImage:
    """The image resized to at most ``max_megapixels`` (aspect kept), or itself."""
    if max_megapixels is None:
        return image
    pixels = image.width * image.height
    cap = max_megapixels * 1_000_000
    if pixels <= cap:
        return image
    factor = math.sqrt(cap / pixels)
    size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
    rgb = np.asarray(Image.fromarray(image.rgb).resize(size, Image.Resampling.LANCZOS))
    alpha = None
    if image.alpha is not None:
        alpha = np.asarray(Image.fromarray(image.alpha).resize(size, Image.Resampling.LANCZOS))
    return DecodedImage(rgb=rgb, alpha=alpha, format=image.format)


async def _read_body(
    request: Request, state: ServerState
) -> tuple[dict[str, object], dict[str, bytes]]:
    """(text fields, file fields) from a multipart, urlencoded or JSON body."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    limit = state.settings.max_upload_bytes
    fields: dict[str, object] = dict(request.query_params)
    files: dict[str, bytes] = {}
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(
            max_files=2,
            max_fields=64,
            max_part_size=body_limit(limit, "application/json"),
        )
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read(limit + 1)
                    check_file_size(data, limit, key)
                    files[key] = data
                else:
                    fields[key] = value
        finally:
            await form.close()
    elif content_type == "application/json":
        raw = await request.body()
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(
                f"the JSON body is not valid JSON: {exc}", code="invalid_json"
            ) from exc
        if not isinstance(parsed, dict):
            raise InputError("the JSON body must be an object", code="invalid_json")
        fields.update({str(key): value for key, value in parsed.items() if value is not None})
    return fields, files


def _b64(text: str, limit: int, name: str) -> bytes:
    payload = text.strip()
    if payload.startswith("data:") and "," in payload:
        payload = payload.split(",", 1)[1]
    if len(payload) > limit * 4 // 3 + 4:
        raise FileTooLargeError(f"{name} decodes to more than {limit} bytes")
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"{name} is not valid base64") from exc
    check_file_size(data, limit, name)
    return data


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
        return _b64(params.get("image_file_b64") or "", limit, "image_file_b64")
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


def _decode_background(state: ServerState, data: bytes) -> ImageBackground:
    try:
        image = state.decode(data)
    except CutoutError as exc:
        # same class (so the same status), the message says which image was wrong
        raise type(exc)(f"bg_image: {exc.message}", code=exc.code) from exc
    return ImageBackground(image.rgb)


def _removebg_headers(base: dict[str, str], parsed: RemoveBgRequest) -> dict[str, str]:
    headers = dict(base)
    # self-hosted: nothing is charged (clients parse this as an int, so "0", not "0.0")
    headers["X-Credits-Charged"] = "0"
    # no classifier runs: the requested type is echoed, "auto" reports "other"
    headers["X-Type"] = parsed.type if parsed.type != "auto" else "other"
    return headers


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
        fields, files = await _read_body(request, state)
        params = Params(fields)
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
            background = await state.in_pool(_decode_background, state, background_data)
        options = parsed.options(background)

        def plan(image: DecodedImage) -> tuple[DecodedImage, RemoveOptions]:
            return downscale(image, parsed.max_megapixels), options

        result = await state.remove(
            data, plan, deadline=deadline, charge=charge, disconnected=request.is_disconnected
        )
    headers = _removebg_headers(result_headers(result), parsed)
    headers.update(state.limiter.headers(key))
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
