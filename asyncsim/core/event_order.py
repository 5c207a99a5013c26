"""The M-th event of n agents computing one after another, in (time, agent) order.

Agent i's events are t_{i,1} = b_i + τ_i and t_{i,k+1} = t_{i,k} + τ_i, added in floating point
as the simulated clock adds them; the exact Rennala round (docs/algorithms.md §5, Lemma C.1
exact) stops at the M-th of them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mth_event"]


def mth_event(tau: np.ndarray, starts: np.ndarray, batch: int) -> tuple[float, list[int]]:
    """The M-th event of {t_{i,k}} in (time, agent) order and the counts B_i up to it, where
    t_{i,1} = b_i + τ_i and t_{i,k+1} = t_{i,k} + τ_i (added in floating point, as the engine
    and the one-event-at-a-time loop of
    :func:`asyncsim.theory.rennala_collection_exact` do), for positive
    finite τ: in O(n log n + M) array operations instead of M Python steps (M = n = 10^6:
    18 s a round).

    A horizon t with about M events before it (bisection on Σ_i ⌊(t − b_i)/τ_i⌋, from the
    t where Σ_i (t − b_i)/τ_i = M) bounds each agent's events: they are generated exactly,
    sorted, and the M-th taken; the horizon is widened until every agent's first event left
    out comes after the M-th."""
    n, rate = len(tau), 1.0 / tau

    def approximately_before(t: float) -> float:
        return float(np.sum(np.maximum(np.floor((t - starts) * rate), 0.0)))

    # Σ_i (t − b_i)/τ_i = M, one τ later: about M events or more (the rest by doubling)
    high = float((batch + np.sum(starts * rate)) / np.sum(rate) + np.max(tau))
    while approximately_before(high) < batch:
        high *= 2.0
    low = 0.0

    enough = batch + max(n // 16, 1)  # events generated beyond M: few, yet few bisections
    while approximately_before(high) > enough:
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        low, high = (middle, high) if approximately_before(middle) < batch else (low, middle)
    while True:
        # agent i's events 1..K_i, K_i one past its estimate (rounding), at least 1
        last = np.maximum(np.floor((high - starts) / tau), 0.0).astype(np.int64) + 1
        times, agents = [], []
        current, alive = starts + tau, np.arange(n)
        following = np.empty(n)  # each agent's first event left out
        for k in range(1, int(last.max()) + 1):
            alive_now = last[alive] >= k
            alive, current = alive[alive_now], current[alive_now]
            times.append(current)
            agents.append(alive)
            current = current + tau[alive]
            following[alive] = current
        time, agent = np.concatenate(times), np.concatenate(agents)
        if len(time) >= batch:
            order = np.lexsort((agent, time))[:batch]
            stop, stop_agent = float(time[order[-1]]), int(agent[order[-1]])
            later = (following > stop) | ((following == stop) & (np.arange(n) > stop_agent))
            if np.all(later):
                return stop, np.bincount(agent[order], minlength=n).tolist()
        high = 2.0 * high + float(np.max(tau))
