"""The one registry of models: :func:`model_names` is the single list that drives the CLI
choices, API validation, ``/v1/models`` and the tests.

The built-in records are data (:mod:`cutout.models.spec`) in one module per family; this
module imports them and registers them when it is imported, so the registry is complete
before anything can look a model up or add one. Registering does no I/O.
"""

from __future__ import annotations

from cutout.errors import UnknownModelError
from cutout.models.inspyrenet_specs import INSPYRENET_SPECS
from cutout.models.spec import ModelSpec
from cutout.models.u2netp import U2NETP

__all__ = ["BUILTIN_SPECS", "DEFAULT_MODEL", "all_specs", "get_spec", "model_names", "register"]

# the default model first: it leads every list of names
BUILTIN_SPECS: tuple[ModelSpec, ...] = (U2NETP, *INSPYRENET_SPECS)
DEFAULT_MODEL = U2NETP.name

_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a record; a second record with the same name is a programming error."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


for _builtin in BUILTIN_SPECS:
    register(_builtin)


def model_names() -> tuple[str, ...]:
    """The names of every registered model, default first."""
    return tuple(_REGISTRY)


def all_specs() -> tuple[ModelSpec, ...]:
    return tuple(_REGISTRY.values())


def get_spec(name: str) -> ModelSpec:
    """The record for ``name`` (or one of its aliases), else :class:`UnknownModelError`."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    for spec in _REGISTRY.values():
        if name in spec.aliases:
            return spec
    known = ", ".join(_REGISTRY)
    raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
