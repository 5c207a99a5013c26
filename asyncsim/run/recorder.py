"""The iteration table (one row per model update) and the budget that ends a run.

Its rows' columns are the output contract of ``iterations.csv``
(:data:`asyncsim.store.run_data.COLUMNS`).

Three safeguards live here because every protocol reports its updates here: a budget bounded
only by simulated time ends with an AsyncSimError when the clock is stuck
(:data:`STUCK_MARGIN`), a run with no time limit ends with one when no update comes
(:meth:`IterationRecorder.check_updates`, :data:`UPDATE_LAPSE`), and a progress callback
installed with :func:`watching` sees every update, and the engine's watchdog between them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from asyncsim.core.errors import AsyncSimError
from asyncsim.core.linalg import norm
from asyncsim.store.run_data import COLUMNS

if TYPE_CHECKING:
    from asyncsim.core.engine import Engine
    from asyncsim.core.oracle import GradientResult
    from asyncsim.scenario.schema import BudgetConfig, EvaluationConfig

__all__ = ["COLUMNS", "STUCK_MARGIN", "UPDATE_LAPSE", "IterationRecorder", "watching"]

Evaluate = Callable[[np.ndarray], dict[str, Any]]
"""The evaluation hook: columns of a row for the model θ (e.g. ``eval_return``)."""

STUCK_MARGIN = 100
"""Updates that take no simulated time, in a row, beyond which the clock is stuck. In a healthy
run an asynchronous server can apply up to n such updates (n agents arriving at one instant,
each once: its next arrival takes its positive cycle), and a round takes no time only if every
gradient, broadcast and upload of it took none, which a fixed-time round then repeats forever;
random time models draw exactly 0 with probability 0 and a trace may hold a few zeros. So more
than n + 100 updates (100 rounds) in a row without the clock moving means it never will: times
of 0, or too small to advance a clock this large (1e300 + 1 == 1e300)."""

UPDATE_LAPSE = 1_000_000
"""Computations started with no update recorded beyond which a run without a time limit has
stalled (at least; the runner allows more for larger rounds): a protocol that never reports
an update (``run.updated``), or a round in which every computation is abandoned, would run for
ever, its trace growing by tens of MB a second. 10^7 computations took 228 s of CPU here (a
plug-in protocol that never reports, n = 4), so 10^6 take about 23 s and 130 MB of trace."""

_WATCHER: ContextVar[Callable[[IterationRecorder], None] | None] = ContextVar(
    "asyncsim_update_watcher", default=None
)


@contextmanager
def watching(callback: Callable[[IterationRecorder], None]) -> Iterator[None]:
    """Call ``callback(recorder)`` after every update of the runs started inside the block (in
    this thread or task); it must be cheap (throttle in it): it runs once per update."""
    token = _WATCHER.set(callback)
    try:
        yield
    finally:
        _WATCHER.reset(token)


class IterationRecorder:
    """Appends one row per update and decides when the budget is spent.

    Args:
        sim: the run's engine (clock, counters, oracle).
        budget: the limits; ``target_return`` is compared with column ``target_column``.
        evaluation: when to call ``evaluate`` (every ``every`` iterations, or at the first
            update after each multiple of ``period`` simulated seconds).
        evaluate: the evaluation hook, or None.
        target_column: the row column a return target reads.
        name: the method's key, for progress displays.
    """

    def __init__(
        self,
        sim: Engine,
        budget: BudgetConfig,
        evaluation: EvaluationConfig,
        evaluate: Evaluate | None = None,
        target_column: str = "return_mean",
        name: str = "",
    ) -> None:
        self.sim = sim
        self.name = name
        self.started = time.perf_counter()
        self.budget = budget
        self.evaluation = evaluation
        self.evaluate = evaluate
        self.target_column = target_column
        self.rows: list[dict[str, Any]] = []
        #: θ after the last update (None before the first)
        self.model: np.ndarray | None = None
        #: the evaluation hook's columns at θ_0 (empty without evaluation)
        self.initial: dict[str, Any] = {}
        self.stop_reason = "time"
        self.time_to_target: float | None = None
        self._previous = replace(sim.counters)
        self._gradients = 0
        self._transitions = 0
        self._next_evaluation = 0.0
        self._watch = _WATCHER.get()
        # only a budget bounded by simulated time alone (and targets) can wait forever
        self._timed_only = all(
            limit is None for limit in (budget.iterations, budget.gradients, budget.transitions)
        )
        self._stuck = 0
        self._finite_model = True
        self.lapse = UPDATE_LAPSE

    def record(
        self,
        iteration: int,
        time_start: float,
        gradient: GradientResult,
        model: np.ndarray,
        **extra: Any,
    ) -> bool:
        """Append the row of update ``iteration``; return True when the run must stop."""
        row = self._row(iteration, time_start, gradient, model)
        row.update(extra)
        self.model = model
        self.rows.append(row)
        if self._timed_only:
            self._check_clock(row)
        if self._watch is not None:
            self._watch(self)
        return self._spent(row)

    @property
    def transitions(self) -> int:
        """Environment transitions of the rows so far."""
        return self._transitions

    def check_updates(self) -> None:
        """Report progress to the watcher (:func:`watching`), then raise when more than
        ``lapse`` computations started since the last update (or the start): under a budget
        of iterations, gradients or transitions the run would never end, and under a time
        budget the clock may stand still (the engine's watchdog)."""
        if self._watch is not None:  # a round of 10^6 agents takes minutes: show it move
            self._watch(self)
        started = self.sim.counters.started - self._previous.started
        if started <= self.lapse:
            return
        budget = self.budget
        limit = next(
            (f"budget.{name}" for name in ("iterations", "gradients", "transitions")
             if getattr(budget, name) is not None),
            "budget",
        )  # fmt: skip
        since = f"since update {len(self.rows) - 1}" if self.rows else "and no update"
        raise AsyncSimError(
            f"{limit}: {started} computations {since} (simulated {self.sim.now:g} s): the "
            "protocol never reports one (run.updated) or abandons every computation, or times "
            "of 0 keep the clock from moving; the budget would never be reached"
        )

    def progress(self) -> float:
        """The fraction of the budget spent, in [0, 1]: the largest over its limits."""
        if not self.rows:
            return 0.0
        budget = self.budget
        spent = [
            (len(self.rows) - 1, budget.iterations),
            (self.sim.now, budget.time),
            (self._gradients, budget.gradients),
            (self._transitions, budget.transitions),
        ]
        fractions = [used / limit for used, limit in spent if limit]
        return min(1.0, max(fractions, default=0.0))

    def _check_clock(self, row: dict[str, Any]) -> None:
        """Raise when more than STUCK_MARGIN (+ n for single updates) updates in a row took no
        simulated time: the time budget would never be reached."""
        if row["time_end"] > row["time_start"]:
            self._stuck = 0
            return
        self._stuck += 1
        # a row with participants is a round; ties of single updates allow n more
        limit = STUCK_MARGIN + (0 if "participants" in row else self.sim.cluster.n)
        if self._stuck > limit:
            raise AsyncSimError(
                f"budget.time: the simulated clock is stuck at {self.sim.now:g} s "
                f"({self._stuck} updates in a row took no simulated time), so the budget of "
                f"{self.budget.time:g} s would never be reached: compute and communication "
                "times of 0, or too small to advance a clock this large; give longer times or "
                "set budget.iterations"
            )

    def _row(
        self, iteration: int, time_start: float, gradient: GradientResult, model: np.ndarray
    ) -> dict[str, Any]:
        counters = self.sim.counters
        delta = {k: getattr(counters, k) - getattr(self._previous, k) for k in vars(counters)}
        self._previous = replace(counters)
        estimate_norm = norm(gradient.vector)
        true_norm = self.sim.oracle.gradient_norm(model)
        # a known ||∇f(θ)|| is not finite at a non-finite θ; otherwise θ itself is checked
        self._finite_model = true_norm is not None or bool(np.isfinite(model).all())
        transitions = int(
            gradient.stats.get("transitions", delta["used"] * self.sim.oracle.horizon)
        )
        row: dict[str, Any] = {
            "iteration": iteration,
            "time_start": time_start,
            "time_end": self.sim.now,
            "gradients_used": delta["used"],
            "gradients_computed": delta["started"],
            "uploads": delta["uploads"],
            "grad_norm": estimate_norm if true_norm is None else true_norm,
            "gradients_discarded": delta["discarded"],
            "gradients_lost": delta["lost"],
            "estimate_norm": estimate_norm,
            "transitions": transitions,
        }
        row.update({k: v for k, v in gradient.stats.items() if k != "transitions"})
        if self.evaluate is not None and self._evaluation_due(iteration):
            row.update(self.evaluate(model))
        self._gradients += delta["used"]
        self._transitions += transitions
        return row

    def _evaluation_due(self, iteration: int) -> bool:
        evaluation = self.evaluation
        if evaluation.period is None:
            return iteration % evaluation.every == 0
        if self.sim.now < self._next_evaluation:
            return False
        self._next_evaluation = (self.sim.now // evaluation.period + 1) * evaluation.period
        return True

    def _spent(self, row: dict[str, Any]) -> bool:
        budget = self.budget
        finite = math.isfinite(row["estimate_norm"]) and math.isfinite(row["grad_norm"])
        if not (finite and self._finite_model):
            # a non-finite gradient, iterate or ||∇f|| only propagates
            self.stop_reason = "diverged"
            return True
        if self._target_reached(row):
            self.time_to_target = row["time_end"]
            self.stop_reason = "target"
            return True
        limits = {
            "iterations": budget.iterations is not None and row["iteration"] >= budget.iterations,
            "gradients": budget.gradients is not None and self._gradients >= budget.gradients,
            "transitions": budget.transitions is not None
            and self._transitions >= budget.transitions,
        }
        for reason, reached in limits.items():
            if reached:
                self.stop_reason = reason
                return True
        return False

    def _target_reached(self, row: dict[str, Any]) -> bool:
        budget = self.budget
        if budget.target_grad_norm is not None and row["grad_norm"] <= budget.target_grad_norm:
            return True
        if budget.target_return is None:
            return False
        return row.get(self.target_column, -math.inf) >= budget.target_return
