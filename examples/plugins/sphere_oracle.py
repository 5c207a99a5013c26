"""A gradient oracle as an asyncsim plug-in: f(x) = ½ ||x||² with Gaussian noise.

Methods ascend, so the oracle returns estimates of −∇f(x) = −x. The noise of gradient
(agent, index) comes from ``asyncsim.GradientNoise``, a function of (seed, agent, index) only,
so ``asyncsim.check_oracle`` passes: the same gradient in any request order or batch split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

import asyncsim


class SphereOracle(asyncsim.GradientOracle):
    """Σ_jobs weight · Σ_k (−x + σ ξ_{agent, k}/√d)."""

    def __init__(self, dim: int, noise: float, start: float, n_agents: int, seed) -> None:
        self.dim, self.noise, self.start, self.n_agents = dim, noise, start, n_agents
        self._noise = asyncsim.GradientNoise(seed, n_agents)

    def initial_point(self) -> np.ndarray:
        return np.full(self.dim, self.start)

    def compute(self, requests: Sequence[asyncsim.GradientRequest]) -> list:
        return [asyncsim.GradientResult(self._sum(request)) for request in requests]

    def _sum(self, request: asyncsim.GradientRequest) -> np.ndarray:
        total = np.zeros(self.dim)
        for job in request.jobs:
            for index in range(job.first_index, job.first_index + job.count):
                xi = self._noise.at(job.agent, index).standard_normal(self.dim)
                total += job.weight * (-request.point + self.noise / np.sqrt(self.dim) * xi)
        return total

    def gradient_norm(self, point: np.ndarray) -> float:
        return float(np.sqrt(np.sum(point * point)))


class SphereConfig(asyncsim.Params):
    """``oracle: {kind: sphere, dim: 5, noise: 1.0, start: 2.0}``."""

    kind: Literal["sphere"]
    dim: int = Field(5, ge=1, description="dimension d")
    noise: float = Field(1.0, ge=0, description="σ: E||ξ||² = σ²")
    start: float = Field(2.0, description="x_0 = start · (1, ..., 1)")

    @property
    def sigma2(self) -> float:
        return self.noise**2

    def build(self, n_agents: int, seed: np.random.SeedSequence) -> SphereOracle:
        return SphereOracle(self.dim, self.noise, self.start, n_agents, seed)


asyncsim.register_oracle("sphere", SphereConfig, "½||x||² with Gaussian noise (plug-in example)")
