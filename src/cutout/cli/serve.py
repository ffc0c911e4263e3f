"""``cutout serve``: run the HTTP API with uvicorn.

The app comes from :func:`cutout.server.app.create_app`; this module only turns flags into
:class:`Settings` (:func:`settings_from_args`) and runs uvicorn with the graceful-shutdown
grace (:func:`serve`, which also serves an engine built by the caller). ``$PORT``
(Cloud Run) is honoured through the settings; ``--port`` wins over it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cutout.config import Settings
    from cutout.engine import Engine

__all__ = ["register", "run", "serve", "settings_from_args"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from cutout.cli._choices import add_device_flag, add_quality_flag, add_require_gpu_flag

    parser = subparsers.add_parser(
        "serve",
        help="run the HTTP API",
        description="Serve the HTTP API (native /v1/remove, remove.bg /v1.0/removebg).",
    )
    parser.add_argument("--host", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default $PORT, else 8000)")
    parser.add_argument("--model", help="model name (default u2netp, embedded)")
    parser.add_argument("--weights", type=Path, help="weights file for the model")
    add_quality_flag(parser)
    add_device_flag(parser)
    add_require_gpu_flag(parser)
    parser.add_argument("--threads", type=int, help="intra-op threads for the model")
    parser.add_argument("--max-batch", type=int, help="images per batched forward (default 8)")
    parser.add_argument("--batch-wait-ms", type=float, help="max wait to fill a batch (5)")
    parser.add_argument("--queue-size", type=int, help="image requests in the server (64)")
    parser.add_argument("--request-timeout", type=float, help="seconds per request (60)")
    parser.add_argument("--shutdown-grace", type=float, help="SIGTERM drain seconds (8)")
    parser.add_argument("--max-upload-mb", type=float, help="upload limit in MB (25)")
    parser.add_argument("--max-megapixels", type=float, help="image size limit (50)")
    parser.add_argument("--workers", type=int, help="decode/encode threads (CPU count)")
    parser.add_argument(
        "--api-keys-file", type=Path, help="accepted X-Api-Key values, one per line"
    )
    parser.add_argument(
        "--rate-limit-mp", type=float, help="per-key megapixels per minute (off by default)"
    )
    parser.add_argument(
        "--allow-url-host",
        action="append",
        metavar="HOST",
        help="enable image_url/bg_image_url for HOST (*.example.com for subdomains); repeat",
    )
    parser.add_argument("--log-format", choices=("json", "text"))
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return serve(settings_from_args(args))


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings of ``cutout serve``'s flags over the environment."""
    from cutout.config import load_settings

    max_upload = int(args.max_upload_mb * 1024 * 1024) if args.max_upload_mb is not None else None
    return load_settings(
        host=args.host,
        port=args.port,
        model=args.model,
        quality=args.quality,
        weights=args.weights,
        device=args.device,
        require_gpu=args.require_gpu,
        threads=args.threads,
        max_batch=args.max_batch,
        batch_wait_ms=args.batch_wait_ms,
        queue_size=args.queue_size,
        request_timeout_s=args.request_timeout,
        shutdown_grace_s=args.shutdown_grace,
        max_upload_bytes=max_upload,
        max_megapixels=args.max_megapixels,
        workers=args.workers,
        api_keys_file=args.api_keys_file,
        rate_limit_mp_per_minute=args.rate_limit_mp,
        allow_urls=True if args.allow_url_host else None,
        url_allow_hosts=tuple(args.allow_url_host) if args.allow_url_host else None,
        log_format=args.log_format,
        log_level=args.log_level,
    )


def serve(settings: Settings, engine: Engine | None = None) -> int:
    """Configure logging, build the app (on ``engine`` when given, else on the engine the
    settings describe) and serve it until SIGTERM or Ctrl-C; 0 after a clean drain."""
    import logging
    import math
    import signal

    import uvicorn

    from cutout.server.allocator import ARENAS, cap_malloc_arenas
    from cutout.server.app import create_app
    from cutout.server.logs import configure_logging

    # before the server's threads start: see allocator.py for why a long-running server
    # needs it
    capped = cap_malloc_arenas()

    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings, engine=engine)
    if capped:  # once the app is built: a start-up error stays the one line printed
        logging.getLogger("cutout.server").info("malloc arenas capped at %d", ARENAS)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        # the admission queue bounds image work (JSON 503s); this only bounds sockets held
        # open, above Cloud Run's largest per-instance concurrency (1000)
        limit_concurrency=max(1024, settings.queue_size * 2),
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the captured signal after its graceful shutdown; with a no-op
    # handler in place, a SIGTERM that drained cleanly ends the process with exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run()
    return 0
