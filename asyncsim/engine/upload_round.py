"""A round over shared links whose agents compute one gradient each and upload it at its end
(synchronized, m-synchronous and minibatch rounds), made in arrays (docs/algorithms.md §3,
"Event order"; §4, "Shared links").

When the point's copies arrive as a cohort (:meth:`LiveLinks.cohort
<asyncsim.engine.links.LiveLinks.cohort>`) and nothing delays the uploads (no latency, no
bandwidth trace), every event of the round is known at once: agent i receives the point at a_i
and its gradient ends at f_i = a_i + τ_i; the rule sees the gradients in SimPy's order (by time,
then agent) and stops the round; the uploads of the agents that finished by then start at their
f_i and end as the network ends them (:meth:`LiveLinks.uploads_joining
<asyncsim.engine.links.LiveLinks.uploads_joining>`: at f_i + S/c_i where each is held at its
cap, else run by the network without events). The events are taken in SimPy's order: by time;
at one instant the network's deliveries first (one wake-up delivers the copies and the uploads
that end then, by link, then flow), then the agents' computation ends by agent. The events up
to the stop (or before the time budget's end) are applied; the uploads still on their way at
the stop are left to the reduce (``round_.uploads_ahead``), the copies still on their way are
dropped. Trace, counters and indices get what the round's events give them, row for row
(tests/test_shared_round.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asyncsim.core.trace import CODES, TraceEvent, records

__all__ = ["run_upload_round"]

_COPY, _END, _UPLOAD = 0, 1, 2  # the events: a copy's arrival, a gradient's end, an upload's
_ROWS = {  # the trace rows of each event
    _COPY: (TraceEvent.BROADCAST_RECEIVED, TraceEvent.COMPUTE_START),
    _END: (TraceEvent.COMPUTE_END, TraceEvent.UPLOAD_START),
    _UPLOAD: (TraceEvent.UPLOAD_END,),
}


def run_upload_round(
    sim: Any, round_: Any, vector: Any, copies: tuple[np.ndarray, ...], watch_every: int
) -> float | None:
    """Run the round ``round_`` of ``sim`` from ``copies``: each agent's next duration, its
    copy's arrival and the link that delivers it; ``vector``: the round's
    :class:`~asyncsim.engine.schedule.VectorRound` (durations, indices); drive's check runs when
    ``watch_every`` events have passed; the uploads must be able to run without events
    (:meth:`LiveLinks.uploads_alone <asyncsim.engine.links.LiveLinks.uploads_alone>`). Returns
    the stop time, or None when the time budget ends first."""
    links, n = sim._links, sim.cluster.n
    tau, arrival, copy_link = copies
    finish = arrival + tau
    ending = np.lexsort((np.arange(n), finish))  # the gradients' ends, in SimPy's order
    due = ending[finish[ending] < sim._deadline]
    stop = round_.rule.on_gradients(due.tolist())
    senders = due if stop is None else due[: stop + 1]
    upload_end, upload_link = links.uploads_joining(senders.tolist(), finish[senders].tolist())
    time = np.concatenate((arrival, finish[senders], upload_end))
    kind = np.repeat((_COPY, _END, _UPLOAD), (n, len(senders), len(senders)))
    agent = np.concatenate((np.arange(n), senders, senders))
    order = np.lexsort((_keys(copy_link, upload_link, senders), time))
    time, kind, agent = time[order], kind[order], agent[order]
    if stop is None:
        done = int(np.count_nonzero(time < sim._deadline))  # later events are not processed
    else:
        done = int(np.flatnonzero((kind == _END) & (agent == senders[-1]))[0]) + 1
    _apply(sim, round_, vector, time[:done], kind[:done], agent[:done])
    _watched(sim, done, watch_every)
    if stop is None:
        return None
    round_.done = True
    later = done + np.flatnonzero(kind[done:] == _UPLOAD)
    round_.uploads_ahead = (time[later].tolist(), agent[later].tolist())
    return float(time[done - 1])


def _keys(copy_link: np.ndarray, upload_link: np.ndarray, senders: np.ndarray) -> np.ndarray:
    """The order of events at one instant (the copies in agent order, then the gradients' ends
    and the uploads in the senders' order): deliveries first (negative keys), by link, then
    flow (on one link, the copies by agent, the uploads by start), then the gradients' ends by
    agent."""
    n = len(copy_link)
    flow = np.concatenate((np.arange(n), np.arange(len(senders))))
    delivery = np.concatenate((copy_link, upload_link)) * (2 * n) + flow
    delivery -= delivery.max() + 1
    return np.concatenate((delivery[:n], senders, delivery[n:]))


def _apply(
    sim: Any, round_: Any, vector: Any, time: np.ndarray, kind: np.ndarray, agent: np.ndarray
) -> None:
    """Apply the round's events in order: their trace rows, a computation started by each agent
    that received the point, the gradients finished and their uploads sent."""
    _trace(sim.trace, time, kind, agent, round_.version)
    n, first_index = sim.cluster.n, vector.first_index
    received, finished = agent[kind == _COPY], agent[kind == _END]
    counts = np.zeros(n, np.int64)
    counts[received] = 1
    vector._take(counts)
    sim._next_index[:] = (first_index + counts).tolist()
    running = np.setdiff1d(received, finished)
    round_.running.update(zip(running.tolist(), first_index[running].tolist(), strict=True))
    for each, at in zip(finished.tolist(), time[kind == _END].tolist(), strict=True):
        round_.used[each] = [int(first_index[each])]
        round_.finished[each] = at
    sim.counters.used += len(finished)
    sim.counters.uploads += len(finished)


def _trace(trace: Any, time: np.ndarray, kind: np.ndarray, agent: np.ndarray, version: int) -> None:
    """The events' rows (:data:`_ROWS`), packed into the trace."""
    if not trace.enabled or not len(time):
        return
    kinds = (_COPY, _END, _UPLOAD)
    codes = np.array([CODES[row] for k in kinds for row in _ROWS[k]], np.uint8)
    lengths = np.array([len(_ROWS[k]) for k in kinds])
    first = np.cumsum(lengths) - lengths  # each kind's first row among the codes
    per_event = lengths[kind]
    start = np.cumsum(per_event) - per_event
    within = np.arange(int(per_event.sum())) - np.repeat(start, per_event)
    events = codes[np.repeat(first[kind], per_event) + within]
    rows = records(len(events), np.repeat(time, per_event), np.repeat(agent, per_event) + 1,
                   events, version, version)  # fmt: skip
    trace.extend_records(rows)


def _watched(sim: Any, events: int, watch_every: int) -> None:
    """Count ``events`` down to drive's next check; run it once when they reach it."""
    left = sim._unwatched - events
    if left <= 0:
        left = watch_every
        if sim._watch is not None:
            sim._watch()
    sim._unwatched = left
