"""`asyncsim emulate`: the methods run on real workers (processes, Ray actors) take the same
decisions as the simulation and about the same time when events are well separated, and an
order that diverges is reported with the event where it did."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result

from asyncsim.cli import main
from asyncsim.config import validate_scenario
from asyncsim.emulation import emulate, simulate_method
from asyncsim.emulation.executors import _Connected
from asyncsim.emulation.report import closest_events, compare, differences
from asyncsim.methods import registry as builtin
from asyncsim.plots import plot_emulation
from asyncsim.results import load_run
from asyncsim.scenario import load_scenario_data

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

#: n = 4, fixed times of 3-200 ms, S = 1, every round-based protocol and two plug-ins: no
#: decision of the simulation is within 12 ms of an event it depends on (checked below).
SEPARATED: dict[str, Any] = load_scenario_data(SCENARIOS / "emulation_separated.yaml")

#: Agents 1 and 2 finish 10 µs apart (agent 2 first), within the real jitter; one gradient
#: per round, so which of them is first decides each round.
OVERLAPPING: dict[str, Any] = {
    "name": "overlapping",
    "oracle": {"kind": "quadratic", "dim": 4},
    "cluster": {
        "n": 4,
        "compute": {"kind": "fixed", "h": [0.100, 0.09999, 0.13, 0.17]},
        "uplink": {"kind": "fixed", "time": 0.01},
        "downlink": {"kind": "fixed", "time": 0},
    },
    "methods": [{"name": "rennala_nigt", "batch": 1, "lr": 0.05}],
    "budget": {"iterations": 15},
}


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "executor", ["local", pytest.param("ray", marks=pytest.mark.slow)], ids=str
)
def test_separated_times_give_the_simulated_rounds(
    executor: str, tmp_path: Path, restore_registries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every round-based protocol, AFedPG, Ringmaster (which stops stale work) and two
    plug-ins take the simulated decisions: the same participants and counts in every round, the
    same iteration table and final parameters; the times differ by no more than the overheads
    the run measured (the error itself depends on the machine's load: `python -m benchmarks
    emulation` measures it)."""
    if executor == "ray":
        pytest.importorskip("ray")
        monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    out = tmp_path / "out"
    result = invoke("emulate", write(tmp_path, SEPARATED), "--executor", executor, "--out", out,
                    "--no-plots", "-q", "--trust-plugins")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "emulation.json").read_text())
    scenario = validate_scenario(SEPARATED)
    protocols = {method.spec.protocol for method in scenario.methods}
    round_based = {
        m.PROTOCOL.name
        for m in builtin._PROTOCOL_MODULES
        if m.PROTOCOL.round_based and not m.PROTOCOL.decentralized  # a graph is not emulated
    }
    assert round_based <= protocols  # every built-in round-based protocol is here
    rounds = {m.key for m in scenario.methods if m.spec.protocol_spec.round_based}
    assert report["time_scale"] == 1.0 and report["executor"] == executor
    for key, method in report["methods"].items():
        assert method["closest_events_s"] >= 0.01, key  # the scenario is well separated
        assert_within_overheads(key, method, 1.0)
        assert method["same_decisions"] == (
            method["same_counts"]
            and method["same_iteration_table"]
            and method["rows"] == {"simulated": 4, "emulated": 4}
        )
        assert method["same_order"] == (method["divergence"] is None), key
        if jitter(method, key in rounds) >= method["closest_events_s"]:
            continue  # a timer or a notice was later than the gap between two events
        # (two completions a decision does not depend on may still swap: same_order is not
        # asserted, the decisions are)
        assert method["same_decisions"], (key, method)
        assert method["same_participants"] and method["same_counts"], (key, method)
        assert method["same_iteration_table"], (key, method["first_table_difference"])
        assert method["parameter_difference"] <= 1e-12, key
    emulated = load_run(out)  # the run directory contract of `asyncsim run`
    assert list(emulated.methods) == [method.key for method in scenario.methods]
    for key, method in emulated.methods.items():
        times = report["methods"][key]["times"]["emulated"]
        assert [row["time_end"] for row in method.rows] == times["time_end"]
        assert method.summary["time_scale"] == 1.0
        assert {"compute_start", "compute_end", "upload_end", "update"} <= {
            event for _, _, event, _, _ in method.trace
        }
    summary = result.output.splitlines()
    assert summary[0].split()[-6:] == ["error", "closest", "events", "(s)", "same", "decisions"]
    for line, (key, method) in zip(summary[1:], report["methods"].items(), strict=False):
        cells = line.split()
        assert cells[0] == key and cells[-1] == str(method["same_decisions"])
        assert float(cells[-2]) == pytest.approx(method["closest_events_s"], rel=1e-5)


def jitter(method: dict[str, Any], round_based: bool) -> float:
    """How far apart the run can have moved two events (real seconds, S = 1): the largest timer
    lateness plus the largest notice latency; for an asynchronous server also the spread of
    the rows' delays (each agent's point left at another update; in a round every agent's
    point leaves at once, so that delay is common). An order the simulation decides can
    change only where two events are closer than that."""
    events = method["events"]
    late = events["timer_late_s"]["max"] + events["latency_s"]["max"]
    if round_based:
        return late
    times = method["times"]
    ends = zip(times["simulated"]["time_end"], times["emulated"]["time_end"], strict=True)
    delays = [emulated - simulated for simulated, emulated in ends]
    return late + max(delays) - min(delays)


def assert_within_overheads(key: str, method: dict[str, Any], scale: float) -> None:
    """The emulated total time exceeds the simulated one by no more than the overheads the
    run measured (its timers' lateness, the notices' latency, the driver's time), and no row
    ends earlier than simulated by more than them either."""
    overhead = method["events"]["overhead_s"]
    excess = (method["emulated_total_time"] - method["simulated_total_time"]) * scale
    assert abs(excess) <= overhead, (key, excess, method["events"])
    times = method["times"]
    for simulated, emulated in zip(times["simulated"]["time_end"], times["emulated"]["time_end"],
                                   strict=True):  # fmt: skip
        assert abs(emulated - simulated) * scale <= overhead, key


def test_overlapping_times_report_where_the_order_diverged(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("emulate", write(tmp_path, OVERLAPPING), "--out", out, "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "emulation.json").read_text())["methods"]["rennala_nigt"]
    assert report["closest_events_s"] < 0.001  # the near-tie is visible in the report
    assert not report["same_order"]
    divergence = report["divergence"]
    # the simulation takes agent 2 (10 µs faster) in every round, so the first round the
    # emulation gave to another agent is where the order diverged
    assert divergence["simulated"]["agent"] == 2
    assert divergence["emulated"]["agent"] != 2
    assert divergence["event"] == divergence["simulated"]["version"]  # one gradient a round
    assert report["first_different_round"] == divergence["event"]
    assert not report["same_participants"]
    assert f"the order diverged at event {divergence['event']}" in result.output
    assert (out / "plots" / "emulation.png").is_file()


def test_uploads_that_take_no_time(tmp_path: Path) -> None:
    """An upload of no modelled time ends when it is sent, after the agent's notice of the
    gradient it carries (which its timer may send late); a time budget ends a run that would
    wait for an upload taken out of order."""
    data = {
        **SEPARATED,
        "plugins": [],
        "cluster": {**SEPARATED["cluster"], "uplink": {"kind": "fixed", "time": 0}},
        "methods": [{"name": "synchronized_nigt"}, {"name": "afedpg"}],
        "budget": {"iterations": 3, "time": 2.0},
    }
    report = emulate(data).report["methods"]
    for key, method in report.items():
        assert method["rows"] == {"simulated": 4, "emulated": 4}, key
        assert_within_overheads(key, method, 1.0)


def test_closest_events_flags_a_near_tie_with_a_decision() -> None:
    scenario = validate_scenario(OVERLAPPING)
    simulated = simulate_method(scenario, 0)
    # agent 1's computation, discarded at agent 2's stop, would have ended 10 µs later
    assert simulated.closest == pytest.approx(1e-5)
    result = simulated.result
    assert closest_events(result.trace, result.rows, True) > 0.01  # unknown without lengths


def test_compare_finds_the_first_different_event() -> None:
    rows = [{"iteration": t, "time_start": t, "time_end": t + 1.0} for t in range(3)]
    simulated = {"rows": rows, "model": None, "sequence": [(0.5, 1, 0), (1.5, 2, 1), (2.5, 1, 2)]}
    emulated = {"rows": rows, "model": None, "sequence": [(1, 0), (2, 1), (2, 2)]}
    report = compare(simulated, emulated, round_based=True, scale=1.0)
    assert report["divergence"] == {
        "event": 2,
        "simulated_time": 2.5,
        "simulated": {"agent": 1, "version": 2},
        "emulated": {"agent": 2, "version": 2},
    }
    assert report["first_different_round"] == 2 and report["total_time_error"] == 0.0


def test_same_decisions_needs_the_same_gradients_and_the_same_table() -> None:
    """Issue reproducers: an identical iteration table with other agents' gradients in a round
    (ties at equal times) is not the same decisions; neither is the same arrival order with
    a different table (simultaneous arrivals counted in other rows)."""
    rows = [{"iteration": t, "time_start": t, "time_end": t + 1.0, "uploads": 2} for t in range(2)]
    simulated = {"rows": rows, "model": None, "sequence": [(0.5, 1, 0), (0.5, 2, 0), (1.5, 1, 1)]}
    other_agent = {"rows": rows, "model": None, "sequence": [(1, 0), (3, 0), (1, 1)]}
    report = compare(simulated, other_agent, round_based=True, scale=1.0)
    assert report["same_iteration_table"] and not report["same_counts"]
    assert not report["same_decisions"]
    within_round = {"rows": rows, "model": None, "sequence": [(2, 0), (1, 0), (1, 1)]}
    report = compare(simulated, within_round, round_based=True, scale=1.0)
    assert not report["same_order"] and report["same_decisions"]  # order inside a round
    uploads = [{**row, "uploads": 3 - 2 * row["iteration"]} for row in rows]
    report = compare(simulated, {**within_round, "rows": uploads}, round_based=True, scale=1.0)
    assert not report["same_iteration_table"] and not report["same_decisions"]
    assert differences(report)[0] == (
        "the iteration tables differ from iteration 0 on (uploads: 2 simulated, 3 here)"
    )


def test_rows_of_zero_simulated_length_have_no_relative_error() -> None:
    """Two arrivals at one instant make a row a few ulps long in the simulation: its
    relative error is left out (counted as zero length), not reported as 1e13."""
    times = [(0.0, 0.3), (0.3, 0.3 + 5e-17), (0.3 + 5e-17, 0.6)]
    simulated = [{"iteration": i, "time_start": a, "time_end": b} for i, (a, b) in enumerate(times)]
    emulated = [{**row, "time_end": row["time_end"] + 0.002} for row in simulated]
    report = compare({"rows": simulated, "model": None, "sequence": []},
                     {"rows": emulated, "model": None, "sequence": []}, False, 1.0)  # fmt: skip
    assert report["round_time_error"]["rows"] == 2
    assert report["round_time_error"]["zero_length"] == 1
    assert report["round_time_error"]["max"] < 0.01


def test_emulation_figure_draws_both_panels() -> None:
    times = {"time_start": [0.0, 1.0], "time_end": [1.0, 2.0]}
    report = {
        "time_scale": 1.0,
        "executor": "local",
        "methods": {"a": {"times": {"simulated": times, "emulated": times}}},
    }
    fig = plot_emulation(report)
    assert [len(ax.collections) for ax in fig.axes] == [1, 1]


def test_outages_are_refused(tmp_path: Path) -> None:
    data = {**OVERLAPPING, "cluster": {**OVERLAPPING["cluster"], "outages": [
        {"agent": 1, "start": 0.1, "end": 0.2}]}}  # fmt: skip
    result = invoke("emulate", write(tmp_path, data), "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.startswith("error: cluster.outages: not emulated")


def test_sending_never_waits_on_an_agent_that_is_sending() -> None:
    """A point and a gradient larger than a pipe's buffer, sent both ways at once."""
    here, there = multiprocessing.Pipe()
    big = np.arange(1_000_000, dtype=float)  # 8 MB each way

    def agent() -> None:
        there.send(big)  # waits until the driver reads it
        there.send(float(there.recv().sum()))

    class Agents(_Connected):
        def _died(self, agent: int) -> NoReturn:
            raise AssertionError("the agent ended")

        def close(self) -> None:
            self._close_connections()

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    agents = Agents([here])
    agents.send(0, big)  # would wait for ever if it did not read the agent's upload meanwhile
    received = []
    while len(received) < 2:
        received += [notice for _, notice, _ in agents.receive(10.0)]
    thread.join(10.0)
    assert np.array_equal(received[0], big) and received[1] == big.sum()
    agents.close()
    there.close()
