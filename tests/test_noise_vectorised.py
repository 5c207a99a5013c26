"""The synthetic oracles' noise in array arithmetic is NumPy's, and their sums are the same bits as
one gradient at a time.

The reference here is the definition: gradient (agent i, index k) seats agent i's Philox stream at
counter (0, k, 0, 0) and draws ``standard_normal(d)`` (or the rescaled Student-t); a request adds
weight · (count · ∇J_i + (σ/√d) Σ_k ξ_{i,k}) job after job from a zero vector, the k-sum also
from a zero vector.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsim.core.oracle import GradientJob, GradientRequest
from asyncsim.oracles.philox import first_word_normals, philox4x64
from asyncsim.oracles.synthetic import GradientNoise, NonconvexOracle, QuadraticOracle

UINT64 = st.integers(0, 2**64 - 1)


def numpy_block(counter: tuple[int, ...], key: tuple[int, int]) -> np.ndarray:
    """The four words NumPy's Philox gives for the block at ``counter`` (it raises lane 0 of its
    counter before each block, so it is seated one below; lane 0 of ``counter`` is >= 1)."""
    bit_generator = np.random.Philox(key=np.array(key, dtype=np.uint64))
    state = bit_generator.state
    state["state"]["counter"][:] = (counter[0] - 1, *counter[1:])
    state["buffer_pos"] = 4
    bit_generator.state = state
    return bit_generator.random_raw(4)


def numpy_draw(key: np.ndarray, index: int, dim: int) -> np.ndarray:
    """``standard_normal(dim)`` of a generator of its own seated at (0, index, 0, 0)."""
    bit_generator = np.random.Philox(key=key)
    state = bit_generator.state
    state["state"]["counter"][:] = (0, index, 0, 0)
    bit_generator.state = state
    return np.random.Generator(bit_generator).standard_normal(dim)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.tuples(st.integers(1, 2**64 - 1), UINT64, UINT64, UINT64), st.tuples(UINT64, UINT64)
        ),
        min_size=1,
        max_size=8,
    )
)
def test_philox_blocks_are_numpys(blocks) -> None:
    counters = np.array([counter for counter, _ in blocks], dtype=np.uint64)
    keys = np.array([key for _, key in blocks], dtype=np.uint64)
    words = philox4x64(counters, keys)
    for row, (counter, key) in enumerate(blocks):
        np.testing.assert_array_equal(words[row], numpy_block(counter, key))


@pytest.mark.parametrize("dim", [1, 2, 3, 4, 5, 8, 9, 13])
def test_first_word_normals_are_numpys_draws_where_they_say_so(dim: int) -> None:
    """Rows marked exact are NumPy's draws to the bit; over many streams some are not (a word
    the ziggurat's fast path rejects: NumPy reads more words there)."""
    rng = np.random.default_rng(dim)
    keys = rng.integers(0, 2**64, size=(600, 2), dtype=np.uint64)
    indices = rng.integers(0, 2**62, size=600)
    values, exact = first_word_normals(keys, indices, dim)
    assert 0 < exact.sum() < 600
    for row in np.flatnonzero(exact):
        assert numpy_draw(keys[row], int(indices[row]), dim).tobytes() == values[row].tobytes()


@pytest.mark.parametrize("dim", [1, 3, 8, 9])
def test_many_draws_at_once_are_the_draws_one_at_a_time(dim: int) -> None:
    """GradientNoise.standard_normal in array arithmetic (in passes of 7 draws) and through
    ``at`` alike: the rows of ``at(agent, index).standard_normal(dim)``, repeated pairs too."""
    rng = np.random.default_rng(dim)
    agents = rng.integers(0, 40, size=300)
    indices = rng.integers(0, 2**40, size=300)
    indices[::3] = rng.integers(0, 3, size=100)
    expected = GradientNoise(np.random.SeedSequence(5), 40)
    rows = np.array(
        [expected.at(a, k).standard_normal(dim) for a, k in zip(agents, indices, strict=True)]
    )
    noise = GradientNoise(np.random.SeedSequence(5), 40)
    noise.VECTORISED_FROM, noise.DRAWS_AT_ONCE = 1, 7
    assert noise.standard_normal(agents, indices, dim).tobytes() == rows.tobytes()
    assert (
        GradientNoise(np.random.SeedSequence(5), 40).standard_normal(agents, indices, dim).tobytes()
        == rows.tobytes()
    )


def one_job_at_a_time(oracle, request: GradientRequest) -> np.ndarray:
    """The definition of a request's value, one gradient at a time."""
    scale = math.sqrt((oracle.df - 2.0) / oracle.df)
    total = np.zeros(oracle.dim)
    for job in request.jobs:
        gradient = oracle.agent_gradient(request.point, 0 if oracle.homogeneous else job.agent)
        noise = np.zeros(oracle.dim)
        if oracle.noise != 0.0:
            for index in range(job.first_index, job.first_index + job.count):
                rng = oracle._noise.at(job.agent, index)
                if oracle.noise_distribution == "gaussian":
                    noise += rng.standard_normal(oracle.dim)
                else:
                    noise += scale * rng.standard_t(oracle.df, oracle.dim)
            noise = (oracle.noise / math.sqrt(oracle.dim)) * noise
        total += job.weight * (job.count * gradient + noise)
    return total


JOBS = st.lists(
    st.tuples(
        st.integers(0, 5),  # agent
        st.one_of(st.integers(0, 20), st.integers(0, 2**62)),  # first index
        st.one_of(st.integers(1, 3), st.integers(1, 300)),  # count: short, or a long run
        st.sampled_from([1.0, 0.5, -1 / 3, 0.0, -0.0, 2, 1e-300]),  # weight
    ),
    max_size=30,
)


@settings(max_examples=120, deadline=None)
@given(
    kind=st.sampled_from(["quadratic", "heterogeneous", "nonconvex"]),
    dim=st.integers(1, 20),
    noise=st.sampled_from([1.0, 0.0, 2.5]),
    distribution=st.sampled_from(["gaussian", "gaussian", "student_t"]),
    requests=st.lists(
        st.tuples(st.sampled_from([0.0, 1.0, -2.5, 7.25]), JOBS), min_size=1, max_size=3
    ),
    passes=st.tuples(st.integers(1, 70), st.integers(1, 9)),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_request_is_the_sum_one_gradient_at_a_time(
    kind, dim, noise, distribution, requests, passes, seed
) -> None:
    """Bit for bit, in array arithmetic forced on (any number of draws and dimension, passes of
    a few draws and jobs), one job at a time, and as shipped, over random job lists: long
    runs, repeated agents, weights of either sign and zero, points where ∇J has zeros (−0.0
    included)."""
    parameters = {"dim": dim, "n_agents": 6, "noise": noise, "noise_distribution": distribution}
    if kind == "nonconvex":
        make = lambda: NonconvexOracle(seed=np.random.SeedSequence(seed), **parameters)  # noqa: E731
    else:
        heterogeneity = 1.5 if kind == "heterogeneous" else 0.0
        make = lambda: QuadraticOracle(  # noqa: E731
            seed=np.random.SeedSequence(seed), heterogeneity=heterogeneity, **parameters
        )
    batch = [
        GradientRequest(np.full(dim, value), tuple(GradientJob(*job) for job in jobs))
        for value, jobs in requests
    ]
    reference = make()
    expected = [one_job_at_a_time(reference, request) for request in batch]
    in_arrays, one_by_one = make(), make()
    in_arrays.JOBS_IN_ARRAYS_FROM, in_arrays.JOBS_AT_ONCE = 0, passes[1]
    noise = in_arrays._noise
    noise.VECTORISED_FROM, noise.VECTORISED_DIM, noise.DRAWS_AT_ONCE = 1, 20, passes[0]
    one_by_one.JOBS_IN_ARRAYS_FROM = 10**9
    for oracle in (in_arrays, one_by_one, make()):
        for result, vector in zip(oracle.compute(batch), expected, strict=True):
            assert result.vector.tobytes() == vector.tobytes()


def test_the_heterogeneous_gradients_at_once_are_the_gradients_one_by_one() -> None:
    oracle = QuadraticOracle(dim=4, n_agents=9, seed=np.random.SeedSequence(3), heterogeneity=2.0)
    point, agents = np.linspace(-1.0, 2.0, 4), np.array([8, 0, 3, 3, 5])
    rows = np.array([oracle.agent_gradient(point, agent) for agent in agents])
    assert oracle.agent_gradients(point, agents).tobytes() == rows.tobytes()
    generic = NonconvexOracle.agent_gradients(oracle, point, agents)  # the base class's loop
    assert generic.tobytes() == rows.tobytes()
