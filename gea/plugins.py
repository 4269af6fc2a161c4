"""Plugins: modules outside the package that register environments and experts.

Two ways in, one loader (``load_plugins``):

* ``imports=[my_envs]`` on any ``gea`` command, or ``load_plugins(["my_envs"])`` in Python, imports modules by
  name (from ``sys.path``, or else from the current folder, as ``python -m`` would);
* an installed distribution lists modules under the ``gea.plugins`` entry-point group; they are imported once per
  process, the first time the env or expert registry is read.

Worker processes started by gea (vector-env workers, collection and evaluation workers) import the modules this
process loaded (``loaded_plugins``) before they build anything, so a plugin's registrations exist in every one.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points

from gea.errors import PluginError

ENTRY_POINT_GROUP = "gea.plugins"
IMPORTS_KEY = "imports"

_loaded: list[str] = []
_entry_points_loaded = False
_lock = threading.RLock()


def load_plugins(imports: Iterable[str] = ()) -> None:
    """Import the installed ``gea.plugins`` entry points (once per process), then each module of ``imports``."""
    load_entry_points()
    with _lock:
        for name in imports:
            if name in _loaded:
                continue
            here = os.getcwd()
            if here not in sys.path and "" not in sys.path:
                sys.path.append(here)  # as `python -m` does, but after installed packages; workers inherit the path
            _import(name, f"{IMPORTS_KEY}=[{name}]")
            _loaded.append(name)


def loaded_plugins() -> tuple[str, ...]:
    """The modules ``load_plugins`` imported in this process, in order (what worker processes import too)."""
    return tuple(_loaded)


def load_entry_points() -> None:
    """Import every module listed under the ``gea.plugins`` entry-point group of the installed distributions, once."""
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True  # set first: a plugin that reads a registry while importing must not recurse
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            owner = f"{entry.dist.name} {entry.dist.version}" if entry.dist is not None else "an installed package"
            _import(entry.module, f"the {ENTRY_POINT_GROUP} entry point {entry.name!r} of {owner}")


def split_imports(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Command-line arguments split into the modules named by ``imports=[a,b]`` (or ``imports=a``) and the rest."""
    modules: list[str] = []
    rest: list[str] = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key != IMPORTS_KEY:
            rest.append(arg)
            continue
        names = value.strip().removeprefix("[").removesuffix("]").split(",")
        modules += [name.strip().strip("'\"") for name in names if name.strip().strip("'\"")]
    return modules, rest


def _import(module: str, source: str) -> None:
    """Import ``module`` (named by ``source``), or raise ``PluginError`` saying why and what to do."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        if _is_the_module(error, module):
            raise PluginError(
                f"{source}: no module named {module!r} on the Python path or in the current folder ({os.getcwd()}); "
                "give its dotted name, and put the folder that holds it on PYTHONPATH or install its package"
            ) from error
        raise PluginError(f"{source}: importing {module!r} failed: {error}") from error
    except Exception as error:
        raise PluginError(f"{source}: importing {module!r} failed: {type(error).__name__}: {error}") from error


def _is_the_module(error: ModuleNotFoundError, module: str) -> bool:
    """Whether ``error`` says ``module`` itself (or a package above it) is missing, not one of its imports."""
    return error.name is not None and (module == error.name or module.startswith(error.name + "."))
