"""Method registry: a method is (aggregation protocol) × (optimizer); YAML names it here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from asyncsim.engine.simulation import CollectionRule
from asyncsim.errors import UnknownNameError
from asyncsim.methods.malenia import MaleniaRule
from asyncsim.methods.rennala import RennalaRule
from asyncsim.methods.synchronized import SynchronizedRule

__all__ = ["METHODS", "PROTOCOLS", "MethodSpec", "lookup_method"]

#: round-based protocols and their collection rules; "asynchronous" is the AFedPG server
PROTOCOLS: dict[str, Callable[[int, int], CollectionRule] | None] = {
    "rennala": RennalaRule,
    "malenia": MaleniaRule,
    "synchronized": SynchronizedRule,
    "asynchronous": None,
}


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its protocol, optimizer and a one-line description."""

    protocol: str
    optimizer: str
    description: str


METHODS: dict[str, MethodSpec] = {
    "rennala_nigt": MethodSpec("rennala", "nigt", "Rennala NIGT (Alg. 1 + Alg. 2)"),
    "malenia_nigt": MethodSpec("malenia", "nigt", "Malenia NIGT (Alg. 1 + Alg. 3)"),
    "synchronized_nigt": MethodSpec("synchronized", "nigt", "Synchronized NIGT"),
    "afedpg": MethodSpec("asynchronous", "nigt", "AFedPG, asynchronous greedy server"),
    "rennala_pg": MethodSpec("rennala", "vanilla", "Rennala PG (vanilla step)"),
    "malenia_pg": MethodSpec("malenia", "vanilla", "Malenia PG (vanilla step)"),
    "synchronized_pg": MethodSpec("synchronized", "vanilla", "Synchronized vanilla PG"),
    "asynchronous_pg": MethodSpec("asynchronous", "vanilla", "Asynchronous PG"),
}


def lookup_method(name: str, field: str) -> MethodSpec:
    """The spec of method ``name``, or an UnknownNameError listing the valid names."""
    if name not in METHODS:
        raise UnknownNameError(field, name, METHODS, what="method")
    return METHODS[name]
