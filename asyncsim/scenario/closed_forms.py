"""Closed forms of a scenario: its per-agent times (τ_i, κ_i, b_i) and, per method, the round
bound, the exact rounds and the cost per gradient that its protocol's record gives there.

The formulas are in :mod:`asyncsim.theory`; which one applies to a method is its protocol's
record (:class:`~asyncsim.core.registry.ProtocolSpec`): a protocol without a closed form gets
``None``. Used by ``asyncsim bounds`` and the figures (:mod:`asyncsim.analysis.bounds`), the
emulation's floor, and the record of a run's plug-ins (:mod:`asyncsim.store.recorded`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from asyncsim import theory
from asyncsim.scenario.parts import build_cluster, vector_dimension
from asyncsim.scenario.schema import MethodConfig, Scenario

__all__ = ["MethodBounds", "fixed_times", "mean_times", "method_bounds"]


def _time_models(scenario: Scenario) -> dict[str, Any]:
    return build_cluster(scenario, vector_dimension(scenario), np.random.SeedSequence(0)).models


def mean_times(scenario: Scenario) -> theory.AgentTimes:
    """τ_i = mean h_i·H, mean κ_i and mean broadcast offsets b_i (0 on a topology that does not
    broadcast, such as allreduce).

    The one place that turns a scenario into the per-agent times of every closed form: the
    round times, the costs per gradient and the ε-complexity shapes all take τ_i = h_i·H, the
    seconds one gradient takes in the scenario, whatever the discount γ (docs/algorithms.md
    §5, "Which per-agent time")."""
    cluster, n = scenario.cluster, scenario.cluster.n
    models = _time_models(scenario)
    broadcasts = cluster.topology_spec.broadcasts
    tau = models["compute"].means(n) * scenario.horizon
    if cluster.network is not None:
        return _times_over_links(scenario, tau)
    offsets = models["downlink"].means(n) if broadcasts else np.zeros(n)
    return theory.AgentTimes(
        tau, models["uplink"].means(n), offsets, cluster.topology_spec, cluster.allreduce
    )


def _times_over_links(scenario: Scenario, tau: np.ndarray) -> theory.AgentTimes:
    """Times over shared links: b_i the arrivals of a broadcast to all n at once
    (:meth:`Links.broadcast_times`), κ_i an upload's time alone on its links."""
    cluster = scenario.cluster
    links = cluster.links(vector_dimension(scenario))
    if cluster.topology_spec.decentralized:  # a graph: its protocols time their own messages
        none = np.zeros(cluster.n)
        return theory.AgentTimes(tau, none, none, cluster.topology_spec, cluster.allreduce, links)
    broadcasts = cluster.topology_spec.broadcasts
    offsets = links.broadcast_times() if broadcasts else np.zeros(cluster.n)
    alone = links.alone_upload_times()
    return theory.AgentTimes(tau, alone, offsets, cluster.topology_spec, cluster.allreduce, links)


def fixed_times(scenario: Scenario) -> theory.AgentTimes | str:
    """The scenario's times if every one of them is fixed, else why rounds have no fixed
    closed form (random, time-varying or traced times, outages, per-step timing)."""
    cluster = scenario.cluster
    if cluster.timing == "per_step" and scenario.oracle.kind == "policy_gradient":
        return "per-step timing (τ depends on the episode length)"
    if cluster.outages:
        return "outages"
    if cluster.network is not None and cluster.network.traces:
        return "bandwidth traces (capacities vary)"
    for role, model in _time_models(scenario).items():
        if model.fixed_values() is None:
            return f"{getattr(cluster, role).kind} {role} times (not fixed)"
    return mean_times(scenario)


# ---------------------------------------------------------------- per method


@dataclass(frozen=True)
class MethodBounds:
    """The closed forms of one method of a scenario (None where its protocol has none).

    Attributes:
        round_bound: bound on one round after the first (Lemma C.1 / C.2 ...), mean times.
        first_round, round_time: exact t(M_init) and t(M) for fixed times.
        total: t(M_init) + T·t(M) when the budget is T iterations.
        gradient_cost: seconds per gradient: exact for fixed times (a round's time over its
            gradients, or the asynchronous steady state), else at the mean times.
    """

    round_bound: float | None
    first_round: float | None
    round_time: float | None
    total: float | None
    gradient_cost: float | None


def method_bounds(scenario: Scenario, method: MethodConfig) -> MethodBounds:
    """The closed forms of ``method`` in ``scenario``."""
    protocol, params = method.spec.protocol_spec, method.params
    fixed = fixed_times(scenario)
    times = fixed if isinstance(fixed, theory.AgentTimes) else mean_times(scenario)
    shared = times.links is not None  # the lemmas and the steady state are of private wires
    bound = protocol.round_bound(times, params, 1) if protocol.round_bound and not shared else None
    first = later = total = cost = None
    if protocol.exact_round is not None:
        first_round = protocol.exact_round(times, params, 0, 0.0)
        later_round = protocol.exact_round(times, params, 1, 0.0)
        if first_round is None or later_round is None:
            return MethodBounds(bound, None, None, None, None)
        cost = later_round.round_time / sum(later_round.counts)
        if isinstance(fixed, theory.AgentTimes):
            first, later = first_round.round_time, later_round.round_time
            iterations = _iterations_only(scenario)
            if iterations is not None:
                total = theory.total_time(first, later, iterations)
    elif protocol.gradient_cost is not None and not shared:
        cost = protocol.gradient_cost(times, params)
    return MethodBounds(bound, first, later, total, cost)


def _iterations_only(scenario: Scenario) -> int | None:
    """T when the budget is a pure iteration count (then total time = t(M_init) + T·t(M))."""
    budget = scenario.budget.model_dump(exclude_none=True)
    return scenario.budget.iterations if set(budget) == {"iterations"} else None
