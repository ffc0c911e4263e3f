"""``POST /v1/remove``: cutout's own API; every engine option as a query or form field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response

from cutout.arrays import ByteArray
from cutout.errors import DecodeError, InvalidOptionError
from cutout.imaging.decode import DecodedImage
from cutout.options import (
    DEFAULT_EDGES,
    EDGE_LEVELS,
    FILL,
    FORMAT_CHOICES,
    QUALITY,
    THRESHOLD,
    Background,
    EdgeLevel,
    ImageBackground,
    Margin,
    RemoveOptions,
    parse_background,
    parse_canvas,
    parse_edges,
    parse_fill,
    parse_format,
    parse_margin,
    parse_quality,
    parse_threshold,
    resolve_format,
)
from cutout.server.auth import API_KEY, authorize
from cutout.server.inputs import decode_background, media_type, read_form, read_raw
from cutout.server.params import Params
from cutout.server.results import documented_headers, result_headers
from cutout.server.state import ServerState

__all__ = ["OPTION_PARAMETERS", "native_options", "router"]

T = TypeVar("T")

router = APIRouter()

# name -> (schema, description): documents the query parameters in /openapi.json
OPTION_PARAMETERS: dict[str, tuple[dict[str, Any], str]] = {
    "mask": ({"type": "boolean"}, "return the grey matte instead of the cut-out"),
    "bg": (
        {"type": "string"},
        "background: a colour (hex, 8-digit hex with alpha, or a name), or blur / blur:RADIUS",
    ),
    "crop": ({"type": "boolean"}, "crop to the subject"),
    "margin": ({"type": "string"}, "crop margin: 1, 2 or 4 values, all px or all %"),
    "canvas": ({"type": "string"}, "output canvas WIDTHxHEIGHT; the subject is centred"),
    "fill": (
        {"type": "number"},
        f"share of the canvas the subject fills ({FILL.low:g}-{FILL.high:g})",
    ),
    "shadow": ({"type": "boolean"}, "add a soft drop shadow"),
    "threshold": (
        {"type": "number"},
        f"binarise the matte at this level ({THRESHOLD.low:g}-{THRESHOLD.high:g})",
    ),
    "invert": ({"type": "boolean"}, "keep the background, remove the subject"),
    "edges": (
        {"type": "string", "enum": list(EDGE_LEVELS), "default": DEFAULT_EDGES},
        "edge refinement for fur and hair, off to best (each level slower and finer)",
    ),
    "refine_edges": (
        {"type": "boolean", "deprecated": True},
        "deprecated: the same as edges=best (edges wins when both are given)",
    ),
    "format": (
        {"type": "string", "enum": list(FORMAT_CHOICES)},
        "output format; auto is PNG when the result has transparency, else JPEG",
    ),
    "quality": ({"type": "integer"}, f"JPEG/WebP quality ({QUALITY.low:g}-{QUALITY.high:g})"),
}

_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": description,
        }
        for name, (schema, description) in OPTION_PARAMETERS.items()
    ],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "bg_image": {"type": "string", "format": "binary"},
                        **{name: schema for name, (schema, _) in OPTION_PARAMETERS.items()},
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {
        "200": {
            "description": "the result image",
            "headers": documented_headers(),
            "content": {
                "image/png": {},
                "image/webp": {},
                "image/jpeg": {},
                "application/zip": {},
            },
        },
        "400": {"description": "bad image or option (remove.bg error JSON)"},
        "413": {"description": "upload too large"},
        "503": {"description": "busy or model not ready; see Retry-After"},
        "504": {"description": "deadline passed in the queue"},
    },
}


def _refuse_path(text: str) -> ByteArray:
    # the server never opens files named by a client; photos come as the bg_image upload
    raise InvalidOptionError(f"{text!r}: upload background photos as the bg_image field")


def _background(text: str | None) -> Background | None:
    if text is None or text.strip() == "":
        return None
    try:
        return parse_background(text, load_image=_refuse_path)
    except InvalidOptionError as exc:
        raise InvalidOptionError(f"bg: {exc.message}", code="invalid_bg") from exc


def _margin(text: str) -> Margin:
    try:
        return parse_margin(text)
    except InvalidOptionError as exc:
        raise InvalidOptionError(exc.message, code="invalid_margin") from exc


def _edges(params: Params) -> EdgeLevel:
    """``edges``, else ``best`` for the old ``refine_edges=true``, else the default."""
    legacy = params.flag("refine_edges")  # checked even when edges wins
    text = params.get("edges")
    if text:
        return parse_edges(text)
    return "best" if legacy else DEFAULT_EDGES


def _given(params: Params, name: str, parse: Callable[[str], T]) -> T | None:
    """``parse`` of the parameter, or None when it is absent or empty."""
    text = params.get(name)
    return parse(text) if text else None


def native_options(params: Params, photo: ImageBackground | None = None) -> RemoveOptions:
    """RemoveOptions from the native parameters (names as in ``cutout remove``)."""
    margin = _given(params, "margin", _margin)
    quality = _given(params, "quality", parse_quality)
    choice = parse_format(params.get("format") or "png")
    mask = params.flag("mask")
    background = photo if photo is not None else _background(params.get("bg"))
    fields: dict[str, Any] = {
        "mask": mask,
        "background": background,
        "threshold": _given(params, "threshold", parse_threshold),
        "invert": params.flag("invert"),
        "crop": params.flag("crop") or margin is not None,
        "canvas": _given(params, "canvas", parse_canvas),
        "shadow": params.flag("shadow"),
        "edges": _edges(params),
    }
    # RemoveOptions keeps its own defaults for what the caller left out
    given = {"margin": margin, "fill": _given(params, "fill", parse_fill), "quality": quality}
    fields.update({name: value for name, value in given.items() if value is not None})
    fmt = resolve_format(choice, background=background, mask=mask)
    return RemoveOptions(format=fmt, **fields)


async def _read_image(
    request: Request, state: ServerState
) -> tuple[bytes, dict[str, object], bytes | None]:
    """The image, the form's option fields and the bg_image (multipart), or the raw body."""
    limit = state.settings.max_upload_bytes
    if media_type(request) != "multipart/form-data":
        return await read_raw(request, limit), {}, None
    form = await read_form(request, limit)
    image = form.files.get("image")
    if image is None:
        raise DecodeError("no image: send the multipart field 'image' or a raw body")
    return image, form.fields, form.files.get("bg_image")


@router.post(
    "/v1/remove",
    summary="Remove the background of one image",
    response_class=Response,
    openapi_extra=_OPENAPI,
    tags=["native"],
    dependencies=[API_KEY],
)
async def remove(request: Request) -> Response:
    state: ServerState = request.app.state.cutout
    key = authorize(request)
    deadline = state.deadline()
    async with state.admission.slot():
        query_params = Params(dict(request.query_params))
        native_options(query_params)  # refuse bad options before reading the body
        data, form_fields, photo_data = await _read_image(request, state)
        photo = None if photo_data is None else await decode_background(state, photo_data)
        options = native_options(Params(dict(request.query_params), form_fields), photo)

        def plan(image: DecodedImage) -> tuple[DecodedImage, RemoveOptions]:
            return image, options

        charge = state.limiter.charger(key)
        result = await state.remove(
            data, plan, deadline=deadline, charge=charge, disconnected=request.is_disconnected
        )
    headers = result_headers(result, state.limiter.headers(key))
    return Response(result.data, media_type=result.media_type, headers=headers)
