"""Synthetic oracles: exact gradients, noise with E||ξ||² = σ², and the constants they report."""

from __future__ import annotations

import numpy as np
import pytest

from asyncsim.oracles.base import GradientJob, GradientRequest
from asyncsim.oracles.synthetic import GradientNoise, NonconvexOracle, QuadraticOracle


def _mean_gradient(oracle, point, agent, count, first=0):
    request = GradientRequest(point, (GradientJob(agent, first, count, 1.0 / count),))
    return oracle.compute([request])[0].vector


def test_noiseless_quadratic_gradient_is_minus_a_times_the_offset_to_the_centre():
    oracle = QuadraticOracle(4, 3, np.random.SeedSequence(0), noise=0.0, heterogeneity=2.0)
    point = np.array([1.0, -2.0, 0.5, 3.0])
    for agent in range(3):
        expected = -oracle.eigenvalues * (point - oracle.centres[agent])
        assert np.allclose(_mean_gradient(oracle, point, agent, 5), expected)
    assert np.allclose(oracle.centres.mean(axis=0), 0.0)
    assert np.sqrt(np.mean(np.sum(oracle.centres**2, axis=1))) == pytest.approx(2.0)
    assert oracle.gradient_norm(point) == pytest.approx(np.linalg.norm(oracle.eigenvalues * point))


@pytest.mark.parametrize("distribution", ["gaussian", "student_t"])
def test_noise_has_zero_mean_and_variance_sigma_squared(distribution):
    oracle = NonconvexOracle(
        5, 1, np.random.SeedSequence(1), noise=2.0, noise_distribution=distribution, df=5.0
    )
    point = np.zeros(5)  # ∇f(0) = 0, so the estimates are pure noise
    draws = np.array([_mean_gradient(oracle, point, 0, 1, first=k) for k in range(20000)])
    assert np.abs(draws.mean(axis=0)).max() < 0.05
    assert np.mean(np.sum(draws**2, axis=1)) == pytest.approx(4.0, rel=0.05)


def test_reported_constants():
    nonconvex = NonconvexOracle(3, 1, np.random.SeedSequence(0), curvature=1.0, ripple=2.0)
    x0 = nonconvex.initial_point()
    assert nonconvex.constants["L_g"] == 5.0 and nonconvex.constants["L_h"] == 8.0
    assert nonconvex.constants["delta"] == pytest.approx(np.sum(x0**2 / 2 + 2 * np.sin(x0) ** 2))
    quadratic = QuadraticOracle(3, 2, np.random.SeedSequence(0), noise=3.0, smoothness=4.0)
    x0 = quadratic.initial_point()
    assert quadratic.constants == pytest.approx(
        {"L_g": 4.0, "L_h": 0.0, "sigma2": 9.0, "delta": 0.5 * x0 @ (quadratic.eigenvalues * x0)}
    )


def test_the_noise_streams_are_built_at_the_first_draw_as_they_were_built_up_front():
    """An oracle built for its constants (n = 10^6) draws no stream; the streams, built at the
    first gradient, are the seed's children 0..n-1, as GradientNoise built at once gives them."""
    many = QuadraticOracle(dim=3, n_agents=10**6, seed=np.random.SeedSequence(1))
    assert "_noise" not in vars(many) and many.constants
    oracle = NonconvexOracle(dim=4, n_agents=3, seed=np.random.SeedSequence(7), noise=1.0)
    point = oracle.initial_point()
    job = GradientJob(agent=2, first_index=5, count=2, weight=1.0)
    (result,) = oracle.compute([GradientRequest(point, (job,))])
    noise = GradientNoise(np.random.SeedSequence(7), 3)
    draws = sum(noise.at(2, k).standard_normal(4) for k in (5, 6))
    expected = 2 * oracle.agent_gradient(point, 2) + draws / np.sqrt(4)
    np.testing.assert_array_equal(result.vector, expected)
