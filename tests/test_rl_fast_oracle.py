"""The policy-gradient oracle on the MuJoCo fast path: the same gradients as through Gymnasium,
and trajectories independent of batch splits, worker counts and thread counts."""

from __future__ import annotations

import numpy as np
import pytest

from asyncsim.oracles.base import GradientJob, GradientRequest
from asyncsim.oracles.policy_gradient import PolicyGradientOracle
from asyncsim.rl.envs import AgentEnvSpec
from asyncsim.rl.mujoco_batch import BatchedMujocoEnv
from asyncsim.rl.rollout import (
    NOISE_CHUNK,
    BatchRoller,
    GymnasiumEnvs,
    RolloutPool,
    stream,
    trajectory_randomness,
    trajectory_rng,
)

pytestmark = pytest.mark.mujoco

SEED, HORIZON = 5, 60
JOBS = (GradientJob(0, 0, 3, 0.5), GradientJob(1, 2, 2, 2.0))


def _oracle(env: str, **kwargs) -> PolicyGradientOracle:
    kwargs.setdefault("workers", 1)
    return PolicyGradientOracle(env, 2, SEED, horizon=HORIZON, discount=0.99, **kwargs)


def _two_points(oracle: PolicyGradientOracle) -> list[GradientRequest]:
    p0 = oracle.initial_point()
    p1 = p0 + 0.02 * np.random.default_rng(1).standard_normal(oracle.dim)
    return [GradientRequest(p0, JOBS), GradientRequest(p1, JOBS[1:])]


@pytest.mark.parametrize("env", ["Hopper-v5", "Humanoid-v5", "Reacher-v5"])
def test_same_gradients_with_fast_path_on_and_off(env):
    with _oracle(env) as fast, _oracle(env, fast_path=False) as slow:
        assert fast.environment_paths() == {env: "mujoco-batch"}
        assert slow.environment_paths() == {env: "gymnasium"}
        requests = _two_points(fast)
        for on, off in zip(fast.compute(requests), slow.compute(requests), strict=True):
            np.testing.assert_allclose(on.vector, off.vector, rtol=1e-9, atol=1e-12)
            assert on.stats == pytest.approx(off.stats, rel=1e-12)


def test_fast_path_can_be_switched_off_after_construction():
    with _oracle("Hopper-v5") as oracle:
        requests = _two_points(oracle)
        on = oracle.compute(requests)
        oracle.fast_path = False
        assert oracle.environment_paths() == {"Hopper-v5": "gymnasium"}
        off = oracle.compute(requests)
    for a, b in zip(on, off, strict=True):
        np.testing.assert_allclose(a.vector, b.vector, rtol=1e-9, atol=1e-12)


def test_trajectories_do_not_depend_on_batch_split_threads_or_workers():
    """Each trajectory is the same alone, in a batch, on 2 MuJoCo threads, or split over 2
    worker processes (Humanoid: contact forces, early terminations)."""
    with _oracle("Humanoid-v5") as oracle:
        config = oracle.config
        points = np.stack([r.point for r in _two_points(oracle)])
    items = [(b % 2, b % 2, (1, b % 2, b)) for b in range(5)]
    one, threaded = BatchRoller(config), BatchRoller(config, threads=2)
    together = one.rollout(points, items)
    alone = [one.rollout(points, [item])[0] for item in items]
    two_threads = threaded.rollout(points, items)
    pool = RolloutPool(config, 2, threads=False)  # 2 processes
    by_processes = pool.rollout(points, items)
    for closable in (one, threaded, pool):
        closable.close()
    assert min(tr.length for tr in together) < HORIZON
    for other in (alone, two_threads, by_processes):
        for a, b in zip(together, other, strict=True):
            np.testing.assert_array_equal(a.obs, b.obs)
            np.testing.assert_array_equal(a.u, b.u)
            np.testing.assert_array_equal(a.rewards, b.rewards)


def test_noise_drawn_in_chunks_equals_the_whole_horizon():
    seq = stream(np.random.SeedSequence(3), 1, 0, 7)
    seed, whole = trajectory_randomness(seq, 3 * NOISE_CHUNK + 5, 4)
    again, rng = trajectory_rng(seq)
    chunks = [rng.standard_normal((NOISE_CHUNK, 4), np.float32) for _ in range(4)]
    assert seed == again
    np.testing.assert_array_equal(np.concatenate(chunks)[: len(whole)], whole)


def test_slots_of_both_kinds_return_the_same_steps():
    """GymnasiumEnvs and BatchedMujocoEnv agree slot by slot (the roller's two env kinds)."""
    spec = AgentEnvSpec("Walker2d-v5")
    gym_slots, fast_slots = GymnasiumEnvs(spec, 100), BatchedMujocoEnv(spec, 100)
    for slots in (gym_slots, fast_slots):
        slots.ensure(4)
    ids = np.arange(4, dtype=np.int32)
    np.testing.assert_array_equal(
        gym_slots.reset(ids, [1, 2, 3, 4]), fast_slots.reset(ids, [1, 2, 3, 4])
    )
    actions = np.random.default_rng(0).uniform(-1, 1, (20, 4, 6)).astype(np.float32)
    for a in actions:
        for x, y in zip(gym_slots.step(ids, a), fast_slots.step(ids, a), strict=True):
            np.testing.assert_array_equal(x, y)
    gym_slots.close()
    fast_slots.close()


def test_uncovered_mujoco_environment_falls_back_with_a_warning():
    with pytest.warns(UserWarning, match=r"render_mode.*not covered.*through Gymnasium"):
        oracle = _oracle("Hopper-v5", env_kwargs={"render_mode": "rgb_array"})
    with oracle:
        assert oracle.environment_paths() == {"Hopper-v5 {'render_mode': 'rgb_array'}": "gymnasium"}


def test_agents_on_different_environment_groups_step_together():
    """Agent 1 runs another Hopper task (own group), agent 2 one the fast path does not
    cover (Gymnasium): one batch mixes both kinds of slots, with the values of fast_path off."""
    overrides = [
        None,
        {"env_kwargs": {"forward_reward_weight": 2.0}},
        {"env_kwargs": {"render_mode": "rgb_array"}},
    ]
    kwargs = {"workers": 1, "agent_overrides": overrides}
    with pytest.warns(UserWarning, match="render_mode"):
        mixed = PolicyGradientOracle("Hopper-v5", 3, SEED, horizon=HORIZON, **kwargs)
    slow = PolicyGradientOracle("Hopper-v5", 3, SEED, horizon=HORIZON, fast_path=False, **kwargs)
    assert list(mixed.environment_paths().values()) == ["mujoco-batch", "mujoco-batch", "gymnasium"]
    jobs = tuple(GradientJob(agent, 0, 2, 1.0) for agent in range(3))
    request = [GradientRequest(mixed.initial_point(), jobs)]
    with mixed, slow:
        a, b = mixed.compute(request)[0], slow.compute(request)[0]
    np.testing.assert_allclose(a.vector, b.vector, rtol=1e-9, atol=1e-12)
    assert a.stats == pytest.approx(b.stats, rel=1e-12)


def test_a_scenario_gives_the_same_bytes_with_the_fast_path_off(tmp_path):
    """``oracle.fast_path: false`` in a scenario: every environment through Gymnasium, and
    the run's tables byte for byte those of the fast path."""
    from click.testing import CliRunner

    from asyncsim.cli import main

    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: fast\n"
        "oracle: {kind: policy_gradient, env: InvertedPendulum-v5, horizon: 30, workers: 1,"
        " policy: {hidden: [8]}}\n"
        "cluster: {n: 3, compute: {h: 'i'}, uplink: {time: 1}}\n"
        "methods: [{name: rennala_nigt, lr: 0.01, batch: 4}, {name: afedpg, lr: 0.01}]\n"
        "budget: {iterations: 6}\n"
    )
    for on in ("true", "false"):
        args = ["run", str(scenario), "--out", str(tmp_path / on), "-q"]
        result = CliRunner().invoke(main, [*args, "--set", f"oracle.fast_path={on}"])
        assert result.exit_code == 0, result.output
    for method in ("rennala_nigt", "afedpg"):
        for table in ("iterations.csv", "trace.csv"):
            on, off = (tmp_path / d / method / table for d in ("true", "false"))
            assert on.read_bytes() == off.read_bytes()
