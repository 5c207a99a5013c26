"""Conformance checkers users run on their own oracles and methods (like Gymnasium's
``check_env``): each raises :class:`ConformanceError` naming what broke the contract.

* :func:`check_oracle`: the determinism contract of :mod:`asyncsim.core.oracle`: gradient
  (agent, index) at a point is a function of (seed, agent, index, point) alone, the same in any
  request order, any batch split, and on any repeated call.
* :func:`check_method`: a registered method runs on a tiny fixed-time scenario, reproduces itself
  with the same seed, and, where its protocol declares an exact round time, every round equals
  it (:func:`asyncsim.analysis.bounds.check_rounds`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from asyncsim.core.errors import AsyncSimError
from asyncsim.core.linalg import norm
from asyncsim.core.oracle import GradientJob, GradientOracle, GradientRequest

__all__ = [
    "CHECK_GRAPH_SCENARIO",
    "CHECK_SCENARIO",
    "ConformanceError",
    "check_method",
    "check_oracle",
]


class ConformanceError(AsyncSimError):
    """An oracle or a method breaks the contract asyncsim relies on."""


# ---------------------------------------------------------------- oracles


def check_oracle(oracle: GradientOracle, rtol: float = 1e-6) -> None:
    """Check that ``oracle``'s gradients depend only on (seed, agent, index, point).

    The same gradients are computed four ways: one request at a time (twice), in the reverse
    request order, with each job split in two, and with the jobs of a request reversed; every
    way must agree within ``rtol`` relative to the vector's norm (batches of different shapes
    may round float32 arithmetic differently, nothing more). Two agents, four indices and two
    points are used.

    Raises:
        ConformanceError: naming the check and the largest relative difference.
    """
    base = np.asarray(oracle.initial_point(), dtype=float)
    points = [base, base + 0.01 * (1.0 + np.abs(base))]
    agents = sorted({0, getattr(oracle, "n_agents", 1) - 1})
    requests = [
        GradientRequest(point, tuple(GradientJob(a, 0, 4, 0.25) for a in agents))
        for point in points
    ]
    alone = [_vector(oracle, [request])[0] for request in requests]
    ways = {
        "a repeated call": [_vector(oracle, [request])[0] for request in requests],
        "the reverse request order": _vector(oracle, requests[::-1])[::-1],
        "jobs split in two": [_split_sum(oracle, request) for request in requests],
        "the jobs of a request reversed": [
            _vector(oracle, [GradientRequest(r.point, r.jobs[::-1])])[0] for r in requests
        ],
    }
    for way, vectors in ways.items():
        for point, (expected, got) in enumerate(zip(alone, vectors, strict=True)):
            difference = norm(got - expected) / max(norm(expected), 1e-300)
            if not difference <= rtol:
                raise ConformanceError(
                    f"oracle {type(oracle).__name__}: the gradients at point {point} change with "
                    f"{way} (relative difference {difference:.3g} > {rtol:g}); a gradient must "
                    "depend only on (seed, agent, index, point)"
                )


def _vector(oracle: GradientOracle, requests: Sequence[GradientRequest]) -> list[np.ndarray]:
    return [np.array(result.vector, dtype=float) for result in oracle.compute(list(requests))]


def _split_sum(oracle: GradientOracle, request: GradientRequest) -> np.ndarray:
    """The request as separate requests of two gradients per job, summed."""
    halves = [
        GradientRequest(request.point, (GradientJob(job.agent, first, 2, job.weight),))
        for job in request.jobs
        for first in (job.first_index, job.first_index + 2)
    ]
    return np.sum(_vector(oracle, halves), axis=0)


# ---------------------------------------------------------------- methods

CHECK_SCENARIO: dict[str, Any] = {
    "name": "check-method",
    "seed": 3,
    "oracle": {"kind": "quadratic", "dim": 4, "noise": 0.5},
    "cluster": {
        "n": 4,
        "compute": {"kind": "fixed", "h": [1.0, 1.5, 2.0, 3.5]},
        "uplink": {"kind": "fixed", "time": [0.1, 0.3, 0.2, 0.4]},
        "downlink": {"kind": "fixed", "time": [0.05, 0.1, 0.0, 0.2]},
    },
    "budget": {"iterations": 12, "target_grad_norm": 0.25},
}
"""The tiny fixed-time scenario of :func:`check_method` (heterogeneous τ_i, κ_i and b_i)."""

CHECK_GRAPH_SCENARIO: dict[str, Any] = {
    **CHECK_SCENARIO,
    "cluster": {
        "n": 4,
        "compute": {"kind": "fixed", "h": [1.0, 1.5, 2.0, 3.5]},
        "topology": "graph",
        "graph": {"kind": "ring"},
        "network": {"message_bytes": "4*d", "link": 64, "latency": 0.05},
    },
}
"""The scenario of :func:`check_method` for a method of agents on a graph (a ring of 4)."""


def check_method(
    name: str, params: Mapping[str, Any] | None = None, scenario: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Run the registered method ``name`` on a tiny fixed-time scenario and check it.

    Args:
        name: registry name (or alias) of the method.
        params: its parameters (default: the method's defaults).
        scenario: the scenario to use (default :data:`CHECK_SCENARIO`, for a method of a graph
            :data:`CHECK_GRAPH_SCENARIO`); its ``methods`` are replaced by this one method.

    Checks: the run ends within its budget; rows are in time order with non-negative
    durations; a second run with the same seed gives identical rows; where the protocol
    declares an exact round, every round equals it within 1e-9 (relative), counts included.

    Returns:
        The method's summary.

    Raises:
        ConformanceError: naming the failed check.
    """
    from asyncsim.analysis.bounds import check_rounds
    from asyncsim.core.registry import METHODS
    from asyncsim.run.runner import simulate

    if scenario is None:
        on_graph = METHODS.get(name).protocol_spec.decentralized
        scenario = CHECK_GRAPH_SCENARIO if on_graph else CHECK_SCENARIO
    data = {**scenario, "methods": [{"name": name, **(params or {})}]}
    first, second = simulate(data), simulate(data)
    key = first.scenario.methods[0].key
    rows = first.methods[key].rows
    if not rows:
        raise ConformanceError(f"method {name!r}: no update within the budget")
    previous = 0.0
    for row in rows:
        if not (previous <= row["time_start"] <= row["time_end"]) or math.isnan(row["time_end"]):
            raise ConformanceError(
                f"method {name!r}: update {row['iteration']} runs from {row['time_start']} to "
                f"{row['time_end']}, after an update that ended at {previous}"
            )
        previous = row["time_end"]
    if second.methods[key].rows != rows:
        raise ConformanceError(f"method {name!r}: the same seed gave different iteration tables")
    for check in check_rounds(first)[0]:
        if check.mismatches or check.count_mismatches:
            raise ConformanceError(
                f"method {name!r}: {check.mismatches} rounds differ from the protocol's exact "
                f"round (worst {check.max_rel_error:.3g} at iteration {check.worst_iteration}), "
                f"{check.count_mismatches} in their counts"
            )
    return first.methods[key].summary
