"""Exception types: every user-facing error is an AsyncSimError with a one-line message."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["AsyncSimError", "ConfigError", "UnknownNameError"]


class AsyncSimError(Exception):
    """Base class of the errors asyncsim raises for bad input or unusable results."""


class ConfigError(AsyncSimError, ValueError):
    """A scenario value is invalid. The message names the field path and the value.

    Example: ``cluster.compute.h[3]: must be >= 0, got -1``.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class UnknownNameError(ConfigError):
    """A name (method, oracle, time model, environment) is not registered; lists the valid ones."""

    def __init__(self, field: str, name: str, valid: Iterable[str], what: str = "name") -> None:
        valid = sorted(valid)
        close = difflib.get_close_matches(str(name), valid, n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        super().__init__(field, f"unknown {what} {name!r}{hint}; valid: {', '.join(valid)}")
        self.name = name
        self.valid = valid
