"""The event trace: one row per simulated event (time, agent, event, iteration, version).

The engine numbers agents from 0 (the server SERVER); rows hold them as written, numbered 1..n as
in the paper and the server 0. Rows whose times are known in advance (uploads of a reduce) are
recorded when scheduled, so ``rows()`` returns them stably sorted by time. The engine records
such a block in time order, so a trace usually needs no sorting: ``rows()`` and
``flat_blocks()`` check, and sort only when needed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum

__all__ = ["EVENTS", "SERVER", "Trace", "TraceEvent"]

SERVER = -1
"""The server's agent index in the engines (written as agent 0 in trace.csv)."""


class TraceEvent(StrEnum):
    """An event of the trace, as trace.csv writes it; a member is a ``str``
    (``TraceEvent.UPDATE == "update"``), so files and tables read it as before."""

    BROADCAST_RECEIVED = "broadcast_received"  # the agent holds the new point
    COMPUTE_START = "compute_start"
    COMPUTE_END = "compute_end"
    DISCARDED = "discarded"  # running computation dropped (round stopped, or point stale)
    LOST = "lost"  # running computation lost to an outage
    ABANDONED = "abandoned"  # computation given up after the agent's patience (MindFlayer)
    OUTAGE_WAIT = "outage_wait"  # the agent waits for the end of an outage before computing
    UPLOAD_START = "upload_start"
    UPLOAD_END = "upload_end"
    UPDATE = "update"  # the server (or every node, under AllReduce) applies an update
    IGNORED = "ignored"  # the server drops an arrived gradient unused (Ringmaster ASGD)


EVENTS = tuple(TraceEvent)
"""Every event name, in the order above."""

Row = tuple[float, int, TraceEvent, int, int]


class Trace:
    """Collects trace rows; a disabled trace records nothing (for long benchmark runs).

    Rows are kept flat in one list of atoms rather than as a list of tuples: millions of small
    tuples would make Python's cyclic garbage collector rescan them again and again.
    """

    __slots__ = ("_flat", "add", "enabled")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._flat: list[float | int | str] = []
        #: hot-path recorder taking one (time, agent number, event, iteration, version) tuple,
        #: the agent numbered as written (0-based agent + 1); a C method (list.extend, or
        #: set.discard as a no-op) so that recording costs no Python call
        self.add: Callable[[Row], None] = self._flat.extend if enabled else set().discard

    def record(
        self, time: float, agent: int, event: TraceEvent, iteration: int, version: int
    ) -> None:
        """Append one event; ``agent`` is 0-based or SERVER."""
        self.add((time, agent + 1, event, iteration, version))

    def columns(self) -> tuple[Sequence, ...]:
        """The five columns (time, agent, event, iteration, version), rows sorted by time
        (stable), agents numbered 1..n and the server 0."""
        columns = [self._flat[j::5] for j in range(5)]
        order = self._time_order(columns[0])
        if order is None:
            return tuple(columns)
        pick = operator.itemgetter(*order)
        return tuple(map(pick, columns))

    def flat_blocks(self, rows: int) -> Iterator[list[float | int | str]]:
        """The rows of :meth:`columns` flattened (time, agent, event, iteration and version of
        the first row, then of the second, ...), in blocks of at most ``rows`` rows: the form
        writers take. In time order (the usual case), each block is a slice of the trace's
        list; otherwise each is gathered through the list of row numbers in time order, so
        that no sorted copy of the whole trace is made."""
        flat = self._flat
        order = self._time_order(flat[0::5])
        for start in range(0, len(flat) // 5, rows):
            if order is None:
                yield flat[5 * start : 5 * (start + rows)]
                continue
            chosen = order[start : start + rows]
            block: list[float | int | str] = [0] * (5 * len(chosen))
            for j in range(5):
                block[j::5] = [flat[5 * row + j] for row in chosen]
            yield block

    @staticmethod
    def _time_order(times: list[float]) -> list[int] | None:
        """The row numbers in time order (stable); None when the rows already are in it (the
        usual case: the engine records in time order)."""
        if times == sorted(times):
            return None
        return sorted(range(len(times)), key=times.__getitem__)

    def rows(self) -> list[Row]:
        """Rows sorted by time (stable), agents numbered 1..n and the server 0."""
        return list(zip(*self.columns(), strict=True))
