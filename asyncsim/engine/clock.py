"""SimPy timeouts ordered by agent index at equal times (docs/algorithms.md §3, "Event order").

SimPy processes events at the same instant by (priority, insertion order). Giving agent i's
events priority ``AGENT_PRIORITY + i`` makes completions at one instant run in increasing agent
index, so which agents take part in a round, and hence the round time, is deterministic.
"""

from __future__ import annotations

from heapq import heappush

from simpy import Environment
from simpy.events import NORMAL, Event

__all__ = ["AGENT_PRIORITY", "AgentTimeout", "AllDone", "At"]

AGENT_PRIORITY = NORMAL + 1


class AgentTimeout(Event):
    """A timeout of ``delay`` simulated seconds belonging to agent ``agent`` (0-based).

    It is the engine's hottest object (one per gradient), so it pushes itself onto SimPy's event
    queue directly, exactly as ``Environment.schedule`` does (SimPy 4: entries are
    ``(time, priority, event id, event)``), instead of paying for that extra call.
    """

    def __init__(self, env: Environment, delay: float, agent: int) -> None:
        self.env = env
        self.callbacks = []
        self._value = None
        self._ok = True
        heappush(env._queue, (env._now + delay, AGENT_PRIORITY + agent, next(env._eid), self))


class At(Event):
    """An event at the absolute simulated time ``time`` (normal priority): a process that
    computed when it must wake waits for it, its clock then reading exactly ``time`` (a
    timeout of ``time - now`` may round to a neighbouring float)."""

    def __init__(self, env: Environment, time: float) -> None:
        self.env = env
        self.callbacks = []
        self._value = None
        self._ok = True
        heappush(env._queue, (time, NORMAL, next(env._eid), self))


class AllDone(Event):
    """An event that succeeds when the last of ``events`` has fired (at once when there are
    none): ``env.all_of(events)`` without its value, at the same place in SimPy's order (it
    succeeds in the last event's callbacks, as the condition does), for the cost of one counter
    instead of a condition that checks every event and builds a dictionary of their values (a
    round's uploads over shared links: a thousand events)."""

    def __init__(self, env: Environment, events: list[Event]) -> None:
        super().__init__(env)
        self._left = len(events)
        if not events:
            self.succeed()
        for event in events:
            event.callbacks.append(self._one_done)

    def _one_done(self, _: Event) -> None:
        self._left -= 1
        if not self._left:
            self.succeed()
