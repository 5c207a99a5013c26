"""Environment construction by Gymnasium id, and per-agent (heterogeneous) environment settings.

* :func:`resolve_env_id` validates an id (close matches on a typo) and maps a MuJoCo id that the
  installed packages cannot build (v2/v3 need mujoco-py; v4 may too on some installs) to its v5
  version, with a warning.
* :class:`AgentEnvSpec` is what one agent samples from: env id, constructor kwargs and an
  observation transform. The paper's heterogeneous setup (App. H.3) gives agent 1 the
  observation (s, 0) and agent 2 the observation (−s, 1); :func:`agent_env_specs` generalises it
  to n agents: odd 1-based indices see (s, 0), even ones (−s, 1).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.error import DependencyNotInstalled
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

from asyncsim.errors import ConfigError, UnknownNameError

__all__ = [
    "HETEROGENEITIES",
    "OBSERVATIONS",
    "AgentEnvSpec",
    "agent_env_specs",
    "apply_observation",
    "fast_step",
    "make_env",
    "resolve_env_id",
]

OBSERVATIONS = ("identity", "flagged", "inverted")
"""Observation transforms: s ↦ s, s ↦ (s, 0), s ↦ (−s, 1)."""

HETEROGENEITIES = ("none", "inverted_observation")


@dataclass(frozen=True)
class AgentEnvSpec:
    """One agent's environment: Gymnasium id, constructor kwargs, observation transform.

    Attributes:
        env_id: a registered Gymnasium id (already resolved, see :func:`resolve_env_id`).
        env_kwargs: keyword arguments for ``gymnasium.make``.
        observation: one of :data:`OBSERVATIONS`.
    """

    env_id: str
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    observation: str = "identity"

    def same_env(self, other: AgentEnvSpec) -> bool:
        """True when both specs build identical environments (observation transforms aside)."""
        return self.env_id == other.env_id and dict(self.env_kwargs) == dict(other.env_kwargs)


def apply_observation(observation: str | Sequence[str] | np.ndarray, s: np.ndarray) -> np.ndarray:
    """Policy inputs for observations ``s`` (..., d): s, (s, 0) or (−s, 1) per OBSERVATIONS.

    ``observation`` is one transform, or one per row of ``s`` (all identity or none identity).
    """
    kinds = np.broadcast_to(np.asarray(observation), s.shape[:-1])
    if np.all(kinds == "identity"):
        return s
    if np.any(kinds == "identity"):
        raise ValueError("observation: cannot mix 'identity' with flagged observations")
    inverted = (kinds == "inverted")[..., None]
    return np.concatenate([np.where(inverted, -s, s), inverted.astype(s.dtype)], axis=-1)


def resolve_env_id(
    env_id: str, field: str = "env", env_kwargs: Mapping[str, Any] | None = None
) -> str:
    """Return ``env_id`` if it can be built, else its buildable v5 successor (with a warning).

    Raises:
        UnknownNameError: the id is not registered (the message names close matches).
    """
    if env_id not in gym.registry:
        raise UnknownNameError(field, env_id, gym.registry.keys(), what="environment")
    try:
        gym.make(env_id, **(env_kwargs or {})).close()
        return env_id
    except (ImportError, DependencyNotInstalled, AttributeError) as exc:
        successor = re.sub(r"-v\d+$", "-v5", env_id)
        if successor == env_id or successor not in gym.registry:
            raise ConfigError(field, f"environment {env_id!r} cannot be built: {exc}") from exc
        warnings.warn(
            f"{field}: {env_id!r} is unavailable with the installed MuJoCo ({exc}); "
            f"using {successor!r} instead",
            stacklevel=2,
        )
        return successor


def make_env(spec: AgentEnvSpec, horizon: int) -> gym.Env:
    """Build ``spec``'s environment with its time limit set to the horizon H.

    The horizon replaces the id's default episode limit: a trajectory runs H steps unless the
    environment terminates (SPEC §1). The passive env checker is off (it only costs time).
    """
    return gym.make(
        spec.env_id, max_episode_steps=horizon, disable_env_checker=True, **spec.env_kwargs
    )


_BOOKKEEPING_WRAPPERS = (TimeLimit, OrderEnforcing, PassiveEnvChecker)


def fast_step(env: gym.Env) -> Callable[[np.ndarray], tuple]:
    """``env``'s step function without the wrappers that only keep books (step count, call
    order, API checks): a rollout resets first and stops at H itself, so they add nothing but
    Python calls to every transition. Any other wrapper keeps the whole wrapped step.
    """
    inner = env
    while isinstance(inner, gym.Wrapper):
        if not isinstance(inner, _BOOKKEEPING_WRAPPERS):
            return env.step
        inner = inner.env
    return inner.step


def agent_env_specs(
    n_agents: int,
    env: str,
    env_kwargs: Mapping[str, Any] | None = None,
    heterogeneity: str = "none",
    overrides: Sequence[Mapping[str, Any] | None] | None = None,
    field: str = "oracle",
) -> list[AgentEnvSpec]:
    """One :class:`AgentEnvSpec` per agent.

    Args:
        n_agents: n.
        env: Gymnasium id shared by all agents unless overridden (resolved here).
        env_kwargs: kwargs shared by all agents.
        heterogeneity: ``"none"`` (everybody sees s) or ``"inverted_observation"`` (App. H.3:
            agent i, 1-based, sees (s, 0) if i is odd and (−s, 1) if i is even).
        overrides: per-agent mappings (or None) with keys ``env``, ``env_kwargs`` (merged over
            the shared kwargs, which apply only to agents on the shared env) and/or
            ``observation``; may be shorter than n.
        field: field path prefix for error messages.
    """
    if heterogeneity not in HETEROGENEITIES:
        raise UnknownNameError(f"{field}.heterogeneity", heterogeneity, HETEROGENEITIES, "setting")
    overrides = list(overrides or [])
    if len(overrides) > n_agents:
        raise ConfigError(
            f"{field}.agent_overrides", f"has {len(overrides)} entries for {n_agents} agents"
        )
    resolved: dict[str, str] = {}
    specs = []
    for i in range(n_agents):
        over = dict(overrides[i] or {}) if i < len(overrides) else {}
        path = f"{field}.agent_overrides[{i}]"
        unknown = set(over) - {"env", "env_kwargs", "observation"}
        if unknown:
            raise ConfigError(
                path, f"unknown keys {sorted(unknown)}; valid: env, env_kwargs, observation"
            )
        env_id = over.get("env", env)
        shared = env_kwargs if env_id == env else None  # shared kwargs belong to the shared env
        kwargs = {**(shared or {}), **over.get("env_kwargs", {})}
        if env_id not in resolved:
            env_field = f"{path}.env" if "env" in over else f"{field}.env"
            resolved[env_id] = resolve_env_id(env_id, env_field, kwargs)
        default_obs = "identity" if heterogeneity == "none" else ("flagged", "inverted")[i % 2]
        observation = over.get("observation", default_obs)
        if observation not in OBSERVATIONS:
            raise UnknownNameError(f"{path}.observation", observation, OBSERVATIONS, "observation")
        specs.append(AgentEnvSpec(resolved[env_id], kwargs, observation))
    return specs
