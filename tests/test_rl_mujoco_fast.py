"""The MuJoCo fast path equals Gymnasium's environments: same states bit for bit, observations
and rewards within 1e-10, same termination steps, over 1,000 steps with resets."""

from __future__ import annotations

import inspect

import gymnasium as gym
import numpy as np
import pytest

from asyncsim.rl.envs import AgentEnvSpec, make_env
from asyncsim.rl.mujoco_batch import (
    FAST_PATH_IDS,
    BatchedMujocoEnv,
    fast_env_ids,
    fast_path_reason,
)

pytestmark = pytest.mark.mujoco

STEPS = 1000


def _declared_kwargs(env_id: str) -> set[str]:
    cls = gym.spec(env_id).entry_point
    module, name = cls.split(":")
    cls = getattr(__import__(module, fromlist=[name]), name)
    return {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")}


def _compare(env_id: str, env_kwargs: dict, steps: int = STEPS, threads: int = 1) -> dict:
    """Step three Gymnasium environments and three fast-path slots under the same actions;
    slot 2 is stepped every other step only (a partial batch). Returns counts for the caller."""
    spec = AgentEnvSpec(env_id, env_kwargs)
    gyms = [make_env(spec, steps) for _ in range(3)]
    fast = BatchedMujocoEnv(spec, steps, threads)
    fast.ensure(3)
    space = gyms[0].action_space
    rng = np.random.default_rng(7)
    seeds = iter(range(10_000))
    slots = np.arange(3, dtype=np.int32)

    def reset(which: np.ndarray) -> None:
        chosen = [next(seeds) for _ in which]
        first = fast.reset(which, chosen)
        for k, (b, seed) in enumerate(zip(which, chosen, strict=True)):
            expected, _ = gyms[b].reset(seed=seed)
            np.testing.assert_array_equal(first[k], expected)

    reset(slots)
    counts = {"terminations": 0, "steps": 0}
    for t in range(steps):
        live = slots if t % 2 == 0 else slots[:2]
        actions = rng.uniform(space.low, space.high, (len(live), *space.shape)).astype(np.float32)
        obs, rewards, terminated = fast.step(live, actions)
        for k, b in enumerate(live):
            o, r, term, _, _ = gyms[b].step(actions[k])
            data = gyms[b].unwrapped.data
            np.testing.assert_array_equal(fast.sims.qpos[b], data.qpos, err_msg=f"t={t}")
            np.testing.assert_array_equal(fast.sims.qvel[b], data.qvel, err_msg=f"t={t}")
            np.testing.assert_allclose(obs[k], o, rtol=0, atol=1e-10, err_msg=f"t={t} slot {b}")
            assert abs(rewards[k] - r) <= 1e-10, (t, b, rewards[k], r)
            assert bool(terminated[k]) == term, (t, b)
        counts["steps"] += len(live)
        ended = live[terminated]
        counts["terminations"] += len(ended)
        if len(ended):
            reset(ended)
    fast.close()
    for env in gyms:
        env.close()
    return counts


@pytest.mark.parametrize("env_id", FAST_PATH_IDS)
def test_fast_path_equals_gymnasium(env_id):
    counts = _compare(env_id, {})
    if env_id in ("Hopper-v5", "Walker2d-v5", "Humanoid-v5", "InvertedPendulum-v5"):
        assert counts["terminations"] > 0  # the resets were exercised too


def test_fast_path_with_kwargs_and_threads():
    """Non-default task arguments are read from the environment; 2 threads change nothing."""
    kwargs = {
        "forward_reward_weight": 2.0,
        "ctrl_cost_weight": 0.3,
        "healthy_z_range": (0.9, 2.0),
        "exclude_current_positions_from_observation": False,
        "include_cvel_in_observation": False,
        "reset_noise_scale": 0.05,
    }
    _compare("Humanoid-v5", kwargs, steps=200, threads=2)
    _compare("Ant-v5", {"main_body": "torso", "contact_force_range": (-2.0, 2.0)}, steps=200)
    hopper = {"healthy_angle_range": (-0.5, 0.1), "healthy_state_range": (-50.0, 0.05)}
    assert _compare("Hopper-v5", hopper, steps=300)["terminations"] > 0
    walker = {"terminate_when_unhealthy": False, "healthy_reward": 2.0, "frame_skip": 2}
    assert _compare("Walker2d-v5", walker, steps=300)["terminations"] == 0


@pytest.mark.parametrize("env_id", FAST_PATH_IDS)
def test_every_declared_argument_is_covered_or_refused(env_id):
    """Each constructor argument of Gymnasium's class is either covered (read by the task) or
    sends the spec to Gymnasium with the argument named."""
    from asyncsim.rl.mujoco_batch import _TASKS

    declared = _declared_kwargs(env_id)
    assert _TASKS[env_id].kwargs <= declared | {"xml_file", "frame_skip"}
    assert fast_path_reason(AgentEnvSpec(env_id, {"render_mode": "rgb_array"})) == (
        f"{env_id}: env_kwargs ['render_mode'] are not covered by the fast path"
    )


def test_uncovered_ids_name_the_reason():
    assert set(fast_env_ids()) == set(FAST_PATH_IDS)
    assert fast_path_reason(AgentEnvSpec("Hopper-v5")) is None
    assert "has no fast path" in fast_path_reason(AgentEnvSpec("Hopper-v4"))
    assert "has no fast path" in fast_path_reason(AgentEnvSpec("Pendulum-v1"))
