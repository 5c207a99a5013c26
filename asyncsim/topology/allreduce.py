"""AllReduce: no server. One collective of all n agents (an agent without a gradient takes
part with a zero vector) starts when the collection stops, ends for all at once and leaves the
aggregate on every node, so no point is broadcast (b_i = 0) and server-only protocols cannot
run (docs/algorithms.md §4). ``cluster.allreduce`` names the collective-time model, with p
agents in the collective:

* ``max``: max_i κ_i;
* ``ring``: 2(p-1)/p · max_i κ_i (ring AllReduce: 2(p-1) steps of 1/p of the vector each).
"""

from __future__ import annotations

import numpy as np

from asyncsim.core.registry import TopologyContext, register_topology


def _longest(uplink: np.ndarray) -> float:
    """max_i κ_i; 0.0 for an empty collective."""
    return float(uplink.max()) if uplink.size else 0.0


def _ring(uplink: np.ndarray) -> float:
    """2(p-1)/p · max_i κ_i over the p agents of the collective; 0.0 for an empty one."""
    p = uplink.size
    return 2.0 * (p - 1) / p * _longest(uplink) if p else 0.0


COLLECTIVE_TIMES = {"max": _longest, "ring": _ring}
"""``cluster.allreduce`` → the collective's time from the uplink times of its agents."""

COLLECTIVE_STEPS = {"max": lambda p: (1, 1.0), "ring": lambda p: (2 * (p - 1), 1.0 / p)}
"""``cluster.allreduce`` → (steps, fraction of the vector each agent sends its ring neighbour
per step) of the collective of p agents over shared links (``cluster.network``): ``max`` one
step of whole vectors, ``ring`` 2(p-1) steps of 1/p of the vector."""


def everyone(counts: np.ndarray) -> np.ndarray:
    """Every agent of the cluster takes part in the collective."""
    return np.ones(np.asarray(counts).size, dtype=bool)


def collective_time(uplink: np.ndarray, context: TopologyContext) -> float:
    """The collective's seconds under the model ``context.allreduce`` (:data:`COLLECTIVE_TIMES`).

    Raises:
        ValueError: For an unknown collective model.
    """
    model = COLLECTIVE_TIMES.get(context.allreduce)
    if model is None:
        valid = ", ".join(COLLECTIVE_TIMES)
        raise ValueError(f"unknown allreduce model {context.allreduce!r}; valid: {valid}")
    return model(uplink)


register_topology(
    "allreduce",
    everyone,
    "one collective of all n agents, no broadcast; max_i κ_i or (ring) 2(n-1)/n · max_i κ_i",
    broadcasts=False,
    collective=collective_time,
    has_server=False,
)
