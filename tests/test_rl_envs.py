"""Environment construction: ids, v4→v5-style fallbacks, per-agent specs and observations."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from asyncsim.errors import ConfigError, UnknownNameError
from asyncsim.oracles.policy_gradient import PolicyGradientOracle
from asyncsim.rl.envs import (
    AgentEnvSpec,
    agent_env_specs,
    apply_observation,
    buildable_env_ids,
    check_env_spec,
    resolve_env_id,
)
from asyncsim.rl.rollout import BatchRoller


def test_apply_observation_transforms():
    s = np.array([1.5, -2.0])
    np.testing.assert_array_equal(apply_observation("identity", s), s)
    np.testing.assert_array_equal(apply_observation("flagged", s), [1.5, -2.0, 0.0])
    np.testing.assert_array_equal(apply_observation("inverted", s), [-1.5, 2.0, 1.0])
    rows = apply_observation(np.array(["flagged", "inverted"]), np.stack([s, s]))
    np.testing.assert_array_equal(rows, [[1.5, -2.0, 0.0], [-1.5, 2.0, 1.0]])


def test_inverted_observation_specs_alternate():
    specs = agent_env_specs(4, "Pendulum-v1", heterogeneity="inverted_observation")
    assert [s.observation for s in specs] == ["flagged", "inverted", "flagged", "inverted"]
    assert all(s.env_id == "Pendulum-v1" for s in specs)
    assert [s.observation for s in agent_env_specs(2, "Pendulum-v1")] == ["identity"] * 2


def test_agents_see_s_0_and_minus_s_1():
    """Same reset seed for both agents: agent 1 sees (s_0, 0), agent 2 sees (-s_0, 1)."""
    with PolicyGradientOracle(
        "Pendulum-v1", 2, 0, horizon=3, heterogeneity="inverted_observation", workers=1
    ) as oracle:
        roller = BatchRoller(oracle.config)
        first, second = roller.rollout(oracle.initial_point()[None], [(0, 0, (7,)), (0, 1, (7,))])
        roller.close()
    s0 = first.obs[0, :3]
    assert first.obs[0, 3] == 0.0 and second.obs[0, 3] == 1.0
    np.testing.assert_array_equal(second.obs[0, :3], -s0)
    assert oracle.policy.obs_dim == 4


def test_overrides_set_per_agent_env_and_kwargs():
    specs = agent_env_specs(
        3,
        "Pendulum-v1",
        {"g": 9.0},
        overrides=[
            None,
            {"env_kwargs": {"g": 3.0}},
            {"env": "MountainCarContinuous-v0"},
        ],
    )
    assert specs[0] == AgentEnvSpec("Pendulum-v1", {"g": 9.0}, "identity")
    assert specs[1].env_kwargs == {"g": 3.0}
    assert specs[2].env_id == "MountainCarContinuous-v0"
    assert not specs[0].same_env(specs[1])


def test_bad_overrides_name_the_field():
    with pytest.raises(
        ConfigError, match=r"oracle\.agent_overrides\[1\]: unknown keys \['gravity'\]"
    ):
        agent_env_specs(2, "Pendulum-v1", overrides=[{}, {"gravity": 1}])
    with pytest.raises(
        UnknownNameError, match=r"agent_overrides\[0\]\.observation: unknown observation 'invert'"
    ):
        agent_env_specs(1, "Pendulum-v1", overrides=[{"observation": "invert"}])
    with pytest.raises(UnknownNameError, match="did you mean 'inverted_observation'"):
        agent_env_specs(1, "Pendulum-v1", heterogeneity="inverted_observations")


def test_agents_with_different_sizes_are_rejected():
    with pytest.raises(ConfigError, match=r"oracle\.agent_overrides\[1\]: agent 1 has"):
        PolicyGradientOracle(
            "Pendulum-v1", 2, 0, agent_overrides=[None, {"env": "MountainCarContinuous-v0"}]
        )


def test_unknown_env_id_names_close_matches():
    with pytest.raises(
        UnknownNameError,
        match=r"^oracle\.env: unknown environment 'Pendulum-v2' \(did you mean 'Pendulum-v1'",
    ):
        resolve_env_id("Pendulum-v2", "oracle.env")
    with pytest.raises(UnknownNameError, match="Hopper-v5"):
        PolicyGradientOracle("Hoper-v5", 1, 0)


@pytest.mark.mujoco
def test_unbuildable_mujoco_version_maps_to_v5_with_warning():
    """v2/v3 ids need mujoco-py (not installed): they map to v5. v4 builds with this MuJoCo."""
    with pytest.warns(
        UserWarning, match=r"oracle\.env: 'Hopper-v3' is unavailable .* using 'Hopper-v5'"
    ):
        assert resolve_env_id("Hopper-v3", "oracle.env") == "Hopper-v5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("error", UserWarning)
        assert resolve_env_id("Hopper-v4", "oracle.env") == "Hopper-v4"


@pytest.mark.parametrize(
    ("env_id", "kwargs", "expected"),
    [
        ("CartPole-v1", {}, r"^oracle\.env: CartPole-v1 has a Discrete\(2\) action space"),
        ("FrozenLake-v1", {}, r"^oracle\.env: FrozenLake-v1 has a Discrete\(4\) action space"),
        ("Taxi-v4", {}, r"^oracle\.env: Taxi-v4 has a Discrete\(6\) action space"),
        ("Pendulum-v1", {"bogus": 1}, r"^oracle\.env_kwargs: Pendulum-v1 does not accept \{'bogus"),
        ("Pendulum-v1", {"g": "x"}, r"^oracle\.env_kwargs: Pendulum-v1 does not accept \{'g': 'x'"),
    ],
)
def test_check_env_spec_refuses_discrete_spaces_and_bad_kwargs(env_id, kwargs, expected):
    with pytest.raises(ConfigError, match=expected) as info:
        check_env_spec(env_id, kwargs)
    assert "\n" not in str(info.value)


def test_check_env_spec_names_the_agent_field_and_runs_at_oracle_construction():
    assert check_env_spec("Pendulum-v1", {"g": 3.0}) == "Pendulum-v1"
    with pytest.raises(ConfigError, match=r"^oracle\.agent_overrides\[1\]\.env: CartPole-v1 has"):
        agent_env_specs(2, "Pendulum-v1", overrides=[None, {"env": "CartPole-v1"}])
    with pytest.raises(ConfigError, match=r"^oracle\.env_kwargs: Pendulum-v1 does not accept"):
        PolicyGradientOracle("Pendulum-v1", 1, 0, env_kwargs={"bogus": 1})


def test_buildable_env_ids_leave_out_what_cannot_run_here_with_the_reason():
    usable, unusable = buildable_env_ids()
    assert {"Pendulum-v1", "MountainCarContinuous-v0"} <= set(usable)
    assert "CartPole-v1" not in usable and "Discrete" in unusable["CartPole-v1"]
    assert set(usable).isdisjoint(unusable)
    assert set(usable) | set(unusable) == set(gym.registry)
    for env_id, reason in unusable.items():
        assert reason and "\n" not in reason, env_id


@pytest.mark.mujoco
def test_buildable_env_ids_have_the_mujoco_v5_tasks_and_not_v2_v3():
    usable, unusable = buildable_env_ids()
    assert {"Hopper-v5", "Humanoid-v5"} <= set(usable)
    assert unusable["Hopper-v3"].startswith("cannot be built here:")
