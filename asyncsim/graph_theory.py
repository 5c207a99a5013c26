"""Closed forms of agents on a graph: the equilibrium time and Fragile SGD's complexity
(Tyurin & Richtárik, NeurIPS 2024, Definition 2 and Corollary 1), AD-PSGD's shape in asyncsim's
reading (Lian et al., ICML 2018 state an iteration rate only). :mod:`asyncsim.theory` lists them
among its shapes; ``graph`` is the scenario's :class:`~asyncsim.topology.graph.GraphLinks`
(its shortest path times τ_{i→j}), None without a graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "GRAPH_SHAPES",
    "ProblemConstants",
    "ad_psgd_complexity",
    "ad_psgd_cycles",
    "amelie_sgd_complexity",
    "complexity_shape",
    "equilibrium_time",
    "fragile_pivot",
    "fragile_sgd_complexity",
    "sgd_terms",
]

GRAPH_SHAPES = frozenset({"fragile_sgd", "amelie_sgd", "ad_psgd"})
"""The shapes of agents on a graph: they take the graph (``graph=``) and are shown only for
scenarios on one."""


@dataclass(frozen=True)
class ProblemConstants:
    """The problem's constants an ε-complexity shape reads: L_g, L_h, σ², Δ."""

    L_g: float = 1.0
    L_h: float = 1.0
    sigma2: float = 1.0
    delta: float = 1.0

    def sgd_terms(self, eps: float) -> tuple[float, float]:
        """:func:`sgd_terms` of these constants."""
        return sgd_terms(eps, self.L_g, self.sigma2, self.delta)


def complexity_shape(body: Callable[..., Any]) -> Callable[..., float]:
    """The shape ``body(tau, kappa, eps, constants, **extra)`` with the signature every shape
    shares, ``shape(tau, kappa, eps, L_g=1, L_h=1, sigma2=1, delta=1, **extra)``:

    * tau: per-gradient compute times τ_i = h_i·H (any order; docs/algorithms.md §5, "Which
      per-agent time");
    * kappa: κ = max_i κ_i;
    * eps: target ε of E||∇f|| ≤ ε;
    * L_g, L_h, sigma2, delta: the problem's constants L_g, L_h, σ², Δ
      (:class:`ProblemConstants`);
    * extra: a shape's own keywords (``m``, ``graph``).

    It returns the shape's value as a float (seconds, up to the dropped constants).
    """

    def shape(
        tau: ArrayLike,
        kappa: float,
        eps: float,
        L_g: float = 1.0,
        L_h: float = 1.0,
        sigma2: float = 1.0,
        delta: float = 1.0,
        **extra: Any,
    ) -> float:
        return float(body(tau, kappa, eps, ProblemConstants(L_g, L_h, sigma2, delta), **extra))

    shape.__name__, shape.__qualname__ = body.__name__, body.__qualname__
    shape.__doc__, shape.__module__ = body.__doc__, body.__module__
    return shape


def sgd_terms(eps: float, L_g: float, sigma2: float, delta: float) -> tuple[float, float]:
    """(LΔ/ε', σ²LΔ/ε'²) with ε' = ε²: the SGD papers bound E||∇f||² <= ε', the shapes take ε
    as the target of ||∇f||."""
    target = eps**2
    return L_g * delta / target, sigma2 * L_g * delta / target**2


def equilibrium_time(s: float, h: ArrayLike, distance: ArrayLike) -> float:
    """Definition 2, the equilibrium time t*(s, h, τ̄): with π sorting max{τ̄_i, h_i} ascending,

    t* = min_k max{ max{τ̄_{π_k}, h_{π_k}}, s · (Σ_{i≤k} 1/h_{π_i})^{-1} }.
    """
    times, far = np.asarray(h, dtype=float), np.asarray(distance, dtype=float)
    key = np.maximum(far, times)
    order = np.argsort(key, kind="stable")
    with np.errstate(divide="ignore"):
        rates = np.cumsum(1.0 / times[order])
        values = np.maximum(key[order], s / rates)
    return float(values.min())


def _pivot_times(s: float, h: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """t*(s, h, [τ_{i→j} + τ_{j→i}]_i) for every pivot j; ``paths[i, j]`` = τ_{i→j}."""
    round_trips = paths + paths.T
    return np.array([equilibrium_time(s, h, round_trips[:, j]) for j in range(paths.shape[0])])


def fragile_pivot(h: ArrayLike, paths: np.ndarray, s: float) -> int:
    """Corollary 1's pivot, argmin_j t*(s, h, [τ_{i→j} + τ_{j→i}]_i) (0-based; ties: the
    lowest j); ``paths[i, j]`` = τ_{i→j}."""
    return int(np.argmin(_pivot_times(s, np.asarray(h, dtype=float), paths)))


@complexity_shape
def fragile_sgd_complexity(
    tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants, graph: Any = None
) -> float:
    """Fragile SGD (Tyurin & Richtárik, NeurIPS 2024, Corollary 1, eq. 12), optimal up to
    log n on a graph:

    (LΔ/ε') min_j t*(σ²/ε', h, [τ_{i→j} + τ_{j→i}]_i),  ε' = ε².

    τ_{i→j} are the shortest path times of ``graph`` (:class:`GraphLinks`; none: 0, no
    communication, the fixed computation model of the other shapes).
    ``kappa`` and L_h are ignored (see :func:`rennala_sgd_complexity`).
    """
    times = np.asarray(tau, dtype=float)
    deterministic, _ = c.sgd_terms(eps)
    paths = np.zeros((times.size, times.size)) if graph is None else graph.path_times
    return deterministic * _pivot_times(c.sigma2 / eps**2, times, paths).min()


@complexity_shape
def amelie_sgd_complexity(
    tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants, graph: Any = None
) -> float:
    """Amelie SGD (Tyurin & Richtárik, NeurIPS 2024, Corollary 2, eq. 18), optimal for
    heterogeneous functions on a graph:

    (LΔ/ε') max{max_{i,j} τ_{i→j}, max_i h_i, (σ²/(nε')) (1/n) Σ_i h_i},  ε' = ε².

    ``kappa`` and L_h are ignored (see :func:`asyncsim.theory.rennala_sgd_complexity`).
    """
    times = np.asarray(tau, dtype=float)
    deterministic, _ = c.sgd_terms(eps)
    diameter = 0.0 if graph is None else float(graph.path_times.max())
    noise = c.sigma2 / eps**2 / times.size * times.mean()
    return deterministic * max(diameter, times.max(), noise)


def ad_psgd_cycles(tau: ArrayLike, graph: Any = None) -> np.ndarray:
    """c_i = max{τ_i, mean_{j ∼ i} max(τ_{i→j}, τ_{j→i})}: an AD-PSGD iteration of agent i
    when its exchanges are alone on their links (τ_i without a graph)."""
    times = np.asarray(tau, dtype=float)
    if graph is None:
        return times
    paths = graph.path_times
    exchange = [
        np.mean([max(paths[i, j], paths[j, i]) for j in graph.neighbours[i]])
        for i in range(times.size)
    ]
    return np.maximum(times, np.asarray(exchange, dtype=float))


@complexity_shape
def ad_psgd_complexity(
    tau: ArrayLike, kappa: float, eps: float, c: ProblemConstants, graph: Any = None
) -> float:
    """AD-PSGD (Lian et al., ICML 2018) in asyncsim's reading (neither paper states a time):
    asynchronous SGD's count of iterations at the agents' cycles c_i (:func:`ad_psgd_cycles`),

    (1/n Σ_i 1/c_i)^{-1} (LΔ/ε' + σ²LΔ/(nε'²)),  ε' = ε².

    ``kappa`` and L_h are ignored (see :func:`rennala_sgd_complexity`).
    """
    cycles = ad_psgd_cycles(tau, graph)
    deterministic, noise = c.sgd_terms(eps)
    return cycles.size / np.sum(1.0 / cycles) * (deterministic + noise / cycles.size)
