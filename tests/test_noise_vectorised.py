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
from asyncsim.oracles.philox import first_word_normals, philox4x64, ziggurat_fast_path
from asyncsim.oracles.synthetic import GradientNoise, NonconvexOracle, QuadraticOracle
from asyncsim.oracles.ziggurat_tables import KI

UINT64 = st.integers(0, 2**64 - 1)


def numpy_philox(key, counter: tuple[int, ...]) -> np.random.Philox:
    """NumPy's Philox under ``key`` whose first block is at ``counter`` (it raises lane 0 of its
    counter before each block, so it is seated one below; lane 0 of ``counter`` is >= 1)."""
    bit_generator = np.random.Philox(key=np.array(key, dtype=np.uint64))
    state = bit_generator.state
    state["state"]["counter"][:] = (counter[0] - 1, *counter[1:])
    state["buffer_pos"] = 4
    bit_generator.state = state
    return bit_generator


def numpy_draw(key, counter: tuple[int, ...], dim: int) -> np.ndarray:
    """``standard_normal(dim)`` of a generator of its own whose first block is at ``counter``
    (gradient k's: (1, k, 0, 0))."""
    return np.random.Generator(numpy_philox(key, counter)).standard_normal(dim)


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
        np.testing.assert_array_equal(words[row], numpy_philox(key, counter).random_raw(4))


def philox_inverse(block: tuple[int, ...], key: tuple[int, int]) -> tuple[int, ...]:
    """The counter whose Philox4x64-10 block under ``key`` is ``block``: each round undone (its
    multipliers are odd, so invertible modulo 2^64), the last first."""
    multipliers, weyl, mask = (
        (0xD2E7470EE14C6C93, 0xCA5A826395121157),
        (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B),
        2**64 - 1,
    )
    inverses = [pow(m, -1, 2**64) for m in multipliers]
    out = block
    for round_ in reversed(range(10)):
        k0, k1 = ((k + round_ * w) & mask for k, w in zip(key, weyl, strict=True))
        c0, c2 = (out[3] * inverses[0]) & mask, (out[1] * inverses[1]) & mask
        c1 = out[0] ^ ((multipliers[1] * c2) >> 64) ^ k0
        c3 = out[2] ^ ((multipliers[0] * c0) >> 64) ^ k1
        out = (c0, c1, c2, c3)
    return out


def test_the_ziggurat_tables_are_numpys_at_every_layers_edge() -> None:
    """For every layer i, the largest magnitude the fast path takes (KI[i] − 1) and the smallest
    it leaves (KI[i]), of either sign, as the first word NumPy reads (its counter found by
    undoing Philox): NumPy's second value comes from the second word exactly when the fast path
    takes the first, and its first value is then ±r·WI[i], to the bit."""
    key = (0x0123456789ABCDEF, 0xFEDCBA9876543210)
    followers = [(r << 9) | 200 for r in (1000, 3000, 5000)]  # taken words, distinct values
    for layer in range(256):
        for magnitude in {max(KI[layer] - 1, 0), KI[layer]}:
            for sign in (0, 1):
                block = ((5 << 61) | (magnitude << 9) | (sign << 8) | layer, *followers)
                counter = philox_inverse(block, key)
                np.testing.assert_array_equal(
                    philox4x64(np.array([counter], np.uint64), np.array([key], np.uint64))[0],
                    np.array(block, np.uint64),
                )
                draw = numpy_draw(key, counter, 2)
                values, taken = ziggurat_fast_path(np.array(block, np.uint64))
                assert taken[0] == (draw[1] == values[1])
                assert not taken[0] or draw[0].tobytes() == values[0].tobytes()


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
        assert (
            numpy_draw(keys[row], (1, int(indices[row]), 0, 0), dim).tobytes()
            == values[row].tobytes()
        )


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
