"""The event trace: one row per simulated event (time, agent, event, iteration, version).

Agents are stored 0-based and written 1-based as in the paper; the server is agent 0 in outputs.
Rows whose times are known in advance (uploads of a reduce) are recorded when scheduled, so
``rows()`` returns them stably sorted by time.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

__all__ = ["EVENTS", "SERVER", "Trace"]

SERVER = -1
EVENTS = (
    "broadcast_received",  # the agent holds the new point
    "compute_start",
    "compute_end",
    "discarded",  # running computation dropped because the round stopped
    "lost",  # running computation lost to an outage
    "outage_wait",  # the agent waits for the end of an outage before computing
    "upload_start",
    "upload_end",
    "update",  # the server (or every node, under AllReduce) applies an update
)

Row = tuple[float, int, str, int, int]


class Trace:
    """Collects trace rows; a disabled trace records nothing (for long benchmark runs).

    Rows are kept flat in one list of atoms rather than as a list of tuples: millions of small
    tuples would make Python's cyclic garbage collector rescan them again and again.
    """

    __slots__ = ("_flat", "add", "enabled")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._flat: list[float | int | str] = []
        #: hot-path recorder taking one (time, agent, event, iteration, version) tuple; a C
        #: method (list.extend, or set.discard as a no-op) so that recording costs no Python call
        self.add: Callable[[Row], None] = self._flat.extend if enabled else set().discard

    def record(self, time: float, agent: int, event: str, iteration: int, version: int) -> None:
        """Append one event; ``agent`` is 0-based or SERVER."""
        self.add((time, agent, event, iteration, version))

    def columns(self) -> tuple[Sequence, ...]:
        """The five columns (time, agent, event, iteration, version), rows sorted by time
        (stable), agents numbered 1..n and the server 0."""
        flat = self._flat
        agents = [agent + 1 for agent in flat[1::5]]
        columns = [flat[0::5], agents, flat[2::5], flat[3::5], flat[4::5]]
        if len(columns[0]) < 2:  # already sorted (and itemgetter of one index is no tuple)
            return tuple(columns)
        pick = operator.itemgetter(*sorted(range(len(columns[0])), key=columns[0].__getitem__))
        return tuple(map(pick, columns))

    def rows(self) -> list[Row]:
        """Rows sorted by time (stable), agents numbered 1..n and the server 0."""
        return list(zip(*self.columns(), strict=True))
