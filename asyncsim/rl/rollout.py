"""Batched rollouts: many trajectories, at one or several parameter vectors, stepping together.

Randomness is per trajectory: trajectory ``key`` (a tuple of ints, e.g. ``(1, agent, index)``)
uses ``SeedSequence(seed.entropy, spawn_key=seed.spawn_key + key)`` for its environment reset
seed and then its standard normals ε (float32, d_a per step, drawn in order), so
u_t = μ(s_t) + σ(s_t)·ε_t. Together with the batch-independent policy forward
(:meth:`GaussianPolicy.rollout_step`), a trajectory is bit-for-bit the same whatever batch,
worker, thread count or process rolls it out.

:class:`BatchRoller` steps a batch's environments in lockstep with one policy forward per step.
The environments of one spec are *slots* of one object: a :class:`BatchedMujocoEnv` (the MuJoCo
fast path, :mod:`asyncsim.rl.mujoco_batch`) when it covers the spec and ``fast_path`` is on, or
:class:`GymnasiumEnvs` otherwise; both return Gymnasium's observations, rewards and
terminations. :class:`RolloutPool` splits a batch over worker processes, or runs in-process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import ClassVar, Protocol

import gymnasium as gym
import numpy as np
import torch

from asyncsim.core.lifeline import exit_with_parent, parent_lifeline
from asyncsim.rl.envs import AgentEnvSpec, apply_observation, fast_step, make_env
from asyncsim.rl.estimator import Trajectory
from asyncsim.rl.mujoco_batch import BatchedMujocoEnv, fast_path_reason
from asyncsim.rl.policy import GaussianPolicy, make_policy

__all__ = [
    "EVALUATION_STREAM",
    "GRADIENT_STREAM",
    "INIT_STREAM",
    "NORMALIZATION_STREAM",
    "BatchRoller",
    "GymnasiumEnvs",
    "ObservationNormalizer",
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
NORMALIZATION_STREAM = 3
"""Spawn key (3, episode): the episodes of θ_0 whose states fix the observation normalizer."""

NOISE_CHUNK = 64
"""Steps of action noise drawn at a time per trajectory. Drawing the whole horizon up front
cost 17,000 normals per Humanoid trajectory (H = 1000, d_a = 17) for episodes of ~34 steps."""

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


def trajectory_rng(seq: np.random.SeedSequence) -> tuple[int, np.random.Generator]:
    """(environment reset seed, the generator of the trajectory's action noise)."""
    rng = np.random.default_rng(seq)
    return int(rng.integers(2**31 - 1)), rng


def trajectory_randomness(
    seq: np.random.SeedSequence, horizon: int, act_dim: int
) -> tuple[int, np.ndarray]:
    """(environment reset seed, (H, d_a) float32 standard normals ε) of one trajectory.

    The rollout draws the same ε in chunks of :data:`NOISE_CHUNK` steps as it goes (the
    generator's stream does not depend on how it is cut).
    """
    seed, rng = trajectory_rng(seq)
    return seed, rng.standard_normal((horizon, act_dim), np.float32)


@dataclass(frozen=True)
class ObservationNormalizer:
    """x ↦ clip((x − m) / σ, −10, 10) elementwise in float32 (each row's bits independent of
    the batch), with m, σ fixed for the run (docs/algorithms.md §1, "Observations").

    Attributes:
        mean: m, (d_s,) float32.
        scale: σ, (d_s,) float32, positive.
    """

    mean: np.ndarray
    scale: np.ndarray

    CLIP: ClassVar[float] = 10.0
    FLOOR: ClassVar[float] = 1e-2
    """σ is at least this: a coordinate constant in the sample is not blown up later."""

    @classmethod
    def fit(cls, observations: np.ndarray) -> ObservationNormalizer:
        """m, σ of a sample of policy inputs (rows), σ floored at :attr:`FLOOR`."""
        observations = np.asarray(observations, np.float64)
        scale = np.maximum(observations.std(axis=0), cls.FLOOR)
        return cls(observations.mean(axis=0).astype(np.float32), scale.astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float32) - self.mean) / self.scale
        return np.clip(z, -self.CLIP, self.CLIP, out=z)


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
        fast_path: step the specs the MuJoCo fast path covers in MuJoCo's batch API.
        normalizer: the fixed observation normalization of the policy's inputs, or None.
    """

    specs: tuple[AgentEnvSpec, ...]
    horizon: int
    policy: str
    obs_dim: int
    act_dim: int
    hidden: tuple[int, ...]
    action_scale: np.ndarray | None
    seed: np.random.SeedSequence
    fast_path: bool = True
    normalizer: ObservationNormalizer | None = None

    def policy_input(self, observation: str | np.ndarray, s: np.ndarray) -> np.ndarray:
        """What the policy sees of observations ``s``: the agent's observation transform
        (:func:`apply_observation`), then the normalizer if there is one."""
        x = (
            s
            if np.all(np.asarray(observation) == "identity")
            else apply_observation(observation, s)
        )
        return x if self.normalizer is None else self.normalizer(x)

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

    def uses_fast_path(self, spec: AgentEnvSpec) -> bool:
        """Whether ``spec``'s environments step on the fast path."""
        return self.fast_path and fast_path_reason(spec) is None


class EnvSlots(Protocol):
    """Environments of one spec, addressed by slot (sorted int32 arrays of slots)."""

    def ensure(self, capacity: int) -> None: ...

    def reset(self, slots: np.ndarray, seeds: Sequence[int]) -> np.ndarray: ...

    def step(
        self, slots: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


class GymnasiumEnvs:
    """One Gymnasium environment per slot, stepped one by one (:func:`fast_step`)."""

    def __init__(self, spec: AgentEnvSpec, horizon: int) -> None:
        self.spec, self.horizon = spec, horizon
        self._envs: list[tuple[gym.Env, Callable]] = []

    def ensure(self, capacity: int) -> None:
        """Build environments up to ``capacity`` slots (kept for later calls)."""
        while len(self._envs) < capacity:
            env = make_env(self.spec, self.horizon)
            self._envs.append((env, fast_step(env)))

    def reset(self, slots: np.ndarray, seeds: Sequence[int]) -> np.ndarray:
        """``env.reset(seed=...)`` of each slot; the first observations (k, d)."""
        envs = self._envs
        return np.array(
            [envs[s][0].reset(seed=int(x))[0] for s, x in zip(slots, seeds, strict=True)]
        )

    def step(
        self, slots: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(observations, rewards, ended = terminated or truncated) of one step per slot."""
        obs, rewards, ended = [], np.empty(len(slots)), np.empty(len(slots), bool)
        for k, s in enumerate(slots):
            o, rewards[k], terminated, truncated, _ = self._envs[s][1](actions[k])
            obs.append(o)
            ended[k] = terminated or truncated
        return np.array(obs), rewards, ended

    def close(self) -> None:
        """Close every environment."""
        for env, _ in self._envs:
            env.close()
        self._envs.clear()


class BatchRoller:
    """Rolls out a batch of trajectories in lockstep in this process (own envs and policy).

    Args:
        config: the rollout configuration.
        threads: MuJoCo batch threads of the fast path (including the caller's).
    """

    def __init__(self, config: RolloutConfig, threads: int = 1) -> None:
        self.config, self.threads = config, threads
        self.policy = config.build_policy()
        specs = config.specs
        self._group = [
            next(j for j in range(i + 1) if specs[j].same_env(s)) for i, s in enumerate(specs)
        ]
        self._envs: dict[int, EnvSlots] = {}

    def _slots_of(self, group: int) -> EnvSlots:
        if group not in self._envs:
            spec, horizon = self.config.specs[group], self.config.horizon
            fast = self.config.uses_fast_path(spec)
            self._envs[group] = (
                BatchedMujocoEnv(spec, horizon, self.threads)
                if fast
                else GymnasiumEnvs(spec, horizon)
            )
        return self._envs[group]

    def rollout(self, points: np.ndarray, items: Sequence[RolloutItem]) -> list[Trajectory]:
        """Roll out ``items`` (trajectory b at θ_{items[b][0]}); one policy forward per step.

        Args:
            points: (P, n) float64 parameter vectors.
            items: the trajectories (see :data:`RolloutItem`).

        Returns:
            One :class:`Trajectory` per item, in order; each runs H steps or until termination.
        """
        with single_torch_thread(), torch.inference_mode():
            return self._rollout(np.asarray(points), items)

    def _rollout(self, points: np.ndarray, items: Sequence[RolloutItem]) -> list[Trajectory]:
        cfg, batch, horizon, d_a = self.config, len(items), self.config.horizon, self.config.act_dim
        params = self.policy.rollout_params(torch.from_numpy(points))
        kinds = np.array([cfg.specs[spec].observation for _, spec, _ in items])
        identity = bool(np.all(kinds == "identity"))
        plain = identity and cfg.normalizer is None  # the policy sees raw observations
        groups = _Groups(self, items)
        rngs = []
        # raw[b, t]: environment observation s_t of trajectory b (float32, as the policy sees it)
        raw = np.zeros((batch, horizon + 1, cfg.obs_dim - (not identity)), np.float32)
        seeds = np.empty(batch, np.int64)
        for b, (_, _, key) in enumerate(items):
            seeds[b], rng = trajectory_rng(stream(cfg.seed, *key))
            rngs.append(rng)
        groups.reset(raw, seeds)
        u_all = np.zeros((batch, horizon, d_a), np.float32)
        rewards = np.zeros((batch, horizon))
        lengths = np.full(batch, horizon)
        active = np.arange(batch)
        rows = _per_row(params, torch.as_tensor([it[0] for it in items]))
        noise = np.zeros((NOISE_CHUNK, batch, self.policy.lanes), np.float32)
        for t in range(horizon):
            if t % NOISE_CHUNK == 0:
                for b in active:
                    noise[:, b, :d_a] = rngs[b].standard_normal((NOISE_CHUNK, d_a), np.float32)
            sel = slice(None) if len(active) == batch else active  # a view while all run
            x = raw[sel, t] if plain else cfg.policy_input(kinds[sel], raw[sel, t])
            u, a = self.policy.rollout_step(
                rows, torch.from_numpy(x), torch.from_numpy(noise[t % NOISE_CHUNK, sel])
            )
            u_all[sel, t] = u.numpy()[:, :d_a]
            ended = groups.step(active, a.numpy()[:, :d_a], raw, rewards, t)
            if ended.any():
                lengths[active[ended]] = t + 1
                keep = np.flatnonzero(~ended)
                active, rows = active[keep], _per_row(rows, torch.from_numpy(keep))
                if not len(active):
                    break
        return [
            Trajectory(
                raw[b, :n].copy() if plain else cfg.policy_input(kinds[b], raw[b, :n]),
                u_all[b, :n].copy(),
                rewards[b, :n].copy(),
            )
            for b, n in enumerate(lengths)
        ]

    def close(self) -> None:
        """Close every environment."""
        for envs in self._envs.values():
            envs.close()
        self._envs.clear()


class _Groups:
    """The batch's rows by environment group: each row's group and its slot in the group."""

    def __init__(self, roller: BatchRoller, items: Sequence[RolloutItem]) -> None:
        group = np.array([roller._group[spec] for _, spec, _ in items])
        self.slot = np.empty(len(items), np.int32)
        self.members: list[tuple[EnvSlots, np.ndarray, int]] = []
        for g in np.unique(group):
            rows = np.flatnonzero(group == g)
            self.slot[rows] = np.arange(len(rows))
            envs = roller._slots_of(int(g))
            envs.ensure(len(rows))
            self.members.append((envs, rows, int(g)))
        self.group = group
        self.single = len(self.members) == 1

    def reset(self, raw: np.ndarray, seeds: np.ndarray) -> None:
        """Reset every row's environment; s_0 into raw[:, 0]."""
        for envs, rows, _ in self.members:
            raw[rows, 0] = envs.reset(self.slot[rows], seeds[rows])

    def step(
        self, active: np.ndarray, actions: np.ndarray, raw: np.ndarray, rewards: np.ndarray, t: int
    ) -> np.ndarray:
        """Step the ``active`` rows under ``actions``; store s_{t+1} and r_t; return which
        of them ended (terminated or truncated)."""
        if self.single:
            obs, rewards[active, t], ended = self.members[0][0].step(self.slot[active], actions)
            raw[active, t + 1] = obs
            return ended
        ended = np.empty(len(active), bool)
        group = self.group[active]
        for envs, _, g in self.members:
            mask = group == g
            if mask.any():
                rows = active[mask]
                obs, rewards[rows, t], ended[mask] = envs.step(self.slot[rows], actions[mask])
                raw[rows, t + 1] = obs
        return ended


def _per_row(params: list[torch.Tensor], index: torch.Tensor) -> list[torch.Tensor]:
    """Parameters of the selected rows; a single point stays (1, ...) and broadcasts."""
    return params if params[0].shape[0] == 1 else [p[index] for p in params]


_WORKER_ROLLER: BatchRoller | None = None


def _init_worker(config: RolloutConfig, lifeline: Connection) -> None:
    """A worker process: exits with its parent, one BLAS / OpenMP thread (the pool's
    processes are the parallelism) and its own roller."""
    global _WORKER_ROLLER
    from threadpoolctl import threadpool_limits

    exit_with_parent(lifeline)
    threadpool_limits(1)
    torch.set_num_threads(1)
    _WORKER_ROLLER = BatchRoller(config)


def _worker_rollout(points: np.ndarray, items: Sequence[RolloutItem]) -> list[Trajectory]:
    return _WORKER_ROLLER.rollout(points, items)


class RolloutPool:
    """Rolls out batches on ``workers`` MuJoCo threads or processes, or in-process when
    ``workers == 1``.

    Threads: one in-process roller whose fast-path simulations step on ``workers`` threads;
    possible when every spec is on the fast path, and the default then (``threads=None``).
    Measured on 2 cores (Humanoid, fast path): as fast as 2 processes for Rennala-sized
    calls (20 trajectories: 1.60x vs 1.62x one process) and faster for AFedPG's (5 at 5
    points: 1.31x vs 1.25x), without the processes' start-up or copies of every point.
    Processes ('spawn', torch and BLAS limited to one thread each) own their environments
    and a policy copy; a batch is dealt round-robin over them. Neither count changes a
    trajectory (see the module docstring).
    """

    def __init__(self, config: RolloutConfig, workers: int, threads: bool | None = None) -> None:
        self.workers = workers
        fast = all(config.uses_fast_path(spec) for spec in config.specs)
        self.threads = fast if threads is None else threads and fast
        in_process = workers == 1 or self.threads
        self._local = BatchRoller(config, workers if self.threads else 1) if in_process else None
        self._executor = (
            None
            if in_process
            else ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(config, parent_lifeline()),
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
