"""Synthetic gradient oracles with known constants, for measuring time to ε-stationarity fast.

Methods *ascend* (they are written for returns J), so a synthetic oracle for a function f to be
minimised returns stochastic estimates of ∇J = −∇f. ``gradient_norm`` gives ||∇f|| exactly.
Noise ξ has E ξ = 0 and E||ξ||² = σ² (``noise`` = σ), Gaussian or Student-t (heavy-tailed,
rescaled to the same variance). The noise of gradient (agent i, index k) is a function of
(seed, i, k) alone (:class:`GradientNoise`), so a gradient is the same in any request order or
batch split, as the oracle contract asks (:func:`asyncsim.run.checks.check_oracle`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from asyncsim.core.linalg import norm
from asyncsim.core.oracle import GradientOracle, GradientRequest, GradientResult
from asyncsim.core.registry import Params, register_oracle
from asyncsim.core.seeds import child_states
from asyncsim.oracles.philox import first_word_normals

__all__ = [
    "GradientNoise",
    "NonconvexOracle",
    "NonconvexOracleConfig",
    "QuadraticOracle",
    "QuadraticOracleConfig",
    "SyntheticOracle",
]


class GradientNoise:
    """Standard normal (or Student-t) draws of gradient (agent, index), keyed by both.

    Agent i owns a Philox counter-based stream keyed by its child of the seed; gradient k
    reads the substream whose counter starts at (0, k, 0, 0) (2^64 draws apart from its
    neighbours). One Philox generator serves every agent: :meth:`at` seats the agent's key and
    the gradient's counter in it, and an agent's key (16 bytes; a generator of its own took
    about 1 KB, 1 GB at n = 10^6) is made from its child of the seed at its first draw. Seating
    a state costs about half of reading and re-seating one generator's (1.7 µs a gradient),
    against 6.8 µs for a new Philox generator and 9.6 µs for one from a SeedSequence (d = 10).
    :meth:`standard_normal` draws many gradients' normals at once, the same numbers.
    """

    #: fewer draws than this are faster seated one by one (a pass of array arithmetic costs
    #: about 0.4 ms whatever its length)
    VECTORISED_FROM = 256
    #: largest dimension drawn by array arithmetic: a row is exact only when none of its d
    #: words is rejected by the ziggurat's fast path (0.985^d of rows), the others are redrawn
    VECTORISED_DIM = 16
    #: draws per pass of array arithmetic (2^16 × d values: memory stays small at any n)
    DRAWS_AT_ONCE = 2**16

    def __init__(self, seed: np.random.SeedSequence, n_agents: int) -> None:
        self._seed = seed
        self._first_child = seed.n_children_spawned  # what seed.spawn(n_agents) would give
        self._keys = np.zeros((n_agents, 2), dtype=np.uint64)
        self._keyed = np.zeros(n_agents, dtype=bool)
        self._generator = np.random.Generator(np.random.Philox(key=0))
        self._state = self._generator.bit_generator.state  # seated by at()

    def at(self, agent: int, index: int) -> np.random.Generator:
        """The generator positioned at gradient ``index``'s substream of agent ``agent``
        (until the next call: draw from it at once)."""
        state = self._state
        state["state"]["key"] = self._key(agent)
        state["state"]["counter"][:] = (0, index, 0, 0)
        state["buffer_pos"] = 4  # the buffer of drawn words is empty
        state["has_uint32"] = 0
        generator = self._generator
        generator.bit_generator.state = state
        return generator

    def standard_normal(self, agents: np.ndarray, indices: np.ndarray, dim: int) -> np.ndarray:
        """``at(agent, index).standard_normal(dim)`` of each (agent, index) pair: m × dim.

        Many low-dimensional draws go through :func:`~asyncsim.oracles.philox.
        first_word_normals` (NumPy's Philox and ziggurat in array arithmetic, the agents' keys
        made together by :func:`~asyncsim.core.seeds.child_states`); a row it cannot give
        exactly is drawn by :meth:`at`.
        """
        if len(agents) < self.VECTORISED_FROM or dim > self.VECTORISED_DIM:
            return self._one_by_one(agents, indices, dim)
        draws = np.empty((len(agents), dim))
        for start in range(0, len(agents), self.DRAWS_AT_ONCE):
            part = slice(start, start + self.DRAWS_AT_ONCE)
            values, exact = first_word_normals(self._keys_of(agents[part]), indices[part], dim)
            redrawn = np.flatnonzero(~exact)
            values[redrawn] = self._one_by_one(agents[part][redrawn], indices[part][redrawn], dim)
            draws[part] = values
        return draws

    def _one_by_one(self, agents: np.ndarray, indices: np.ndarray, dim: int) -> np.ndarray:
        pairs = zip(agents.tolist(), indices.tolist(), strict=True)
        rows = [self.at(agent, index).standard_normal(dim) for agent, index in pairs]
        return np.array(rows).reshape(len(rows), dim)

    def _key(self, agent: int) -> np.ndarray:
        """Agent ``agent``'s Philox key, made from its child of the seed at its first use."""
        if not self._keyed[agent]:
            self._keys_of(np.array([agent]))
        return self._keys[agent]

    def _keys_of(self, agents: np.ndarray) -> np.ndarray:
        """:meth:`_key` of many agents, those without one keyed together."""
        new = np.unique(agents[~self._keyed[agents]])
        if len(new):
            self._keys[new] = child_states(self._seed, self._first_child + new, 2)
            self._keyed[new] = True
        return self._keys[agents]


class SyntheticOracle(GradientOracle):
    """Shared noise model and request evaluation; subclasses give the per-agent gradient.

    A subclass is built as ``Oracle(dim, n_agents, seed, **params)``, ``params`` fields of its
    scenario block (e.g. :class:`QuadraticOracleConfig`); the others take the block's defaults,
    stated there once (:func:`_settings`)."""

    def __init__(
        self, n_agents: int, seed: np.random.SeedSequence, config: _SyntheticOracleConfig
    ) -> None:
        self.dim = config.dim
        self.horizon = 1
        self.n_agents = n_agents
        self.noise = config.noise
        self.noise_distribution = config.noise_distribution
        self.df = config.df
        self._noise_seed = seed

    @functools.cached_property
    def _noise(self) -> GradientNoise:
        """The agents' noise streams, built at the first draw: an oracle built only for its
        constants (``asyncsim bounds``, the guards) never pays for them (at n = 10^6, 52.9 of
        55.7 s of ``asyncsim bounds`` under cProfile when each agent had a generator built
        up front). Nothing else spawns from the seed in between, so the streams are the same as
        if built here."""
        return GradientNoise(self._noise_seed, self.n_agents)

    def agent_gradient(self, point: np.ndarray, agent: int) -> np.ndarray:
        """Exact ∇J_i(point) = −∇f_i(point) of agent ``agent``'s objective."""
        raise NotImplementedError

    def agent_gradients(self, point: np.ndarray, agents: np.ndarray) -> np.ndarray:
        """∇J_i(point) of each agent in ``agents``: m × d, row r the same numbers as
        ``agent_gradient(point, agents[r])``."""
        rows = [self.agent_gradient(point, agent) for agent in agents.tolist()]
        return np.array(rows).reshape(len(rows), self.dim)

    def compute(self, requests: Sequence[GradientRequest]) -> list[GradientResult]:
        return [self._evaluate(request) for request in requests]

    #: every agent has the same objective, so ∇J_i is computed once per request
    homogeneous: bool = True
    #: requests of fewer jobs are faster one job at a time (array arithmetic costs about
    #: 0.1 ms a request whatever its size)
    JOBS_IN_ARRAYS_FROM = 16
    #: jobs per pass of array arithmetic
    JOBS_AT_ONCE = 2**16

    def _evaluate(self, request: GradientRequest) -> GradientResult:
        """Σ_jobs weight · (count · ∇J_agent(point) + Σ of count noise draws), added job by job
        in request order from a zero vector."""
        if len(request.jobs) < self.JOBS_IN_ARRAYS_FROM:
            return GradientResult(self._sum_one_by_one(request))
        return GradientResult(self._sum_in_arrays(request))

    def _sum_one_by_one(self, request: GradientRequest) -> np.ndarray:
        total = np.zeros(self.dim)
        point = request.point
        shared = self.agent_gradient(point, 0) if self.homogeneous else None
        for job in request.jobs:
            gradient = self.agent_gradient(point, job.agent) if shared is None else shared
            noise = self._noise_sum(job.agent, job.first_index, job.count)
            total += job.weight * (job.count * gradient + noise)
        return total

    def _noise_sum(self, agent: int, first: int, count: int) -> np.ndarray:
        """Σ_{k<count} ξ_{agent, first+k}, each with E||ξ||² = σ²."""
        if self.noise == 0.0:
            return np.zeros(self.dim)
        total = np.zeros(self.dim)
        for index in range(first, first + count):
            total += self._unit_noise(self._noise.at(agent, index))
        return (self.noise / math.sqrt(self.dim)) * total

    def _unit_noise(self, rng: np.random.Generator) -> np.ndarray:
        """One draw with unit variance per coordinate."""
        if self.noise_distribution == "gaussian":
            return rng.standard_normal(self.dim)
        return math.sqrt((self.df - 2.0) / self.df) * rng.standard_t(self.df, self.dim)

    def _sum_in_arrays(self, request: GradientRequest) -> np.ndarray:
        """:meth:`_sum_one_by_one` in array arithmetic, up to JOBS_AT_ONCE jobs at a time: the
        same operations in the same order (``cumsum`` adds row after row), so the same bits."""
        jobs = request.jobs
        agents = np.fromiter((job.agent for job in jobs), np.intp, len(jobs))
        firsts = np.fromiter((job.first_index for job in jobs), np.int64, len(jobs))
        counts = np.fromiter((job.count for job in jobs), np.int64, len(jobs))
        weights = np.fromiter((job.weight for job in jobs), np.float64, len(jobs))
        total = np.zeros(self.dim)
        for start in range(0, len(jobs), self.JOBS_AT_ONCE):
            part = slice(start, start + self.JOBS_AT_ONCE)
            gradients = self._gradients(request.point, agents[part])
            noise = self._noise_sums(agents[part], firsts[part], counts[part])
            terms = weights[part, None] * (counts[part, None] * gradients + noise)
            total = np.cumsum(np.vstack((total, terms)), axis=0)[-1]
        return np.array(total)

    def _gradients(self, point: np.ndarray, agents: np.ndarray) -> np.ndarray:
        """∇J of each agent: one row each, or the common one when the agents share it."""
        if self.homogeneous:
            return self.agent_gradient(point, 0)
        return self.agent_gradients(point, agents)

    def _noise_sums(self, agents: np.ndarray, firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Σ_{k<count} ξ_{agent, first+k} of each job (m × d), each ξ with E||ξ||² = σ².

        As one job at a time: from a zero vector, k after k. The jobs are taken longest
        first, so those still drawing at step k are a prefix of them; the draws of many steps
        are made together (:meth:`_unit_noises`), then added step by step.
        """
        sums = np.zeros((len(agents), self.dim))
        if self.noise == 0.0:
            return sums
        longest_first = np.argsort(-counts, kind="stable")
        agents, firsts = agents[longest_first], firsts[longest_first]
        drawing = np.searchsorted(-counts[longest_first], -np.arange(counts.max()), side="left")
        ordered = np.zeros_like(sums)
        for steps in _windows(drawing, self._noise.DRAWS_AT_ONCE):
            jobs = _ragged_arange(drawing[steps])
            draws = self._unit_noises(agents[jobs], firsts[jobs] + np.repeat(steps, drawing[steps]))
            start = 0
            for active in drawing[steps].tolist():
                ordered[:active] += draws[start : start + active]
                start += active
        sums[longest_first] = ordered
        return (self.noise / math.sqrt(self.dim)) * sums

    def _unit_noises(self, agents: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """:meth:`_unit_noise` of each (agent, index): m × d."""
        if self.noise_distribution == "gaussian":
            return self._noise.standard_normal(agents, indices, self.dim)
        pairs = zip(agents.tolist(), indices.tolist(), strict=True)
        rows = [self._unit_noise(self._noise.at(agent, index)) for agent, index in pairs]
        return np.array(rows).reshape(len(rows), self.dim)


def _windows(sizes: np.ndarray, most: int) -> list[np.ndarray]:
    """Consecutive ranges of positions of ``sizes`` whose sizes add up to at most ``most``
    (a position larger than ``most`` alone)."""
    ends = np.cumsum(sizes)
    windows, start = [], 0
    while start < len(sizes):
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + most, side="right")))
        windows.append(np.arange(start, stop))
        start = stop
    return windows


def _ragged_arange(lengths: np.ndarray) -> np.ndarray:
    """0..l-1 for each l of ``lengths``, one after the other."""
    starts = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum())) - np.repeat(starts, lengths)


def _settings(config: type[Params], dim: int, params: dict[str, Any]) -> Any:
    """An oracle's block with ``dim`` and ``params`` and the other fields at their defaults,
    taken as given like arguments (a scenario's block is validated where it is read)."""
    return config.model_construct(dim=dim, **params)


class QuadraticOracle(SyntheticOracle):
    """f_i(x) = ½ (x − c_i)ᵀ A (x − c_i), A = diag(λ) with λ log-spaced in [μ, L].

    The centres c_i have root-mean-square norm ``heterogeneity`` and average to zero, so the
    average objective f = (1/n) Σ f_i = ½ xᵀ A x + const has ∇f(x) = A x and minimiser 0.
    Constants: L_g = L, Hessian-Lipschitz 0, Δ = f(x_0) − f*.
    """

    def __init__(
        self, dim: int, n_agents: int, seed: np.random.SeedSequence, **params: Any
    ) -> None:
        c = _settings(QuadraticOracleConfig, dim, params)
        problem_seed, noise_seed = seed.spawn(2)
        super().__init__(n_agents, noise_seed, c)
        low, high = min(c.min_curvature, c.smoothness), c.smoothness
        self.eigenvalues = np.geomspace(low, high, dim) if dim > 1 else np.array([high])
        self.init_scale = c.init_scale
        self.centres = _zero_mean_centres(np.random.default_rng(problem_seed), n_agents, dim)
        self.centres *= c.heterogeneity
        self.homogeneous = c.heterogeneity == 0.0

    def initial_point(self) -> np.ndarray:
        return np.full(self.dim, self.init_scale)

    def agent_gradient(self, point: np.ndarray, agent: int) -> np.ndarray:
        return -self.eigenvalues * (point - self.centres[agent])

    def agent_gradients(self, point: np.ndarray, agents: np.ndarray) -> np.ndarray:
        return -self.eigenvalues * (point - self.centres[agents])

    def gradient_norm(self, point: np.ndarray) -> float:
        return norm(self.eigenvalues * point)

    @property
    def constants(self) -> dict[str, float]:
        """L_g, L_h, σ², Δ (docs/algorithms.md) for this instance; the centres shift f and f*
        alike, so Δ = f(x_0) − f* = ½ x_0ᵀ A x_0."""
        x0 = self.initial_point()
        return {
            "L_g": float(self.eigenvalues.max()),
            "L_h": 0.0,
            "sigma2": self.noise**2,
            "delta": 0.5 * float(x0 @ (self.eigenvalues * x0)),
        }


def _zero_mean_centres(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """n random centres with average exactly zero and root-mean-square norm 1 (one common
    scale keeps the average at zero); for n = 1 the zero vector."""
    if n == 1:
        return np.zeros((1, dim))
    directions = rng.normal(size=(n, dim))
    directions -= directions.mean(axis=0)
    rms = float(np.sqrt(np.mean(np.sum(directions**2, axis=1))))
    return directions / rms if rms > 0 else directions


class NonconvexOracle(SyntheticOracle):
    """f(x) = Σ_j (c/2) x_j² + a sin²(x_j), the same for every agent.

    ∇f(x)_j = c x_j + a sin(2 x_j); f'' = c + 2a cos(2x), so L_g = c + 2a and the Hessian is
    Lipschitz with L_h = 4a; f is nonconvex when 2a > c; f* = 0 at x = 0, Δ = f(x_0).
    """

    def __init__(
        self, dim: int, n_agents: int, seed: np.random.SeedSequence, **params: Any
    ) -> None:
        c = _settings(NonconvexOracleConfig, dim, params)
        super().__init__(n_agents, seed, c)
        self.curvature, self.ripple, self.init_scale = c.curvature, c.ripple, c.init_scale

    def initial_point(self) -> np.ndarray:
        return np.full(self.dim, self.init_scale)

    def _grad_f(self, point: np.ndarray) -> np.ndarray:
        return self.curvature * point + self.ripple * np.sin(2.0 * point)

    def agent_gradient(self, point: np.ndarray, agent: int) -> np.ndarray:
        return -self._grad_f(point)

    def gradient_norm(self, point: np.ndarray) -> float:
        return norm(self._grad_f(point))

    @property
    def constants(self) -> dict[str, float]:
        """L_g, L_h, σ², Δ of docs/algorithms.md for this instance."""
        x0 = self.initial_point()
        delta = float(np.sum(0.5 * self.curvature * x0**2 + self.ripple * np.sin(x0) ** 2))
        return {
            "L_g": self.curvature + 2 * self.ripple,
            "L_h": 4 * self.ripple,
            "sigma2": self.noise**2,
            "delta": delta,
        }


# ---------------------------------------------------------------- scenario blocks
# The ``oracle`` blocks of kinds quadratic and nonconvex, registered through the call a plug-in
# uses.

PositiveInt = Annotated[int, Field(ge=1)]
NonNegative = Annotated[float, Field(ge=0)]


class _SyntheticOracleConfig(Params):
    """Fields shared by the synthetic oracles: dimension and noise."""

    dim: PositiveInt = Field(10, description="dimension d of x")
    noise: NonNegative = Field(1.0, description="σ: E||ξ||² = σ² per stochastic gradient")
    noise_distribution: Literal["gaussian", "student_t"] = Field(
        "gaussian", description="Gaussian, or Student-t rescaled to the same variance"
    )
    df: Annotated[float, Field(gt=2)] = Field(3.0, description="Student-t degrees of freedom")

    oracle: ClassVar[type[SyntheticOracle]]

    @property
    def sigma2(self) -> float:
        """σ², the variance bound of a stochastic gradient."""
        return self.noise**2

    def build(self, n_agents: int, seed: np.random.SeedSequence) -> SyntheticOracle:
        return self.oracle(n_agents=n_agents, seed=seed, **self.model_dump(exclude={"kind"}))


class QuadraticOracleConfig(_SyntheticOracleConfig):
    """f_i(x) = ½ (x − c_i)ᵀ A (x − c_i) per agent, A diagonal with eigenvalues log-spaced in
    [min_curvature, smoothness]; centres c_i average to 0, with RMS norm ``heterogeneity``."""

    kind: Literal["quadratic"]
    smoothness: Annotated[float, Field(gt=0)] = Field(1.0, description="L, largest eigenvalue")
    min_curvature: Annotated[float, Field(gt=0)] = Field(0.1, description="smallest eigenvalue")
    init_scale: float = Field(1.0, description="x_0 = init_scale · (1, ..., 1)")
    heterogeneity: NonNegative = Field(0.0, description="RMS norm of the agents' centres c_i")

    vectors_per_agent: ClassVar[int] = 1
    """Vectors of d numbers the oracle keeps per agent (its centre c_i): the memory guard."""

    oracle = QuadraticOracle


class NonconvexOracleConfig(_SyntheticOracleConfig):
    """f(x) = Σ_j (c/2) x_j² + a sin²(x_j): L = c + 2a, L_h = 4a, nonconvex if 2a > c."""

    kind: Literal["nonconvex"]
    curvature: Annotated[float, Field(gt=0)] = Field(1.0, description="c")
    ripple: NonNegative = Field(2.0, description="a")
    init_scale: float = Field(3.0, description="x_0 = init_scale · (1, ..., 1)")

    oracle = NonconvexOracle


register_oracle(
    "quadratic",
    QuadraticOracleConfig,
    "noisy quadratic with known L, σ², Δ (optional heterogeneous centres)",
)
register_oracle(
    "nonconvex",
    NonconvexOracleConfig,
    "smooth nonconvex Σ (c/2)x² + a sin²(x) with known L, L_h, σ², Δ",
)
