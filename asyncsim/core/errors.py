"""Exception types: every user-facing error is an AsyncSimError with a one-line message.

Messages quote the offending value, and a value can be huge (a 5 MB string in a scenario file):
:func:`quote` shows at most :data:`QUOTE_LIMIT` characters of a value, and every AsyncSimError
shortens its own text to :data:`MESSAGE_LIMIT` characters as a last resort, keeping the start
(the field path) and the end of the message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

__all__ = [
    "API_SWITCHES",
    "MESSAGE_LIMIT",
    "QUOTE_LIMIT",
    "AsyncSimError",
    "ConfigError",
    "UnknownNameError",
    "clip",
    "quote",
    "spell",
    "switch",
]

QUOTE_LIMIT = 200
"""Most characters of an offending value that a message quotes."""

MESSAGE_LIMIT = 400
"""Longest message an AsyncSimError shows; longer ones lose their middle."""

_LISTED_NAMES = 20
"""Most valid names an UnknownNameError lists (Gymnasium registers hundreds of environments)."""


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` if it has at most ``limit`` characters, else its first ``limit`` characters
    followed by ``… (N characters)``."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` shortened by :func:`clip`, for quoting a value in an error message.

    A long value is never converted whole: a string is cut before ``repr``, so quoting a 5 MB
    value costs as much as quoting its first ``limit`` characters.
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value)} characters)"
    return clip(repr(value), limit)


SWITCH_MARK = "\x1f"
"""Brackets a switch's name in a message (a control character: :func:`quote` escapes it in
quoted values, so only :func:`switch` puts it there)."""

API_SWITCHES = {
    "overwrite": "overwrite=True",
    "force": "force=True",
    "plugin": "load_plugin(FILE)",
    "trust_plugins": "trust_plugins()",
    "out": "output directory",
    "set": "override",
    "address": "address",
    "executor": "executor",
    "time_scale": "time_scale",
    "wait": "wait=True",
}
"""How the Python API spells each switch (the command line spells its flags)."""


def switch(name: str) -> str:
    """Where a message asks for the user's word (``overwrite``, ``force``, a plug-in, …) or names
    a setting: a mark that the interface showing the message spells (:func:`spell`), so the
    library names no command-line flag."""
    return f"{SWITCH_MARK}{name}{SWITCH_MARK}"


def spell(text: str, spellings: Mapping[str, str] = API_SWITCHES) -> str:
    """``text`` with each :func:`switch` mark replaced by its spelling (its name if unknown)."""
    parts = text.split(SWITCH_MARK)
    parts[1::2] = [spellings.get(name, name) for name in parts[1::2]]
    return "".join(parts)


def _shorten(message: str) -> str:
    """``message`` cut to :data:`MESSAGE_LIMIT` characters by dropping its middle."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    head, tail = MESSAGE_LIMIT * 3 // 5, MESSAGE_LIMIT // 5
    omitted = len(message) - head - tail
    return f"{message[:head]} … [{omitted} characters omitted] … {message[-tail:]}"


class AsyncSimError(Exception):
    """Base class of the errors asyncsim raises for bad input or unusable results.

    ``str()`` of one is at most about :data:`MESSAGE_LIMIT` characters long, its switches
    spelled for the Python API; :meth:`text` spells them for another interface.
    """

    def text(self, spellings: Mapping[str, str] = API_SWITCHES) -> str:
        """The message with its switches spelled by ``spellings``, shortened."""
        return _shorten(spell(super().__str__(), spellings))

    def __str__(self) -> str:
        return self.text()


class ConfigError(AsyncSimError, ValueError):
    """A scenario value is invalid. The message names the field path and the value.

    Example: ``cluster.compute.h[3]: must be >= 0, got -1``.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class UnknownNameError(ConfigError):
    """A name (method, oracle, time model, environment) is not registered; lists the valid ones
    (the first :data:`_LISTED_NAMES` of them when there are more)."""

    def __init__(self, field: str, name: str, valid: Iterable[str], what: str = "name") -> None:
        valid = sorted(valid)
        close = difflib.get_close_matches(clip(str(name)), valid, n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        listed = ", ".join(valid[:_LISTED_NAMES])
        if len(valid) > _LISTED_NAMES:
            listed += f", … ({len(valid)} in all; `asyncsim list` prints them)"
        super().__init__(field, f"unknown {what} {quote(name)}{hint}; valid: {listed}")
        self.name = name
        self.valid = valid
