"""Start-up and shutdown: load and warm the model in the background, drain on SIGTERM.

The process answers ``/health`` as soon as uvicorn listens; :class:`ModelLoader` loads
the weights and runs one warm-up forward in a thread, and ``/ready`` turns 200 when it is
done (or stays 503 with the reason after a fatal model error). The failure's code says
which: ``gpu_unavailable`` when a GPU is required and the model is not on one (see
:class:`cutout.errors.GpuUnavailableError`), else ``model_failed``.

SIGTERM itself is uvicorn's: it stops accepting connections and waits up to
``timeout_graceful_shutdown`` (our ``shutdown_grace_s``) for in-flight requests, then
runs the lifespan shutdown, which stops the batcher.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from cutout.engine import Engine
from cutout.errors import CutoutError, GpuUnavailableError

__all__ = ["ModelLoader", "ModelStatus", "failure_code"]

ModelStatus = Literal["loading", "ready", "failed"]

_log = logging.getLogger("cutout.server")


def failure_code(exc: CutoutError) -> str:
    """The code ``/ready`` and ``/health`` report for a model that cannot serve."""
    return exc.code if isinstance(exc, GpuUnavailableError) else "model_failed"


class ModelLoader:
    """Loads and warms an engine in a daemon thread; reports the status."""

    def __init__(self, engine: Engine, *, on_ready: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.status: ModelStatus = "loading"
        self.error: str | None = None
        # gpu_unavailable | model_failed, once failed
        self.error_code: str | None = None
        self.started_at = time.monotonic()
        self.ready_seconds: float | None = None
        self._on_ready = on_ready
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cutout-loader", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def fail(self, message: str, *, code: str = "model_failed") -> None:
        """Mark the model as unusable (a fatal device error after start-up)."""
        self.status = "failed"
        self.error = message
        self.error_code = code

    def _run(self) -> None:
        try:
            self.engine.load()
            self.engine.warmup()
        except CutoutError as exc:
            self.fail(exc.message, code=failure_code(exc))
            _log.error("model failed to load: %s", exc.message)
        except Exception as exc:  # anything the backend throws is fatal for serving
            self.fail(f"{type(exc).__name__}: {exc}")
            _log.exception("model failed to load")
        else:
            self.ready_seconds = time.monotonic() - self.started_at
            self.status = "ready"
            _log.info(
                "model %s ready in %.2f s (load %.2f s, warm-up %.2f s)",
                self.engine.spec.name,
                self.ready_seconds,
                self.engine.stats.load_seconds,
                self.engine.stats.warmup_seconds,
            )
            if self._on_ready is not None:
                self._on_ready()
        finally:
            self._done.set()
