"""The gradient-oracle contract between the engine and gradient computations.

The engine decides *which* stochastic gradients a protocol uses (agent, per-agent index, point,
weight); the oracle computes them lazily, in batches, only when their value is needed
(see DESIGN.md, "simulated time is not compute time"). A gradient is identified by
``(agent, index)``: the ``index``-th computation started by ``agent`` in the run. Its value must be
a deterministic function of ``(seed, agent, index, point)`` so that batching never changes a result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["GradientJob", "GradientOracle", "GradientRequest", "GradientResult", "average"]


@dataclass(frozen=True, slots=True)
class GradientJob:
    """``count`` consecutive gradients of one agent: indices ``first_index .. first_index+count-1``.

    Attributes:
        agent: 0-based agent index.
        first_index: the agent's computation counter at the first of these gradients.
        count: number of gradients (trajectories), >= 1.
        weight: weight of *each* of these gradients in the request's weighted sum.
    """

    agent: int
    first_index: int
    count: int
    weight: float


@dataclass(frozen=True, slots=True)
class GradientRequest:
    """A weighted sum of stochastic gradients, all taken at ``point``:
    ``Σ_jobs weight · Σ_{k<count} g(τ_{agent, first_index+k}, point)``."""

    point: np.ndarray
    jobs: tuple[GradientJob, ...]


@dataclass(slots=True)
class GradientResult:
    """The value of a GradientRequest and statistics of the samples behind it.

    ``stats`` keys used by the engine's iteration table when present: ``return_mean``,
    ``discounted_return_mean``, ``episode_length_mean``, ``transitions``.
    """

    vector: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)


def average(results: Sequence[GradientResult]) -> GradientResult:
    """The mean of several results (e.g. a server step on a buffer of gradients): the mean
    vector; ``transitions`` summed and the other statistics averaged."""
    stats: dict[str, float] = {}
    for key in [k for k in results[0].stats if all(k in r.stats for r in results)]:
        values = [r.stats[key] for r in results]
        stats[key] = float(sum(values)) if key == "transitions" else float(np.mean(values))
    return GradientResult(np.mean([r.vector for r in results], axis=0), stats)


class GradientOracle(ABC):
    """Computes stochastic gradients of the objective (ascent direction for RL).

    Subclasses set ``dim``, ``n_agents`` and ``horizon`` (transitions per gradient under
    per-trajectory timing). :func:`asyncsim.checks.check_oracle` checks the contract.
    """

    dim: int
    n_agents: int
    horizon: int = 1

    @abstractmethod
    def initial_point(self) -> np.ndarray:
        """θ_0, shared by every method of a scenario (common random numbers)."""

    @abstractmethod
    def compute(self, requests: Sequence[GradientRequest]) -> list[GradientResult]:
        """Evaluate several requests together (they may be at different points)."""

    def gradient_norm(self, point: np.ndarray) -> float | None:
        """||∇f(point)|| where it is known in closed form (synthetic oracles), else None."""
        return None

    def trajectory_length(self, point: np.ndarray, agent: int, index: int) -> int:
        """Transitions simulated by gradient ``(agent, index)`` at ``point`` (per-step timing).

        The default is the full horizon; oracles with early termination roll the trajectory out
        (ahead, in batches) and keep it for the later ``compute`` call.
        """
        return self.horizon

    def prefetch(self, point: np.ndarray, gradients: Iterable[tuple[int, int]]) -> None:
        """Hint that gradients ``(agent, index)`` at ``point`` are about to start (per-step
        timing asks for their lengths one by one); oracles may roll them out in one batch."""

    def evaluate(self, point: np.ndarray, episodes: int) -> dict[str, float]:
        """Evaluation statistics at ``point`` (not charged simulated time); none by default."""
        return {}

    def close(self) -> None:
        """Release worker processes and environments."""
