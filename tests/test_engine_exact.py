"""Fixed times: every simulated round equals the closed form of asyncsim.theory
(docs/algorithms.md §3, §5).

Round times are compared two ways:

* against the exact form *relative to the round start* (offsets b_i = downlink_i, or 0 under
  AllReduce), to 1e-9 relative, as the theory states it;
* against the same exact form fed the *absolute* broadcast arrival times ``time_start + b_i``.
  That repeats the engine's float arithmetic (``now + delay``) operation for operation, so the
  per-agent counts B_i must match exactly, even where two agents finish at the same instant
  (ties are broken by agent index, docs/algorithms.md §3 "Event order").

AFedPG is checked against an independent event-by-event simulation written here.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np
import pytest
from conftest import EXACT_TIMES, compute_ends, deep_merge

from asyncsim import theory
from asyncsim.runner import simulate

REL = 1e-9

ROUND_METHODS = ("rennala_nigt", "malenia_nigt", "synchronized_nigt")


def _per_agent(value: Any, n: int) -> np.ndarray:
    """Independent expansion of the few per-agent forms the scenarios here use."""
    if isinstance(value, str):
        i = np.arange(1, n + 1, dtype=float)
        return np.asarray(eval(value, {"sqrt": np.sqrt, "i": i}), dtype=float) * np.ones(n)
    return np.asarray(value, dtype=float) * np.ones(n)


def _times(scenario: dict[str, Any]) -> theory.AgentTimes:
    """τ_i = h_i·H, uplinks κ_i and broadcast offsets b_i (zero under AllReduce), computed here
    from the scenario dict (not by asyncsim's time models)."""
    cluster = scenario["cluster"]
    n = cluster["n"]
    tau = _per_agent(cluster["compute"]["h"], n) * cluster.get("horizon", 1)
    uplink = _per_agent(cluster["uplink"]["time"], n)
    downlink = _per_agent(cluster.get("downlink", cluster["uplink"])["time"], n)
    topology = cluster.get("topology", "server")
    if topology == "allreduce":
        downlink = np.zeros(n)
    return theory.AgentTimes(tau, uplink, downlink, topology, cluster.get("allreduce", "max"))


def _exact(run: Any, key: str, times: theory.AgentTimes, t: int, start: float) -> Any:
    """Round ``t`` of method ``key``, starting at ``start``, by its protocol's exact form."""
    method = next(m for m in run.scenario.methods if m.key == key)
    return method.spec.protocol_spec.exact_round(times, method.params, t, start)


def _scenario(**overrides: Any) -> dict[str, Any]:
    return deep_merge(EXACT_TIMES, overrides)


def _with_batches(initial: int, batch: int) -> list[dict[str, Any]]:
    methods = []
    for name in ROUND_METHODS:
        method = {"name": name, "lr": 0.01, "momentum": 0.1}
        if name != "synchronized_nigt":
            method |= {"batch": batch, "initial_batch": initial}
        methods.append(method)
    return methods


SCENARIOS = {
    "issue-example": _scenario(),
    "horizon-downlink": _scenario(
        cluster={"horizon": 3, "downlink": {"time": [0.05 * i for i in range(1, 9)]}},
        methods=_with_batches(initial=40, batch=16),
    ),
    "server-initial-below-n": _scenario(
        cluster={"downlink": {"time": 0.25}}, methods=_with_batches(initial=5, batch=12)
    ),
    "reversed-uplink": _scenario(
        cluster={
            "uplink": {"time": [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]},
            "downlink": {"time": [0.0, 0.3, 0.1, 0.2, 0.0, 0.5, 0.05, 0.0]},
        },
        methods=_with_batches(initial=10, batch=16),
    ),
    "allreduce-max": _scenario(
        cluster={"topology": "allreduce", "allreduce": "max", "downlink": {"time": 0.3}},
        methods=_with_batches(initial=24, batch=16),
    ),
    "allreduce-ring": _scenario(
        cluster={"topology": "allreduce", "allreduce": "ring", "horizon": 2},
        methods=_with_batches(initial=3, batch=20),
        budget={"iterations": 8},
    ),
}


@pytest.fixture(scope="module")
def runs() -> dict[str, Any]:
    return {key: simulate(scenario) for key, scenario in SCENARIOS.items()}


@pytest.mark.parametrize("method", ROUND_METHODS)
@pytest.mark.parametrize("key", list(SCENARIOS))
def test_every_round_equals_the_exact_form(runs, key: str, method: str) -> None:
    scenario = SCENARIOS[key]
    result = runs[key].methods[method]
    config = next(m for m in scenario["methods"] if m["name"] == method)
    n, server = scenario["cluster"]["n"], scenario["cluster"].get("topology") != "allreduce"
    times = _times(scenario)
    rows = result.rows
    assert len(rows) == scenario["budget"]["iterations"] + 1
    previous_end = 0.0
    for t, row in enumerate(rows):
        batch = config.get("initial_batch") if t == 0 else config.get("batch")
        start, end = row["time_start"], row["time_end"]
        assert start == previous_end
        previous_end = end

        relative = _exact(runs[key], method, times, t, 0.0)
        assert end - start == pytest.approx(relative.round_time, rel=REL)
        assert row["stop_time"] - start == pytest.approx(relative.stop_time, rel=REL)

        absolute = _exact(runs[key], method, times, t, start)
        counts = compute_ends(result.trace, t, n)
        assert counts == list(absolute.counts)
        assert end == pytest.approx(absolute.round_time, rel=1e-12)
        assert row["stop_time"] == pytest.approx(absolute.stop_time, rel=1e-12)

        participants = sum(c > 0 for c in counts)
        assert row["gradients_used"] == sum(counts)
        assert row["participants"] == participants
        # on a server only participants send; an AllReduce is a collective of all n
        assert row["uploads"] == (participants if server else n)
        if method.startswith("rennala"):
            assert sum(counts) == batch
        if method.startswith("synchronized"):
            assert counts == [1] * n


@pytest.mark.parametrize("method", ["rennala_nigt", "malenia_nigt"])
def test_total_time_is_initial_plus_T_rounds(runs, method: str) -> None:
    times = _times(SCENARIOS["horizon-downlink"])
    first = _exact(runs["horizon-downlink"], method, times, 0, 0.0).round_time
    later = _exact(runs["horizon-downlink"], method, times, 1, 0.0).round_time
    summary = runs["horizon-downlink"].methods[method].summary
    expected = theory.total_time(first, later, 20)
    assert summary["total_time"] == pytest.approx(expected, rel=REL)


def test_hand_computed_rennala_round_with_a_tie() -> None:
    """τ = √i, M = 4: completions 1 (a1), √2 (a2), √3 (a3), then a tie at t = 2 between agent 1
    (2nd gradient) and agent 4 (1st). Agent 1 goes first, so its gradient is the 4th: agents
    1..3 upload, the reduce takes max κ = 0.3 and agent 4's finished gradient is discarded."""
    scenario = _scenario(methods=[{"name": "rennala_nigt", "batch": 4, "initial_batch": 4}])
    result = simulate(scenario).methods["rennala_nigt"]
    row = result.rows[0]
    assert row["stop_time"] == 2.0
    assert row["time_end"] == pytest.approx(2.3, rel=1e-12)
    assert compute_ends(result.trace, 0, 8) == [2, 1, 1, 0, 0, 0, 0, 0]
    assert row["participants"] == 3
    # started: 8 at t = 0, then agents 1, 2, 3 restart once; all but the 4 used are discarded
    assert row["gradients_computed"] == 11
    assert row["gradients_discarded"] == 7


def test_hand_computed_synchronized_sends_each_vector_when_ready() -> None:
    """Server topology: round = max_i (b_i + τ_i + κ_i) = max(0.5+1+1, 0.5+2+0) = 2.5."""
    scenario = _scenario(
        cluster={
            "n": 2,
            "compute": {"h": [1.0, 2.0]},
            "uplink": {"time": [1.0, 0.0]},
            "downlink": {"time": 0.5},
        },
        methods=[{"name": "synchronized_nigt"}],
        budget={"iterations": 2},
    )
    rows = simulate(scenario).methods["synchronized_nigt"].rows
    assert [row["time_end"] for row in rows] == pytest.approx([2.5, 5.0, 7.5], rel=1e-12)
    assert [row["stop_time"] for row in rows] == pytest.approx([2.5, 5.0, 7.5], rel=1e-12)


# ------------------------------------------------------------------------------------ AFedPG


def afedpg_reference(
    tau: list[float], uplink: list[float], downlink: list[float], updates: int
) -> list[tuple[float, float, int, int]]:
    """Event-by-event AFedPG timing (docs/algorithms.md §3), independent of the engine.

    Every agent gets θ_0 at time 0 (downlink), computes τ_j, uploads κ_j; the server applies
    arrivals in (time, agent) order and sends the new point to that agent only. Returns
    (time_start, time_end, agent 1-based, delay) per update, delay = updates since the point
    the gradient was computed at was sent.
    """
    heap: list[tuple[float, int, int]] = []
    for j in range(len(tau)):
        heapq.heappush(heap, (((0.0 + downlink[j]) + tau[j]) + uplink[j], j, 0))
    rows = []
    previous = 0.0
    for update in range(updates):
        time, j, version = heapq.heappop(heap)
        rows.append((previous, time, j + 1, update - version))
        previous = time
        heapq.heappush(heap, (((time + downlink[j]) + tau[j]) + uplink[j], j, update + 1))
    return rows


AFEDPG_CASES = {
    # heterogeneous irrational times
    "heterogeneous": (
        [math.sqrt(i) for i in range(1, 7)],
        [0.1 * i for i in range(1, 7)],
        [0.3, 0.05, 0.2, 0.0, 0.15, 0.4],
        2,
    ),
    # dyadic times with many exact ties (agents 1/2 and 3/4 are identical)
    "ties": (
        [0.5, 0.5, 0.75, 0.75, 1.25],
        [0.25, 0.25, 0.125, 0.125, 0.0],
        [0.125, 0.125, 0.25, 0.25, 0.5],
        1,
    ),
}


@pytest.mark.parametrize("name", ["afedpg", "asynchronous_pg"])
@pytest.mark.parametrize("case", list(AFEDPG_CASES))
def test_afedpg_first_50_updates_match_event_simulation(case: str, name: str) -> None:
    h, up, down, horizon = AFEDPG_CASES[case]
    scenario = _scenario(
        cluster={
            "n": len(h),
            "horizon": horizon,
            "compute": {"h": h},
            "uplink": {"time": up},
            "downlink": {"time": down},
        },
        methods=[{"name": name}],
        budget={"iterations": 49},
    )
    result = simulate(scenario).methods[name]
    rows = result.rows
    assert len(rows) == 50
    tau = [x * horizon for x in h]
    expected = afedpg_reference(tau, up, down, 50)
    got = [(r["time_start"], r["time_end"], r["agent"], r["delay"]) for r in rows]
    for t, (row, want) in enumerate(zip(got, expected, strict=True)):
        assert row[0] == pytest.approx(want[0], rel=1e-12, abs=1e-12), f"update {t}"
        assert row[1] == pytest.approx(want[1], rel=1e-12), f"update {t}"
        assert row[2:] == want[2:], f"update {t}"
    assert all(r["gradients_used"] == 1 and r["uploads"] == 1 for r in rows)
    assert max(r["delay"] for r in rows) > 0  # the stale gradients are really exercised
    # the trace agrees: one server update per row, at the row's end time
    updates = [(time, it) for time, agent, event, it, _ in result.trace if event == "update"]
    assert [it for _, it in updates] == list(range(50))
    assert [time for time, _ in updates] == [r["time_end"] for r in rows]
