"""The web page at ``GET /``: one HTML file, one script, one stylesheet, no build step.

The page is a client of the public API (``POST /v1/remove``, and ``GET /model-info`` for
the edge levels and their default) like any other, so it needs nothing from the server
but its files. They ship as package data in
``cutout/server/static`` and are read once, on first request, then served from memory.
The routes stay out of the OpenAPI schema: they are not part of the API.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

__all__ = ["ASSETS", "CONTENT_SECURITY_POLICY", "router"]

# name -> media type; anything else under /static is a 404, never a file-system lookup
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

# The page loads nothing from elsewhere and runs no inline code; results are blob: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # small files; revalidating keeps a redeployed page consistent with its script
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@cache
def _read(name: str) -> bytes:
    return files("cutout.server").joinpath("static").joinpath(name).read_bytes()


def _asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail=f"no such file: {name}")
    return Response(_read(name), media_type=media_type, headers=_HEADERS)


@router.get("/")
def index() -> Response:
    """The web page."""
    return _asset("index.html")


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The page's script and stylesheet."""
    return _asset(name)
