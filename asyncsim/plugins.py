"""Plug-ins: Python files (or installed packages) that register methods, oracles and time models.

A plug-in is an ordinary Python file that calls the registration functions of
:mod:`asyncsim.registry` (``asyncsim.register_method`` ...) when it is imported. It is loaded

* by a scenario's ``plugins: [file.py, ...]`` (paths relative to the scenario file),
* by ``--plugin FILE`` on any ``asyncsim`` command,
* by an installed package that declares an entry point in the group ``asyncsim.plugins``
  (a module, or a callable that is called once),

and every sweep worker (process pool or Ray) loads the plug-ins of its scenario again. Loading is
idempotent: a file is imported once per process, under a module name derived from its path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

from asyncsim.errors import AsyncSimError, ConfigError

__all__ = ["ENTRY_POINT_GROUP", "load_entry_points", "load_plugin", "load_plugins"]

ENTRY_POINT_GROUP = "asyncsim.plugins"

_loaded: dict[Path, str] = {}


def load_plugins(paths: Iterable[str | Path], field: str = "plugins") -> list[Path]:
    """Load each plug-in file (see :func:`load_plugin`); returns their absolute paths."""
    return [load_plugin(path, f"{field}[{index}]") for index, path in enumerate(paths)]


def load_plugin(path: str | Path, field: str = "--plugin") -> Path:
    """Import the Python file ``path`` once (a second call with the same file does nothing).

    Raises:
        ConfigError: the file does not exist, or importing it raised (the message names the
            field and the plug-in's own error in one line).
    """
    if not isinstance(path, str | Path) or not str(path):
        raise ConfigError(field, f"must be the path of a Python file, got {path!r}")
    resolved = Path(path).expanduser().resolve()
    if resolved in _loaded:
        return resolved
    if not resolved.is_file():
        raise ConfigError(field, f"plug-in file not found: {str(path)!r}")
    name = f"asyncsim_plugin_{resolved.stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ConfigError(field, f"not a Python file: {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _loaded[resolved] = name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name], _loaded[resolved]
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(field, f"plug-in {str(path)!r} failed to load: {detail}") from None
    return resolved


def loaded_plugins() -> list[Path]:
    """The plug-in files loaded in this process, in loading order."""
    return list(_loaded)


def load_entry_points() -> None:
    """Load the installed plug-ins (entry-point group ``asyncsim.plugins``)."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
            if callable(loaded):
                loaded()
        except Exception as exc:
            raise AsyncSimError(
                f"installed plug-in {point.name!r} ({point.value}) failed to load: "
                f"{' '.join(str(exc).split()) or type(exc).__name__}"
            ) from None
