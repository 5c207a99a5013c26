"""The asynchronous-optimization baselines (docs/algorithms.md §7): each method's update or round
times for fixed times against an independent event-by-event computation written here (ties and
non-zero downlinks included), and the equivalences the papers imply."""

from __future__ import annotations

import heapq
from typing import Any

import pytest

from asyncsim.runner import simulate

# ties on purpose: agents 1 and 2 share τ and b; agent 4 finishes with agent 1's first upload
TAU = [1.0, 1.0, 2.5, 0.75, 1.5]
DOWN = [0.25, 0.25, 0.0, 0.5, 0.0]
UP = [0.5, 0.5, 0.25, 0.5, 0.0]
UPDATES = 50


def run(method: dict[str, Any], **cluster: Any) -> Any:
    times = {
        "n": len(TAU),
        "compute": {"kind": "fixed", "h": TAU},
        "uplink": {"kind": "fixed", "time": UP},
        "downlink": {"kind": "fixed", "time": DOWN},
    }
    scenario = {
        "name": "zoo",
        "seed": 4,
        "oracle": {"kind": "quadratic", "dim": 3, "noise": 0.5},
        "cluster": {**times, **cluster},
        "methods": [method],
        "budget": {"iterations": UPDATES - 1},
    }
    result = simulate(scenario)
    return next(iter(result.methods.values()))


# ---------------------------------------------------------------- an independent async server


class AsyncServer:
    """Event-by-event asynchronous server for fixed times, written from the papers' rules.

    Each agent cycles downlink → compute → upload; agent events at one instant are handled in
    agent order, each with the server's reaction (as the engine's priorities do). ``accept``
    decides whether an arriving gradient of a given delay is applied (Ringmaster: δ < R);
    ``stop`` restarts, after each applied update, agents computing for a point R updates old.
    """

    def __init__(self, limit: int | None = None, stop: bool = False) -> None:
        self.limit, self.stop = limit, stop
        self.k = 0
        self.version = [0] * len(TAU)
        self.phase = [""] * len(TAU)
        self.ends = [0.0] * len(TAU)
        self.updates: list[tuple[float, int, int]] = []  # (time, agent, delay)
        self.ignored = 0

    def dispatch(self, agent: int, now: float) -> None:
        self.version[agent] = self.k
        if DOWN[agent] > 0:
            self.phase[agent], self.ends[agent] = "downlink", now + DOWN[agent]
        else:
            self.phase[agent], self.ends[agent] = "compute", now + TAU[agent]

    def run(self, updates: int) -> list[tuple[float, int, int]]:
        for agent in range(len(TAU)):
            self.dispatch(agent, 0.0)
        while len(self.updates) < updates:
            now, agent = min((end, a) for a, end in enumerate(self.ends))
            self.advance(agent, now)
        return self.updates

    def advance(self, agent: int, now: float) -> None:
        if self.phase[agent] == "downlink":
            self.phase[agent], self.ends[agent] = "compute", now + TAU[agent]
        elif self.phase[agent] == "compute" and UP[agent] > 0:
            self.phase[agent], self.ends[agent] = "upload", now + UP[agent]
        else:
            self.arrive(agent, now)

    def arrive(self, agent: int, now: float) -> None:
        delay = self.k - self.version[agent]
        if self.limit is not None and delay >= self.limit:
            self.ignored += 1
            self.dispatch(agent, now)
            return
        self.k += 1
        self.updates.append((now, agent + 1, delay))
        self.dispatch(agent, now)
        if self.stop:
            for other in range(len(TAU)):
                working = self.phase[other] in ("downlink", "compute")
                if working and self.k - self.version[other] >= self.limit:
                    self.dispatch(other, now)


def measured(result: Any) -> list[tuple[float, int, int]]:
    return [(row["time_end"], row["agent"], row["delay"]) for row in result.rows]


@pytest.mark.parametrize(
    "method",
    [
        {"name": "asynchronous_sgd"},
        {"name": "delay_adaptive_asgd"},
        {"name": "delay_adaptive_asgd", "rule": "koloskova", "concurrency": 2},
    ],
)
def test_asynchronous_update_times_match_the_event_computation(method: dict) -> None:
    assert measured(run(method)) == AsyncServer().run(UPDATES)


@pytest.mark.parametrize(("limit", "stop"), [(1, False), (2, False), (3, False), (1, True),
                                             (2, True), (4, True)])  # fmt: skip
def test_ringmaster_update_times_match_the_event_computation(limit: int, stop: bool) -> None:
    result = run({"name": "ringmaster_asgd", "max_delay": limit, "stop_stale": stop})
    server = AsyncServer(limit, stop)
    assert measured(result) == server.run(UPDATES)
    # no gradient of delay >= R is ever applied; ignored ones are traced and discarded
    assert all(row["delay"] < limit for row in result.rows)
    ignored = sum(1 for _, _, event, _, _ in result.trace if event == "ignored")
    assert ignored >= server.ignored  # (the run may ignore more after its last update)
    discarded = sum(row["gradients_discarded"] for row in result.rows)
    assert discarded >= ignored
    if stop:
        assert any(event == "discarded" for _, _, event, _, _ in result.trace)


def test_ringmaster_with_a_large_threshold_is_asynchronous_sgd_update_for_update() -> None:
    ringmaster = run({"name": "ringmaster_asgd", "max_delay": 10**6, "stop_stale": True})
    asynchronous = run({"name": "asynchronous_sgd"})
    assert ringmaster.rows == asynchronous.rows
    assert ringmaster.trace == asynchronous.trace


def test_ringmaster_with_r_1_never_applies_a_stale_gradient() -> None:
    result = run({"name": "ringmaster_asgd", "max_delay": 1})
    assert {row["delay"] for row in result.rows} == {0}
    assert any(event == "ignored" for _, _, event, _, _ in result.trace)


def test_ringmaster_default_threshold_comes_from_sigma_and_epsilon() -> None:
    from asyncsim.config import validate_scenario

    base = {
        "name": "r",
        "oracle": {"kind": "nonconvex", "dim": 2, "noise": 2.0},
        "cluster": {"n": 3},
        "methods": [{"name": "ringmaster_asgd"}],
        "budget": {"iterations": 5, "target_grad_norm": 0.5},
    }
    # σ² = 4, ε' = ε² = 0.25: R = max{1, ⌈16⌉}
    assert validate_scenario(base).methods[0].params.max_delay == 16


# ---------------------------------------------------------------- rounds


def rennala_among(eligible: list[int], start: float, batch: int) -> tuple[float, float]:
    """(stop, end) of a Rennala round among ``eligible`` agents: the batch-th smallest of
    start + b_i + k τ_i (accumulated one addition at a time), ties by agent; then the slowest
    participant's upload."""
    heap = [((start + DOWN[i]) + TAU[i], i) for i in eligible]
    heapq.heapify(heap)
    used: set[int] = set()
    for _ in range(batch):
        stop, i = heapq.heappop(heap)
        used.add(i)
        heapq.heappush(heap, (stop + TAU[i], i))
    return stop, stop + max(UP[i] for i in used)


def first_m_round(start: float, m: int) -> tuple[float, float]:
    """(stop, end) of an m-synchronous round: the first m agents by (b_i + τ_i, i), each
    sending as soon as it is done."""
    ready = sorted(((start + DOWN[i]) + TAU[i], i) for i in range(len(TAU)))[:m]
    return ready[-1][0], max(t + UP[i] for t, i in ready)


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_m_synchronous_rounds_match_the_event_computation(m: int) -> None:
    rows = run({"name": "m_synchronous_sgd", "m": m}).rows
    start = 0.0
    for row in rows:
        stop, end = first_m_round(start, m)
        assert (row["stop_time"], row["time_end"]) == (stop, end)
        assert row["gradients_used"] == m
        start = end


def test_m_synchronous_with_m_n_is_minibatch_sgd_round_for_round() -> None:
    assert run({"name": "m_synchronous_sgd"}).rows == run({"name": "minibatch_sgd"}).rows


@pytest.mark.parametrize("patience", [1.2, "i", [3.0, 0.5, 3.0, 3.0, 1.0]])
def test_mindflayer_rounds_match_the_event_computation(patience: Any) -> None:
    result = run({"name": "mindflayer_sgd", "batch": 4, "patience": patience})
    limits = patience if isinstance(patience, list) else (
        [patience] * 5 if isinstance(patience, float) else [1.0, 2.0, 3.0, 4.0, 5.0])  # fmt: skip
    eligible = [i for i in range(5) if TAU[i] <= limits[i]]
    start = 0.0
    for row in result.rows:
        stop, end = rennala_among(eligible, start, 4)
        assert (row["stop_time"], row["time_end"]) == (stop, end)
        start = end
    abandoned = [a for _, a, event, _, _ in result.trace if event == "abandoned"]
    assert set(abandoned) == {i + 1 for i in range(5) if i not in eligible}


def test_mindflayer_with_infinite_patience_is_rennala_sgd() -> None:
    mindflayer = run({"name": "mindflayer_sgd", "batch": 4})
    rennala = run({"name": "rennala_sgd", "batch": 4})
    assert mindflayer.rows == rennala.rows and mindflayer.trace == rennala.trace


def test_mindflayer_abandons_work_under_random_times() -> None:
    result = run(
        {"name": "mindflayer_sgd", "batch": 6, "patience": "1.5 * i"},
        compute={"kind": "exponential", "h": "i"},
    )
    abandoned = sum(1 for _, _, event, _, _ in result.trace if event == "abandoned")
    assert abandoned > 10
    discarded = sum(row["gradients_discarded"] for row in result.rows)
    assert discarded >= abandoned
    assert sum(row["gradients_computed"] for row in result.rows) == sum(
        row["gradients_used"] + row["gradients_discarded"] for row in result.rows)  # fmt: skip
