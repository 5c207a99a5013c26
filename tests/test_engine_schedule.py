"""A round on private wires runs from its events alone (Simulation._scheduled_round: in bulk,
window by window, for rules that keep computing; else from a heap) instead of one SimPy process
per agent: both must give the same run, row for row.

Each case runs twice, once as shipped and once with every round forced through the SimPy
processes; the trace rows (times, order, events), the iteration rows and the summaries must be
identical. The cases cover ties at one instant (equal times: the agent index decides), points
arriving at once (downlink 0) and later, random times drawn in blocks and one at a time
(truncated normal, iteration-varying), rounds whose agents compute once (synchronized,
m-synchronous) and a time budget that ends in the middle of a round, or at the instant
computations end (they are not processed: the budget's timeout comes first); for the windows:
many agents tied, an agent so fast that it needs more durations than it holds drawn ahead or
than a window's levels, computations of no time, a budget inside a window, drive's check every
few events, and a round handed over to the heap half-way."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from conftest import deep_merge

from asyncsim.core.oracle import GradientJob
from asyncsim.core.trace import Trace
from asyncsim.engine.schedule import VectorRound
from asyncsim.engine.simulation import Simulation
from asyncsim.runner import simulate

BASE: dict[str, Any] = {
    "schema_version": 1,
    "name": "schedule",
    "seed": 3,
    "oracle": {"kind": "quadratic", "dim": 3, "noise": 1.0},
    "cluster": {
        "n": 7,
        "compute": {"kind": "fixed", "h": 1.0},
        "uplink": {"kind": "fixed", "time": 0.25},
        "downlink": {"kind": "fixed", "time": 0},
        "topology": "server",
    },
    "methods": [
        {"name": "rennala_sgd", "batch": 9},
        {"name": "malenia_sgd", "batch": 9},
        {"name": "synchronized_nigt", "lr": 0.01, "momentum": 0.1},
        {"name": "m_synchronous_sgd", "m": 4},
    ],
    "budget": {"iterations": 6},
}

CASES: dict[str, dict[str, Any]] = {
    "equal times, points at once": {},
    "equal times, points later": {"cluster": {"downlink": {"kind": "fixed", "time": 0.5}}},
    "distinct fixed times": {"cluster": {"compute": {"kind": "fixed", "h": "sqrt(i)"}}},
    "exponential, uniform downlink": {
        "cluster": {
            "compute": {"kind": "exponential", "h": "1 + i/7"},
            "downlink": {"kind": "uniform", "time": 0.3},
        }
    },
    "truncated normal": {"cluster": {"compute": {"kind": "truncated_normal", "h": 1.0}}},
    "iteration-varying": {"cluster": {"compute": {"kind": "varying", "h": "1 + (i + k) % 3"}}},
    "time budget ends in a round": {
        "cluster": {"compute": {"kind": "exponential", "h": 1.0}},
        "budget": {"iterations": None, "time": 4.37},
    },
    "time budget ends at computations' end": {  # rounds end at 2.25: ends at 3.25 exactly
        "budget": {"iterations": None, "time": 3.25}
    },
    "allreduce": {"cluster": {"topology": "allreduce"}},
    # the windows of the vectorised round (asyncsim.engine.schedule.VectorRound)
    "many ties": {"cluster": {"n": 40}, "methods": [{"name": "rennala_sgd", "batch": 300}]},
    "one agent far faster, random times": {  # it outruns its durations drawn ahead
        "cluster": {"compute": {"kind": "exponential", "h": [0.002, 3, 4, 5, 6, 7, 8]}},
        "methods": [
            {"name": "rennala_sgd", "batch": 700},
            {"name": "malenia_sgd", "batch": 40},
        ],
    },
    "one agent far faster, fixed times": {  # more events than a window's levels
        "cluster": {"compute": {"kind": "fixed", "h": [0.0005, 3, 4, 5, 6, 7, 8]}},
        "methods": [{"name": "rennala_sgd", "batch": 3000}],
    },
    "durations 0": {  # agent 2's computations end at once, without end: it stops the round
        "cluster": {"compute": {"kind": "fixed", "h": [1, 0, 1, 1, 1, 1, 1]}},
        "methods": [{"name": "rennala_sgd", "batch": 2000}],
    },
    "time budget ends in a window": {
        "cluster": {"n": 30, "compute": {"kind": "lognormal", "h": "1 + i / 10"}},
        "methods": [{"name": "rennala_sgd", "batch": 500}],
        "budget": {"iterations": None, "time": 37.3},
    },
    "allreduce, random times": {
        "cluster": {
            "n": 12,
            "topology": "allreduce",
            "compute": {"kind": "gamma", "h": "1 + i % 3"},
            "uplink": {"kind": "exponential", "time": 0.2},
        },
    },
    "iteration-varying, many gradients": {  # drawn one at a time: the heap runs the rounds
        "cluster": {"compute": {"kind": "varying", "h": "min(i - 1, 1) * (1 + k % 2) + 0.1"}},
        "methods": [{"name": "rennala_sgd", "batch": 60}],
    },
}


def _runs(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, int]:
    """The case run as shipped, then with SimPy processes only; and the scheduled rounds."""
    scenario = deep_merge(BASE, case)
    scheduled = []
    schedule = Simulation._scheduled_round

    def counted(self: Simulation, round_: Any) -> float | None:
        scheduled.append(round_.version)
        return schedule(self, round_)

    monkeypatch.setattr(Simulation, "_scheduled_round", counted)
    shipped = simulate(scenario)
    monkeypatch.setattr(Simulation, "_schedulable", lambda self, rule: False)
    processes = simulate(scenario)
    return shipped, processes, len(scheduled)


@pytest.mark.parametrize("name", list(CASES))
def test_scheduled_rounds_equal_process_rounds(name: str, monkeypatch) -> None:
    shipped, processes, scheduled = _runs(CASES[name], monkeypatch)
    assert scheduled > 0  # the heap ran rounds
    assert not shipped.failed and not processes.failed
    for key, method in processes.methods.items():
        mine = shipped.methods[key]
        assert len(method.trace) > 0
        assert mine.trace == method.trace, key
        assert [type(row[0]) for row in mine.trace] == [type(row[0]) for row in method.trace]
        seconds = ("real_seconds",)
        assert {k: v for k, v in mine.summary.items() if k not in seconds} == {
            k: v for k, v in method.summary.items() if k not in seconds
        }, key
        assert [{k: v for k, v in row.items() if k != "real_seconds"} for row in mine.rows] == [
            {k: v for k, v in row.items() if k != "real_seconds"} for row in method.rows
        ], key


@pytest.mark.parametrize(
    "name", ["exponential, uniform downlink", "one agent far faster, random times"]
)
def test_rounds_watched_often_equal_process_rounds(name: str, monkeypatch) -> None:
    """drive's check every 7 events: windows are cut before its event, as SimPy's loop calls
    it, and the trace spills between (rows of both runs alike)."""
    monkeypatch.setattr("asyncsim.engine.simulation._WATCH", range(7))
    monkeypatch.setattr(Trace.spill, "__defaults__", (50,))
    test_scheduled_rounds_equal_process_rounds(name, monkeypatch)


def test_a_round_handed_over_to_the_heap_equals_process_rounds(monkeypatch) -> None:
    """A vectorised round that cannot go on (durations that cannot be read ahead) goes on one
    event at a time from where it is: here after every second window."""
    window = VectorRound._window
    made = []

    def every_second(self: VectorRound, end: float) -> Any:
        made.append(end)
        return None if len(made) % 2 == 0 else window(self, end)

    monkeypatch.setattr(VectorRound, "_window", every_second)
    test_scheduled_rounds_equal_process_rounds("one agent far faster, random times", monkeypatch)
    assert len(made) > 4


def test_jobs_are_one_per_run_of_indices() -> None:
    """A round's gradients become one job per run of consecutive indices of an agent (an
    outage can split a run), weighted by the rule; agents in index order."""

    class Half:
        def weight(self, agent: int, count: int) -> float:
            return 1.0 / (agent + count)

    used = {2: range(5, 7), 0: [3, 4, 7], 1: [0]}
    round_ = SimpleNamespace(used=used, rule=Half())
    jobs = Simulation._jobs(None, round_)  # type: ignore[arg-type]
    assert jobs == [
        GradientJob(0, 3, 2, 1 / 3),
        GradientJob(0, 7, 1, 1 / 3),
        GradientJob(1, 0, 1, 1 / 2),
        GradientJob(2, 5, 2, 1 / 4),
    ]
    used.pop(0)
    assert Simulation._jobs(None, round_) == jobs[2:]  # type: ignore[arg-type]
