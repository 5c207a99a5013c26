"""Shared fixtures: tiny synthetic scenarios and helpers that read the engine's trace."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest

#: The issue's "exact-times" example: fixed heterogeneous times, a star topology, no downlink.
EXACT_TIMES: dict[str, Any] = {
    "schema_version": 1,
    "name": "exact-times",
    "seed": 0,
    "oracle": {"kind": "quadratic", "dim": 10, "noise": 1.0},
    "cluster": {
        "n": 8,
        "horizon": 1,
        "compute": {"kind": "fixed", "h": "sqrt(i)"},
        "uplink": {"kind": "fixed", "time": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]},
        "downlink": {"kind": "fixed", "time": 0},
        "topology": "server",
    },
    "methods": [
        {"name": "rennala_nigt", "lr": 0.01, "momentum": 0.1, "batch": 16, "initial_batch": 16},
        {"name": "malenia_nigt", "lr": 0.01, "momentum": 0.1, "batch": 16, "initial_batch": 16},
        {"name": "synchronized_nigt", "lr": 0.01, "momentum": 0.1},
        {"name": "afedpg", "lr": 0.01, "momentum": 0.1},
    ],
    "budget": {"iterations": 20},
}

#: A tiny scenario that runs in milliseconds; tests override what they need.
TINY: dict[str, Any] = {
    "schema_version": 1,
    "name": "tiny",
    "seed": 0,
    "oracle": {"kind": "quadratic", "dim": 4, "noise": 1.0},
    "cluster": {
        "n": 4,
        "compute": {"kind": "fixed", "h": [1.0, 1.5, 2.0, 3.0]},
        "uplink": {"kind": "fixed", "time": 0.1},
        "topology": "server",
    },
    "methods": [{"name": "rennala_nigt", "lr": 0.01, "momentum": 0.1, "batch": 4}],
    "budget": {"iterations": 3},
}


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``base`` with ``overrides`` merged in: mappings recursively, anything else
    (lists included) replaced; a value of None deletes the key."""
    result = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


@pytest.fixture(scope="session")
def make_scenario() -> Callable[..., dict[str, Any]]:
    """Factory of tiny synthetic scenario dicts: ``make_scenario(cluster={"n": 2}, ...)``.

    Keyword arguments are top-level scenario fields deep-merged into :data:`TINY` (pass
    ``base=EXACT_TIMES`` to start from the issue's example instead). Session-scoped and
    stateless, so hypothesis tests may use it.
    """

    def factory(base: Mapping[str, Any] = TINY, **overrides: Any) -> dict[str, Any]:
        return deep_merge(base, overrides)

    return factory


@pytest.fixture
def exact_times() -> dict[str, Any]:
    """A fresh copy of the issue's "exact-times" example scenario (safe to modify)."""
    return deep_merge(EXACT_TIMES, {})


def compute_ends(trace: list[tuple], iteration: int, n: int) -> list[int]:
    """B_i of round ``iteration``: the agents' ``compute_end`` events in it (agent order)."""
    counted = Counter(
        agent for _, agent, event, it, _ in trace if event == "compute_end" and it == iteration
    )
    return [counted.get(agent, 0) for agent in range(1, n + 1)]


@pytest.fixture(scope="session")
def round_counts() -> Callable[[list[tuple], int, int], list[int]]:
    """``round_counts(trace, iteration, n)`` → per-agent gradients finished in that round."""
    return compute_ends


@pytest.fixture
def restore_registries():
    """Plug-ins loaded by a test leave the registries (and the loaded files) as they were, so
    that other tests in this process see only the built-in entries."""
    from asyncsim import plugins, registry

    registry.load_builtins()  # before saving: built-ins loaded during the test are kept
    tables = list(registry._REGISTRIES)  # every registry, topologies and later ones included
    saved = [(dict(t._entries), dict(t._aliases), dict(t._origins)) for t in tables]
    loaded = dict(plugins._loaded)
    yield
    for table, (entries, aliases, origins) in zip(tables, saved, strict=True):
        table._entries, table._aliases, table._origins = entries, aliases, origins
    plugins._loaded.clear()
    plugins._loaded.update(loaded)
    plugins.trust_plugins(False)
