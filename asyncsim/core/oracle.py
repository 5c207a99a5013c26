"""The gradient-oracle contract between the engine and gradient computations.

The engine decides *which* stochastic gradients a protocol uses (agent, per-agent index, point,
weight); the oracle computes them lazily, in batches, only when their value is needed: the
simulated clock never depends on gradient values. A gradient is identified by
``(agent, index)``: the ``index``-th computation started by ``agent`` in the run. Its value must be
a deterministic function of ``(seed, agent, index, point, context)`` so that batching never
changes a result.

The *context* is what the server sends with the point besides θ, and an agent's *report* what it
sends with its gradient besides the vector (a few numbers, free like the count of Algorithm 2;
the reports of several gradients add up with ``+``, as an agent's local sum adds its vectors).
An oracle that needs neither leaves both None; the policy-gradient oracle's running baseline
(docs/algorithms.md §1) is carried this way: the engine keeps the server's context, hands it to
every gradient that starts at a point it sends, and updates it from the report of every
gradient the server takes (:meth:`GradientOracle.next_context`).
"""

from __future__ import annotations

import functools
import operator
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "GradientJob",
    "GradientOracle",
    "GradientRequest",
    "GradientResult",
    "average",
    "sum_reports",
]


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
    context: Any = None


@dataclass(slots=True)
class GradientResult:
    """The value of a GradientRequest and statistics of the samples behind it.

    ``stats`` keys used by the engine's iteration table when present: ``return_mean``,
    ``discounted_return_mean``, ``episode_length_mean``, ``transitions``. ``report`` is what the
    agents send with the vector for the server's context (None when the oracle keeps none).
    """

    vector: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)
    report: Any = None


def average(results: Sequence[GradientResult]) -> GradientResult:
    """The mean of several results (e.g. a server step on a buffer of gradients): the mean
    vector; ``transitions`` summed and the other statistics averaged."""
    stats: dict[str, float] = {}
    for key in [k for k in results[0].stats if all(k in r.stats for r in results)]:
        values = [r.stats[key] for r in results]
        stats[key] = float(sum(values)) if key == "transitions" else float(np.mean(values))
    return GradientResult(np.mean([r.vector for r in results], axis=0), stats)


def sum_reports(results: Sequence[GradientResult]) -> Any:
    """Σ of the results' reports (an agent's local sum reports it; None when there are none)."""
    reports = [result.report for result in results if result.report is not None]
    return functools.reduce(operator.add, reports) if reports else None


class GradientOracle(ABC):
    """Computes stochastic gradients of the objective (ascent direction for RL).

    Subclasses set ``dim``, ``n_agents`` and ``horizon`` (transitions per gradient under
    per-trajectory timing). :func:`asyncsim.run.checks.check_oracle` checks the contract.
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

    def initial_context(self) -> Any:
        """The server's context when a run starts (None: the oracle keeps none)."""
        return None

    def next_context(self, context: Any, result: GradientResult) -> Any:
        """The server's context after it takes ``result`` (a gradient or a round's aggregate);
        a pure function of its arguments. The default keeps none."""
        return context

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
