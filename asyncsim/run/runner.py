"""Run a scenario: build cluster, oracle and method for each method, run SimPy, collect tables.

The run's results are data (:mod:`asyncsim.store.run_data`); ``MethodResult``, ``RunResult``,
``build_cluster`` and ``vector_dimension`` are also importable from here.

``simulate(scenario)`` is the Python API; every method of a scenario is run with the same seed,
so they share θ_0, per-agent time draws and oracle randomness (common random numbers).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from asyncsim.core.engine import Engine
from asyncsim.core.errors import AsyncSimError
from asyncsim.core.oracle import GradientOracle
from asyncsim.core.trace import Trace
from asyncsim.core.training import Training
from asyncsim.engine.cluster import ClusterRuntime
from asyncsim.engine.simulation import Simulation
from asyncsim.oracles import build_oracle
from asyncsim.run.recorder import IterationRecorder
from asyncsim.scenario.parts import build_cluster, vector_dimension
from asyncsim.scenario.schema import MethodConfig, Scenario, validate_scenario
from asyncsim.store.run_data import MethodResult, RunResult

__all__ = [
    "EngineFactory",
    "MethodResult",
    "MethodsFailed",
    "RunResult",
    "build_cluster",
    "iteration_recorder",
    "method_summary",
    "run_method",
    "seeds",
    "simulate",
    "simulation",
    "vector_dimension",
]


def seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The run's (timing, oracle) seed sequences; identical for every method of a scenario."""
    timing, oracle = np.random.SeedSequence(seed).spawn(2)
    return timing, oracle


class MethodsFailed(AsyncSimError):
    """Methods of a run failed (a plug-in's code raised, a guard stopped it); ``result`` holds
    the methods that finished. The message names the first failed method, where it failed and
    the plug-in it comes from."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result


def _failure(method: MethodConfig, index: int, exc: Exception, iteration: int | None) -> str:
    """One line: which method failed (and its plug-in), at which iteration, and why; an
    asyncsim error keeps its own text (and field) first."""
    from asyncsim.core.plugins import shown
    from asyncsim.store.recorded import method_origin

    origin = method_origin(method)
    plugin = f" (plug-in {shown(origin)})" if origin and os.path.isabs(origin) else ""
    plugin = plugin or (f" ({origin})" if origin else "")
    at = "before its first update" if iteration is None else f"at iteration {iteration}"
    if isinstance(exc, AsyncSimError):
        return f"{exc} (methods[{index}] {method.key}{plugin}, {at})"
    detail = " ".join(str(exc).split())
    return (
        f"methods[{index}]: {method.key}{plugin} failed {at}: {type(exc).__name__}"
        f"{': ' + detail if detail else ''}"
    )


EngineFactory = Callable[[Scenario, ClusterRuntime, GradientOracle], Engine]
"""Makes the engine a method runs on from the scenario, its cluster and its oracle."""


def simulation(scenario: Scenario, cluster: ClusterRuntime, oracle: GradientOracle) -> Simulation:
    """The SimPy simulation of a method (the default engine of :func:`run_method`)."""
    per_step = scenario.cluster.timing == "per_step"
    return Simulation(cluster, oracle, Trace(scenario.output.trace), per_step)


def run_method(scenario: Scenario, index: int, engine: EngineFactory = simulation) -> MethodResult:
    """Run ``scenario.methods[index]`` on the engine ``engine(scenario, cluster, oracle)`` (the
    simulation by default; the emulation's agents otherwise) and return its tables.

    The wiring is the same whatever the engine: the run's seeds, the oracle, the cluster, the
    optimizer, the iteration recorder and the protocol's process, which the engine drives until
    it returns or the time budget is spent.

    Raises:
        AsyncSimError: one line naming the method, its plug-in and the iteration, whatever
            the method's code (a plug-in's protocol, oracle or time model) raised.
    """
    method = scenario.methods[index]
    recorder: IterationRecorder | None = None
    try:
        spec = method.spec
        timing_seed, oracle_seed = seeds(scenario.seed)
        oracle = build_oracle(scenario.oracle, scenario.cluster.n, oracle_seed)
    except Exception as exc:
        raise AsyncSimError(_failure(method, index, exc, None)) from exc
    if oracle.horizon != scenario.horizon:
        # Synthetic oracles have no horizon of their own, but τ_i = h_i·H must use the
        # scenario's cluster.horizon (validation makes it equal to an RL oracle's horizon).
        oracle.horizon = scenario.horizon
    real_start = time.perf_counter()
    try:
        cluster = build_cluster(scenario, oracle.dim, timing_seed)
        sim = engine(scenario, cluster, oracle)
        recorder = iteration_recorder(sim, scenario, method.key)
        recorder.lapse = max(recorder.lapse, _round_computations(cluster, method))
        optimizer = spec.optimizer_spec.build(method.params)
        training = Training(sim, optimizer, method.params, recorder)
        process = spec.protocol_spec.train(training)
        sim.drive(process, scenario.budget.time, recorder.check_updates)
    except Exception as exc:
        last = len(recorder.rows) - 1 if recorder is not None and recorder.rows else None
        raise AsyncSimError(_failure(method, index, exc, last)) from exc
    finally:
        oracle.close()
    summary = method_summary(method, recorder, scenario.seed)
    summary["real_seconds"] = time.perf_counter() - real_start
    return MethodResult(method.key, recorder.rows, sim.trace, summary, recorder.model)


def _round_computations(cluster: ClusterRuntime, method: MethodConfig) -> int:
    """Ten times the computations a round of the built-in protocols starts at most: M + n, or,
    when every agent must deliver (Malenia), Σ_i τ_max/τ_i at the mean compute times."""
    params = method.params
    batch = max(getattr(params, "batch", 0) or 0, getattr(params, "initial_batch", 0) or 0)
    tau = cluster.models["compute"].means(cluster.n)
    positive = tau[tau > 0]
    spread = float(np.sum(positive.max() / positive)) if positive.size else 0.0
    return int(10 * max(batch + cluster.n, spread))


def iteration_recorder(sim: Engine, scenario: Scenario, name: str = "") -> IterationRecorder:
    """The iteration table of method ``name`` with the oracle's evaluation as its hook: columns
    ``eval_return`` (the mean return of the model θ, which a return target reads),
    ``eval_episode_length`` and ``eval_return_agent_<i>``. θ_0 is evaluated once too (the
    summary's ``initial_return``)."""
    episodes = scenario.evaluation.episodes
    if not episodes:
        return IterationRecorder(sim, scenario.budget, scenario.evaluation, name=name)

    def evaluate(model: np.ndarray) -> dict[str, Any]:
        stats = sim.oracle.evaluate(model, episodes)
        names = {"return_mean": "eval_return", "episode_length_mean": "eval_episode_length"}
        columns = {column: stats[key] for key, column in names.items() if key in stats}
        columns.update({f"eval_{k}": v for k, v in stats.items() if k.startswith("return_agent_")})
        return columns

    recorder = IterationRecorder(
        sim, scenario.budget, scenario.evaluation, evaluate, "eval_return", name
    )
    recorder.initial = evaluate(sim.oracle.initial_point())
    return recorder


def method_summary(method: MethodConfig, recorder: IterationRecorder, seed: int) -> dict[str, Any]:
    rows = recorder.rows
    last = rows[-1] if rows else {}
    summary = {
        "method": method.key,
        "name": method.name,
        "protocol": method.spec.protocol,
        "optimizer": method.spec.optimizer,
        "seed": seed,
        "total_time": last.get("time_end", 0.0),
        "iterations": len(rows) - 1 if rows else 0,
        "gradients_used": sum(r["gradients_used"] for r in rows),
        "gradients_computed": sum(r["gradients_computed"] for r in rows),
        "uploads": sum(r["uploads"] for r in rows),
        "transitions": sum(r["transitions"] for r in rows),
        "stop_reason": recorder.stop_reason,
        "time_to_target": recorder.time_to_target,
        "final_grad_norm": last.get("grad_norm"),
        "final_return": last.get("eval_return", last.get("return_mean")),
        "initial_return": recorder.initial.get("eval_return"),
    }
    # JSON has no NaN or infinity: a diverged run reports null
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in summary.items()
    }


def simulate(
    scenario: Scenario | Mapping[str, Any] | str | Path,
    progress: Callable[[str, MethodResult], None] | None = None,
    skip: Collection[str] = (),
) -> RunResult:
    """Run every method of a scenario (a Scenario, a mapping, or a YAML path), but those whose
    keys are in ``skip`` (finished earlier: a resumed sweep point); ``progress`` is called
    with each method's result as it finishes.

    A method that fails does not stop the others: once all have run, :class:`MethodsFailed`
    is raised, naming the first failure and holding the methods that finished.
    """
    if isinstance(scenario, str | Path):
        from asyncsim.scenario.loading import load_scenario

        scenario = load_scenario(scenario)
    elif not isinstance(scenario, Scenario):
        scenario = validate_scenario(scenario)
    result = RunResult(scenario)
    for index, method in enumerate(scenario.methods):
        if method.key in skip:
            continue
        try:
            method_result = run_method(scenario, index)
        except AsyncSimError as exc:
            result.failed[method.key] = str(exc)
            continue
        result.methods[method_result.key] = method_result
        if progress is not None:
            progress(method_result.key, method_result)
    if result.failed:
        first, *others = result.failed.values()
        more = f" (and {len(others)} more method(s) failed)" if others else ""
        raise MethodsFailed(first + more, result)
    return result
