"""Registers the built-in model records. Imported lazily by the registry; no I/O."""

from __future__ import annotations

from cutout.models.registry import register

__all__ = ["register_all"]


def register_all() -> None:
    from cutout.models.u2netp import U2NETP

    register(U2NETP)
    # InSPyReNet records are plain data too; the network code is imported only by the
    # torch backend, so the base install (no torch) still lists them.
    from cutout.models.inspyrenet_specs import INSPYRENET_SPECS

    for spec in INSPYRENET_SPECS:
        register(spec)
