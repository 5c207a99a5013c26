"""Run a scenario's methods on real workers and in the simulator, and compare them.

:func:`emulate` simulates every method (as ``asyncsim run`` does), then runs each on the
agents of one executor through :class:`~asyncsim.emulation.engine.EmulatedEngine`, and
reports the difference (:mod:`asyncsim.emulation.report`). A method is wired the same way in
both: the same seeds, oracle, cluster, optimizer, recorder and protocol code; only the engine
differs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from asyncsim.core.engine import CollectionRule
from asyncsim.core.errors import ConfigError, switch
from asyncsim.core.trace import Trace
from asyncsim.emulation.engine import EmulatedEngine
from asyncsim.emulation.executors import Agents, start_agents
from asyncsim.emulation.limits import check_agents, check_real_time
from asyncsim.emulation.limits import floor_warning as floor_of_times
from asyncsim.emulation.report import closest_events, compare, simulated_sequence
from asyncsim.engine.simulation import Simulation
from asyncsim.run.runner import MethodResult, RunResult, run_method
from asyncsim.scenario.closed_forms import mean_times
from asyncsim.scenario.schema import Scenario, validate_scenario

__all__ = [
    "EmulationResult",
    "MethodRun",
    "check_emulable",
    "emulate",
    "emulate_method",
    "fixed_tau",
    "floor_warning",
    "simulate_method",
]


@dataclass
class MethodRun:
    """One method's run with what the comparison needs beyond its tables.

    Attributes:
        result: rows, trace and summary (as ``asyncsim run`` writes them).
        model: θ after the last update (None when no update was made).
        sequence: the gradients the server took (see :mod:`asyncsim.emulation.report`).
        closest: a simulated run's :func:`~asyncsim.emulation.report.closest_events`.
        times: an emulated run's real-time figures (EventTimes.summary()).
    """

    result: MethodResult
    model: np.ndarray | None
    sequence: list[Any]
    closest: float | None = None
    times: dict[str, Any] | None = None


@dataclass
class EmulationResult:
    """Every method emulated and simulated, and the report written as emulation.json."""

    emulated: RunResult
    simulated: RunResult
    report: dict[str, Any] = field(default_factory=dict)


class _RecordingSimulation(Simulation):
    """The simulator, keeping each round's collection rule (for the computations' lengths)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rules: dict[int, CollectionRule] = {}

    def collect(self, point: np.ndarray, version: int, rule: CollectionRule) -> Any:
        self.rules[version] = rule
        return super().collect(point, version, rule)


def simulate_method(scenario: Scenario, index: int) -> MethodRun:
    """Simulate one method (its trace recorded: the comparison reads it)."""
    engines: list[_RecordingSimulation] = []

    def recording(scenario: Scenario, cluster: Any, oracle: Any) -> _RecordingSimulation:
        per_step = scenario.cluster.timing == "per_step"
        engines.append(_RecordingSimulation(cluster, oracle, Trace(True), per_step))
        return engines[-1]

    result = run_method(scenario, index, recording)
    round_based = scenario.methods[index].spec.protocol_spec.round_based
    closest = closest_events(result.trace, result.rows, round_based, _lengths(scenario, engines[0]))
    return MethodRun(result, result.model, simulated_sequence(result.trace, round_based), closest)


def _lengths(scenario: Scenario, sim: _RecordingSimulation) -> Callable[[int, int], float] | None:
    """Modelled length of a computation of an agent at a version, for fixed compute times:
    τ_i = h_i·H, or the round rule's patience when it is shorter (the computation is
    abandoned then); None for other compute times."""
    tau = fixed_tau(scenario)
    if tau is None:
        return None

    def length(agent: int, version: int) -> float:
        rule = sim.rules.get(version)
        patience = None if rule is None else rule.patience(agent)
        return tau[agent] if patience is None else min(tau[agent], patience)

    return length


def emulate_method(scenario: Scenario, index: int, agents: Agents, scale: float) -> MethodRun:
    """Run one method on ``agents`` with time scale ``scale`` (S real seconds per modelled
    second); times in its tables are real seconds over S."""
    engines: list[EmulatedEngine] = []

    def emulated(scenario: Scenario, cluster: Any, oracle: Any) -> EmulatedEngine:
        trace = Trace(scenario.output.trace)
        engines.append(EmulatedEngine(agents, scenario, cluster, oracle, trace, scale))
        return engines[-1]

    result = run_method(scenario, index, emulated)
    result.summary["time_scale"] = scale
    engine = engines[0]
    return MethodRun(result, result.model, engine.sequence, times=engine.times.summary())


def check_emulable(scenario: Scenario) -> None:
    """ConfigError for what emulation does not reproduce."""
    if scenario.cluster.outages:
        raise ConfigError(
            "cluster.outages", "not emulated: asyncsim emulate runs agents without outages"
        )
    if scenario.cluster.network is not None:
        raise ConfigError(
            "cluster.network",
            "not emulated: asyncsim emulate holds each message for its own link's time, not "
            "for shared links; simulate it with asyncsim run",
        )


Progress = Callable[[str, float], None]
"""Called before each method is emulated: (method key, its simulated time × S, the real
seconds it should take)."""


def emulate(
    scenario: Scenario | Mapping[str, Any] | str | Path,
    time_scale: float = 1.0,
    executor: str = "local",
    address: str | None = None,
    progress: Progress | None = None,
    agents: Agents | None = None,
    force: bool = False,
) -> EmulationResult:
    """Simulate, then emulate, every method of ``scenario``, and compare them.

    Unless ``force``, agents that cannot be started here and an emulation that would take more
    than :data:`~asyncsim.scenario.guards.TIME_LIMIT` of real time are refused (:mod:`.limits`), the
    first before anything runs, the second once the methods are simulated and before any agent
    starts.

    Args:
        scenario: a Scenario, a mapping or a YAML path.
        time_scale: S, real seconds per modelled second (> 0).
        executor: ``local`` (a process per agent) or ``ray`` (an actor per agent).
        address: a Ray cluster's HOST:PORT (default: a local Ray instance).
        progress: told before each method is emulated.
        agents: agents already started (:func:`~asyncsim.emulation.executors.start_agents`,
            one per agent of the scenario), which are left running; ``executor`` and
            ``address`` are then not used.
        force: skip the refusals.
    """
    if isinstance(scenario, str | Path):
        from asyncsim.scenario.loading import load_scenario

        scenario = load_scenario(scenario)
    elif not isinstance(scenario, Scenario):
        scenario = validate_scenario(scenario)
    if not time_scale > 0 or time_scale == float("inf"):
        raise ConfigError(switch("time_scale"), f"must be a positive number, got {time_scale}")
    check_emulable(scenario)
    if agents is None and not force:
        check_agents(scenario.cluster.n, executor, address)
    if agents is not None and agents.n != scenario.cluster.n:
        raise ConfigError("cluster.n", f"is {scenario.cluster.n}, but {agents.n} agents run")
    given, scenario = scenario, _in_process_rollouts(scenario)
    simulated = [simulate_method(scenario, i) for i in range(len(scenario.methods))]
    if not force:
        totals = [run.result.summary["total_time"] for run in simulated]
        check_real_time([math.inf if t is None else t for t in totals], time_scale)
    if agents is None:
        with start_agents(executor, scenario.cluster.n, address) as started:
            result = _emulated(scenario, simulated, time_scale, started, progress)
    else:
        result = _emulated(scenario, simulated, time_scale, agents, progress)
    result.emulated.scenario = result.simulated.scenario = given  # its hash names the results
    return result


def _emulated(
    scenario: Scenario,
    simulated: list[MethodRun],
    time_scale: float,
    agents: Agents,
    progress: Progress | None,
) -> EmulationResult:
    """Emulate every method on ``agents`` and compare it with its simulation."""
    emulated = []
    for index, sim in enumerate(simulated):
        if progress is not None:
            progress(sim.result.key, sim.result.summary["total_time"] * time_scale)
        emulated.append(emulate_method(scenario, index, agents, time_scale))
    report = {
        "time_scale": time_scale,
        "executor": agents.executor,
        "address": agents.address,
        "methods": {
            sim.result.key: _method_report(scenario, index, sim, emu, time_scale)
            for index, (sim, emu) in enumerate(zip(simulated, emulated, strict=True))
        },
    }
    return EmulationResult(
        _run_result(scenario, emulated), _run_result(scenario, simulated), report
    )


def floor_warning(scenario: Scenario, time_scale: float) -> str | None:
    """Why ``time_scale`` is below the documented floor for ``scenario``, or None (see
    :func:`.limits.floor_warning`), from the mean times."""
    times = mean_times(scenario)
    return floor_of_times(times.tau, times.offsets + times.tau + times.uplink, time_scale)


def _method_report(
    scenario: Scenario, index: int, sim: MethodRun, emu: MethodRun, scale: float
) -> dict[str, Any]:
    round_based = scenario.methods[index].spec.protocol_spec.round_based
    parts = [
        {"rows": run.result.rows, "model": run.model, "sequence": run.sequence}
        for run in (sim, emu)
    ]
    report = compare(*parts, round_based, scale, sim.closest)
    report["events"] = emu.times
    report["times"] = {
        name: {
            "time_start": [row["time_start"] for row in run.result.rows],
            "time_end": [row["time_end"] for row in run.result.rows],
        }
        for name, run in (("simulated", sim), ("emulated", emu))
    }
    return report


def fixed_tau(scenario: Scenario) -> list[float] | None:
    """τ_i = h_i·H of every agent (:func:`asyncsim.scenario.closed_forms.mean_times`) when
    compute times are fixed and per trajectory, else None."""
    fixed = scenario.cluster.time_models(1)["compute"].fixed_values()
    if fixed is None or scenario.cluster.timing == "per_step":
        return None
    return mean_times(scenario).tau.tolist()


def _run_result(scenario: Scenario, runs: list[MethodRun]) -> RunResult:
    result = RunResult(scenario)
    for run in runs:
        result.methods[run.result.key] = run.result
    return result


def _in_process_rollouts(scenario: Scenario) -> Scenario:
    """A policy-gradient oracle that leaves ``workers`` unset rolls out in-process: n agents
    each with a pool over all cores would oversubscribe the machine (results do not depend
    on it)."""
    oracle = scenario.oracle
    if "workers" not in type(oracle).model_fields or oracle.workers is not None:
        return scenario
    return scenario.model_copy(update={"oracle": oracle.model_copy(update={"workers": 1})})
