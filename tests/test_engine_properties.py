"""Property tests (hypothesis): simulated rounds vs the exact forms and the lemmas' bounds, and
the stop rules of Algorithms 2 and 3, for random clusters.

Two kinds of fixed-time clusters are drawn:

* *dyadic* times (multiples of 1/32): every sum the engine forms is exact in floating point, so
  rounds that start at any absolute time reproduce the theory's relative times exactly, ties
  included, and each round must equal the exact form relative to its start;
* *generic* floats (ring AllReduce included): the exact form is evaluated at the absolute
  broadcast times ``time_start + b_i``, which repeats the engine's arithmetic, so counts and
  times must agree exactly; the first round (start 0) must equal the relative form too.

Every round must also be <= the Lemma C.1 / C.2 (or synchronized) bound with κ = the largest
downlink or uplink time.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from conftest import TINY, compute_ends, deep_merge
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncsim import theory
from asyncsim.methods.malenia import MaleniaRule
from asyncsim.methods.protocol import BatchParams
from asyncsim.methods.rennala import RennalaRule
from asyncsim.methods.synchronized import SynchronizedRule
from asyncsim.registry import Params
from asyncsim.runner import simulate

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
METHODS = ("rennala_nigt", "malenia_nigt", "synchronized_nigt")
ITERATIONS = 2


@st.composite
def fixed_clusters(draw: st.DrawFn, dyadic: bool) -> dict[str, Any]:
    """n ≤ 50 agents, τ_i, downlinks and uplinks ≤ κ, batch sizes, a topology."""
    n = draw(st.integers(1, 50))
    if dyadic:
        tau = [k / 32 for k in draw(st.lists(st.integers(4, 128), min_size=n, max_size=n))]
        kappa_units = draw(st.integers(0, 48))
        unit = st.integers(0, kappa_units)
        down = [j / 32 for j in draw(st.lists(unit, min_size=n, max_size=n))]
        up = [j / 32 for j in draw(st.lists(unit, min_size=n, max_size=n))]
        topology = draw(st.sampled_from([("server", "max"), ("allreduce", "max")]))
    else:
        times = st.floats(0.1, 4.0, allow_nan=False, allow_infinity=False)
        tau = draw(st.lists(times, min_size=n, max_size=n))
        kappa = draw(st.floats(0.0, 1.5, allow_nan=False, allow_infinity=False))
        share = st.floats(0.0, 1.0)
        down = [kappa * f for f in draw(st.lists(share, min_size=n, max_size=n))]
        up = [kappa * f for f in draw(st.lists(share, min_size=n, max_size=n))]
        topology = draw(
            st.sampled_from([("server", "max"), ("allreduce", "max"), ("allreduce", "ring")])
        )
    batch = draw(st.integers(1, 2 * n + 2))
    initial = draw(st.integers(1, 2 * n + 2))
    return {
        "tau": tau,
        "down": down,
        "up": up,
        "topology": topology,
        "batch": batch,
        "initial": initial,
    }


def _run(case: dict[str, Any]) -> Any:
    topology, allreduce = case["topology"]
    methods = [{"name": name} for name in METHODS]
    scenario = deep_merge(
        TINY,
        {
            "cluster": {
                "n": len(case["tau"]),
                "compute": {"kind": "fixed", "h": case["tau"]},
                "uplink": {"kind": "fixed", "time": case["up"]},
                "downlink": {"kind": "fixed", "time": case["down"]},
                "topology": topology,
                "allreduce": allreduce,
            },
            "method_defaults": {"batch": case["batch"], "initial_batch": case["initial"]},
            "methods": methods,
            "budget": {"iterations": ITERATIONS},
        },
    )
    return simulate(scenario)


def _times(case: dict[str, Any]) -> theory.AgentTimes:
    topology, allreduce = case["topology"]
    offsets = np.asarray(case["down"]) * (topology == "server")
    return theory.AgentTimes(
        np.asarray(case["tau"]), np.asarray(case["up"]), offsets, topology, allreduce
    )


def _check(case: dict[str, Any], relative_every_round: bool) -> None:
    """Each method's rounds against its protocol's exact round (at the absolute start, and
    relative to 0) and its round bound (κ = the largest downlink or uplink)."""
    run = _run(case)
    n, times = len(case["tau"]), _times(case)
    for method in run.scenario.methods:
        protocol, params, result = method.spec.protocol_spec, method.params, run.methods[method.key]
        assert len(result.rows) == ITERATIONS + 1
        for t, row in enumerate(result.rows):
            start, end = row["time_start"], row["time_end"]
            duration = end - start
            absolute = protocol.exact_round(times, params, t, start)
            assert compute_ends(result.trace, t, n) == list(absolute.counts), (method.key, t)
            assert end == pytest.approx(absolute.round_time, rel=1e-12), (method.key, t)
            assert row["stop_time"] == pytest.approx(absolute.stop_time, rel=1e-12), (method.key, t)
            if relative_every_round or t == 0:
                relative = protocol.exact_round(times, params, t, 0.0)
                assert duration == pytest.approx(relative.round_time, rel=1e-9), (method.key, t)
                assert list(relative.counts) == compute_ends(result.trace, t, n), (method.key, t)
            bound = protocol.round_bound(times, params, t)
            assert duration <= bound * (1 + 1e-9), (method.key, t)


@SETTINGS
@given(fixed_clusters(dyadic=True))
def test_dyadic_rounds_equal_exact_form_and_respect_bounds(case: dict[str, Any]) -> None:
    _check(case, relative_every_round=True)


@SETTINGS
@given(fixed_clusters(dyadic=False))
def test_generic_rounds_equal_exact_form_and_respect_bounds(case: dict[str, Any]) -> None:
    _check(case, relative_every_round=False)


# ------------------------------------------------------------------ stop rules in the engine

RANDOM_MODELS = st.sampled_from(
    [
        {"kind": "exponential", "h": "0.5 + 0.2*i"},
        {"kind": "lognormal", "h": "sqrt(i)", "sigma": 0.8},
        {"kind": "uniform", "h": [1.0, 3.0, 0.5, 2.0, 1.0, 4.0, 0.7, 1.1], "spread": 0.9},
        {"kind": "gamma", "h": 1.0, "shape": 0.7},
    ]
)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    model=RANDOM_MODELS,
    seed=st.integers(0, 2**16),
    batch=st.integers(1, 30),
    uplink=st.sampled_from([{"kind": "fixed", "time": 0.0}, {"kind": "exponential", "time": 0.3}]),
)
def test_stop_rules_hold_in_the_engine_with_random_times(model, seed, batch, uplink) -> None:
    """Rennala rounds use exactly M gradients; a Malenia round stops at the first event where
    all B_i ≥ 1 and n² ≥ M Σ 1/B_i (the condition fails without the round's last gradient)."""
    n = 8
    scenario = deep_merge(
        TINY,
        {
            "seed": seed,
            "cluster": {"n": n, "compute": model, "uplink": uplink},
            "methods": [
                {"name": "rennala_nigt", "batch": batch, "initial_batch": batch},
                {"name": "malenia_nigt", "batch": batch, "initial_batch": batch},
            ],
            "budget": {"iterations": 2},
        },
    )
    results = simulate(scenario).methods
    for name, result in results.items():
        for t, row in enumerate(result.rows):
            counts = compute_ends(result.trace, t, n)
            assert row["time_start"] <= row["stop_time"] <= row["time_end"]
            assert row["gradients_used"] == sum(counts)
            assert row["gradients_computed"] == row["gradients_used"] + row["gradients_discarded"]
            if name == "rennala_nigt":
                assert sum(counts) == batch
                continue
            last = [a for _, a, e, it, _ in result.trace if e == "compute_end" and it == t][-1]
            assert _malenia_condition(counts, batch)
            before = list(counts)
            before[last - 1] -= 1
            assert not _malenia_condition(before, batch)


def _malenia_condition(counts: list[int], batch: int) -> bool:
    """All B_i ≥ 1 and (1/n Σ 1/B_i)^{-1} ≥ M/n, in exact rational arithmetic."""
    n = len(counts)
    if min(counts) < 1:
        return False
    return Fraction(n * n) >= batch * sum(Fraction(1, b) for b in counts)


# ------------------------------------------------------------------ stop rules on their own


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    n=st.integers(1, 6),
    batch=st.integers(1, 40),
    order=st.lists(st.integers(0, 5), min_size=1, max_size=80),
)
def test_stop_rules_match_their_definitions(n: int, batch: int, order: list[int]) -> None:
    """Feeding completions one by one: Rennala stops at the M-th, Malenia exactly when the
    Algorithm 3 condition first holds (checked with fractions), synchronized at the n-th."""
    order = [agent % n for agent in order]
    params = BatchParams(batch=batch, initial_batch=batch)
    rules = {"rennala": RennalaRule(n, params, 1), "malenia": MaleniaRule(n, params, 1)}
    counts = [0] * n
    for step, agent in enumerate(order, start=1):
        counts[agent] += 1
        assert rules["rennala"].on_gradient(agent) == (step >= batch)
        assert rules["malenia"].on_gradient(agent) == _malenia_condition(counts, batch)
    for agent, count in enumerate(counts):
        if count:
            assert rules["rennala"].weight(agent, count) == 1 / batch
            assert rules["malenia"].weight(agent, count) == pytest.approx(1 / (n * count))
    synchronized = SynchronizedRule(n, Params(), 1)
    assert [synchronized.on_gradient(a) for a in range(n)] == [False] * (n - 1) + [True]
