"""A round over shared links runs without a SimPy process per agent (asyncsim.engine.shared_round)
instead of one process per agent (Simulation._round_agent): both must give the same run, row
for row.

Each case runs twice, once as shipped and once with every round forced through the processes;
the trace rows (times, order, events), the iteration rows and the summaries must be identical.
The cases cover ties at one instant (equal links and compute times: the agent index decides,
arrivals and computation ends at one instant), unequal caps (water-filling at the egress and
the ingress), latency (ties between latency timers and arrivals), multicast, random compute
times (drawn in the order the processes draw them), a time budget that ends in a round or at
an instant events are due, the issue's reproducer, and rounds whose agents compute once and
upload at their end (synchronized, m-synchronous) or keep computing until the stop.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import deep_merge

from asyncsim.engine import shared_round, simulation
from asyncsim.engine.links import LiveLinks
from asyncsim.engine.schedule import VectorRound
from asyncsim.runner import simulate

BASE: dict[str, Any] = {
    "schema_version": 1,
    "name": "shared-round",
    "seed": 3,
    "oracle": {"kind": "quadratic", "dim": 10, "noise": 1.0},
    "cluster": {
        "n": 6,
        "compute": {"kind": "fixed", "h": 1.0},
        "topology": "server",
        "network": {
            "message_bytes": "4*d",
            "server": {"ingress": 50, "egress": 80},
            "uplink": 40,
            "downlink": 40,
        },
    },
    "methods": [
        {"name": "rennala_nigt", "batch": 9},
        {"name": "malenia_nigt", "batch": 9},
        {"name": "synchronized_nigt", "lr": 0.01, "momentum": 0.1},
        {"name": "m_synchronous_sgd", "m": 4},
        {"name": "minibatch_sgd"},
    ],
    "budget": {"iterations": 6},
}

NETWORK = ("cluster", "network")

CASES: dict[str, dict[str, Any]] = {
    "equal links and times (ties)": {},
    "unequal caps": {
        "cluster": {
            "compute": {"kind": "fixed", "h": "sqrt(i)"},
            "network": {"uplink": "10 * i", "downlink": [40, 5, 20, 20, 1000, 7]},
        }
    },
    "inexact sizes and caps": {
        "cluster": {
            "compute": {"kind": "fixed", "h": "sqrt(i) / 3"},
            "network": {
                "message_bytes": "4*d/3",
                "server": {"ingress": 31.7, "egress": 23.3},
                "uplink": "7 * sqrt(i)",
                "downlink": "3 * sqrt(i)",
            },
        }
    },
    "latency, ties": {"cluster": {"network": {"latency": 1.0}}},
    "latency, unequal caps": {
        "cluster": {
            "compute": {"kind": "fixed", "h": [1, 2, 1, 2, 1, 3]},
            "network": {"latency": 0.25, "uplink": [10, 20, 20, 40, 10, 20]},
        }
    },
    "multicast": {
        "cluster": {
            "compute": {"kind": "fixed", "h": [1, 2, 1, 2, 1, 3]},
            "network": {"multicast": True, "downlink": "10 * i", "latency": 0.5},
        }
    },
    "exponential compute": {
        "cluster": {
            "compute": {"kind": "exponential", "h": "1 + i/7"},
            "network": {"uplink": "10 * i"},
        }
    },
    "iteration-varying compute": {
        "cluster": {"compute": {"kind": "varying", "h": "1 + (i + k) % 3"}}
    },
    "time budget ends in a round": {
        "cluster": {"compute": {"kind": "exponential", "h": 1.0}},
        "budget": {"iterations": None, "time": 17.37},
    },
}


def _runs(scenario: Any) -> tuple[Any, Any, int]:
    """The scenario run as shipped, then with one SimPy process per agent and every message an
    event (no cohort found at once); and the rounds run without processes."""
    rounds = []
    run_round = simulation.run_shared_round

    def counted(sim: Any, round_: Any, *args: Any) -> float | None:
        rounds.append(round_.version)
        return run_round(sim, round_, *args)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(simulation, "run_shared_round", counted)
        shipped = simulate(scenario)
        patched.setattr(simulation, "shared_round_runs", lambda sim, rule: False)
        patched.setattr(LiveLinks, "cohort", lambda *args, **kwargs: None)  # every message an event
        processes = simulate(scenario)
    return shipped, processes, len(rounds)


def _assert_same(shipped: Any, processes: Any) -> None:
    assert not shipped.failed and not processes.failed
    seconds = "real_seconds"
    for key, method in processes.methods.items():
        mine = shipped.methods[key]
        assert len(method.trace) > 0
        assert mine.trace == method.trace, key
        assert [type(row[0]) for row in mine.trace] == [type(row[0]) for row in method.trace]
        assert {k: v for k, v in mine.summary.items() if k != seconds} == {
            k: v for k, v in method.summary.items() if k != seconds
        }, key
        assert [{k: v for k, v in row.items() if k != seconds} for row in mine.rows] == [
            {k: v for k, v in row.items() if k != seconds} for row in method.rows
        ], key


@pytest.mark.parametrize("name", list(CASES))
def test_rounds_without_processes_equal_process_rounds(name: str) -> None:
    shipped, processes, rounds = _runs(deep_merge(BASE, CASES[name]))
    assert rounds > 0
    _assert_same(shipped, processes)


@pytest.mark.parametrize("event", ["broadcast_received", "compute_end", "upload_end"])
def test_a_time_budget_ending_at_an_instant_events_are_due(event: str) -> None:
    """The budget ends at the instant of a second-round event: the budget's timeout comes
    first, the events of that instant leave no row either way."""
    scenario = deep_merge(BASE, {"cluster": {"network": {"uplink": "10 * i"}}})
    scenario["methods"] = [BASE["methods"][0], BASE["methods"][2]]
    for method in scenario["methods"]:
        trace = simulate({**scenario, "methods": [method]}).methods[method["name"]].trace
        instant = next(row[0] for row in trace if row[2] == event and row[3] == 1)
        case = {**scenario, "methods": [method], "budget": {"iterations": None, "time": instant}}
        shipped, processes, rounds = _runs(case)
        assert rounds == 2
        _assert_same(shipped, processes)
        assert max(row[0] for row in shipped.methods[method["name"]].trace) < instant


def test_bandwidth_traces_change_links_during_rounds(tmp_path: Any) -> None:
    """Traces of the egress and the ingress, their instants at event instants (3 s: the first
    copies arrive) and between them: the links' processes run in the queue the round steps."""
    egress, ingress = tmp_path / "egress.csv", tmp_path / "ingress.csv"
    egress.write_text("time,capacity\n0,80\n3,40\n7.5,120\n15,10\n")
    ingress.write_text("time,capacity\n0,50\n3,20\n5.25,200\n11,35\n")
    traces = [{"link": "egress", "path": str(egress)}, {"link": "ingress", "path": str(ingress)}]
    scenario = deep_merge(BASE, {"cluster": {"network": {"uplink": "10 * i"}}})
    scenario["cluster"]["network"]["traces"] = traces
    shipped, processes, rounds = _runs(scenario)
    assert rounds > 0
    _assert_same(shipped, processes)


def test_the_reproducer_runs_without_processes_and_ends_its_rounds_at_7_14_21_28_35() -> None:
    shipped, processes, rounds = _runs("scenarios/network/shared_links.yaml")
    assert rounds == 5
    _assert_same(shipped, processes)
    rows = shipped.methods["minibatch_sgd"].rows
    assert [row["time_end"] for row in rows] == [7.0, 14.0, 21.0, 28.0, 35.0]


def test_the_benchmarks_runs_equal_process_runs(monkeypatch) -> None:
    """The network benchmark's scenario (server links contended), at n = 60."""
    from benchmarks import bench_network

    monkeypatch.setattr(bench_network, "N", 60)
    for method in ("rennala_nigt", "synchronized_nigt"):
        scenario = bench_network.scenario(method, shared=True)
        scenario["methods"][0].update({"batch": 60} if method == "rennala_nigt" else {})
        scenario["budget"]["iterations"] = 5
        shipped, processes, rounds = _runs(scenario)
        assert rounds >= 5
        _assert_same(shipped, processes)


HELD = {"cluster": {"network": {"server": {"ingress": 10_000}}}}
"""An ingress that holds every upload at its uplink's cap."""

EVENTS_ONLY = {  # cases whose rounds need the transfers' events, and why
    "latency, ties": "uploads join after their latency",
    "latency, unequal caps": "uploads join after their latency",
    "multicast": "the copies cross streams of their own, not the egress",
    "iteration-varying compute": "the durations cannot be read ahead",
}


@pytest.mark.parametrize("name", list(CASES))
def test_rounds_made_at_once_equal_process_rounds(name: str) -> None:
    """The cases with every upload held at its cap: the rounds of one gradient per agent are
    made in arrays (upload_round; but in the cases of EVENTS_ONLY), the others run from the
    copies' cohort."""
    made = []
    original = shared_round.run_upload_round

    def counted(*args: Any) -> Any:
        made.append(True)
        return original(*args)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(shared_round, "run_upload_round", counted)
        shipped, processes, _ = _runs(deep_merge(deep_merge(BASE, CASES[name]), HELD))
    _assert_same(shipped, processes)
    assert any(made) == (name not in EVENTS_ONLY)


def test_an_upload_ending_as_another_starts_then_contending() -> None:
    """Agent 1's upload ends at 3 s as agent 2's starts (the end first: the ingress is free), then
    agent 3's joins agent 2's at 3.5 s and they share the ingress of 50 bytes/s (the network
    runs them): agent 2's last 20 bytes at 25 bytes/s, then agent 3's last 20 alone at 40."""
    scenario = deep_merge(BASE, {"cluster": {
        "n": 3,
        "compute": {"kind": "fixed", "h": [1.0, 2.0, 2.5]},
        "network": {"server": {"ingress": 50, "egress": 1000}, "uplink": 40, "downlink": 40},
    }})  # fmt: skip
    scenario["methods"] = [BASE["methods"][2], BASE["methods"][4]]
    shipped, processes, rounds = _runs(scenario)
    assert rounds > 0
    _assert_same(shipped, processes)
    trace = shipped.methods["synchronized_nigt"].trace
    ends = [row[0] for row in trace if row[2] == "upload_end" and row[3] == 0]
    assert ends == pytest.approx([3.0, 3.5 + 20 / 25, 3.5 + 20 / 25 + 20 / 40])


def test_a_round_from_arrivals_handed_over_to_the_heap_equals_process_rounds(monkeypatch) -> None:
    """A round run from the copies' arrivals that cannot go on in windows goes on one event at a
    time, arrivals still keyed by their rank (here after every second window, copies still on
    their way: unequal downlinks)."""
    window = VectorRound._window
    made = []

    def every_second(self: VectorRound, end: float) -> Any:
        made.append(self.received.all())
        return None if len(made) % 2 == 0 else window(self, end)

    monkeypatch.setattr(VectorRound, "_window", every_second)
    case = deep_merge(BASE, CASES["unequal caps"])
    case["methods"] = [BASE["methods"][0], BASE["methods"][1]]
    case["cluster"]["network"]["downlink"] = [40, 5, 20, 20, 1000, 7]
    shipped, processes, _ = _runs(case)
    _assert_same(shipped, processes)
    assert not all(made[1::2])  # some hand-overs with copies on their way
