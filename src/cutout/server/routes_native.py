"""``POST /v1/remove``: cutout's own API; every engine option as a query or form field."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from cutout.engine import RemoveResult
from cutout.errors import DecodeError, InvalidOptionError
from cutout.imaging.decode import DecodedImage
from cutout.options import (
    OUTPUT_FORMATS,
    Background,
    BlurBackground,
    ColorBackground,
    RemoveOptions,
    parse_background_color,
    parse_canvas,
    parse_margin,
)
from cutout.server.auth import authorize
from cutout.server.limits import check_file_size
from cutout.server.params import Params
from cutout.server.state import ServerState

__all__ = ["OPTION_PARAMETERS", "native_options", "result_headers", "router"]

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
    "fill": ({"type": "number"}, "share of the canvas the subject fills (0.05-1)"),
    "shadow": ({"type": "boolean"}, "add a soft drop shadow"),
    "threshold": ({"type": "number"}, "binarise the matte at this level (0-1)"),
    "invert": ({"type": "boolean"}, "keep the background, remove the subject"),
    "refine_edges": ({"type": "boolean"}, "decontaminate edge colours"),
    "format": (
        {"type": "string", "enum": ["auto", *OUTPUT_FORMATS]},
        "output format; auto is PNG when the result has transparency, else JPEG",
    ),
    "quality": ({"type": "integer"}, "JPEG/WebP quality (1-100)"),
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


def _background(text: str | None) -> Background | None:
    if text is None or text == "":
        return None
    lowered = text.strip().lower()
    if lowered == "blur" or lowered.startswith("blur:"):
        radius_text = lowered.partition(":")[2] or "20"
        try:
            radius = float(radius_text)
        except ValueError:
            radius = -1.0
        if not 0 < radius <= 500:
            raise InvalidOptionError(
                f"bg {text!r}: blur radius must be a number in (0, 500]", code="invalid_bg"
            )
        return BlurBackground(radius)
    try:
        return parse_background_color(text)
    except InvalidOptionError as exc:
        raise InvalidOptionError(f"bg {text!r}: {exc.message}", code="invalid_bg") from exc


def _has_transparency(options: RemoveOptions) -> bool:
    if options.mask:
        return False
    background = options.background
    if background is None:
        return True
    return isinstance(background, ColorBackground) and background.rgba[3] < 255


def native_options(params: Params) -> RemoveOptions:
    """RemoveOptions from the native parameters (names as in ``cutout remove``)."""
    margin_text = params.get("margin")
    try:
        margin = parse_margin(margin_text) if margin_text else None
    except InvalidOptionError as exc:
        raise InvalidOptionError(exc.message, code="invalid_margin") from exc
    canvas_text = params.get("canvas")
    quality = params.number("quality", 1, 100)
    fill = params.number("fill", 0.05, 1.0)
    fmt = (params.get("format") or "png").strip().lower()
    if fmt == "jpeg":
        fmt = "jpg"
    if fmt not in ("auto", *OUTPUT_FORMATS):
        raise InvalidOptionError(
            f"format must be auto, {', '.join(OUTPUT_FORMATS)}; not {fmt!r}",
            code="invalid_format",
        )
    fields: dict[str, Any] = {
        "mask": params.flag("mask"),
        "background": _background(params.get("bg")),
        "threshold": params.number("threshold", 0.0, 1.0),
        "invert": params.flag("invert"),
        "crop": params.flag("crop") or margin is not None,
        "canvas": parse_canvas(canvas_text) if canvas_text else None,
        "shadow": params.flag("shadow"),
        "refine_edges": params.flag("refine_edges"),
    }
    if margin is not None:
        fields["margin"] = margin
    if fill is not None:
        fields["fill"] = fill
    if quality is not None:
        fields["quality"] = round(quality)
    options = RemoveOptions(format="png", **fields)
    if fmt == "auto":
        fmt = "png" if _has_transparency(options) else "jpg"
    return RemoveOptions(format=fmt, **fields)  # type: ignore[arg-type]


def result_headers(result: RemoveResult) -> dict[str, str]:
    headers = {
        "X-Width": str(result.width),
        "X-Height": str(result.height),
        "X-Model": result.model,
        "Server-Timing": ", ".join(
            f"{stage};dur={seconds * 1000:.1f}" for stage, seconds in result.timings.items()
        ),
    }
    box = result.foreground
    if box is not None:
        headers.update(
            {
                "X-Foreground-Top": str(box.top),
                "X-Foreground-Left": str(box.left),
                "X-Foreground-Width": str(box.width),
                "X-Foreground-Height": str(box.height),
            }
        )
    return headers


async def _read_image(request: Request, state: ServerState) -> tuple[bytes, dict[str, object]]:
    """The image bytes and the form's option fields (multipart), or the raw body."""
    content_type = request.headers.get("content-type", "")
    limit = state.settings.max_upload_bytes
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=2, max_fields=64)
        fields: dict[str, object] = {}
        image: bytes | None = None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "image":
                    image = await value.read(limit + 1)
            else:
                fields[key] = value
        await form.close()
        if image is None:
            raise DecodeError("no image: send the multipart field 'image' or a raw body")
        check_file_size(image, limit)
        return image, fields
    body = await request.body()
    check_file_size(body, limit)
    return body, {}


@router.post(
    "/v1/remove",
    summary="Remove the background of one image",
    response_class=Response,
    openapi_extra=_OPENAPI,
    tags=["native"],
)
async def remove(request: Request) -> Response:
    state: ServerState = request.app.state.cutout
    key = authorize(request)
    deadline = state.deadline()
    async with state.admission.slot():
        query_params = Params(dict(request.query_params))
        native_options(query_params)  # refuse bad options before reading the body
        data, form_fields = await _read_image(request, state)
        options = native_options(Params(dict(request.query_params), form_fields))

        def plan(image: DecodedImage) -> tuple[DecodedImage, RemoveOptions]:
            return image, options

        charge = state.limiter.charger(key)
        result = await state.remove(data, plan, deadline=deadline, charge=charge)
    headers = result_headers(result)
    headers.update(state.limiter.headers(key))
    return Response(result.data, media_type=result.media_type, headers=headers)
