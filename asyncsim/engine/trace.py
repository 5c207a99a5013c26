"""The event trace: one row per simulated event (time, agent, event, iteration, version).

Agents are stored 0-based and written 1-based as in the paper; the server is agent 0 in outputs.
Rows whose times are known in advance (uploads of a reduce) are recorded when scheduled, so
``rows()`` returns them stably sorted by time.
"""

from __future__ import annotations

from operator import itemgetter

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
    """Collects trace rows; a disabled trace records nothing (for long benchmark runs)."""

    __slots__ = ("_rows", "enabled")

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._rows: list[Row] = []

    def record(self, time: float, agent: int, event: str, iteration: int, version: int) -> None:
        """Append one event; ``agent`` is 0-based or SERVER."""
        if self.enabled:
            self._rows.append((time, agent, event, iteration, version))

    def rows(self) -> list[Row]:
        """Rows sorted by time (stable), agents numbered 1..n and the server 0."""
        ordered = sorted(self._rows, key=itemgetter(0))
        return [(t, a + 1, e, i, v) for t, a, e, i, v in ordered]
