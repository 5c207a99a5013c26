"""Runs as data: what a run produced, in memory, and the numbers read from it.

:class:`RunResult` (every method of one scenario run) holds one :class:`MethodResult` per
method: its iteration rows, trace rows and summary. The runner makes them, the results store
(:mod:`asyncsim.store.runs`) writes and reads them back, and the tables, the report, the figures,
the fitting and the closed-form checks read them; this module imports none of those.

Time to target (:func:`censored_time`): a run's time to its target from its summary, censored
at the end of its budget as the paper's plots do. DataFrames (:func:`run_frame`): one row per
method (``summary``), per iteration or per trace event; pandas is imported only when asked.

Row columns (the output contract of ``iterations.csv``; extend, never rename):
``iteration, time_start, time_end, gradients_used, gradients_computed, uploads, grad_norm`` then
``gradients_discarded, gradients_lost, estimate_norm, transitions``, the statistics the oracle
reports with a gradient (``return_mean, discounted_return_mean, episode_length_mean`` for
policy gradients), the columns of the evaluation hook (``eval_return`` ...) and protocol extras
(``stop_time, participants`` for rounds; ``agent, delay`` for asynchronous updates).

``gradients_computed`` counts computations *started* during the row's interval (used, discarded
or lost); ``grad_norm`` is ||∇f(θ)|| at the updated model where the oracle knows it (synthetic),
else the norm of the aggregated estimate ĝ.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from asyncsim.core.trace import Trace

if TYPE_CHECKING:
    import pandas as pd

    from asyncsim.scenario.schema import Scenario

__all__ = [
    "COLUMNS",
    "MethodResult",
    "RunResult",
    "Table",
    "censored_time",
    "run_frame",
    "summary_row",
    "time_to_target",
]

COLUMNS = (
    "iteration",
    "time_start",
    "time_end",
    "gradients_used",
    "gradients_computed",
    "uploads",
    "grad_norm",
    "gradients_discarded",
    "gradients_lost",
    "estimate_norm",
    "transitions",
)
"""The first columns of ``iterations.csv``, in this order (module docstring)."""

Table = Literal["summary", "iterations", "trace"]
TABLES = ("summary", "iterations", "trace")

TraceRow = tuple[float, int, str, int, int]


@dataclass
class MethodResult:
    """Iteration rows, trace rows and summary of one method.

    ``recorded`` is the run's :class:`Trace` or its rows; ``trace`` sorts and numbers the rows
    when first read (millions of rows: output work that a run whose trace nobody reads skips).
    """

    key: str
    rows: list[dict[str, Any]]
    recorded: Trace | list[TraceRow] = field(repr=False)
    summary: dict[str, Any]
    model: np.ndarray | None = field(default=None, repr=False)
    """θ after the last update (None when no update was made)."""

    @property
    def trace(self) -> list[TraceRow]:
        """Trace rows (time, agent 1..n or 0 for the server, event, iteration, version)."""
        if isinstance(self.recorded, Trace):
            self.recorded = self.recorded.rows()
        return self.recorded

    def trace_blocks(self, rows: int) -> Iterator[list[Any]]:
        """The trace rows flattened (time, agent, event, iteration, version of the first row,
        then of the second, ...) in blocks of at most ``rows`` rows, for writers (see
        Trace.flat_blocks); a block may be the trace's own list: do not change it."""
        if isinstance(self.recorded, Trace):
            yield from self.recorded.flat_blocks(rows)
            return
        for start in range(0, len(self.recorded), rows):
            yield list(chain.from_iterable(self.recorded[start : start + rows]))

    def trace_records(self) -> Iterator[np.ndarray] | None:
        """The trace rows as :data:`~asyncsim.core.trace.RECORD` arrays in time order, block by
        block (Trace.record_blocks); None when only :meth:`trace_blocks` can read them."""
        if isinstance(self.recorded, Trace):
            return self.recorded.record_blocks()
        return None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle (process pools, Ray) the rows, not the recorder."""
        return {**vars(self), "recorded": self.trace}


@dataclass
class RunResult:
    """All methods of one scenario run (those that finished, if some failed: ``failed`` maps
    the key of each failed method to its one-line error)."""

    scenario: Scenario
    methods: dict[str, MethodResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def summary_table(self) -> list[dict[str, Any]]:
        """One summary dict per method, in scenario order."""
        return [result.summary for result in self.methods.values()]

    def to_pandas(self, table: Table = "summary") -> pd.DataFrame:
        """The run as a pandas DataFrame: ``summary`` (one row per method), ``iterations`` or
        ``trace`` (:func:`run_frame`)."""
        return run_frame(self, table)


# ---------------------------------------------------------------- time to target


def time_to_target(
    run: RunResult, key: str, censored: Literal["budget", "none"] = "none"
) -> float | None:
    """Method ``key``'s simulated time to the scenario's target (:func:`censored_time`)."""
    budget = run.scenario.budget.model_dump()
    return censored_time(run.methods[key].summary, budget, censored)


def censored_time(
    summary: Mapping[str, Any],
    budget: Mapping[str, Any],
    censored: Literal["budget", "none"] = "none",
) -> float | None:
    """A run's time to target from its summary and its scenario's budget.

    A run that reached its target gives that time; a scenario without a target gives the run's
    total time. A run that missed its target is censored: ``"budget"`` counts it at the end of
    its budget (the time budget, else its total time), as the paper's plots do; ``"none"``
    gives None.
    """
    if summary.get("time_to_target") is not None:
        return float(summary["time_to_target"])
    if budget.get("target_grad_norm") is None and budget.get("target_return") is None:
        return float(summary["total_time"])
    if censored == "none":
        return None
    end = budget.get("time")
    return float(end if end is not None else summary["total_time"])


# ---------------------------------------------------------------- DataFrames


def run_frame(run: RunResult, table: Table = "summary") -> pd.DataFrame:
    """A RunResult (in memory) as a DataFrame (see the module doc)."""
    import pandas as pd

    budget = run.scenario.budget.model_dump()
    frames = [
        _method_frame(key, result.summary, result.rows, result.trace, budget, table)
        for key, result in run.methods.items()
    ]
    return pd.concat(frames, ignore_index=True)


def _method_frame(
    key: str,
    summary: Mapping[str, Any],
    rows: list[dict[str, Any]],
    trace: list[tuple],
    budget: Mapping[str, Any],
    table: Table,
) -> pd.DataFrame:
    import pandas as pd

    if table == "summary":
        return pd.DataFrame([summary_row(summary, budget)])
    if table == "iterations":
        frame = pd.DataFrame(rows)
    else:
        frame = pd.DataFrame(trace, columns=["time", "agent", "event", "iteration", "version"])
    frame.insert(0, "method", key)
    return frame


def summary_row(summary: Mapping[str, Any], budget: Mapping[str, Any]) -> dict[str, Any]:
    """The summary fields, whether the target was reached and the censored time to target."""
    return {
        **summary,
        "reached": censored_time(summary, budget) is not None,
        "time_to_target_censored": censored_time(summary, budget, "budget"),
    }
