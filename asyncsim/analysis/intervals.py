"""Agents' busy and idle intervals, from a method's trace, as numpy arrays.

What the timeline and utilization figures draw (:mod:`asyncsim.analysis.plots`). The trace is read
in blocks into four columns and paired with sorts, in O(events log events) without a Python step
per event, so that a trace of millions of rows costs seconds, not minutes.

An interval's kind (:data:`KINDS`): a downlink (the point on its way: from the server's update
that made it, 0 for version 0, or from the end of the agent's previous work if that is later,
to broadcast_received), compute (compute_start → compute_end), upload (upload_start →
upload_end), discarded (compute_start → discarded or abandoned), lost (compute_start → lost) and
idle (every other gap of [0, end]). The server (agent 0) has none.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from asyncsim.core.trace import EVENTS, TraceEvent
from asyncsim.store.run_data import MethodResult

__all__ = [
    "KINDS",
    "Intervals",
    "TraceColumns",
    "busy",
    "computing_time",
    "streamed_computing_time",
    "timeline_rows",
    "with_idle",
]

KINDS = ("downlink", "compute", "upload", "discarded", "lost", "idle")
"""Interval kinds, in the order of the figures' legends."""

_CODE = {event: code for code, event in enumerate(EVENTS)}
_START = {TraceEvent.COMPUTE_START: "compute", TraceEvent.UPLOAD_START: "upload"}
#: event that ends an interval → the interval's kind
_END = {
    TraceEvent.BROADCAST_RECEIVED: "downlink",
    TraceEvent.COMPUTE_END: "compute",
    TraceEvent.DISCARDED: "discarded",
    TraceEvent.ABANDONED: "discarded",
    TraceEvent.LOST: "lost",
    TraceEvent.UPLOAD_END: "upload",
}
_CHANNEL = {"compute": 1, "discarded": 1, "lost": 1, "upload": 2}
"""Which open interval an event closes: a computation (1) or an upload (2)."""


def _table(mapping: dict[TraceEvent, int]) -> np.ndarray:
    """A lookup array over event codes (-1 for the events ``mapping`` leaves out)."""
    table = np.full(len(EVENTS), -1, dtype=np.int8)
    for event, value in mapping.items():
        table[_CODE[event]] = value
    return table


_START_CHANNEL = _table({event: _CHANNEL[kind] for event, kind in _START.items()})
_END_KIND = _table({event: KINDS.index(kind) for event, kind in _END.items()})
_END_CHANNEL = _table({e: _CHANNEL.get(kind, 0) for e, kind in _END.items()})
_COMPUTE, _DISCARDED, _LOST, _IDLE = (
    KINDS.index(k) for k in ("compute", "discarded", "lost", "idle")
)


_NAMES = ("time", "agent", "event", "version")
_TYPES = (float, np.int64, np.int8, np.int64)  # an event's code is its index in EVENTS


@dataclass(frozen=True)
class TraceColumns:
    """A trace as columns (rows in time order); ``event`` holds codes (index into EVENTS)."""

    time: np.ndarray
    agent: np.ndarray
    event: np.ndarray
    version: np.ndarray

    @classmethod
    def of(cls, result: MethodResult, block_rows: int = 1 << 20) -> TraceColumns:
        """The columns of ``result``'s trace, read block by block (:meth:`blocks`)."""
        return cls.joined(cls.blocks(result, block_rows))

    @classmethod
    def blocks(cls, result: MethodResult, block_rows: int = 1 << 20) -> Iterator[TraceColumns]:
        """The columns of ``result``'s trace block by block, in time order (the rows are never
        held as tuples): its packed records when it has them, else its flattened rows."""
        records = result.trace_records()
        for block in records if records is not None else ():  # packed rows (a long run's)
            yield cls(
                *(block[name].astype(kind) for name, kind in zip(_NAMES, _TYPES, strict=True))
            )
        for block in result.trace_blocks(block_rows) if records is None else ():
            yield cls(
                np.array(block[0::5], dtype=float),
                np.array(block[1::5], dtype=np.int64),
                np.fromiter(map(_CODE.__getitem__, block[2::5]), dtype=np.int8),
                np.array(block[4::5], dtype=np.int64),
            )

    @classmethod
    def joined(cls, blocks: Iterable[TraceColumns]) -> TraceColumns:
        """The rows of ``blocks``, one after the other."""
        parts = [[], [], [], []]
        for block in blocks:
            for part, column in zip(parts, vars(block).values(), strict=True):
                part.append(column)
        columns = []
        for p, t in zip(parts, _TYPES, strict=True):  # one column at a time: its blocks freed
            columns.append(np.concatenate(p) if p else np.empty(0, t))
            p.clear()
        return cls(*columns)

    def __len__(self) -> int:
        return self.time.size

    def of_agents(self, agents: np.ndarray) -> TraceColumns:
        """The rows of ``agents`` and of the server."""
        return self.take((self.agent == 0) | np.isin(self.agent, agents))

    def take(self, keep: np.ndarray) -> TraceColumns:
        """The rows ``keep`` (a mask, or positions)."""
        return TraceColumns(self.time[keep], self.agent[keep], self.event[keep], self.version[keep])


@dataclass(frozen=True)
class Intervals:
    """Intervals (agent, kind index into KINDS, start, stop), ordered by agent, then by kind in
    the order the agent first has it (idle last), then in the order their ends were traced."""

    agent: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    stop: np.ndarray

    def take(self, order: np.ndarray) -> Intervals:
        return Intervals(self.agent[order], self.kind[order], self.start[order], self.stop[order])

    def groups(self) -> list[tuple[int, str, slice]]:
        """(agent, kind, rows) of each run of equal agent and kind."""
        changes = np.flatnonzero(np.diff(self.agent) != 0) + 1
        changes = np.union1d(changes, np.flatnonzero(np.diff(self.kind) != 0) + 1)
        edges = [0, *changes.tolist(), self.agent.size] if self.agent.size else [0]
        return [
            (int(self.agent[a]), KINDS[self.kind[a]], slice(a, b))
            for a, b in itertools.pairwise(edges)
        ]


def _previous_in_group(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows stably sorted by ``groups``: each row's predecessor position and whether it
    is in the same group."""
    previous = np.arange(groups.size) - 1
    same = np.zeros(groups.size, dtype=bool)
    same[1:] = groups[1:] == groups[:-1]
    return previous, same


def _made(trace: TraceColumns) -> tuple[np.ndarray, np.ndarray]:
    """(versions, time of the server's first row of each), version 0 made at time 0."""
    server = trace.agent == 0
    versions, first = np.unique(trace.version[server], return_index=True)
    made = trace.time[server][first]
    if not versions.size or versions[0] != 0:
        versions, made = np.insert(versions, 0, 0), np.insert(made, 0, 0.0)
    made[0] = 0.0
    return versions, made


def _downlink_starts(trace: TraceColumns, rows: np.ndarray, downlinks: np.ndarray) -> np.ndarray:
    """Start of each downlink among ``rows`` (the agents' interval ends, in time order):
    max(time its version was made, the agent's previous interval end, else 0); its own time
    when its version was not made."""
    order = np.argsort(trace.agent[rows], kind="stable")
    previous, same = _previous_in_group(trace.agent[rows][order])
    free = np.where(same, trace.time[rows][order][previous], 0.0)
    free_of_row = np.empty_like(free)
    free_of_row[order] = free
    versions, made = _made(trace)
    wanted = trace.version[rows][downlinks]
    at = np.minimum(np.searchsorted(versions, wanted), versions.size - 1)
    found = versions[at] == wanted
    made_at = np.where(found, made[at], trace.time[rows][downlinks])
    return np.maximum(made_at, free_of_row[downlinks])


def _opened(trace: TraceColumns, rows: np.ndarray) -> np.ndarray:
    """Start of the computation or upload that each of ``rows`` (interval ends) closes: the
    latest start on its agent's channel not closed since; NaN when there is none."""
    channel = np.where(_START_CHANNEL[trace.event] > 0, _START_CHANNEL[trace.event], 0)
    channel = np.maximum(channel, _END_CHANNEL[trace.event])
    ends = np.zeros(len(trace), dtype=bool)
    ends[rows] = True
    on = np.flatnonzero(channel > 0)
    # by agent, then channel, then row (a stable sort of one key: a third of a lexsort's time)
    order = on[np.argsort(trace.agent[on] * 4 + channel[on], kind="stable")]
    previous, same = _previous_in_group(trace.agent[order] * 4 + channel[order])
    is_start = _START_CHANNEL[trace.event[order]] > 0
    paired = same & is_start[np.maximum(previous, 0)]
    start = np.full(len(trace), np.nan)
    start[order] = np.where(paired, trace.time[order][np.maximum(previous, 0)], np.nan)
    return start[rows]


def busy(trace: TraceColumns, end: float) -> Intervals:
    """Every agent's busy intervals clipped to [0, end] (a start after ``end`` opens none)."""
    late_start = (trace.time > end) & (
        (_START_CHANNEL[trace.event] > 0) | (trace.event == _CODE[TraceEvent.BROADCAST_RECEIVED])
    )
    kept = TraceColumns(*(c[~late_start] for c in vars(trace).values()))
    rows = np.flatnonzero((kept.agent != 0) & (_END_KIND[kept.event] >= 0))
    kind = _END_KIND[kept.event[rows]].astype(np.int64)
    downlinks = kind == KINDS.index("downlink")
    start = np.full(rows.size, np.nan)
    start[~downlinks] = _opened(kept, rows[~downlinks])
    start[downlinks] = _downlink_starts(kept, rows, downlinks)
    time = kept.time[rows]
    drawn = time > start  # False where start is NaN
    intervals = Intervals(
        kept.agent[rows][drawn], kind[drawn], start[drawn], np.minimum(time[drawn], end)
    )
    return intervals.take(_agent_order(intervals.agent, intervals.kind))


def _agent_order(agent: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Order by agent, then kind by its first row for that agent, then row."""
    row = np.arange(agent.size)
    by_group = np.argsort(agent * len(KINDS) + kind, kind="stable")  # agent, kind, row
    group = agent[by_group] * len(KINDS) + kind[by_group]
    first_of_run = np.ones(group.size, dtype=bool)
    first_of_run[1:] = group[1:] != group[:-1]
    runs = np.cumsum(first_of_run) - 1
    first = np.empty(agent.size, dtype=np.int64)
    first[by_group] = row[by_group][first_of_run][runs]
    return np.argsort(agent * max(agent.size, 1) + first, kind="stable")  # agent, first, row


def with_idle(intervals: Intervals, agents: np.ndarray, end: float) -> Intervals:
    """``intervals`` of ``agents`` (ascending) and, after each agent's busy ones, the gaps of
    [0, end] it is busy in none of (idle)."""
    mine = intervals.take(np.flatnonzero(np.isin(intervals.agent, agents)))
    order = np.lexsort((mine.stop, mine.start, mine.agent))
    agent, start, stop = mine.agent[order], mine.start[order], mine.stop[order]
    previous, same = _previous_in_group(agent)
    reach = _running_max(agent, stop)  # latest stop so far, in the agent's rows
    cursor = np.where(same, reach[previous], 0.0)
    inner = start > cursor
    last = np.ones(agent.size, dtype=bool)
    last[:-1] = agent[1:] != agent[:-1]
    tail = last & (reach < end)
    idle_agent = [agent[inner], agent[tail]]
    idle_start, idle_stop = [cursor[inner], reach[tail]], [start[inner], np.full(tail.sum(), end)]
    untouched = np.setdiff1d(agents, agent)
    if end > 0:
        idle_agent.append(untouched)
        idle_start.append(np.zeros(untouched.size))
        idle_stop.append(np.full(untouched.size, end))
    idle_agent_all = np.concatenate(idle_agent).astype(np.int64)
    idle = Intervals(
        idle_agent_all,
        np.full(idle_agent_all.size, _IDLE),
        np.concatenate(idle_start),
        np.concatenate(idle_stop),
    )
    idle = idle.take(np.lexsort((idle.start, idle.agent)))
    both = Intervals(
        *(
            np.concatenate(pair)
            for pair in zip(vars(mine).values(), vars(idle).values(), strict=True)
        )
    )
    section = np.r_[np.zeros(mine.agent.size), np.ones(idle.agent.size)]
    return both.take(np.lexsort((np.arange(both.agent.size), section, both.agent)))


def _running_max(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` within each run of equal ``groups`` (sorted ascending),
    exact: the maximum is taken over integer ranks, never over shifted floats."""
    if not values.size:
        return values.copy()
    by_value = np.argsort(values, kind="stable")
    rank = np.empty(values.size, dtype=np.int64)
    rank[by_value] = np.arange(values.size)
    run = np.cumsum(np.r_[0, groups[1:] != groups[:-1]])
    best = np.maximum.accumulate(run * values.size + rank) - run * values.size
    return values[by_value][best]


def streamed_computing_time(
    blocks: Iterable[TraceColumns], end: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`computing_time` of :func:`busy` (trace, ``end``), read from the trace's
    ``blocks`` in time order with a state of O(n), so that its memory does not grow with the
    run's length: each agent's computation open at a block's end is carried into the next, and
    the sums go on from block to block in the same order of additions (used: the compute
    intervals in trace order; wasted: the discarded ones, then the lost ones)."""
    used, discarded = np.zeros(n + 1), np.zeros(n + 1)
    lost_agents, lost_durations = [], []
    open_at = np.full(n + 1, np.nan)  # start of each agent's computation open so far
    every = np.arange(n + 1)
    for block in blocks:
        agent, kind, duration, open_at = _computations(block, end, open_at)
        for total, chosen in ((used, kind == _COMPUTE), (discarded, kind == _DISCARDED)):
            # the totals so far first, then this block's intervals: sequential sums
            weights = np.concatenate((total, duration[chosen]))
            total[:] = np.bincount(np.concatenate((every, agent[chosen])), weights, n + 1)
        lost_agents.append(agent[kind == _LOST])
        lost_durations.append(duration[kind == _LOST])
    agents = np.concatenate([every, *lost_agents])
    wasted = np.bincount(agents, np.concatenate([discarded, *lost_durations]), n + 1)
    return used[1:], wasted[1:]


def _computations(
    block: TraceColumns, end: float, open_at: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The computations (compute, discarded, lost) that ``block``'s rows end, as :func:`busy`
    draws them, in trace order: (agent, kind, duration), and the start of each agent's
    computation open after the block (``open_at``: before it; NaN: none)."""
    late_start = (block.time > end) & (
        (_START_CHANNEL[block.event] > 0) | (block.event == _CODE[TraceEvent.BROADCAST_RECEIVED])
    )
    computing = (_START_CHANNEL[block.event] == 1) | (_END_CHANNEL[block.event] == 1)
    on = np.flatnonzero(~late_start & computing)
    agent, time = block.agent[on], block.time[on]
    is_start = _START_CHANNEL[block.event[on]] == 1
    order = np.argsort(agent, kind="stable")  # by agent, then row
    previous, same = _previous_in_group(agent[order])
    opened = np.where(is_start[order][previous], time[order][previous], np.nan)
    start = np.empty(on.size)
    start[order] = np.where(same, opened, open_at[agent[order]])  # a first row: carried
    last = order[np.r_[agent[order][1:] != agent[order][:-1], True]] if on.size else order
    open_at = open_at.copy()
    open_at[agent[last]] = np.where(is_start[last], time[last], np.nan)
    closes = ~is_start & (time > start)  # False where start is NaN
    kind = _END_KIND[block.event[on][closes]].astype(np.int64)
    return agent[closes], kind, np.minimum(time[closes], end) - start[closes], open_at


def timeline_rows(
    blocks: Iterable[TraceColumns], agents: np.ndarray | None, end: float
) -> TraceColumns:
    """The rows of the trace (its ``blocks``) that :func:`busy` (rows, ``end``) needs for
    ``agents`` (None: all), so that the timeline's memory does not grow with the run's length:
    the server's and those agents' rows up to ``end``, and after it the first row of each
    agent's channel that closes a computation or an upload (a later one closes nothing that
    starts by ``end``)."""
    kept, closed = [], set()
    for block in blocks:
        mine = np.ones(len(block), dtype=bool)
        if agents is not None:
            mine = (block.agent == 0) | np.isin(block.agent, agents)
        keep = mine & (block.time <= end)
        channel = _END_CHANNEL[block.event]
        for row in np.flatnonzero(mine & (block.time > end) & (channel > 0)).tolist():
            key = (int(block.agent[row]), int(channel[row]))
            if key not in closed:  # the first closing row of this channel after the end
                closed.add(key)
                keep[row] = True
        kept.append(block.take(keep))
    return TraceColumns.joined(kept)


def computing_time(intervals: Intervals, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per agent 1..n: (used, wasted) computing time, the sums of its compute intervals and of
    its discarded, then lost ones, each added in trace order."""
    duration = intervals.stop - intervals.start

    def total(kinds: tuple[int, ...]) -> np.ndarray:
        chosen = np.flatnonzero(np.isin(intervals.kind, kinds))
        chosen = chosen[np.argsort(intervals.kind[chosen], kind="stable")]  # kinds ascending
        return np.bincount(intervals.agent[chosen], duration[chosen], minlength=n + 1)[1:]

    return total((_COMPUTE,)), total((_DISCARDED, _LOST))
