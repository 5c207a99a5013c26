"""Real cost of the paper's own workloads, per method: seconds per simulated transition.

For every method of ``scenarios/paper/reduced/`` ``fig1b_humanoid_heterogeneous.yaml``,
``fig3_hopper.yaml`` and ``fig5_n100_heterogeneous_compute.yaml`` (evaluation off, one rollout
worker, no target: the run is stopped after ``SECONDS`` of real time), each run's real seconds
per simulated transition are divided by

* (a) **bare** ``env.step``: a Gymnasium loop with uniform random actions, reset on
  termination, on the workload's environment;
* (b) **raw physics**: ``mujoco.mj_step(model, data, nstep=frame_skip)`` from states the run's
  policy visits (sampled from the run as it steps, see :class:`RawPhysics`), one call per
  transition. On Humanoid the policy's states cost more physics than random actions' (more
  contacts: the raw/bare column), so there (b) is the measure of the rollout's overhead.

Both baselines run in bursts between the run's gradient computations (their time is taken out
of the run's), so that they see the same load; every (method, path) is run ``REPEATS`` times,
alternating, and the ratios are reported as min/median/max over the repeats. ``gymnasium`` is
the rollout through Gymnasium environments, ``fast`` the MuJoCo batch fast path
(:mod:`asyncsim.rl.mujoco_batch`). Per run the table also gives the rollout calls' sizes:
trajectories and parameter points per call and the mean number of trajectories still running
per lockstep step (Σ_b L_b / max_b L_b), and raw/bare: the raw physics of the policy's states
over a bare ``env.step``, the least any rollout of these states can cost on one thread in units
of (a).

``ASYNCSIM_BENCH_SECONDS`` (default 10; at 12 s the 3 repeats stayed within a few percent) sets
the real seconds of each run.
"""

from __future__ import annotations

import collections
import contextlib
import os
import statistics
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import yaml

from asyncsim.oracles.base import GradientJob, GradientOracle, GradientRequest, GradientResult
from asyncsim.oracles.policy_gradient import PolicyGradientOracle
from asyncsim.rl.envs import AgentEnvSpec, make_env
from benchmarks.baselines import BareSteps

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = (
    "scenarios/paper/reduced/fig1b_humanoid_heterogeneous.yaml",
    "scenarios/paper/reduced/fig3_hopper.yaml",
    "scenarios/paper/reduced/fig5_n100_heterogeneous_compute.yaml",
)
SECONDS = float(os.environ.get("ASYNCSIM_BENCH_SECONDS", "10"))
REPEATS = 3
BASELINE_SHARE = 0.2
"""Bare and raw-physics bursts take about this share of each run's real time (each)."""
BURST = 100


class _Stop(Exception):
    """Raised by the timed oracle when the run's real-time budget is spent."""


class RawPhysics:
    """``mj_step(model, data, nstep=frame_skip)`` from states the run's policy visits.

    While the run steps its environments, :meth:`sampler` records one step call in
    ``SAMPLE_EVERY``: the integration state of each row before the step, and its action (the
    time this takes is kept out of the run's). A burst replays recorded states not replayed
    yet, each once and in the order they were recorded: ``mj_setState``, the action into
    ``ctrl``, then ``mj_step``, which alone is timed. :meth:`finish` replays the rest after
    the run. So the replayed states are a uniform sample of the run's transitions.

    (Replaying a short list over and over instead weights the first states of the run, which
    start from resets: on Humanoid that measured 188 µs per step against 236 µs for the same
    run's states replayed once each; the batch physics took 231-237 µs on either.)
    """

    SAMPLE_EVERY = 8

    def __init__(self, spec: AgentEnvSpec, horizon: int) -> None:
        inner = make_env(spec, horizon).unwrapped
        self.model, self.data, self.frame_skip = inner.model, inner.data, inner.frame_skip
        self.kind = mujoco.mjtState.mjSTATE_INTEGRATION
        self.clear()

    def clear(self) -> None:
        """Forget the recorded states and the time measured."""
        self.pending: collections.deque[tuple[np.ndarray, np.ndarray]] = collections.deque()
        self.seconds, self.steps, self.excluded = 0.0, 0, 0.0
        self._calls = 0

    def record(self, states: np.ndarray, actions: np.ndarray) -> None:
        """Queue (state, action) rows for replay."""
        self.pending.extend(zip(states.copy(), np.array(actions, np.float64), strict=True))

    def sampler(self) -> contextlib.AbstractContextManager:
        """Record the run's steps (both rollout paths) while the context is open."""
        from asyncsim.rl.mujoco_batch import BatchedMujocoEnv
        from asyncsim.rl.rollout import GymnasiumEnvs

        raw, kind = self, self.kind

        def fast(original):
            def step(envs, slots, actions):
                raw._calls += 1
                if raw._calls % raw.SAMPLE_EVERY == 0:
                    begin = time.perf_counter()
                    raw.record(envs.sims.state[slots], actions)
                    raw.excluded += time.perf_counter() - begin
                return original(envs, slots, actions)

            return step

        def gymnasium(original):
            def step(envs, slots, actions):
                raw._calls += 1
                if raw._calls % raw.SAMPLE_EVERY == 0:
                    begin = time.perf_counter()
                    states = []
                    for slot in slots:
                        inner = envs._envs[slot][0].unwrapped
                        row = np.empty(mujoco.mj_stateSize(inner.model, kind))
                        mujoco.mj_getState(inner.model, inner.data, row, kind)
                        states.append(row)
                    raw.record(np.array(states), actions)
                    raw.excluded += time.perf_counter() - begin
                return original(envs, slots, actions)

            return step

        @contextlib.contextmanager
        def patched() -> Iterator[None]:
            originals = (BatchedMujocoEnv.step, GymnasiumEnvs.step)
            BatchedMujocoEnv.step = fast(originals[0])
            GymnasiumEnvs.step = gymnasium(originals[1])
            try:
                yield
            finally:
                BatchedMujocoEnv.step, GymnasiumEnvs.step = originals

        return patched()

    def burst(self, steps: int) -> int:
        """Replay up to ``steps`` recorded states not replayed yet; how many were."""
        m, d, skip, kind = self.model, self.data, self.frame_skip, self.kind
        taken = min(steps, len(self.pending))
        for _ in range(taken):
            state, action = self.pending.popleft()
            mujoco.mj_setState(m, d, state, kind)
            d.ctrl[:] = action
            begin = time.perf_counter()
            mujoco.mj_step(m, d, nstep=skip)
            self.seconds += time.perf_counter() - begin
        self.steps += taken
        return taken

    def finish(self) -> None:
        """Replay the states the run's bursts left."""
        while self.burst(BURST):
            pass


class _Timed(GradientOracle):
    """An oracle lent to one run: counts transitions, runs baseline bursts between the
    computations, and stops the run (``_Stop``) once its real time exceeds ``seconds``."""

    def __init__(self, inner: PolicyGradientOracle, baselines: Sequence[Any], seconds: float):
        self.inner, self.dim, self.horizon = inner, inner.dim, inner.horizon
        self.baselines, self.seconds = baselines, seconds
        self.transitions, self.started, self.bursts = 0, time.perf_counter(), 0.0
        self.calls: list[tuple[int, int, float]] = []  # (trajectories, points, mean live rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def baseline_seconds(self) -> float:
        """Real time of the bursts (all of it, not only the timed part) and of sampling."""
        return self.bursts + sum(getattr(b, "excluded", 0.0) for b in self.baselines)

    def run_seconds(self) -> float:
        return time.perf_counter() - self.started - self.baseline_seconds()

    def initial_point(self) -> np.ndarray:
        return self.inner.initial_point()

    def compute(self, requests: Sequence[GradientRequest]) -> list[GradientResult]:
        begin = time.perf_counter()
        for baseline in self.baselines:
            while baseline.seconds < BASELINE_SHARE * self.run_seconds():
                if not baseline.burst(BURST):
                    break
        self.bursts += time.perf_counter() - begin
        if self.run_seconds() > self.seconds:
            raise _Stop
        results = self.inner.compute(requests)
        self.transitions += int(sum(r.stats.get("transitions", 0) for r in results))
        return results

    def trajectory_length(self, point: np.ndarray, agent: int, index: int) -> int:
        return self.inner.trajectory_length(point, agent, index)


def _count_calls(oracle: PolicyGradientOracle, calls: list) -> None:
    """Record (trajectories, points, mean live rows per lockstep step) of each rollout call."""
    original = oracle._pool_rollout

    def counted(points: np.ndarray, items: list) -> list:
        trajectories = original(points, items)
        lengths = [tr.length for tr in trajectories]
        live = sum(lengths) / max(lengths) if lengths else 0.0
        calls.append((len(items), len({it[0] for it in items}), live))
        return trajectories

    oracle._pool_rollout = counted


def workload(path: str, method: int) -> dict[str, Any]:
    """The scenario of ``path`` with one method, evaluation off, one worker, no stopping rule
    but time (the benchmark stops the run itself)."""
    data = yaml.safe_load((ROOT / path).read_text())
    data.pop("sweep", None)
    data["methods"] = [data["methods"][method]]
    data["evaluation"] = {"episodes": 0}
    data["oracle"]["workers"] = 1
    data["budget"] = {"time": 1e12}
    return data


def timed_run(
    data: dict[str, Any], fast: bool, baselines: Sequence[Any], threads: bool | None = None
) -> dict[str, Any]:
    """Run ``data`` until ``SECONDS`` of real time (baselines interleaved); its figures."""
    import asyncsim.run.runner as runner
    from asyncsim.scenario.schema import validate_scenario

    scenario = validate_scenario(data)
    _, oracle_seed = runner.seeds(scenario.seed)
    inner = runner.build_oracle(scenario.oracle, scenario.cluster.n, oracle_seed)
    if hasattr(inner, "fast_path"):
        inner.fast_path, inner.threads = fast, threads
    # start the worker processes and build environments before timing (start-up is not
    # throughput); indices far beyond the run's keep the run's own gradients uncomputed
    warm_up = tuple(GradientJob(agent, 10**9, 1, 1.0) for agent in range(scenario.cluster.n))
    inner.compute([GradientRequest(inner.initial_point(), warm_up)])
    timed = _Timed(inner, baselines, SECONDS)
    _count_calls(inner, timed.calls)
    original = runner.build_oracle
    runner.build_oracle = lambda *args: timed
    bare, raw = baselines
    bare.clear()
    raw.clear()
    timed.started = time.perf_counter()
    try:
        with raw.sampler():
            runner.simulate(scenario)
    except _Stop:
        pass
    finally:
        runner.build_oracle = original
        inner.close()
    raw.finish()
    per_transition = timed.run_seconds() / max(timed.transitions, 1)
    calls = np.array(timed.calls) if timed.calls else np.zeros((1, 3))
    return {
        "bare": per_transition / (bare.seconds / bare.steps) if bare.steps else float("nan"),
        "raw": per_transition / (raw.seconds / raw.steps) if raw.steps else float("nan"),
        "us": per_transition * 1e6,
        "transitions": timed.transitions,
        "per_call": calls.mean(axis=0),
    }


def _fast_available(data: dict[str, Any]) -> bool:
    try:
        from asyncsim.rl.mujoco_batch import fast_path_reason
    except ImportError:
        return False
    spec = AgentEnvSpec(data["oracle"]["env"], data["oracle"].get("env_kwargs", {}))
    return fast_path_reason(spec) is None


def report(path: str) -> None:
    """Measure every method of ``path`` on both rollout paths and print one line per pair."""
    raw_data = yaml.safe_load((ROOT / path).read_text())
    oracle_cfg = raw_data["oracle"]
    spec = AgentEnvSpec(oracle_cfg["env"], oracle_cfg.get("env_kwargs", {}))
    horizon = oracle_cfg.get("horizon", 1000)
    print(f"-- {path} ({spec.env_id}, n = {raw_data['cluster']['n']}) --")
    names = [m["name"] for m in raw_data["methods"]]
    first = workload(path, 0)
    paths = ["gymnasium", "fast"] if _fast_available(first) else ["gymnasium"]
    raw, bare = RawPhysics(spec, horizon), BareSteps(spec, horizon)
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(REPEATS):
        for index, name in enumerate(names):
            for kind in paths:
                figures = timed_run(workload(path, index), kind == "fast", [bare, raw])
                results.setdefault((name, kind), []).append(figures)
    header = "  method              path       / bare env.step    / raw physics     µs/transition"
    print(header + "   traj/call points/call live rows   raw/bare")
    for (name, kind), runs in results.items():
        per_call = np.mean([r["per_call"] for r in runs], axis=0)
        floor = statistics.median(r["bare"] / r["raw"] for r in runs)
        print(
            f"  {name:<19} {kind:<10} {_spread([r['bare'] for r in runs])}  "
            f"{_spread([r['raw'] for r in runs])}  {statistics.median(r['us'] for r in runs):8.1f}"
            f"   {per_call[0]:9.1f} {per_call[1]:11.1f} {per_call[2]:9.1f}   {floor:8.2f}"
        )


def scaling(path: str = WORKLOADS[0], methods: Sequence[int] = (0, 1)) -> None:
    """Throughput with 2 MuJoCo threads in one process, and with 2 worker processes, over one
    process on one thread (fast path, ``oracle.workers`` = 2 against 1), alternating, for some
    methods of ``path``."""
    oracle = yaml.safe_load((ROOT / path).read_text())["oracle"]
    spec = AgentEnvSpec(oracle["env"], oracle.get("env_kwargs", {}))
    baselines = [BareSteps(spec, oracle.get("horizon", 1000)), RawPhysics(spec, 1000)]
    layouts = {"1 process": (1, None), "2 threads": (2, True), "2 processes": (2, False)}
    print(f"-- throughput / 1 process, fast path, {path} --")
    for method in methods:
        seconds: dict[str, list[float]] = {name: [] for name in layouts}
        for _ in range(REPEATS):
            for name, (workers, threads) in layouts.items():
                data = workload(path, method)
                data["oracle"]["workers"] = workers
                figures = timed_run(data, True, baselines, threads)
                seconds[name].append(figures["us"])
        one = statistics.median(seconds["1 process"])
        ratios = "   ".join(
            f"{name}: {_spread([one / us for us in seconds[name]])}"
            for name in layouts
            if name != "1 process"
        )
        print(f"  {workload(path, method)['methods'][0]['name']:<19} {ratios}")


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}/{statistics.median(values):.2f}/{max(values):.2f}"


def main() -> None:
    print(
        f"== Paper workloads: real s per simulated transition / baseline, min/median/max of "
        f"{REPEATS} runs of {SECONDS:g} s (evaluation off, 1 worker) =="
    )
    for path in WORKLOADS:
        report(path)
    scaling()


if __name__ == "__main__":
    main()
