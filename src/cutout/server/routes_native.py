"""``POST /v1/remove``: cutout's own API; every engine option as a query or form field."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from cutout.engine import STAGES, RemoveResult
from cutout.errors import CutoutError, DecodeError, InvalidOptionError
from cutout.imaging.decode import DecodedImage
from cutout.options import (
    OUTPUT_FORMATS,
    Background,
    ColorBackground,
    ImageBackground,
    RemoveOptions,
    parse_background,
    parse_canvas,
    parse_fill,
    parse_margin,
    parse_threshold,
)
from cutout.server.auth import API_KEY, authorize
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
            "headers": {
                name: {"schema": {"type": kind}, "description": text}
                for name, kind, text in (
                    ("X-Width", "integer", "output width in px"),
                    ("X-Height", "integer", "output height in px"),
                    ("X-Foreground-Top", "integer", "subject box in the output"),
                    ("X-Foreground-Left", "integer", "subject box in the output"),
                    ("X-Foreground-Width", "integer", "subject box in the output"),
                    ("X-Foreground-Height", "integer", "subject box in the output"),
                    ("Server-Timing", "string", "per-stage times in ms"),
                )
            },
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


def _refuse_path(text: str) -> npt.NDArray[np.uint8]:
    # the server never opens files named by a client; photos come as the bg_image upload
    raise InvalidOptionError(f"{text!r}: upload background photos as the bg_image field")


def _background(text: str | None) -> Background | None:
    if text is None or text.strip() == "":
        return None
    try:
        return parse_background(text, load_image=_refuse_path)
    except InvalidOptionError as exc:
        raise InvalidOptionError(f"bg: {exc.message}", code="invalid_bg") from exc


def _has_transparency(options: RemoveOptions) -> bool:
    if options.mask:
        return False
    background = options.background
    if background is None:
        return True
    return isinstance(background, ColorBackground) and background.rgba[3] < 255


def native_options(params: Params, photo: ImageBackground | None = None) -> RemoveOptions:
    """RemoveOptions from the native parameters (names as in ``cutout remove``)."""
    margin_text = params.get("margin")
    try:
        margin = parse_margin(margin_text) if margin_text else None
    except InvalidOptionError as exc:
        raise InvalidOptionError(exc.message, code="invalid_margin") from exc
    canvas_text = params.get("canvas")
    quality = params.number("quality", 1, 100)
    fill_text = params.get("fill")
    threshold_text = params.get("threshold")
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
        "background": photo if photo is not None else _background(params.get("bg")),
        "threshold": parse_threshold(threshold_text) if threshold_text else None,
        "invert": params.flag("invert"),
        "crop": params.flag("crop") or margin is not None,
        "canvas": parse_canvas(canvas_text) if canvas_text else None,
        "shadow": params.flag("shadow"),
        "refine_edges": params.flag("refine_edges"),
    }
    if margin is not None:
        fields["margin"] = margin
    if fill_text:
        fields["fill"] = parse_fill(fill_text)
    if quality is not None:
        fields["quality"] = round(quality)
    options = RemoveOptions(format="png", **fields)
    if fmt == "auto":
        fmt = "png" if _has_transparency(options) else "jpg"
    return RemoveOptions(format=fmt, **fields)  # type: ignore[arg-type]


def _stage_order(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else len(STAGES)


def result_headers(result: RemoveResult) -> dict[str, str]:
    headers = {
        "X-Width": str(result.width),
        "X-Height": str(result.height),
        "X-Model": result.model,
        "Server-Timing": ", ".join(
            f"{stage};dur={result.timings[stage] * 1000:.1f}"
            for stage in sorted(result.timings, key=_stage_order)
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


async def _read_image(
    request: Request, state: ServerState
) -> tuple[bytes, dict[str, object], bytes | None]:
    """The image, the form's option fields and the bg_image (multipart), or the raw body."""
    content_type = request.headers.get("content-type", "")
    limit = state.settings.max_upload_bytes
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=2, max_fields=64)
        fields: dict[str, object] = {}
        image: bytes | None = None
        background: bytes | None = None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "image":
                    image = await value.read(limit + 1)
                elif key == "bg_image":
                    background = await value.read(limit + 1)
                    check_file_size(background, limit, "bg_image")
            else:
                fields[key] = value
        await form.close()
        if image is None:
            raise DecodeError("no image: send the multipart field 'image' or a raw body")
        check_file_size(image, limit)
        return image, fields, background
    body = await request.body()
    check_file_size(body, limit)
    return body, {}, None


def _decode_photo(state: ServerState, data: bytes) -> ImageBackground:
    try:
        return ImageBackground(state.decode(data).rgb)
    except CutoutError as exc:
        # same class (so the same status), the message says which image was wrong
        raise type(exc)(f"bg_image: {exc.message}", code=exc.code) from exc


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
        photo = None
        if photo_data is not None:
            photo = await state.in_pool(_decode_photo, state, photo_data)
        options = native_options(Params(dict(request.query_params), form_fields), photo)

        def plan(image: DecodedImage) -> tuple[DecodedImage, RemoveOptions]:
            return image, options

        charge = state.limiter.charger(key)
        result = await state.remove(
            data, plan, deadline=deadline, charge=charge, disconnected=request.is_disconnected
        )
    headers = result_headers(result)
    headers.update(state.limiter.headers(key))
    return Response(result.data, media_type=result.media_type, headers=headers)
