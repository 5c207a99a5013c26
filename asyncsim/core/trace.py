"""The event trace: one row per simulated event (time, agent, event, iteration, version).

The engine numbers agents from 0 (the server SERVER); rows hold them as written, numbered 1..n as
in the paper and the server 0. Rows whose times are known in advance (uploads of a reduce) are
recorded when scheduled, so ``rows()`` returns them stably sorted by time. The engine records
such a block in time order, so a trace usually needs no sorting: ``rows()`` and
``flat_blocks()`` check, and sort only when needed.

A long run's trace does not stay in memory: the engine calls :meth:`Trace.spill` between events,
which moves the rows recorded so far, once there are :data:`SPILL_ROWS` of them, to a temporary
file as packed records (:data:`RECORD`, 33 bytes a row instead of about 100 as Python objects).
Writers then read the rows back block by block.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import IO

import numpy as np

__all__ = ["CODES", "EVENTS", "RECORD", "SERVER", "SPILL_ROWS", "Trace", "TraceEvent", "records"]

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

SPILL_ROWS = 1 << 18
"""Rows a trace holds in memory before :meth:`Trace.spill` moves them to its file (about 25 MB
as Python objects)."""

RECORD = np.dtype(
    [("time", "<f8"), ("agent", "<i8"), ("event", "u1"), ("iteration", "<i8"), ("version", "<i8")]
)
"""A trace row in the trace's file; the event as its index in :data:`EVENTS`."""

CODES = {event: code for code, event in enumerate(EVENTS)}
"""Each event's code in :data:`RECORD`."""

PACKED_ROWS = 256
"""Packed rows (:meth:`Trace.extend_records`) that go to the trace's file at once; fewer join
the rows in memory (a file segment costs a write and a read)."""


def records(count: int, time, agent, event, iteration, version) -> np.ndarray:
    """``count`` rows packed as :data:`RECORD`, each field given as one value or an array
    (``agent`` numbered as written, ``event`` a code of :data:`CODES`)."""
    rows = np.empty(count, RECORD)
    for name, value in zip(RECORD.names, (time, agent, event, iteration, version), strict=True):
        rows[name] = value
    return rows


class Trace:
    """Collects trace rows; a disabled trace records nothing (for long benchmark runs).

    Rows are kept flat in one list of atoms rather than as a list of tuples: millions of small
    tuples would make Python's cyclic garbage collector rescan them again and again. Rows
    spilled (:meth:`spill`) lie in a temporary file, deleted when the trace is.
    """

    __slots__ = ("_file", "_flat", "add", "enabled")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._flat: list[float | int | str] = []
        self._file: _SpillFile | None = None
        #: hot-path recorder taking one (time, agent number, event, iteration, version) tuple,
        #: the agent numbered as written (0-based agent + 1); a C method (list.extend, or
        #: set.discard as a no-op) so that recording costs no Python call
        self.add: Callable[[Row], None] = self._flat.extend if enabled else set().discard

    def record(
        self, time: float, agent: int, event: TraceEvent, iteration: int, version: int
    ) -> None:
        """Append one event; ``agent`` is 0-based or SERVER."""
        self.add((time, agent + 1, event, iteration, version))

    def extend(self, flat: list[float | int | str]) -> None:
        """Append rows given flat (time, agent number, event, iteration and version of the
        first row, then of the second, ...), as :attr:`add` takes one."""
        if self.enabled:
            self._flat.extend(flat)

    def extend_records(self, records: np.ndarray, int_times: tuple[int, ...] = ()) -> None:
        """Append rows given packed (:data:`RECORD`; ``int_times``: the rows whose time is an
        int). Many rows go to the trace's file at once, behind the rows held in memory (which
        go there first); a few, or rows behind some that do not pack, join those in memory."""
        if not self.enabled:
            return
        segment = _Segment.of(records, int_times)
        if len(records) >= PACKED_ROWS:
            if not self._flat:
                self._write(segment)
                return
            held = _Segment.pack(self._flat)
            if held is not None:
                self._write(held)
                self._write(segment)
                del self._flat[:]
                return
        self._flat.extend(segment.flat(records))

    def _write(self, segment: _Segment) -> None:
        if self._file is None:
            self._file = _SpillFile()
        self._file.write(segment)

    def spill(self, at_least: int = SPILL_ROWS) -> None:
        """Move the rows held in memory to the trace's file when there are ``at_least`` of
        them and they pack into :data:`RECORD` (times int or float, event names of
        :data:`EVENTS`, other fields ints); rows that do not stay in memory."""
        flat = self._flat
        if len(flat) < 5 * at_least:
            return
        segment = _Segment.pack(flat)
        if segment is None:
            return
        self._write(segment)
        del flat[:]  # the same list: ``add`` keeps appending to it

    def flat_blocks(self, rows: int) -> Iterator[list[float | int | str]]:
        """The rows in time order (stable), flattened (time, agent, event, iteration and
        version of the first row, then of the second, ...), in blocks of at most ``rows`` rows:
        the form writers take. In time order (the usual case), the spilled rows are read back
        block by block and the rows in memory are sliced; otherwise every row is gathered in
        memory and sorted."""
        spilled = self._file.segments if self._file is not None else []
        if spilled and not self._in_time_order(spilled):
            flat = [v for segment in spilled for v in self._file.read(segment)]
            yield from _sorted_blocks(flat + self._flat, rows)
            return
        for segment in spilled:
            records = self._file.read(segment)
            for start in range(0, len(records) // 5, rows):
                yield records[5 * start : 5 * (start + rows)]
        yield from _sorted_blocks(self._flat, rows)

    def record_blocks(self) -> Iterator[np.ndarray] | None:
        """The rows as :data:`RECORD` arrays in time order, block by block, without a Python
        object per row (what figures read); None when they are not in time order or do not
        all pack (read :meth:`flat_blocks` then)."""
        spilled = self._file.segments if self._file is not None else []
        tail = _Segment.pack(self._flat) if self._flat else None
        if (self._flat and tail is None) or not self._in_time_order(spilled):
            return None
        blocks = (self._file.records(segment) for segment in spilled)
        return itertools.chain(blocks, [tail.records] if tail is not None else [])

    def _in_time_order(self, spilled: list[_Segment]) -> bool:
        """Whether the spilled segments and the rows in memory after them are each in time
        order and follow one another in it."""
        tail = self._flat[0::5]
        ends = [(s.first, s.last) for s in spilled]
        if tail:
            ends.append((tail[0], tail[-1]))
        ordered = all(s.ordered for s in spilled) and tail == sorted(tail)
        return ordered and all(a[1] <= b[0] for a, b in itertools.pairwise(ends))

    def rows(self) -> list[Row]:
        """Rows sorted by time (stable), agents numbered 1..n and the server 0."""
        flat = [value for block in self.flat_blocks(1 << 20) for value in block]
        return list(zip(*(flat[j::5] for j in range(5)), strict=True))


def _sorted_blocks(flat: list[float | int | str], rows: int) -> Iterator[list]:
    """The rows of ``flat`` in time order (stable), in blocks of at most ``rows`` rows: each a
    slice of ``flat`` when they already are in it (the usual case); otherwise each is gathered
    through the list of row numbers in time order, so that no sorted copy is made."""
    times = flat[0::5]
    order = None if times == sorted(times) else sorted(range(len(times)), key=times.__getitem__)
    for start in range(0, len(times), rows):
        if order is None:
            yield flat[5 * start : 5 * (start + rows)]
            continue
        chosen = order[start : start + rows]
        block: list[float | int | str] = [0] * (5 * len(chosen))
        for j in range(5):
            block[j::5] = [flat[5 * row + j] for row in chosen]
        yield block


@dataclass(frozen=True)
class _Segment:
    """Rows spilled at once: where they lie in the file, the rows whose time was an int
    (written without a decimal point), and whether their times are in order (first, last)."""

    records: np.ndarray | None
    offset: int
    rows: int
    int_times: tuple[int, ...]
    ordered: bool
    first: float
    last: float

    @classmethod
    def pack(cls, flat: list) -> _Segment | None:
        """The rows of ``flat`` packed as :data:`RECORD` (``offset`` 0), or None when a value
        would not come back as it was."""
        times, events = flat[0::5], flat[2::5]
        integers = [flat[j::5] for j in (1, 3, 4)]
        time_types = set(map(type, times))
        if not time_types <= {float, int} or any(
            set(map(type, column)) != {int} for column in integers
        ):
            return None
        records = np.empty(len(times), RECORD)
        try:
            records["event"] = np.array(list(map(CODES.__getitem__, events)), np.uint8)
            for name, column in zip(("agent", "iteration", "version"), integers, strict=True):
                records[name] = np.array(column, np.int64)
        except (KeyError, OverflowError):  # an event of no name, an int beyond 64 bits
            return None
        records["time"] = np.array(times, float)
        int_times = ()
        if int in time_types:
            int_times = tuple(row for row, t in enumerate(times) if type(t) is int)
        return cls.of(records, int_times)

    @classmethod
    def of(cls, records: np.ndarray, int_times: tuple[int, ...] = ()) -> _Segment:
        """The rows of ``records`` (``offset`` 0), those of ``int_times`` timed by an int."""
        column = records["time"]
        ordered = bool(np.all(column[1:] >= column[:-1]))
        first, last = column[[0, -1]].tolist() if len(column) else (0.0, 0.0)
        return cls(records, 0, len(column), int_times, ordered, first, last)

    def flat(self, records: np.ndarray) -> list[float | int | str]:
        """The rows as the trace recorded them, flattened."""
        flat: list[float | int | str] = [0] * (5 * self.rows)
        flat[0::5] = records["time"].tolist()
        for row in self.int_times:
            flat[5 * row] = int(flat[5 * row])
        flat[1::5] = records["agent"].tolist()
        flat[2::5] = [EVENTS[code] for code in records["event"].tolist()]
        flat[3::5] = records["iteration"].tolist()
        flat[4::5] = records["version"].tolist()
        return flat


class _SpillFile:
    """The temporary file of a trace's spilled rows (removed when closed or collected)."""

    def __init__(self) -> None:
        # open for the trace's life: closed (and so removed) when the trace is collected
        self.handle: IO[bytes] = tempfile.TemporaryFile(prefix="asyncsim-trace-")  # noqa: SIM115
        self.segments: list[_Segment] = []
        self._size = 0

    def write(self, segment: _Segment) -> None:
        data = segment.records.tobytes()
        self.handle.seek(self._size)
        self.handle.write(data)
        fields = {**vars(segment), "records": None, "offset": self._size}
        self.segments.append(_Segment(**fields))
        self._size += len(data)

    def records(self, segment: _Segment) -> np.ndarray:
        """The segment's rows as :data:`RECORD` s."""
        self.handle.flush()
        self.handle.seek(segment.offset)
        return np.fromfile(self.handle, RECORD, segment.rows)

    def read(self, segment: _Segment) -> list[float | int | str]:
        """The segment's rows, flattened as recorded."""
        return segment.flat(self.records(segment))
