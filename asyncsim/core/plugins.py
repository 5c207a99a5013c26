"""Plug-ins: Python files (or installed packages) that register methods, oracles and time models.

A plug-in is an ordinary Python file that calls the registration functions of
:mod:`asyncsim.core.registry` (``asyncsim.register_method`` ...) when it is imported. It is loaded

* by a scenario's ``plugins: [file.py, ...]`` (paths relative to the scenario file), only with
  the user's word: ``--trust-plugins`` (:func:`trust_plugins`) or the environment variable
  ``ASYNCSIM_TRUST_PLUGINS=1``; without it, a scenario naming plug-ins is refused with one line
  naming the files, since a scenario someone sent is data, not a program;
* by ``--plugin FILE`` on any ``asyncsim`` command, or :func:`load_plugin` from Python (naming
  the file is the user's word for it);
* by an installed package that declares an entry point in the group ``asyncsim.core.plugins``
  (a module, or a callable that is called once): installing it was the user's word. One that
  fails to load is left out with one warning, and everything else keeps working.

Every sweep worker (process pool or Ray) loads the plug-ins of its scenario again: the scenario
travels pickled from a process that trusted them (``Scenario.__reduce__``). Loading is
idempotent: a file is imported once per process, under a module name derived from its path. A
plug-in that fails to load (an exception, ``sys.exit``, ``KeyboardInterrupt`` raised by its
code) is one ConfigError line, and whatever it registered before failing is removed again.
Results never import plug-ins: a run directory records what reading it needs
(:mod:`asyncsim.store.recorded`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
from pathlib import Path

from asyncsim.core.errors import ConfigError, quote, switch
from asyncsim.core.registry import (
    ENTRY_POINT_GROUP,
    PluginWarning,
    describe_failure,
    load_builtins,
    load_entry_points,
    registering_from,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "TRUST_VARIABLE",
    "PluginWarning",
    "all_loaded",
    "check_trusted",
    "load_entry_points",
    "load_plugin",
    "load_plugins",
    "origin_of",
    "shown",
    "trust_plugins",
]

TRUST_VARIABLE = "ASYNCSIM_TRUST_PLUGINS"
"""Environment variable: ``1`` imports every scenario's plug-ins (for CI and scripts)."""

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

_loaded: dict[Path, str] = {}
_trust_all = False


def trust_plugins(trusted: bool = True) -> None:
    """Import the plug-in files every scenario of this process names (``--trust-plugins``)."""
    global _trust_all
    _trust_all = trusted


def _trusts_all() -> bool:
    return _trust_all or os.environ.get(TRUST_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def check_trusted(paths: object, field: str = "plugins", allow: bool = False) -> None:
    """Refuse, in one line naming the files and how to allow them, a scenario's plug-ins that
    the user has not allowed: without --trust-plugins (or ASYNCSIM_TRUST_PLUGINS=1), a file is
    allowed only once loaded explicitly (``--plugin FILE``, :func:`load_plugin`). ``allow``
    checks the paths only.

    Raises:
        ConfigError: ``paths`` is not a list of file paths, names a URL, or names files not
            allowed.
    """
    if not isinstance(paths, list):  # a string would be loaded character by character
        raise ConfigError(field, f"must be a list of plug-in files, got {quote(paths)}")
    for index, path in enumerate(paths):
        _check_path(path, f"{field}[{index}]")
    if allow or _trusts_all():
        return
    refused = [shown(path) for path in paths if _resolved(path) not in _loaded]
    if refused:
        names = ", ".join(quote(path, 120) for path in refused[:3])
        more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
        raise ConfigError(
            field,
            f"the scenario names plug-in files {names}{more}: Python code that would run on "
            "this machine, so it is not imported without your word; give "
            f"{switch('trust_plugins')} to import them (or {switch('plugin')} for each file, or "
            f"set {TRUST_VARIABLE}=1)",
        )


def _check_path(path: object, field: str) -> None:
    if not isinstance(path, str | Path) or not str(path):
        raise ConfigError(field, f"must be the path of a Python file, got {quote(path)}")
    if _URL.match(str(path)):
        raise ConfigError(
            field, f"must be a file on this machine; URLs are not fetched, got {quote(str(path))}"
        )


def shown(path: str | Path) -> str:
    """A file as messages name it: relative to the working directory when it is below it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def load_plugins(paths: object, field: str = "plugins", trusted: bool = False) -> list[Path]:
    """Load a scenario's plug-in files once the user allowed them (:func:`check_trusted`; or
    ``trusted``: the caller vouches for them); returns their absolute paths."""
    check_trusted(paths, field, allow=trusted)
    return [load_plugin(path, f"{field}[{index}]") for index, path in enumerate(paths)]


def load_plugin(path: str | Path, field: str = "path") -> Path:
    """Import the Python file ``path`` once (a second call with the same file does nothing).

    Raises:
        ConfigError: the path is a URL, the file does not exist, or importing it raised,
            exited or was interrupted by its own code (the message names the field and the
            plug-in's own error in one line).
    """
    _check_path(path, field)
    resolved = _resolved(path)
    if resolved in _loaded:
        return resolved
    if not resolved.is_file():
        raise ConfigError(field, f"plug-in file not found: {str(path)!r}")
    name = f"asyncsim_plugin_{resolved.stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ConfigError(field, f"not a Python file: {str(path)!r}")
    load_builtins()  # asyncsim's own entries are not the plug-in's, even if it imports them
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _loaded[resolved] = name
    try:
        with registering_from(str(resolved)):
            spec.loader.exec_module(module)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        del sys.modules[name], _loaded[resolved]
        raise ConfigError(
            field, f"plug-in {str(path)!r} failed to load: {describe_failure(exc)}"
        ) from None
    return resolved


def all_loaded(paths: list[str]) -> bool:
    """Whether every one of ``paths`` is a plug-in file loaded in this process."""
    return all(_resolved(path) in _loaded for path in paths)


def origin_of(value: object) -> str | None:
    """The plug-in whose code defines ``value``'s class: its file, or the installed module;
    None for asyncsim's own classes (and Python's). For error messages."""
    module_name = type(value).__module__
    if module_name.split(".")[0] in ("asyncsim", "builtins", "numpy"):
        return None
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if path is not None and _resolved(path) in _loaded:
        return shown(path)
    return f"module {module_name}"
