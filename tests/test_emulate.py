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
from asyncsim.emulation.report import closest_events, compare
from asyncsim.methods import registry as builtin
from asyncsim.plots import plot_emulation
from asyncsim.plugins import load_plugin
from asyncsim.results import load_run
from asyncsim.runner import run_method

PLUGINS = Path(__file__).resolve().parent.parent / "examples" / "plugins"

#: n = 4, fixed times of 50-200 ms, S = 1: compute 120-194 ms, distinct up- and downlinks,
#: chosen so that no decision of the simulation is within 12 ms of an event it depends on
#: (checked below), against a timer and messaging jitter of 0.1-0.5 ms (a few ms under load).
SEPARATED: dict[str, Any] = {
    "name": "emulation-test",
    "seed": 0,
    "plugins": [str(PLUGINS / "fedbuff.py"), str(PLUGINS / "local_means.py")],
    "oracle": {"kind": "quadratic", "dim": 4, "noise": 1.0},
    "cluster": {
        "n": 4,
        "compute": {"kind": "fixed", "h": [0.120, 0.151, 0.152, 0.194]},
        "uplink": {"kind": "fixed", "time": [0.016, 0.010, 0.019, 0.036]},
        "downlink": {"kind": "fixed", "time": [0.003, 0.008, 0.019, 0.013]},
    },
    "method_defaults": {"lr": 0.05},
    "methods": [
        {"name": "rennala_nigt", "batch": 6, "momentum": 0.5},
        {"name": "malenia_nigt", "batch": 4, "momentum": 0.5},
        {"name": "synchronized_nigt", "momentum": 0.5},
        {"name": "mindflayer_sgd", "batch": 4, "patience": 0.16},
        {"name": "m_synchronous_sgd", "m": 2},
        {"name": "afedpg", "momentum": 0.5},
        {"name": "ringmaster_asgd", "max_delay": 1, "stop_stale": True},
        {"name": "fedbuff", "buffer": 2},  # plug-ins: an asynchronous server and a rule
        {"name": "local_means_nigt", "batch": 5, "momentum": 0.5},
    ],
    "budget": {"iterations": 3},
}

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
    plug-ins: total time within 5% of the simulated time, the same participants and counts in
    every round, the same iteration table and final parameters."""
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
    round_based = {m.PROTOCOL.name for m in builtin._PROTOCOL_MODULES if m.PROTOCOL.round_based}
    assert round_based <= protocols  # every built-in round-based protocol is here
    assert report["time_scale"] == 1.0 and report["executor"] == executor
    for key, method in report["methods"].items():
        assert method["closest_events_s"] >= 0.01, key  # the scenario is well separated
        assert method["total_time_error"] < 0.05, (key, method["total_time_error"])
        assert method["same_participants"] and method["same_counts"], (key, method)
        assert method["same_order"] and method["divergence"] is None, key
        assert method["same_iteration_table"], (key, method["first_table_difference"])
        assert method["parameter_difference"] <= 1e-12, key
        assert method["rows"] == {"simulated": 4, "emulated": 4}
    emulated = load_run(out)  # the run directory contract of `asyncsim run`
    assert list(emulated.methods) == [method.key for method in scenario.methods]
    for key, method in emulated.methods.items():
        times = report["methods"][key]["times"]["emulated"]
        assert [row["time_end"] for row in method.rows] == times["time_end"]
        assert method.summary["time_scale"] == 1.0
        assert {"compute_start", "compute_end", "upload_end", "update"} <= {
            event for _, _, event, _, _ in method.trace
        }


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
        assert method["total_time_error"] < 0.05, key


def test_simulated_side_is_asyncsim_run(restore_registries: None) -> None:
    """The simulation the emulation is compared with is the one `asyncsim run` makes."""
    for path in SEPARATED["plugins"]:
        load_plugin(path)  # naming a file is the word for it
    scenario = validate_scenario(SEPARATED)
    for index in range(len(scenario.methods)):
        ours, theirs = simulate_method(scenario, index).result, run_method(scenario, index)
        assert ours.rows == theirs.rows
        assert ours.trace == theirs.trace


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
