"""The FastAPI application factory.

``create_app(settings)`` builds everything from one :class:`Settings`; nothing happens at
import time and no CLI function builds the app. Pass ``engine=`` to serve an engine you
built (tests use the fake backend this way); otherwise the engine is created from the
settings and loaded in the background when the app starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cutout import __version__
from cutout.config import Settings
from cutout.engine import Engine
from cutout.server import routes_native, routes_ops, routes_removebg, web
from cutout.server.errors import install_error_handlers
from cutout.server.limits import BodyLimitMiddleware
from cutout.server.logs import RequestLogMiddleware
from cutout.server.state import ServerState

__all__ = ["build_engine", "create_app"]

_DESCRIPTION = """Self-hosted background removal.

* `POST /v1/remove`: cutout's own API (image as multipart `image` or the raw body).
* `POST /v1.0/removebg`: the remove.bg API, for clients written for it.
* `/health`, `/ready`, `/model-info`, `/v1/models`, `/metrics` for operations.

Every error is JSON: `{"errors": [{"code", "title", "detail"}]}`.
"""


def build_engine(settings: Settings) -> Engine:
    """The engine the settings describe (nothing is loaded yet)."""
    return Engine.from_settings(settings)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or Settings()
    owns_engine = engine is None
    state = ServerState(settings, engine or build_engine(settings), owns_engine=owns_engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(
        title="cutout",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.cutout = state
    install_error_handlers(app)
    app.include_router(routes_ops.router)
    app.include_router(routes_native.router)
    app.include_router(routes_removebg.router)
    app.include_router(web.router)
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestLogMiddleware, state=state)
    return app
