"""A time model as an asyncsim plug-in: heavy-tailed Pareto times with a given mean.

    cluster:
      compute: {kind: pareto, h: "sqrt(i)", alpha: 2.5}

Agent i's duration is x_m · (1 + Lomax(α)), a Pareto(α, x_m) draw whose mean is the value s_i
when x_m = s_i (α − 1)/α (α > 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

import asyncsim


@dataclass(frozen=True)
class ParetoTimes(asyncsim.TimeModel):
    """Pareto(α, x_m) with x_m = s (α − 1)/α, so that the mean is s."""

    scale: np.ndarray
    alpha: float

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        minimum = float(self.scale[agent]) * (self.alpha - 1.0) / self.alpha
        return minimum * (1.0 + float(rng.pareto(self.alpha)))

    def mean(self, agent: int) -> float:
        return float(self.scale[agent])


class ParetoConfig(asyncsim.ScaledTimeConfig):
    """The per-agent mean as ``h`` (compute) or ``time`` (communication), and the tail α."""

    kind: Literal["pareto"]
    alpha: float = Field(2.5, gt=1, description="tail index α (> 1 for a finite mean)")

    def build(self, n: int, field: str, role: str, dim: int = 1) -> ParetoTimes:
        return ParetoTimes(self.values(n, field, role, dim), self.alpha)


asyncsim.register_time_model("pareto", ParetoConfig, "Pareto with mean = the value, tail `alpha`")
