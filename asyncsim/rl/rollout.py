"""Batched rollouts: many trajectories, at one or several parameter vectors, stepping together.

Randomness is per trajectory: trajectory ``key`` (a tuple of ints, e.g. ``(1, agent, index)``)
uses ``SeedSequence(seed.entropy, spawn_key=seed.spawn_key + key)`` for its environment reset
seed and its pre-drawn (H, d_a) standard normals ε, so u_t = μ(s_t) + σ(s_t)·ε_t. Together with
the batch-independent policy forward (:meth:`GaussianPolicy.rollout_step`), a trajectory is
bit-for-bit the same whatever batch, worker or process rolls it out.

:class:`BatchRoller` steps a list of environments in lockstep with one policy forward per step;
:class:`RolloutPool` splits a batch over worker processes (or runs in-process for one worker).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from asyncsim.rl.envs import AgentEnvSpec, apply_observation, fast_step, make_env
from asyncsim.rl.estimator import Trajectory
from asyncsim.rl.policy import GaussianPolicy, make_policy

__all__ = [
    "EVALUATION_STREAM",
    "GRADIENT_STREAM",
    "INIT_STREAM",
    "BatchRoller",
    "RolloutConfig",
    "RolloutItem",
    "RolloutPool",
    "single_torch_thread",
    "stream",
    "trajectory_randomness",
]

INIT_STREAM = 0
"""Spawn key (0,): policy initialisation θ_0."""
GRADIENT_STREAM = 1
"""Spawn key (1, agent, index): gradient trajectory ``index`` of ``agent``."""
EVALUATION_STREAM = 2
"""Spawn key (2, episode): evaluation episodes."""

RolloutItem = tuple[int, int, tuple[int, ...]]
"""(point slot p, agent spec index, randomness key): one trajectory to roll out at θ_p."""


@contextmanager
def single_torch_thread() -> Iterator[None]:
    """Run torch single-threaded inside the block (the previous setting is restored).

    Rollout tensors are tiny and the backward pass is small next to the rollout it follows:
    intra-op threads only add synchronisation, which costs 3-10x when the cores are busy
    (rollout workers, other runs).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def stream(seed: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """The child stream ``key`` of ``seed``, derived without mutating ``seed`` (no ``spawn``)."""
    return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, *key))


def trajectory_randomness(
    seq: np.random.SeedSequence, horizon: int, act_dim: int
) -> tuple[int, np.ndarray]:
    """(environment reset seed, (H, d_a) float32 standard normals ε) of one trajectory."""
    rng = np.random.default_rng(seq)
    return int(rng.integers(2**31 - 1)), rng.standard_normal((horizon, act_dim), np.float32)


@dataclass(frozen=True)
class RolloutConfig:
    """Everything a (possibly remote) roller needs; picklable.

    Attributes:
        specs: one environment spec per agent.
        horizon: H.
        policy: policy kind (``"mlp"`` or ``"linear"``).
        obs_dim, act_dim: policy input / output sizes.
        hidden: hidden widths of the MLP policy.
        action_scale: c (per dimension), or None for unsquashed actions.
        seed: root of all trajectory streams.
    """

    specs: tuple[AgentEnvSpec, ...]
    horizon: int
    policy: str
    obs_dim: int
    act_dim: int
    hidden: tuple[int, ...]
    action_scale: np.ndarray | None
    seed: np.random.SeedSequence

    def build_policy(self, generator: torch.Generator | None = None) -> GaussianPolicy:
        """A policy with this configuration's structure."""
        return make_policy(
            self.policy,
            self.obs_dim,
            self.act_dim,
            hidden=self.hidden,
            action_scale=self.action_scale,
            generator=generator,
        )


class BatchRoller:
    """Rolls out a batch of trajectories in lockstep in this process (own envs and policy)."""

    def __init__(self, config: RolloutConfig) -> None:
        self.config = config
        self.policy = config.build_policy()
        specs = config.specs
        self._group = [
            next(j for j in range(i + 1) if specs[j].same_env(s)) for i, s in enumerate(specs)
        ]
        self._envs: dict[int, list[tuple[gym.Env, Callable]]] = {}

    def _take_envs(self, items: Sequence[RolloutItem]) -> list[tuple[gym.Env, Callable]]:
        """A distinct (environment, its :func:`fast_step`) for each item, built on first use
        and reused afterwards."""
        taken: dict[int, int] = {}
        envs = []
        for _, spec, _ in items:
            group = self._group[spec]
            pool = self._envs.setdefault(group, [])
            k = taken[group] = taken.get(group, -1) + 1
            if k == len(pool):
                env = make_env(self.config.specs[spec], self.config.horizon)
                pool.append((env, fast_step(env)))
            envs.append(pool[k])
        return envs

    def rollout(self, points: np.ndarray, items: Sequence[RolloutItem]) -> list[Trajectory]:
        """Roll out ``items`` (trajectory b at θ_{items[b][0]}); one policy forward per step.

        Args:
            points: (P, n) float64 parameter vectors.
            items: the trajectories (see :data:`RolloutItem`).

        Returns:
            One :class:`Trajectory` per item, in order; each runs H steps or until termination.
        """
        with single_torch_thread(), torch.inference_mode():
            return self._rollout(points, items)

    def _rollout(self, points: np.ndarray, items: Sequence[RolloutItem]) -> list[Trajectory]:
        cfg, batch, horizon, d_a = self.config, len(items), self.config.horizon, self.config.act_dim
        params = self.policy.rollout_params(torch.from_numpy(np.asarray(points)))
        seeds, noise = self._randomness(items, self.policy.lanes)
        envs, steps = zip(*self._take_envs(items), strict=True)
        kinds = np.array([cfg.specs[spec].observation for _, spec, _ in items])
        identity = bool(np.all(kinds == "identity"))
        # raw[b, t]: environment observation s_t of trajectory b (float32, as the policy sees it)
        raw = np.zeros((batch, horizon + 1, cfg.obs_dim - (not identity)), np.float32)
        raw[:, 0] = [env.reset(seed=s)[0] for env, s in zip(envs, seeds, strict=True)]
        u_all = np.zeros((batch, horizon, d_a), np.float32)
        rewards = np.zeros((batch, horizon))
        lengths = np.full(batch, horizon)
        active = np.arange(batch)
        rows = _per_row(params, torch.as_tensor([it[0] for it in items]))
        stepping = list(steps)
        for t in range(horizon):
            sel = slice(None) if len(active) == batch else active  # a view while all run
            x = raw[sel, t] if identity else apply_observation(kinds[sel], raw[sel, t])
            u, a = self.policy.rollout_step(
                rows, torch.from_numpy(x), torch.from_numpy(noise[t, sel])
            )
            u_all[sel, t] = u.numpy()[:, :d_a]
            ended = _step_envs(stepping, a.numpy()[:, :d_a], raw, rewards, active, t)
            if ended:
                lengths[active[ended]] = t + 1
                keep = np.delete(np.arange(len(active)), ended)
                active, rows = active[keep], _per_row(rows, torch.from_numpy(keep))
                stepping = [steps[b] for b in active]
                if not len(active):
                    break
        obs = raw[:, :horizon] if identity else apply_observation(kinds[:, None], raw[:, :horizon])
        return [
            Trajectory(obs[b, :n].copy(), u_all[b, :n].copy(), rewards[b, :n].copy())
            for b, n in enumerate(lengths)
        ]

    def _randomness(self, items: Sequence[RolloutItem], lanes: int) -> tuple[list[int], np.ndarray]:
        """Reset seeds and (H, B, lanes) float32 noise (zero beyond d_a) of the items."""
        cfg = self.config
        noise = np.zeros((cfg.horizon, len(items), lanes), np.float32)
        seeds = []
        for b, (_, _, key) in enumerate(items):
            seed, eps = trajectory_randomness(stream(cfg.seed, *key), cfg.horizon, cfg.act_dim)
            noise[:, b, : cfg.act_dim] = eps
            seeds.append(seed)
        return seeds, noise

    def close(self) -> None:
        """Close every environment."""
        for pool in self._envs.values():
            for env, _ in pool:
                env.close()
        self._envs.clear()


def _per_row(params: list[torch.Tensor], index: torch.Tensor) -> list[torch.Tensor]:
    """Parameters of the selected rows; a single point stays (1, ...) and broadcasts."""
    return params if params[0].shape[0] == 1 else [p[index] for p in params]


def _step_envs(
    steps: Sequence[Callable],
    actions: np.ndarray,
    raw: np.ndarray,
    rewards: np.ndarray,
    active: np.ndarray,
    t: int,
) -> list[int]:
    """Step env j (its step function) with actions[j], storing s_{t+1} and r_t of row
    b = active[j]; return the positions j whose episode ended (terminated or truncated)."""
    ended = []
    for j, step in enumerate(steps):
        b = active[j]
        raw[b, t + 1], rewards[b, t], terminated, truncated, _ = step(actions[j])
        if terminated or truncated:
            ended.append(j)
    return ended


_WORKER_ROLLER: BatchRoller | None = None


def _init_worker(config: RolloutConfig) -> None:
    global _WORKER_ROLLER
    torch.set_num_threads(1)
    _WORKER_ROLLER = BatchRoller(config)


def _worker_rollout(points: np.ndarray, items: Sequence[RolloutItem]) -> list[Trajectory]:
    return _WORKER_ROLLER.rollout(points, items)


class RolloutPool:
    """Rolls out batches with ``workers`` processes, or in-process when ``workers == 1``.

    Each worker process (start method 'spawn', torch limited to one thread) owns its
    environments and a policy copy; a batch is dealt round-robin over the workers, so a
    worker count never changes a trajectory (see the module docstring).
    """

    def __init__(self, config: RolloutConfig, workers: int) -> None:
        self.workers = workers
        self._local = BatchRoller(config) if workers == 1 else None
        self._executor = (
            None
            if workers == 1
            else ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(config,),
            )
        )

    def rollout(self, points: np.ndarray, items: Sequence[RolloutItem]) -> list[Trajectory]:
        """:meth:`BatchRoller.rollout`, split over the workers."""
        if not items:
            return []
        if self._local is not None:
            return self._local.rollout(points, items)
        shares = min(self.workers, len(items))
        futures = [
            self._executor.submit(_worker_rollout, points, items[w::shares]) for w in range(shares)
        ]
        parts = [f.result() for f in futures]
        return [parts[b % shares][b // shares] for b in range(len(items))]

    def close(self) -> None:
        """Stop the worker processes (or close the in-process environments)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self._local is not None:
            self._local.close()
