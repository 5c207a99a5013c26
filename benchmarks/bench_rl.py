"""Policy-gradient oracle cost: Rennala NIGT, n = 16, H = 1000, h_i = sqrt(i), per environment.

Measured in one run, per environment (Hopper-v5, Humanoid-v5):
- real seconds per simulated transition on one rollout worker / seconds per transition of bare
  ``env.step`` with random actions on the same environment (target <= 1.25), the bare steps
  taken in bursts between the run's computations so that both see the same load;
- throughput with 2 rollout workers / with 1 (target >= 1.7 on a 2-core machine);
- trajectories rolled out / trajectories used by the protocol (exactly 1.0 under per-trajectory
  timing: discarded computations are never computed);
- speed-up over a naive reference: one environment per trajectory, one policy forward per step,
  one backward per trajectory, and every started trajectory computed (the naive oracle rolls out
  each computation as it starts, which per-step timing makes the engine ask for), in seconds
  per gradient the protocol uses.

The oracle steps both environments on the MuJoCo fast path (its default; the paper's own
workloads, both rollout paths and short episodes are measured by ``bench_workloads``).
Episodes run the full H = 1000 transitions (``terminate_when_unhealthy: false``): an untrained
policy falls within ~30 steps, which would measure start-up costs rather than transitions. The
oracles are built, their worker pools started and every environment made before timing
(start-up is not throughput).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from asyncsim.oracles.base import GradientJob, GradientOracle, GradientRequest, GradientResult
from asyncsim.oracles.policy_gradient import PolicyGradientOracle
from asyncsim.rl.envs import AgentEnvSpec
from asyncsim.rl.reference import reference_gradient
from benchmarks.baselines import BareSteps

AGENTS, HORIZON, BATCH, ITERATIONS = 16, 1000, 16, 4
REPEATS = 3


ENV_KWARGS = {"terminate_when_unhealthy": False}


def scenario(
    env: str, workers: int, timing: str = "per_trajectory", iterations: int = ITERATIONS
) -> dict[str, Any]:
    oracle = {"kind": "policy_gradient", "env": env, "horizon": HORIZON, "workers": workers}
    return {
        "name": f"bench-rl-{env}",
        "oracle": {**oracle, "env_kwargs": ENV_KWARGS},
        "cluster": {"n": AGENTS, "timing": timing, "compute": {"h": "sqrt(i)"}},
        "methods": [{"name": "rennala_nigt", "batch": BATCH, "lr": 0.05}],
        "budget": {"iterations": iterations},
    }


class _CountingRollouts:
    """Counts the trajectories the oracle actually rolls out (patched around ``_rollout``)."""

    def __init__(self) -> None:
        self.count = 0
        self._original = PolicyGradientOracle._rollout

    def __enter__(self) -> _CountingRollouts:
        original, counter = self._original, self

        def counted(oracle: PolicyGradientOracle, points: np.ndarray, wanted: list) -> list:
            counter.count += len(wanted)
            return original(oracle, points, wanted)

        PolicyGradientOracle._rollout = counted
        return self

    def __exit__(self, *exc: object) -> None:
        PolicyGradientOracle._rollout = self._original


class _Borrowed(GradientOracle):
    """A started oracle lent to one run: everything but ``close`` is delegated."""

    def __init__(self, inner: GradientOracle) -> None:
        self.inner, self.dim, self.horizon = inner, inner.dim, inner.horizon

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def initial_point(self) -> np.ndarray:
        return self.inner.initial_point()

    def compute(self, requests: Sequence[GradientRequest]) -> list[GradientResult]:
        return self.inner.compute(requests)

    def trajectory_length(self, point: np.ndarray, agent: int, index: int) -> int:
        return self.inner.trajectory_length(point, agent, index)


class _Interleaved(_Borrowed):
    """A borrowed oracle that runs a burst of bare steps before each computation, so that the
    baseline is measured alternately with the run, under the same load."""

    def __init__(self, inner: GradientOracle, bare: BareSteps) -> None:
        super().__init__(inner)
        self.bare = bare

    def compute(self, requests: Sequence[GradientRequest]) -> list[GradientResult]:
        self.bare.burst(BATCH * HORIZON)
        return self.inner.compute(requests)


def timed_run(data: dict[str, Any], wrap: Any = None) -> tuple[float, dict[str, Any]]:
    """Wall time and summary of one run whose oracle is built (and warmed up) beforehand."""
    import asyncsim.run.runner as runner
    from asyncsim.scenario.schema import validate_scenario

    scenario_ = validate_scenario(data)
    _, oracle_seed = runner.seeds(scenario_.seed)
    oracle = runner.build_oracle(scenario_.oracle, scenario_.cluster.n, oracle_seed)
    warm_up = tuple(GradientJob(agent, 10**9, 1, 1.0) for agent in range(AGENTS))
    oracle.compute([GradientRequest(oracle.initial_point(), warm_up)])  # builds every env
    lent = wrap(oracle, oracle_seed) if wrap else _Borrowed(oracle)
    original = runner.build_oracle
    runner.build_oracle = lambda *args: lent
    try:
        with _CountingRollouts() as counter:
            start = time.perf_counter()
            summary = runner.simulate(scenario_).methods["rennala_nigt"].summary
            seconds = time.perf_counter() - start
        return seconds, {**summary, "rolled_out": counter.count}
    finally:
        runner.build_oracle = original
        oracle.close()


class NaiveOracle(GradientOracle):
    """The naive reference: each started trajectory rolled out alone when it starts."""

    def __init__(self, inner: PolicyGradientOracle, seed: np.random.SeedSequence) -> None:
        self.inner, self.seed = inner, seed
        self.dim, self.horizon = inner.dim, inner.horizon
        self._gradients: dict[tuple[int, int], tuple[np.ndarray, int]] = {}

    def initial_point(self) -> np.ndarray:
        return self.inner.initial_point()

    def trajectory_length(self, point: np.ndarray, agent: int, index: int) -> int:
        spec = self.inner.config.specs[agent]
        gradient, rewards = reference_gradient(
            self.inner.policy, spec, point, self.seed, agent, index,
            horizon=self.horizon, discount=self.inner.discount,
        )  # fmt: skip
        self._gradients[agent, index] = (gradient, len(rewards))
        return len(rewards)

    def compute(self, requests: Sequence[GradientRequest]) -> list[GradientResult]:
        results = []
        for request in requests:
            total = np.zeros(self.dim)
            for job in request.jobs:
                for index in range(job.first_index, job.first_index + job.count):
                    total += job.weight * self._gradients.pop((job.agent, index))[0]
            results.append(GradientResult(total))
        return results


def naive_seconds_per_gradient(env: str) -> float:
    """Wall seconds per used gradient of the same Rennala run, shortened to its first rounds,
    with the naive oracle (per-step timing; with fixed times every round is the same)."""
    seconds, summary = timed_run(
        scenario(env, 1, timing="per_step", iterations=1), wrap=NaiveOracle
    )
    return seconds / summary["gradients_used"]


def report(env: str) -> None:
    """Measure and print the four figures for ``env``.

    The bare ``env.step`` baseline runs in bursts of one round's transitions before each
    computation of the 1-worker run (and is subtracted from its time), so both see the same
    load; the ratio pools the ``REPEATS`` runs. The 1-worker and the 2-worker runs alternate and
    the best time of each counts: load from other processes then slows both alike.
    """
    one, two, bares, transitions = [], [], [], []
    for _ in range(REPEATS):
        bare = BareSteps(AgentEnvSpec(env, ENV_KWARGS), HORIZON)
        seconds, summary = timed_run(scenario(env, 1), lambda o, _, b=bare: _Interleaved(o, b))
        one.append(seconds - bare.seconds)
        bares.append(bare)
        transitions.append(summary["transitions"])
        two.append(timed_run(scenario(env, 2))[0])
    naive = naive_seconds_per_gradient(env)
    rolled = summary["rolled_out"]
    print(f"{env}: {summary['gradients_used']} trajectories used, {transitions[-1]:,} transitions")
    per_step = [b.seconds / b.steps for b in bares]
    ratios = [o / t / s for o, t, s in zip(one, transitions, per_step, strict=True)]
    pooled = (
        sum(one) / sum(transitions) / (sum(b.seconds for b in bares) / sum(b.steps for b in bares))
    )
    print(
        f"  real s per simulated transition / bare env.step: {pooled:.2f} (target <= 1.25;"
        f" per run {'/'.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"  throughput 2 workers / 1 worker: {min(one) / min(two):.2f} (target >= 1.7)")
    print(f"  trajectories rolled out / used: {rolled / summary['gradients_used']:.3f} (exactly 1)")
    lazy = min(one) / summary["gradients_used"]
    print(f"  speed-up over the naive reference: {naive / lazy:.1f}x (seconds per used gradient)")
    print(f"  (best of {REPEATS}; 1 worker {_seconds(one)}, 2 workers {_seconds(two)})")


def _seconds(times: list[float]) -> str:
    return "/".join(f"{t:.1f}" for t in times) + " s"


def main() -> None:
    print(f"== RL oracle: Rennala NIGT, n={AGENTS}, H={HORIZON}, h_i=sqrt(i), M={BATCH} ==")
    for env in ("Hopper-v5", "Humanoid-v5"):
        report(env)


if __name__ == "__main__":
    main()
