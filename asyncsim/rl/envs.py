"""Environment construction by Gymnasium id, and per-agent (heterogeneous) environment settings.

* :func:`resolve_env_id` validates an id (close matches on a typo) and maps a MuJoCo id that the
  installed packages cannot build (v2/v3 need mujoco-py; v4 may too on some installs) to its v5
  version, with a warning; :func:`check_env_spec` also refuses constructor arguments the
  environment rejects and spaces the Gaussian policy cannot act in (Discrete ones), and
  :func:`buildable_env_ids` lists the ids usable here.
* :class:`AgentEnvSpec` is what one agent samples from: env id, constructor kwargs and an
  observation transform. The paper's heterogeneous setup (App. H.3) gives agent 1 the
  observation (s, 0) and agent 2 the observation (−s, 1); :func:`agent_env_specs` generalises it
  to n agents: odd 1-based indices see (s, 0), even ones (−s, 1).
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.error import DependencyNotInstalled
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

from asyncsim.core.errors import ConfigError, UnknownNameError, clip, quote

__all__ = [
    "BOOKKEEPING_WRAPPERS",
    "HETEROGENEITIES",
    "OBSERVATIONS",
    "AgentEnvSpec",
    "agent_env_specs",
    "apply_observation",
    "buildable_env_ids",
    "check_env_spec",
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
        ConfigError: neither the id nor a v5 successor can be built.
    """
    if env_id not in gym.registry:
        raise UnknownNameError(field, env_id, gym.registry.keys(), what="environment")
    problem = _build_problem(env_id)
    if problem is None:
        return env_id
    successor = re.sub(r"-v\d+$", "-v5", env_id)
    if successor == env_id or successor not in gym.registry or _build_problem(successor):
        raise ConfigError(field, f"environment {env_id!r} cannot be built: {problem}")
    warnings.warn(
        f"{field}: {env_id!r} is unavailable with the installed MuJoCo ({problem}); "
        f"using {successor!r} instead",
        stacklevel=2,
    )
    return successor


def _build_problem(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> str | None:
    """Why ``env_id`` cannot be built here (a missing dependency, one line), or None."""
    try:
        gym.make(env_id, disable_env_checker=True, **(env_kwargs or {})).close()
    except (ImportError, DependencyNotInstalled, AttributeError) as exc:
        return _first_line(exc)
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return clip(lines[0] if lines else type(exc).__name__)


def _space_problem(env: gym.Env) -> str | None:
    """Why the Gaussian policy cannot act in ``env`` (not a 1-D Box of actions or
    observations), or None."""
    for what, space in (("action", env.action_space), ("observation", env.observation_space)):
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            return (
                f"has a {clip(str(space), 80)} {what} space; the Gaussian policy needs a "
                "1-D Box (continuous vectors)"
            )
    return None


def check_env_spec(
    env_id: str, env_kwargs: Mapping[str, Any] | None = None, field: str = "oracle"
) -> str:
    """Check that the policy-gradient oracle can use ``env_id`` with ``env_kwargs``; return
    the id to use (:func:`resolve_env_id`: an unbuildable v2-v4 MuJoCo id maps to v5).

    The environment is built once: ``gymnasium.make`` must accept the kwargs, and both its
    action and observation spaces must be 1-D Boxes (a Discrete space, e.g. CartPole-v1's
    actions or Taxi-v3's states, has no Gaussian policy).

    Args:
        env_id: a Gymnasium id.
        env_kwargs: constructor arguments.
        field: path of the block in the scenario (``oracle``, ``oracle.agents[1]``); errors
            name ``<field>.env`` or ``<field>.env_kwargs``.

    Raises:
        ConfigError: one line naming the field, the id and what is wrong.
    """
    resolved = resolve_env_id(env_id, f"{field}.env")
    kwargs = dict(env_kwargs or {})
    try:
        env = gym.make(resolved, disable_env_checker=True, **kwargs)
    except Exception as exc:  # whatever the constructor raises, the kwargs are to blame
        raise _kwargs_error(field, resolved, kwargs, exc) from None
    try:
        problem = _space_problem(env)
        if problem is not None:
            raise ConfigError(f"{field}.env", f"{resolved} {problem}")
        try:  # some arguments fail only when used (a string where a number belongs)
            env.reset(seed=0)
            space = env.action_space
            env.step(np.clip(np.zeros(space.shape, space.dtype), space.low, space.high))
        except Exception as exc:
            if not kwargs:
                raise
            raise _kwargs_error(field, resolved, kwargs, exc) from None
    finally:
        env.close()
    return resolved


def _kwargs_error(field: str, env_id: str, kwargs: dict, exc: Exception) -> ConfigError:
    return ConfigError(
        f"{field}.env_kwargs", f"{env_id} does not accept {quote(kwargs)}: {_first_line(exc)}"
    )


@functools.cache
def buildable_env_ids() -> tuple[tuple[str, ...], dict[str, str]]:
    """(the registered ids the policy-gradient oracle can use here, sorted; {every other
    registered id: why not}): missing dependencies (mujoco-py for v2/v3, Box2D, jax), and
    spaces the Gaussian policy cannot act in. Each id is built once (about a second in all).
    """
    usable, unusable = [], {}
    for env_id in sorted(gym.registry):
        with warnings.catch_warnings(), _quiet_mujoco_compiler():
            warnings.simplefilter("ignore")
            try:
                env = gym.make(env_id, disable_env_checker=True)
            except Exception as exc:  # any failure makes the id unusable here
                unusable[env_id] = f"cannot be built here: {_first_line(exc)}"
                continue
        problem = _space_problem(env)
        env.close()
        if problem is None:
            usable.append(env_id)
        else:
            unusable[env_id] = problem
    return tuple(usable), unusable


@contextlib.contextmanager
def _quiet_mujoco_compiler() -> Iterator[None]:
    """Drop MuJoCo's C warnings while models compile (some registered v4 models use the
    deprecated ``settotalmass``: a listing should not print them on stderr)."""
    import mujoco

    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(lambda message: None)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


def make_env(spec: AgentEnvSpec, horizon: int) -> gym.Env:
    """Build ``spec``'s environment with its time limit set to the horizon H.

    The horizon replaces the id's default episode limit: a trajectory runs H steps unless the
    environment terminates (docs/algorithms.md §1). The passive env checker is off (it only
    costs time).
    """
    return gym.make(
        spec.env_id, max_episode_steps=horizon, disable_env_checker=True, **spec.env_kwargs
    )


BOOKKEEPING_WRAPPERS = (TimeLimit, OrderEnforcing, PassiveEnvChecker)
"""Wrappers that only keep books (step count, call order, API checks)."""


def fast_step(env: gym.Env) -> Callable[[np.ndarray], tuple]:
    """``env``'s step function without the wrappers that only keep books (step count, call
    order, API checks): a rollout resets first and stops at H itself, so they add nothing but
    Python calls to every transition. Any other wrapper keeps the whole wrapped step.
    """
    inner = env
    while isinstance(inner, gym.Wrapper):
        if not isinstance(inner, BOOKKEEPING_WRAPPERS):
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
    overrides_field: str = "agent_overrides",
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
        overrides_field: the overrides' name under ``field`` in error messages (a scenario
            calls them ``agents``).
    """
    if heterogeneity not in HETEROGENEITIES:
        raise UnknownNameError(f"{field}.heterogeneity", heterogeneity, HETEROGENEITIES, "setting")
    overrides = list(overrides or [])
    if len(overrides) > n_agents:
        raise ConfigError(
            f"{field}.{overrides_field}", f"has {len(overrides)} entries for {n_agents} agents"
        )
    resolved: dict[tuple[str, str], str] = {}
    specs = []
    for i in range(n_agents):
        over = dict(overrides[i] or {}) if i < len(overrides) else {}
        path = f"{field}.{overrides_field}[{i}]"
        unknown = set(over) - {"env", "env_kwargs", "observation"}
        if unknown:
            raise ConfigError(
                path, f"unknown keys {sorted(unknown)}; valid: env, env_kwargs, observation"
            )
        env_id = over.get("env", env)
        shared = env_kwargs if env_id == env else None  # shared kwargs belong to the shared env
        kwargs = {**(shared or {}), **over.get("env_kwargs", {})}
        key = (env_id, repr(sorted(kwargs.items())))
        if key not in resolved:
            own = "env" in over or "env_kwargs" in over
            resolved[key] = check_env_spec(env_id, kwargs, path if own else field)
        default_obs = "identity" if heterogeneity == "none" else ("flagged", "inverted")[i % 2]
        observation = over.get("observation", default_obs)
        if observation not in OBSERVATIONS:
            raise UnknownNameError(f"{path}.observation", observation, OBSERVATIONS, "observation")
        specs.append(AgentEnvSpec(resolved[key], kwargs, observation))
    return specs
