"""What both API dialects read from a request: one helper per concern.

* :func:`media_type` names the body's kind; each dialect decides which kinds it takes
  (the native API: multipart or a raw image; remove.bg: multipart, urlencoded or JSON);
* :func:`read_form` gives the text fields and uploaded files of a multipart or
  urlencoded body, every file checked against the upload limit as it is read;
* :func:`read_json` gives the fields of a JSON object body;
* :func:`read_raw` gives the whole body as the image;
* :func:`decode_base64` turns an image sent as base64 text into its bytes;
* :func:`decode_background` decodes a background photo off the event loop; its errors
  keep their class and code (so the same status in both dialects) and name the photo.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile

from cutout.errors import CutoutError, DecodeError, FileTooLargeError, InputError
from cutout.options import ImageBackground
from cutout.server.limits import body_limit, check_file_size
from cutout.server.state import ServerState

__all__ = [
    "FORM_TYPES",
    "JSON_TYPE",
    "Form",
    "decode_background",
    "decode_base64",
    "media_type",
    "read_form",
    "read_json",
    "read_raw",
]

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
JSON_TYPE = "application/json"
# a photo and a background photo; option fields are few
_MAX_FILES = 2
_MAX_FIELDS = 64


@dataclass(frozen=True)
class Form:
    """A form body: its text fields and its uploaded files (each within the upload limit)."""

    fields: dict[str, object]
    files: dict[str, bytes]


def media_type(request: Request) -> str:
    """The body's media type, lower case, without parameters (``""`` when none)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_form(request: Request, max_upload_bytes: int) -> Form:
    """The fields and files of a multipart or urlencoded body.

    A text field may be as large as a base64 image (remove.bg's ``image_file_b64``); the
    body as a whole is already capped by :class:`~cutout.server.limits.BodyLimitMiddleware`.
    """
    form = await request.form(
        max_files=_MAX_FILES,
        max_fields=_MAX_FIELDS,
        max_part_size=body_limit(max_upload_bytes, JSON_TYPE),
    )
    fields: dict[str, object] = {}
    files: dict[str, bytes] = {}
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(max_upload_bytes + 1)
                check_file_size(data, max_upload_bytes, key)
                files[key] = data
            else:
                fields[key] = value
    finally:
        await form.close()
    return Form(fields, files)


async def read_json(request: Request) -> dict[str, object]:
    """The fields of a JSON object body (``null`` values left out); ``invalid_json`` else."""
    raw = await request.body()
    try:
        parsed = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the JSON body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(parsed, dict):
        raise InputError("the JSON body must be an object", code="invalid_json")
    return {str(key): value for key, value in parsed.items() if value is not None}


async def read_raw(request: Request, max_upload_bytes: int) -> bytes:
    """The whole body, which is the image itself."""
    body = await request.body()
    check_file_size(body, max_upload_bytes)
    return body


def decode_base64(text: str, max_upload_bytes: int, name: str) -> bytes:
    """The bytes of base64 ``text`` (a ``data:...;base64,`` prefix is allowed).

    Text too long to fit the limit is refused before it is decoded.
    """
    payload = text.strip()
    if payload.startswith("data:") and "," in payload:
        payload = payload.split(",", 1)[1]
    if len(payload) > max_upload_bytes * 4 // 3 + 4:
        raise FileTooLargeError(f"{name} decodes to more than {max_upload_bytes} bytes")
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"{name} is not valid base64") from exc
    check_file_size(data, max_upload_bytes, name)
    return data


def _decode_background(state: ServerState, data: bytes) -> ImageBackground:
    try:
        return ImageBackground(state.decode(data).rgb)
    except CutoutError as exc:
        # same class (so the same status), the message says which image was wrong
        raise type(exc)(f"bg_image: {exc.message}", code=exc.code) from exc


async def decode_background(state: ServerState, data: bytes) -> ImageBackground:
    """The background photo ``data``, decoded in the server's pool like the image."""
    return await state.in_pool(_decode_background, state, data)
