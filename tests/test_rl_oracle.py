"""PolicyGradientOracle: lazy batched gradients equal the one-at-a-time reference."""

from __future__ import annotations

import numpy as np
import pytest

from asyncsim.errors import ConfigError, UnknownNameError
from asyncsim.oracles.base import GradientJob, GradientRequest
from asyncsim.oracles.policy_gradient import PolicyGradientOracle
from asyncsim.rl.reference import reference_gradient

SEED, HORIZON, DISCOUNT = 11, 40, 0.97
JOBS = (GradientJob(0, 0, 3, 0.5), GradientJob(1, 4, 2, 2.0))


def _oracle(env: str = "Pendulum-v1", workers: int = 1, **kwargs) -> PolicyGradientOracle:
    return PolicyGradientOracle(
        env, 2, SEED, horizon=HORIZON, discount=DISCOUNT, workers=workers, **kwargs
    )


@pytest.fixture(scope="module")
def pendulum():
    with _oracle(workers=1) as one, _oracle(workers=2) as two:
        yield one, two


def _reference(oracle: PolicyGradientOracle, point: np.ndarray, jobs=JOBS) -> np.ndarray:
    """Σ_jobs w Σ_k g from the naive reference, with the oracle's normalizer if it has one."""
    total = np.zeros(oracle.dim)
    for job in jobs:
        for k in range(job.count):
            g, _ = reference_gradient(
                oracle.policy,
                oracle.config.specs[job.agent],
                point,
                SEED,
                job.agent,
                job.first_index + k,
                horizon=HORIZON,
                discount=DISCOUNT,
                normalizer=oracle.config.normalizer,
            )
            total += job.weight * g
    return total


def _assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-4) -> None:
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_batched_equals_reference_for_both_worker_counts(pendulum):
    one, two = pendulum
    point = one.initial_point()
    expected = _reference(one, point)
    by_one = one.compute([GradientRequest(point, JOBS)])[0]
    by_two = two.compute([GradientRequest(point, JOBS)])[0]
    _assert_close(by_one.vector, expected)
    np.testing.assert_array_equal(by_one.vector, by_two.vector)
    assert by_one.stats == by_two.stats
    assert by_one.stats["transitions"] == 5 * HORIZON
    assert by_one.stats["episode_length_mean"] == HORIZON


def test_normalized_observations_equal_the_reference_and_do_not_depend_on_workers():
    """The normalizer is fixed from θ_0's episodes: the same in every oracle of a seed, applied
    alike by the batched rollout and the naive reference, whatever the worker count."""
    with (
        _oracle("Hopper-v5", normalize_observations=True) as one,
        _oracle("Hopper-v5", workers=2, normalize_observations=True) as two,
    ):
        normalizer = one.config.normalizer
        np.testing.assert_array_equal(normalizer.mean, two.config.normalizer.mean)
        np.testing.assert_array_equal(normalizer.scale, two.config.normalizer.scale)
        assert np.all(normalizer.scale >= normalizer.FLOOR)
        point = one.initial_point()
        by_one = one.compute([GradientRequest(point, JOBS)])[0]
        by_two = two.compute([GradientRequest(point, JOBS)])[0]
        np.testing.assert_array_equal(by_one.vector, by_two.vector)
        _assert_close(by_one.vector, _reference(one, point))
        with _oracle("Hopper-v5") as raw:
            assert not np.allclose(raw.compute([GradientRequest(point, JOBS)])[0].vector,
                                   by_one.vector)  # fmt: skip


def test_normalizer_centres_scales_and_clips():
    from asyncsim.rl.rollout import ObservationNormalizer

    sample = np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0]])
    normalizer = ObservationNormalizer.fit(sample)
    np.testing.assert_array_equal(normalizer.mean, [1.0, 5.0, 2.0])
    np.testing.assert_array_equal(normalizer.scale, np.float32([1.0, normalizer.FLOOR, 1.0]))
    x = normalizer(np.array([[3.0, 5.5, -100.0]], np.float32))
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [[2.0, 10.0, -10.0]])  # 0.5/0.01 = 50 and -102 clipped


def test_two_points_in_one_call_equal_separate_calls(pendulum):
    one, two = pendulum
    p0 = one.initial_point()
    p1 = p0 + 0.05 * np.random.default_rng(0).standard_normal(one.dim)
    requests = [GradientRequest(p0, JOBS), GradientRequest(p1, JOBS[1:])]
    together = two.compute(requests)
    for request, result in zip(requests, together, strict=True):
        alone = one.compute([request])[0]
        _assert_close(result.vector, alone.vector, rtol=1e-5)
        assert result.stats == alone.stats
    _assert_close(together[1].vector, _reference(one, p1, JOBS[1:]))


def test_weights_scale_and_add(pendulum):
    one, _ = pendulum
    point = one.initial_point()
    a, b = GradientJob(0, 0, 2, 1.0), GradientJob(1, 0, 1, 1.0)
    ga, gb = (one.compute([GradientRequest(point, (j,))])[0].vector for j in (a, b))
    scaled = one.compute([GradientRequest(point, (GradientJob(0, 0, 2, -3.0), b))])[0].vector
    _assert_close(scaled, -3.0 * ga + gb, rtol=1e-5)


def test_request_without_jobs_is_zero(pendulum):
    one, _ = pendulum
    point = one.initial_point()
    empty, full = one.compute([GradientRequest(point, ()), GradientRequest(point, JOBS[:1])])
    np.testing.assert_array_equal(empty.vector, np.zeros(one.dim))
    assert empty.stats == {"transitions": 0.0} and full.stats["transitions"] == 3 * HORIZON


def test_same_seed_same_start_and_gradients(pendulum):
    one, _ = pendulum
    other_seed = PolicyGradientOracle("Pendulum-v1", 2, SEED + 1, horizon=HORIZON, workers=1)
    with _oracle() as again, other_seed as other:
        np.testing.assert_array_equal(again.initial_point(), one.initial_point())
        assert not np.array_equal(other.initial_point(), one.initial_point())
        request = [GradientRequest(one.initial_point(), JOBS)]
        np.testing.assert_array_equal(
            again.compute(request)[0].vector, one.compute(request)[0].vector
        )
    assert one.gradient_norm(one.initial_point()) is None


def test_evaluate_is_deterministic(pendulum):
    one, two = pendulum
    stats = one.evaluate(one.initial_point(), 3)
    assert stats == two.evaluate(one.initial_point(), 3)
    assert set(stats) == {"return_mean", "discounted_return_mean", "episode_length_mean"}
    assert stats["return_mean"] < stats["discounted_return_mean"] < 0  # Pendulum costs


def test_bad_arguments_name_the_field():
    with pytest.raises(ConfigError, match=r"^oracle\.horizon: must be >= 1, got 0$"):
        PolicyGradientOracle("Pendulum-v1", 1, 0, horizon=0)
    with pytest.raises(ConfigError, match=r"^oracle\.discount: must be in \(0, 1\], got 1\.5$"):
        PolicyGradientOracle("Pendulum-v1", 1, 0, discount=1.5)
    with pytest.raises(UnknownNameError, match="did you mean 'mlp'"):
        PolicyGradientOracle("Pendulum-v1", 1, 0, policy="mpl")


@pytest.mark.mujoco
def test_hopper_lazy_lengths_cache_and_reference():
    """Per-step timing on a terminating task: lengths come first, compute reuses them, and
    trajectories are bit-identical whether rolled out alone or in a batch, by 1 or 2 workers."""
    jobs = (GradientJob(0, 0, 4, 0.25), GradientJob(1, 1, 2, 1.0))
    with _oracle("Hopper-v5", workers=2) as two, _oracle("Hopper-v5", workers=1) as one:
        point = two.initial_point()
        lengths = [
            two.trajectory_length(point, j.agent, j.first_index + k)
            for j in jobs
            for k in range(j.count)
        ]
        assert min(lengths) < HORIZON  # the untrained hopper falls
        cached = two.compute([GradientRequest(point, jobs)])[0]
        assert cached.stats["transitions"] == sum(lengths)
        fresh = one.compute([GradientRequest(point, jobs)])[0]
        np.testing.assert_array_equal(cached.vector, fresh.vector)
        alone = [
            one.compute(
                [GradientRequest(point, (GradientJob(j.agent, j.first_index + k, 1, 1.0),))]
            )[0]
            for j in jobs
            for k in range(j.count)
        ]
        assert [r.stats["transitions"] for r in alone] == lengths
        _assert_close(cached.vector, _reference(one, point, jobs), rtol=1e-3)
