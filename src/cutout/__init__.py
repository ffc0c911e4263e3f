"""cutout: self-hosted background removal.

>>> import cutout
>>> png = cutout.remove(Path("examples/animal-1.jpg").read_bytes())

:class:`Engine` loads a model once and serves many images; :func:`remove` is the one-call
form for scripts. Errors derive from :class:`CutoutError` (see :mod:`cutout.errors`).
"""

from __future__ import annotations

from pathlib import Path

from cutout.engine import Engine, RemoveResult
from cutout.errors import CutoutError, InputError, ModelError
from cutout.models.registry import get_spec, model_names
from cutout.models.spec import ModelSpec
from cutout.options import RemoveOptions

__all__ = [
    "CutoutError",
    "Engine",
    "InputError",
    "ModelError",
    "ModelSpec",
    "RemoveOptions",
    "RemoveResult",
    "__version__",
    "get_spec",
    "model_names",
    "remove",
]

__version__ = "0.1.0"

_ENGINES: dict[tuple[str, str], Engine] = {}


def remove(
    source: bytes | Path | str,
    options: RemoveOptions | None = None,
    *,
    model: str = "u2netp",
    device: str = "auto",
) -> bytes:
    """Remove the background of one image and return the encoded output.

    The engine for ``(model, device)`` is created on first use and reused afterwards.
    """
    key = (model, device)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES.setdefault(key, Engine(model, device=device))
    return engine.remove(source, options).data
