"""Real policy gradients: GPOMDP on Gymnasium environments, computed lazily and in batches.

The engine names gradients by (agent, index) and point; this oracle computes them only when
their value is needed (the simulated clock never depends on gradient values):

* all trajectories of one ``compute`` call, at one or several points, are rolled out together
  (environments step in lockstep, one policy forward per step for the whole batch, the policy
  evaluated at each trajectory's own point) and split over a pool of worker processes;
* one backward pass then yields every request's weighted sum Σ_jobs w Σ_k g(τ_{agent,k}, θ)
  (see :func:`asyncsim.rl.estimator.weighted_gradients`);
* per-step timing asks :meth:`PolicyGradientOracle.trajectory_length` first: the trajectory is
  rolled out then (with a few following ones of the same agent), cached, and reused by compute;
  a caller that knows which gradients will start at a point can batch them with ``prefetch``.

Gradient (agent, index) at θ is a deterministic function of (seed, agent, index, θ): its reset
seed and action noise come from stream (1, agent, index) of ``SeedSequence(seed)``, and the
rollout forward is batch independent, so batching and worker count never change a trajectory.
θ_0 comes from stream (0,), evaluation episodes from stream (2, episode).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from asyncsim.core.errors import ConfigError, UnknownNameError
from asyncsim.core.oracle import GradientOracle, GradientRequest, GradientResult
from asyncsim.rl.envs import AgentEnvSpec, agent_env_specs, make_env
from asyncsim.rl.estimator import Baseline, Trajectory, rewards_to_go, weighted_gradients
from asyncsim.rl.mujoco_batch import fast_path_reason, is_mujoco_env
from asyncsim.rl.policy import POLICIES
from asyncsim.rl.rollout import (
    EVALUATION_STREAM,
    GRADIENT_STREAM,
    INIT_STREAM,
    NORMALIZATION_STREAM,
    ObservationNormalizer,
    RolloutConfig,
    RolloutPool,
    single_torch_thread,
    stream,
)

__all__ = ["BASELINES", "PolicyGradientOracle", "RewardsToGo"]

NORMALIZATION_EPISODES = 20
"""Episodes of θ_0 whose states fix the observation normalizer."""

_CACHE_BYTES = 512 * 2**20
"""Bound on trajectories rolled out ahead and not yet consumed (oldest are dropped first)."""


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class PolicyGradientOracle(GradientOracle):
    """GPOMDP gradients of J_H(θ) = E[Σ_{t<H} γ^t r_t] for a Gaussian policy
    (docs/algorithms.md §1).

    Args:
        env: Gymnasium id (e.g. ``"Hopper-v5"``; a v4 id unusable here maps to v5 with a warning).
        n_agents: n; agent i samples from its :class:`AgentEnvSpec`.
        seed: root seed; equal seeds give equal θ_0 and equal trajectories (common random numbers).
        horizon: H, transitions per trajectory unless the episode terminates.
        discount: γ ∈ (0, 1].
        policy: ``"mlp"`` (the paper's network) or ``"linear"``.
        hidden: hidden widths of the MLP policy.
        action_scale: c in a = c·tanh(u); None: the action space's high bound when it is finite,
            else unsquashed actions a = u.
        baseline: what is subtracted from the rewards-to-go (docs/algorithms.md §1):
            ``"none"`` (the paper's estimator), ``"batch"`` (the leave-one-out mean of the
            other trajectories of the same request; ``True`` means it too) or ``"running"``
            (the server's running mean of the rewards-to-go, sent with the point).
        baseline_window: W of the running baseline: each trajectory the server takes moves it
            by 1/W of the way to its rewards-to-go (a result of k trajectories by min(1, k/W)).
        normalize_observations: the policy sees clip((s − m)/σ, −10, 10), m and σ the mean and
            standard deviation of the states of :data:`NORMALIZATION_EPISODES` episodes of θ_0
            (fixed for the run, the same for every method of a seed).
        env_kwargs: ``gymnasium.make`` kwargs shared by all agents.
        heterogeneity: ``"none"`` or ``"inverted_observation"`` (App. H.3).
        agent_overrides: per-agent ``env`` / ``env_kwargs`` / ``observation`` overrides.
        workers: rollout parallelism (default: the CPUs available); 1 runs in-process.
        fast_path: step the environments the MuJoCo fast path covers
            (:mod:`asyncsim.rl.mujoco_batch`) in MuJoCo's batch API; a MuJoCo environment it
            does not cover runs through Gymnasium with a warning naming the reason. The
            trajectories are the same either way.
        threads: run ``workers`` > 1 as MuJoCo threads of one in-process roller (True) or as
            worker processes (False); None: threads when every environment is on the fast
            path (:class:`RolloutPool` has the figures). Results do not depend on it.
    """

    def __init__(
        self,
        env: str,
        n_agents: int,
        seed: int | np.random.SeedSequence,
        *,
        horizon: int = 1000,
        discount: float = 0.99,
        policy: str = "mlp",
        hidden: Sequence[int] = (64, 64),
        action_scale: float | None = None,
        baseline: bool | str = "none",
        baseline_window: int = 20,
        normalize_observations: bool = False,
        env_kwargs: Mapping[str, Any] | None = None,
        heterogeneity: str = "none",
        agent_overrides: Sequence[Mapping[str, Any] | None] | None = None,
        workers: int | None = None,
        fast_path: bool = True,
        threads: bool | None = None,
    ) -> None:
        workers = _default_workers() if workers is None else workers
        baseline = {True: "batch", False: "none"}.get(baseline, baseline)
        _check_arguments(n_agents, horizon, discount, policy, hidden, action_scale, workers)
        _check_baseline(baseline, baseline_window)
        self.n_agents, self.horizon, self.discount = n_agents, horizon, discount
        self.baseline, self.baseline_window = baseline, baseline_window
        self.workers, self.threads = workers, threads
        root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        specs = agent_env_specs(
            n_agents, env, env_kwargs, heterogeneity, agent_overrides, field="oracle"
        )
        obs_dim, act_dim, high = _spaces(specs, horizon)
        if action_scale is not None:
            scale = np.full(act_dim, action_scale, np.float32)
        else:  # unbounded action spaces get unsquashed actions
            scale = high if np.all(np.isfinite(high)) else None
        self.config = RolloutConfig(
            specs=tuple(specs),
            horizon=horizon,
            policy=policy,
            obs_dim=obs_dim,
            act_dim=act_dim,
            hidden=tuple(hidden),
            action_scale=scale,
            seed=root,
            fast_path=fast_path,
        )
        if fast_path:
            _warn_uncovered(specs)
        init = int(stream(root, INIT_STREAM).generate_state(1, np.uint64)[0])
        generator = torch.Generator().manual_seed(init)
        self.policy = self.config.build_policy(generator)
        self.dim = self.policy.num_params
        self._theta0 = self.policy.get_flat()
        self._pool: RolloutPool | None = None
        self._cache: OrderedDict[tuple[bytes, int, int], Trajectory] = OrderedDict()
        self._cache_bytes = 0
        if normalize_observations:
            self.config = dataclasses.replace(self.config, normalizer=self._fit_normalizer())

    @property
    def fast_path(self) -> bool:
        """Whether covered environments step on the MuJoCo fast path (settable; the rollout
        workers restart on the next computation)."""
        return self.config.fast_path

    @fast_path.setter
    def fast_path(self, on: bool) -> None:
        self.close()
        self.config = dataclasses.replace(self.config, fast_path=bool(on))

    def environment_paths(self) -> dict[str, str]:
        """How each agent environment is stepped: ``"mujoco-batch"`` or ``"gymnasium"``, by
        env id (with its env_kwargs when agents differ in them)."""
        paths = {}
        for spec in self.config.specs:
            name = spec.env_id + (f" {dict(spec.env_kwargs)}" if spec.env_kwargs else "")
            paths[name] = "mujoco-batch" if self.config.uses_fast_path(spec) else "gymnasium"
        return paths

    # ------------------------------------------------------------------------ contract
    def initial_point(self) -> np.ndarray:
        """θ_0 (same seed ⇒ same θ_0)."""
        return self._theta0.copy()

    def compute(self, requests: Sequence[GradientRequest]) -> list[GradientResult]:
        """All requests' weighted gradient sums from one batched rollout and one backward.

        Stats per request (unweighted over its trajectories): ``return_mean`` (Σ_t r_t),
        ``discounted_return_mean`` (Σ_t γ^t r_t), ``episode_length_mean`` and ``transitions``.
        The report is the requests' :class:`RewardsToGo` (for the running baseline).
        """
        if not requests:
            return []
        points = np.stack([self._as_point(r.point) for r in requests])
        wanted = [
            (slot, job.agent, job.first_index + k, job.weight)
            for slot, r in enumerate(requests)
            for job in r.jobs
            for k in range(job.count)
        ]
        trajectories = self._take(points, [(s, a, i) for s, a, i, _ in wanted])
        which = np.array([w[0] for w in wanted])
        running = self.baseline == "running"
        with single_torch_thread():
            grads = weighted_gradients(
                self.policy,
                points,
                trajectories,
                which,
                np.array([w[3] for w in wanted]),
                self.discount,
                self._baseline(requests, which),
            )
        per_slot = [[] for _ in requests]
        for tr, slot in zip(trajectories, which, strict=True):
            per_slot[slot].append(tr)
        return [
            GradientResult(g, self._stats(trs), self._report(trs) if running else None)
            for g, trs in zip(grads, per_slot, strict=True)
        ]

    def initial_context(self) -> np.ndarray | None:
        """The running baseline b ∈ R^H before any trajectory: 0 (the first gradients are the
        paper's estimator); None for the other baselines."""
        return np.zeros(self.horizon) if self.baseline == "running" else None

    def next_context(self, context: np.ndarray | None, result: GradientResult) -> Any:
        """The running baseline after the server takes ``result`` (k trajectories, mean
        rewards-to-go Ψ̄): b ← b + min(1, k/W) (Ψ̄ − b)."""
        report = result.report
        if context is None or report is None or not report.count:
            return context
        step = min(1.0, report.count / self.baseline_window)
        return context + step * (report.total / report.count - context)

    def trajectory_length(self, point: np.ndarray, agent: int, index: int) -> int:
        """Transitions of trajectory (agent, index) at ``point``, rolled out now and cached.

        On a cache miss the agent's next ``workers - 1`` trajectories at the same point are
        rolled out with it, so every worker is busy; compute() later reuses them all.
        """
        point = self._as_point(point)
        key = (_point_key(point), agent, index)
        if key not in self._cache:
            self.prefetch(point, [(agent, index + k) for k in range(self.workers)])
        return self._cache[key].length

    def prefetch(self, point: np.ndarray, gradients: Iterable[tuple[int, int]]) -> None:
        """Roll out gradients ``(agent, index)`` at ``point`` in one batch and cache them."""
        point = self._as_point(point)
        pkey = _point_key(point)
        todo = [(0, a, i) for a, i in dict.fromkeys(gradients) if (pkey, a, i) not in self._cache]
        for (_, agent, index), tr in zip(todo, self._rollout(point[None], todo), strict=True):
            self._remember((pkey, agent, index), tr)

    def evaluate(self, point: np.ndarray, episodes: int) -> dict[str, float]:
        """Mean (un)discounted return and length of ``episodes`` fixed-seed episodes at ``point``.

        Episode e samples from agent (e mod n)'s environment with the stochastic policy (the
        policy J_H is defined for) and randomness stream (2, e): the same episodes at every point.
        When the agents' environments differ, ``return_agent_<i>`` (i = 1..n) is the mean return
        of agent i's episodes too (a multiple of n episodes weighs the agents equally).
        """
        if episodes < 1:
            raise ValueError(f"episodes: must be >= 1, got {episodes}")
        point = self._as_point(point)
        items = [(0, e % self.n_agents, (EVALUATION_STREAM, e)) for e in range(episodes)]
        trajectories = self._pool_rollout(point[None], items)
        stats = self._stats(trajectories)
        del stats["transitions"]
        specs = self.config.specs
        if any(spec != specs[0] for spec in specs):
            for agent in range(min(self.n_agents, episodes)):
                returns = [tr.rewards.sum() for tr in trajectories[agent :: self.n_agents]]
                stats[f"return_agent_{agent + 1}"] = float(np.mean(returns))
        return stats

    def close(self) -> None:
        """Stop the rollout workers and close their environments."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> PolicyGradientOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------ internals
    def _as_point(self, point: np.ndarray) -> np.ndarray:
        point = np.ascontiguousarray(point, dtype=np.float64)
        if point.shape != (self.dim,):
            raise ValueError(f"point: expected shape ({self.dim},), got {point.shape}")
        return point

    def _pool_rollout(self, points: np.ndarray, items: list) -> list[Trajectory]:
        if self._pool is None:
            self._pool = RolloutPool(self.config, self.workers, self.threads)
        return self._pool.rollout(points, items)

    def _rollout(self, points: np.ndarray, wanted: list[tuple[int, int, int]]) -> list[Trajectory]:
        """Roll out gradient trajectories (slot, agent, index) at ``points[slot]``."""
        for _, agent, index in wanted:
            if not (0 <= agent < self.n_agents and index >= 0):
                raise ValueError(f"gradient (agent={agent}, index={index}): out of range")
        items = [(s, a, (GRADIENT_STREAM, a, i)) for s, a, i in wanted]
        return self._pool_rollout(points, items)

    def _take(self, points: np.ndarray, wanted: list[tuple[int, int, int]]) -> list[Trajectory]:
        """Trajectories for (slot, agent, index): cached ones are consumed, the rest rolled out."""
        if not self._cache:
            # Nothing was rolled out ahead (per-trajectory timing): no point keys are needed.
            # Hashing the 28,706 parameters of a Humanoid point took ~0.1 ms per request.
            todo = list(dict.fromkeys(wanted))
            found = dict(zip(todo, self._rollout(points, todo), strict=True))
            return [found[w] for w in wanted]
        keys = [_point_key(p) for p in points]
        found = {}
        for s, a, i in wanted:
            key = (keys[s], a, i)
            if key not in found and key in self._cache:
                found[key] = self._forget(key)
        todo = list(dict.fromkeys(w for w in wanted if (keys[w[0]], *w[1:]) not in found))
        found.update(
            ((keys[s], a, i), tr)
            for (s, a, i), tr in zip(todo, self._rollout(points, todo), strict=True)
        )
        return [found[keys[s], a, i] for s, a, i in wanted]

    def _remember(self, key: tuple[bytes, int, int], tr: Trajectory) -> None:
        self._cache[key] = tr
        self._cache_bytes += _nbytes(tr)
        while self._cache_bytes > _CACHE_BYTES and len(self._cache) > 1:
            self._forget(next(iter(self._cache)))

    def _forget(self, key: tuple[bytes, int, int]) -> Trajectory:
        tr = self._cache.pop(key)
        self._cache_bytes -= _nbytes(tr)
        return tr

    def _baseline(self, requests: Sequence[GradientRequest], which: np.ndarray) -> Baseline | None:
        """β of the trajectories: the batch's groups are their requests (``batch``); the
        running baseline each trajectory's request came with, (B, H), 0 without one
        (``running``); None without a baseline."""
        if self.baseline == "batch":
            return Baseline(groups=which)
        if self.baseline != "running":
            return None
        zero = self.initial_context()
        rows = [zero if (b := requests[s].context) is None else b for s in which]
        return Baseline(rows=np.stack(rows))

    def _fit_normalizer(self) -> ObservationNormalizer:
        """The normalizer of the states θ_0's policy visits (episode e: agent e mod n, stream
        (3, e)); the rollout workers restart with it."""
        items = [
            (0, e % self.n_agents, (NORMALIZATION_STREAM, e)) for e in range(NORMALIZATION_EPISODES)
        ]
        trajectories = self._pool_rollout(self._theta0[None], items)
        self.close()
        return ObservationNormalizer.fit(np.concatenate([tr.obs for tr in trajectories]))

    def _report(self, trajectories: Sequence[Trajectory]) -> RewardsToGo:
        lengths = np.array([tr.length for tr in trajectories], dtype=np.int64)
        rewards = np.zeros((len(trajectories), self.horizon))
        for b, tr in enumerate(trajectories):
            rewards[b, : tr.length] = tr.rewards
        psi = rewards_to_go(rewards, lengths, self.discount)
        return RewardsToGo(psi.sum(axis=0), len(trajectories))

    def _stats(self, trajectories: Sequence[Trajectory]) -> dict[str, float]:
        if not trajectories:
            return {"transitions": 0.0}
        discounts = self.discount ** np.arange(self.horizon)
        # Σ_t γ^t r_t as a NumPy pairwise sum, not a BLAS dot, whose kernel (and last bit)
        # depends on the CPU
        discounted = [np.sum(tr.rewards * discounts[: tr.length]) for tr in trajectories]
        return {
            "return_mean": float(np.mean([tr.rewards.sum() for tr in trajectories])),
            "discounted_return_mean": float(np.mean(discounted)),
            "episode_length_mean": float(np.mean([tr.length for tr in trajectories])),
            "transitions": float(sum(tr.length for tr in trajectories)),
        }


@dataclasses.dataclass(frozen=True)
class RewardsToGo:
    """What an agent reports with its gradients for the running baseline: Σ_k Ψ_{k,t} over its
    k trajectories (t < H, zero after an episode ended) and k. Reports add up."""

    total: np.ndarray
    count: int

    def __add__(self, other: RewardsToGo) -> RewardsToGo:
        return RewardsToGo(self.total + other.total, self.count + other.count)


BASELINES = ("none", "batch", "running")


def _check_baseline(baseline: str, window: int) -> None:
    if baseline not in BASELINES:
        raise UnknownNameError("oracle.baseline", baseline, BASELINES, "baseline")
    if window < 1:
        raise ConfigError("oracle.baseline_window", f"must be >= 1, got {window!r}")


def _warn_uncovered(specs: Sequence[AgentEnvSpec]) -> None:
    """Warn once per environment that is MuJoCo's but not covered by the fast path."""
    seen: list[AgentEnvSpec] = []
    for spec in specs:
        if any(spec.same_env(other) for other in seen):
            continue
        seen.append(spec)
        reason = fast_path_reason(spec)
        if reason is not None and is_mujoco_env(spec.env_id):
            warnings.warn(f"oracle: {reason}; stepping it through Gymnasium", stacklevel=3)


def _point_key(point: np.ndarray) -> bytes:
    return hashlib.blake2b(point.tobytes(), digest_size=16).digest()


def _nbytes(tr: Trajectory) -> int:
    return tr.obs.nbytes + tr.u.nbytes + tr.rewards.nbytes


def _spaces(specs: Sequence[AgentEnvSpec], horizon: int) -> tuple[int, int, np.ndarray]:
    """(policy input size, action size, action high bound), equal for all agents or an error."""
    built: list[tuple[AgentEnvSpec, int, int, np.ndarray]] = []
    sizes = []
    for i, spec in enumerate(specs):
        match = next((b for b in built if b[0].same_env(spec)), None)
        if match is None:
            with make_env(spec, horizon) as env:
                space = env.action_space
                obs_dim = env.observation_space.shape[0]
                match = (spec, obs_dim, space.shape[0], np.asarray(space.high, np.float32))
            built.append(match)
        sizes.append((match[1] + int(spec.observation != "identity"), match[2]))
        if sizes[i] != sizes[0]:
            raise ConfigError(
                f"oracle.agent_overrides[{i}]",
                f"agent {i} has (observation, action) sizes {sizes[i]}, agent 0 has {sizes[0]}; "
                "all agents must share one policy",
            )
    return *sizes[0], built[0][3]


def _check_arguments(
    n_agents: int,
    horizon: int,
    discount: float,
    policy: str,
    hidden: Sequence[int],
    action_scale: float | None,
    workers: int,
) -> None:
    checks = [
        ("n_agents", n_agents, n_agents >= 1, "must be >= 1"),
        ("horizon", horizon, horizon >= 1, "must be >= 1"),
        ("discount", discount, 0 < discount <= 1, "must be in (0, 1]"),
        ("hidden", hidden, all(h >= 1 for h in hidden), "widths must be >= 1"),
        ("action_scale", action_scale, action_scale is None or action_scale > 0, "must be > 0"),
        ("workers", workers, workers >= 1, "must be >= 1"),
    ]
    for name, value, ok, rule in checks:
        if not ok:
            raise ConfigError(f"oracle.{name}", f"{rule}, got {value!r}")
    if policy not in POLICIES:
        raise UnknownNameError("oracle.policy", policy, POLICIES, "policy")
