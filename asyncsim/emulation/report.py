"""The simulator's error: an emulated method run compared with its simulation.

Per method (``emulation.json``, see :func:`compare`):

* time: relative error of the total time |T_emu − T_sim| / T_sim, and the median and maximum
  relative error of the rows' durations (rounds, or intervals between asynchronous updates)
  and of their end times;
* order: the sequence of gradients the server took — (agent, version) of each completion a
  round counted, or of each arrival at an asynchronous server — compared event by event; the
  first event where the two differ is the divergence point. Ties in the simulation (events at
  equal times, ordered by agent index there) and events closer than the real timer's jitter
  can come in another order on real workers: ``closest_events_s`` (:func:`closest_events`,
  in real seconds) says how close the simulation's decisions came to such a tie;
* participants and per-agent counts per round (per update: the sending agent), the integer
  columns of the iteration table row by row, and the largest difference of the final
  parameters (relative to max(1, ||θ_sim||_∞));
* ``same_decisions``: the verdict the summary prints: as many rows, every row took the same
  gradients (the same counts per agent in each round; the same sender in each update) and the
  iteration tables are equal. The event-by-event order (``same_order``) is a finer diagnostic:
  two completions of one round may arrive in either order without changing a decision.

Rows of zero simulated length (up to the rounding of the simulated clock, :data:`ZERO_LENGTH`
of the run's total time: simultaneous asynchronous arrivals) have no relative error; they are
counted as ``zero_length``.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from asyncsim.core.trace import TraceEvent

__all__ = [
    "TABLE_COLUMNS",
    "ZERO_LENGTH",
    "closest_events",
    "compare",
    "differences",
    "simulated_sequence",
]

TABLE_COLUMNS = (
    "gradients_used",
    "gradients_computed",
    "uploads",
    "gradients_discarded",
    "gradients_lost",
    "participants",
    "agent",
    "delay",
)
"""Integer columns of the iteration table that equal event orders make equal."""

ZERO_LENGTH = 1e-9
"""A simulated row shorter than this fraction of the run's total time has zero length: the
simulated clock sums floats, so two arrivals at one instant can be a few ulps apart (a relative
error of 1e13 for a row of 1e-16 s)."""

Step = tuple[int, int]
"""(agent 1..n, version) of one gradient the server took."""


def simulated_sequence(
    trace: Sequence[tuple[float, int, str, int, int]], round_based: bool
) -> list[tuple[float, int, int]]:
    """(time, agent, version) of the gradients the server took in a simulated run, from its
    trace: the completions of rounds (every ``compute_end`` of a round is counted), or the
    arrivals (``upload_end``) at an asynchronous server, in the order the engine saw them."""
    event = TraceEvent.COMPUTE_END if round_based else TraceEvent.UPLOAD_END
    return [(time, agent, version) for time, agent, kind, version, _ in trace if kind == event]


def compare(
    simulated: dict[str, Any],
    emulated: dict[str, Any],
    round_based: bool,
    scale: float,
    closest: float | None = None,
) -> dict[str, Any]:
    """The report of one method.

    Args:
        simulated, emulated: each with ``rows`` (the iteration table), ``model`` (θ after the
            last update, or None) and ``sequence`` (the gradients taken; the simulated one as
            (time, agent, version), the emulated one as (agent, version)).
        round_based: whether rows are rounds.
        scale: S, real seconds per modelled second.
        closest: :func:`closest_events` of the simulated run (reported in real seconds).
    """
    sim_rows, emu_rows = simulated["rows"], emulated["rows"]
    timed = [(time, (agent, version)) for time, agent, version in simulated["sequence"]]
    sim_steps = [step for _, step in timed]
    emu_steps = [tuple(step) for step in emulated["sequence"]]
    zero = ZERO_LENGTH * _total(sim_rows)
    report = {
        "rows": {"simulated": len(sim_rows), "emulated": len(emu_rows)},
        "simulated_total_time": _total(sim_rows),
        "emulated_total_time": _total(emu_rows),
        "total_time_error": _relative(_total(emu_rows), _total(sim_rows)),
        "round_time_error": _errors(sim_rows, emu_rows, _duration, zero),
        "end_time_error": _errors(sim_rows, emu_rows, lambda row: row["time_end"], zero),
        **_order(timed, emu_steps),
        **_participants(sim_steps, emu_steps, sim_rows, emu_rows, round_based),
        **_table(sim_rows, emu_rows),
        "parameter_difference": _parameters(
            simulated["model"], emulated["model"], sim_rows, emu_rows
        ),
        "closest_events_s": _scaled(closest, scale),
    }
    report["same_decisions"] = (
        len(sim_rows) == len(emu_rows) and report["same_counts"] and report["same_iteration_table"]
    )
    return report


def differences(report: dict[str, Any]) -> list[str]:
    """What :func:`compare` found different, one sentence each (none: the same decisions and
    the same order)."""
    lines = []
    rows = report["rows"]
    if rows["simulated"] != rows["emulated"]:
        lines.append(f"{rows['emulated']} rows emulated against {rows['simulated']} simulated")
    if report["first_different_round"] is not None:
        lines.append(
            f"row {report['first_different_round']} took other gradients than in the simulation"
        )
    table = report["first_table_difference"]
    if table is not None:
        lines.append(
            f"the iteration tables differ from iteration {table['iteration']} on "
            f"({table['column']}: {table['simulated']} simulated, {table['emulated']} here)"
        )
    event = report["divergence"]
    if event is not None:
        lines.append(
            f"the order diverged at event {event['event']} (simulated time "
            f"{event['simulated_time']:.6g}): agent {event['simulated']['agent']} in the "
            f"simulation, agent {event['emulated']['agent']} here"
        )
    return lines


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


def _total(rows: Sequence[dict[str, Any]]) -> float:
    return rows[-1]["time_end"] if rows else 0.0


def _duration(row: dict[str, Any]) -> float:
    return row["time_end"] - row["time_start"]


def _relative(measured: float, reference: float) -> float | None:
    return abs(measured - reference) / reference if reference > 0 else None


def _errors(
    sim_rows: Sequence[dict], emu_rows: Sequence[dict], value: Any, zero: float
) -> dict[str, Any]:
    """Median and maximum relative error of ``value(row)`` over the rows both runs have;
    rows whose simulated value is at most ``zero`` have none (``zero_length`` counts them)."""
    pairs = list(zip(sim_rows, emu_rows, strict=False))
    errors = [_relative(value(emu), value(sim)) for sim, emu in pairs if value(sim) > zero]
    return {
        "median": statistics.median(errors) if errors else None,
        "max": max(errors) if errors else None,
        "rows": len(errors),
        "zero_length": len(pairs) - len(errors),
    }


def _order(timed: list[tuple[float, Step]], emu_steps: list[Step]) -> dict[str, Any]:
    """Whether the gradients were taken in the same order (over the events both runs have),
    and where the order first differs."""
    for event, ((time, sim), emu) in enumerate(zip(timed, emu_steps, strict=False)):
        if sim != emu:
            divergence = {
                "event": event,
                "simulated_time": time,
                "simulated": {"agent": sim[0], "version": sim[1]},
                "emulated": {"agent": emu[0], "version": emu[1]},
            }
            return {"same_order": False, "divergence": divergence}
    return {"same_order": True, "divergence": None}


def _participants(
    sim_steps: list[Step],
    emu_steps: list[Step],
    sim_rows: Sequence[dict],
    emu_rows: Sequence[dict],
    round_based: bool,
) -> dict[str, Any]:
    """Per round, the participants and each one's number of gradients (per asynchronous
    update, the agent whose gradient it used), over the rows both runs have."""
    rows = min(len(sim_rows), len(emu_rows))
    if round_based:
        sim_counts, emu_counts = _per_round(sim_steps, rows), _per_round(emu_steps, rows)
    else:
        sim_counts = [Counter([row.get("agent")]) for row in sim_rows[:rows]]
        emu_counts = [Counter([row.get("agent")]) for row in emu_rows[:rows]]
    first_participants = next(
        (r for r in range(rows) if set(sim_counts[r]) != set(emu_counts[r])), None
    )
    first_counts = next((r for r in range(rows) if sim_counts[r] != emu_counts[r]), None)
    return {
        "same_participants": first_participants is None,
        "same_counts": first_counts is None,
        "first_different_round": first_counts,
    }


def _per_round(steps: list[Step], rounds: int) -> list[Counter[int]]:
    counts: list[Counter[int]] = [Counter() for _ in range(rounds)]
    for agent, version in steps:
        if version < rounds:
            counts[version][agent] += 1
    return counts


def _table(sim_rows: Sequence[dict], emu_rows: Sequence[dict]) -> dict[str, Any]:
    """Whether the integer columns agree on the rows both runs have; the first difference."""
    for sim, emu in zip(sim_rows, emu_rows, strict=False):
        for column in TABLE_COLUMNS:
            if sim.get(column) != emu.get(column):
                difference = {
                    "iteration": sim["iteration"],
                    "column": column,
                    "simulated": sim.get(column),
                    "emulated": emu.get(column),
                }
                return {"same_iteration_table": False, "first_table_difference": difference}
    same = len(sim_rows) == len(emu_rows)
    return {"same_iteration_table": same, "first_table_difference": None}


def _parameters(
    sim_model: np.ndarray | None,
    emu_model: np.ndarray | None,
    sim_rows: Sequence[dict],
    emu_rows: Sequence[dict],
) -> float | None:
    """max_j |θ_emu,j − θ_sim,j| / max(1, ||θ_sim||_∞) after the last update, when both runs
    made the same number of updates."""
    if sim_model is None or emu_model is None or len(sim_rows) != len(emu_rows):
        return None
    scale = max(1.0, float(np.max(np.abs(sim_model))))
    difference = float(np.max(np.abs(np.asarray(emu_model) - np.asarray(sim_model)))) / scale
    return difference if math.isfinite(difference) else None


def closest_events(
    trace: Sequence[tuple[float, int, str, int, int]],
    rows: Sequence[dict[str, Any]],
    round_based: bool,
    duration: Callable[[int, int], float] | None = None,
) -> float | None:
    """The smallest modelled gap between a server decision of a simulated run and an event
    of another agent that the decision depends on the order of.

    Rounds: a round's stop (its ``stop_time``) and an event of that round of an agent other
    than the one that stopped it (a completion, which the stop discards if later; a broadcast
    received, which starts a computation if earlier; an abandoned computation). Asynchronous
    servers: an arrival and another agent's arrival or broadcast received (whose computation
    counts in the row it falls in). With ``duration(agent, version)`` (the modelled length of
    a computation of agent 0..n-1 at that version, known for fixed compute times), also a
    computation discarded at a stop or restart and the time it would have ended. 0 for ties;
    None when there is no such pair.
    """
    if round_based:
        stops = {row["iteration"]: row["stop_time"] for row in rows if "stop_time" in row}
        stopper = {
            version: agent
            for time, agent, kind, version, _ in trace
            if kind == TraceEvent.COMPUTE_END and time == stops.get(version)
        }
        gaps = [
            abs(time - stops[version])
            for time, agent, kind, version, _ in trace
            if kind in _ROUND_EVENTS and version in stops and agent != stopper.get(version)
        ]
    else:
        events = [(time, agent, kind) for time, agent, kind, *_ in trace if kind in _ASYNC_EVENTS]
        gaps = [
            later - earlier
            for (earlier, a, first), (later, b, second) in itertools.pairwise(events)
            if a != b and TraceEvent.UPLOAD_END in (first, second)
        ]
    if duration is not None:
        gaps += _discarded_ends(trace, duration)
    return min(gaps) if gaps else None


def _discarded_ends(
    trace: Sequence[tuple[float, int, str, int, int]], duration: Callable[[int, int], float]
) -> list[float]:
    """For each computation discarded, how long before its end it was: its start plus its
    duration, minus the time it was discarded."""
    started: dict[int, float] = {}
    gaps = []
    for time, agent, kind, version, _ in trace:
        if kind == TraceEvent.COMPUTE_START:
            started[agent] = time
        elif kind == TraceEvent.DISCARDED and agent in started:
            gaps.append(started[agent] + duration(agent - 1, version) - time)
    return gaps


_ROUND_EVENTS = {TraceEvent.COMPUTE_END, TraceEvent.BROADCAST_RECEIVED, TraceEvent.ABANDONED}
_ASYNC_EVENTS = {TraceEvent.UPLOAD_END, TraceEvent.BROADCAST_RECEIVED}
