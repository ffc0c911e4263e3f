"""``cutout.__all__`` is honest: every name exists and is documented, nothing public is missing.

Every module of the package also declares ``__all__`` listing only names it defines or
re-exports. Modules that need an optional extra that is not installed are skipped by name.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from types import ModuleType

import pytest

import cutout

# optional extras: a module that needs one is checked only when it is installed
_EXTRAS = {"torch": "torch", "google": "google.cloud.run_v2", "yaml": "yaml"}


def _modules() -> list[str]:
    names = [cutout.__name__]
    for info in pkgutil.walk_packages(cutout.__path__, prefix="cutout."):
        # __main__ is the `python -m cutout` entry: importing it is running the command
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


def test_every_public_name_exists_and_is_documented() -> None:
    assert len(set(cutout.__all__)) == len(cutout.__all__)
    for name in cutout.__all__:
        assert hasattr(cutout, name), f"cutout.__all__ names {name}, which does not exist"
        value = getattr(cutout, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"cutout.{name} has no docstring"
    assert isinstance(cutout.__version__, str)


def test_nothing_public_is_missing_from_all() -> None:
    public = {
        name
        for name, value in vars(cutout).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", "").startswith("cutout")
    }
    assert public <= set(cutout.__all__), (
        f"public but not in __all__: {public - set(cutout.__all__)}"
    )


def test_the_one_call_function_and_engine_are_exported() -> None:
    assert callable(cutout.remove)
    assert "source" in inspect.signature(cutout.remove).parameters
    assert issubclass(cutout.InputError, cutout.CutoutError)
    assert issubclass(cutout.ModelError, cutout.CutoutError)


def _defines_public_names(module: ModuleType) -> bool:
    return any(
        not name.startswith("_") and not isinstance(value, ModuleType)
        for name, value in vars(module).items()
        if name != "annotations"  # from __future__ import annotations
    )


@pytest.mark.parametrize("module_name", _modules())
def test_every_module_declares_an_honest_all(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing in _EXTRAS and importlib.util.find_spec(missing) is None:
            pytest.skip(f"{module_name} needs the optional package {missing}")
        raise
    exported = getattr(module, "__all__", None)
    if exported is None and not _defines_public_names(module):
        return  # a package that only groups its submodules
    assert exported is not None, f"{module_name} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names {name}, which does not exist"
