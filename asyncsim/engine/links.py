"""Shared links in the SimPy clock (docs/algorithms.md §4, "Shared links").

:class:`LiveLinks` runs a :class:`~asyncsim.topology.links.FlowNetwork` event by event: a
transfer joins its links ``latency`` seconds after it is sent, the rates are recomputed at every
start, end and capacity change, and one SimPy event, at the earliest end, wakes the network
(an earlier one goes stale when the rates change). The links' ``hubs`` (the server's ingress
and egress) get the water-filling recomputation. The changes of one instant are settled
together, after every other event of that instant (a round's n broadcast copies: one
water-filling).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from heapq import heappush
from itertools import islice
from typing import Any

import numpy as np
import simpy
from simpy.events import NORMAL, Event

from asyncsim.topology.links import FlowNetwork, held_ends
from asyncsim.topology.network import INGRESS, Links

__all__ = ["SETTLE_PRIORITY", "LiveLinks", "Transfer"]

SETTLE_PRIORITY = 2**62
"""Priority of the network's settling at an instant: after every agent's event there."""


class Transfer:
    """A message on its way: ``done`` fires when it has arrived; ``flow`` is its flow while it
    crosses its links (None during its latency and after)."""

    __slots__ = ("done", "flow")

    def __init__(self, done: Event) -> None:
        self.done = done
        self.flow: int | None = None


class LiveLinks:
    """The links of a run: transfers of one message each over the paths of :class:`Links`."""

    def __init__(self, env: simpy.Environment, links: Links) -> None:
        self.env = env
        self.links = links
        self.network = FlowNetwork(links.capacities(), hubs=links.hubs)
        self._arrivals: dict[int, Transfer] = {}
        self._armed = float("inf")
        self._changed = False  # a change this instant: arm once all its events are done
        self._due = 0  # arrivals of this instant still to be delivered (see _deliver)
        for trace in links.traces:
            env.process(self._follow(trace))

    def send(
        self, path: tuple[int, ...], size: float | None = None, latency: float | None = None
    ) -> Transfer:
        """Send a message of ``size`` bytes (default: one vector) over ``path`` now; it joins
        its links after ``latency`` seconds (default: the network's)."""
        env = self.env
        transfer = Transfer(Event(env))
        size = self.links.message_bytes if size is None else size
        latency = self.links.latency if latency is None else latency
        if latency > 0:
            timer = env.timeout(latency)
            timer.callbacks.append(lambda _: self._join(transfer, path, size))
            return transfer
        # _join and _arm_later inlined: the path of every message without latency
        now, queue = env._now, env._queue
        flow = transfer.flow = self.network.add(path, size, now)
        self._arrivals[flow] = transfer
        if not self._changed:
            if self._due or (queue and queue[0][0] == now):
                self._changed = True
                self._at_now(SETTLE_PRIORITY, self._settled)
            else:
                self._arm()
        return transfer

    def cohort(
        self, paths: list[tuple[int, int]], now: float, before: float = math.inf
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Messages sent together at ``now`` over ``paths`` (each a private link and one hub,
        the same for all) on a network with nothing on its way, nothing else sent until they
        have all arrived or been dropped, no bandwidth trace, the last arriving ``before``
        (the time budget's end): when each arrives (latency, then
        :meth:`FlowNetwork.cohort <asyncsim.topology.links.FlowNetwork.cohort>`) and the link
        that delivers it (:func:`~asyncsim.topology.links.delivery_order`), as the transfers of
        :meth:`send` would give them, with no event. None, nothing done, where that does not
        hold."""
        links = self.links
        if self._arrivals or self._changed or links.traces or not paths:
            return None
        hub = paths[0][1] if paths[0][1] in links.hubs else paths[0][0]
        if hub not in links.hubs or any(hub not in path for path in paths):
            return None  # a multicast's streams: no hub
        owns = [path[0] if path[1] == hub else path[1] for path in paths]
        start = now + links.latency if links.latency > 0 else now  # the timers' instant
        return self.network.cohort(hub, owns, links.message_bytes, start, before)

    def uploads_alone(self) -> bool:
        """Whether uploads can be run without events (:meth:`uploads_joining`): nothing on its
        way, no latency, no bandwidth trace."""
        links = self.links
        return not (self._arrivals or self._changed or links.traces or links.latency > 0) and (
            self.network.idle(INGRESS, [])
        )

    def uploads_joining(
        self, agents: list[int], starts: list[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The uploads of ``agents`` starting at ``starts`` (not decreasing; where
        :meth:`uploads_alone`, nothing else sent until they have arrived), run without events:
        each one's arrival and the link that delivers it, as the transfers of :meth:`send` would
        give them. Where every upload is held at its uplink's cap they are found at once
        (:func:`~asyncsim.topology.links.held_ends`), else the network runs them
        (:meth:`FlowNetwork.run_joining <asyncsim.topology.links.FlowNetwork.run_joining>`)."""
        links, network = self.links, self.network
        owns = [links.uplink_of(agent) for agent in agents]
        size, start = links.message_bytes, np.array(starts, dtype=float)
        if network.idle(INGRESS, owns):
            caps = np.array([network.capacity[own] for own in owns])
            ends = held_ends(size, caps, start, network.capacity[INGRESS])
            if ends is not None:
                network.passed(len(owns))
                return ends, np.array(owns)
        paths = [links.upload_path(agent) for agent in agents]
        ends, delivering = network.run_joining(paths, size, starts)
        return np.array(ends), np.array(delivering)

    def cancel(self, transfer: Transfer) -> None:
        """Drop a message that is no longer wanted (its ``done`` never fires)."""
        if transfer.flow is not None:
            self._arrivals.pop(transfer.flow)
            self.network.remove(transfer.flow, self.env.now)
            transfer.flow = None
            self._arm_later()
        elif not transfer.done.triggered:
            transfer.done = None  # still in its latency: it never joins

    def transfer(self, path: tuple[int, ...], size: float | None = None) -> Generator[Any]:
        """``yield from`` it: send a message and wait for its arrival."""
        yield self.send(path, size).done

    def _join(self, transfer: Transfer, path: tuple[int, ...], size: float) -> None:
        if transfer.done is None:
            return
        transfer.flow = self.network.add(path, size, self.env.now)
        self._arrivals[transfer.flow] = transfer
        self._arm_later()

    @contextmanager
    def together(self) -> Iterator[None]:
        """Send (or cancel) several messages at once: the rates are found once, at the end."""
        self._changed = True
        try:
            yield
        finally:
            self._changed = False
            self._arm()

    def _arm_later(self) -> None:
        """Arm after the last event of this instant (priority below every agent's) when more
        events are due now, else at once."""
        if self._changed:
            return
        queue, now = self.env._queue, self.env.now
        if self._due or (queue and queue[0][0] == now):
            self._changed = True
            self._at_now(SETTLE_PRIORITY, self._settled)
        else:
            self._arm()

    def _settled(self, _: Event) -> None:
        self._changed = False
        self._arm()

    def _at_now(self, priority: int, callback: Any, time: float | None = None) -> None:
        """A SimPy event at ``time`` (default: now) with ``priority`` that calls ``callback``."""
        event = Event(self.env)
        event._ok, event._value = True, None
        event.callbacks.append(callback)
        env = self.env
        heappush(env._queue, (env.now if time is None else time, priority, next(env._eid), event))

    def _arm(self) -> None:
        """Schedule a wake-up at the earliest end, unless one is due by then already (a wake-up
        that finds nothing ended arms the next one: the ends may have moved later)."""
        end = self.network.next_end()
        if end < self._armed:
            self._armed = end
            env = self.env  # _at_now(NORMAL, self._wake, end), inlined: once per message
            event = Event(env)
            event._ok, event._value = True, None
            event.callbacks.append(self._wake)
            heappush(env._queue, (end, NORMAL, next(env._eid), event))

    def _wake(self, _: Event) -> None:
        now = self.env.now
        if now < self._armed:  # a stale wake-up: a later one is due
            return
        self._armed = float("inf")
        ended = self.network.finished(now)
        if len(ended) == 1:
            self._deliver_one(self._arrivals.pop(ended[0]), now)
            return
        arrived = list(map(self._arrivals.pop, ended))
        ids = list(islice(self.env._eid, len(arrived)))  # the ids succeed() would give them
        for transfer in arrived:
            transfer.flow = None
        self._arm()
        self._deliver(arrived, ids)

    def _deliver_one(self, transfer: Transfer, now: float) -> None:
        """:meth:`_wake` and :meth:`_deliver` for a wake-up with one arrival (a staggered
        upload): the same steps without the lists."""
        transfer.flow = None
        eid = next(self.env._eid)  # the id succeed() would give it
        self._arm()
        done = transfer.done
        done._ok, done._value = True, None
        queue = self.env._queue
        if queue and queue[0][:3] < (now, NORMAL, eid):
            heappush(queue, (now, NORMAL, eid, done))
            return
        callbacks, done.callbacks = done.callbacks, None
        for callback in callbacks:
            callback(done)

    def _deliver(self, arrived: list[Transfer], ids: list[int]) -> None:
        """Fire the arrivals' ``done`` events now, in SimPy's order: each one's callbacks run
        here, as SimPy's loop would run them next, while no event in the queue comes first
        (no event at this instant of a higher priority or a lower id); from the first one that
        does, the rest go through the queue under their reserved ids. The same order as
        ``succeed()`` gives, without a trip through SimPy's queue per message: on the network
        benchmark (n = 1,000, synchronized_nigt) 42,000 of 126,000 events."""
        queue, now = self.env._queue, self.env.now
        for index, (transfer, eid) in enumerate(zip(arrived, ids, strict=True)):
            if queue and queue[0][:3] < (now, NORMAL, eid):
                for later, later_id in zip(arrived[index:], ids[index:], strict=True):
                    done = later.done
                    done._ok, done._value = True, None
                    heappush(queue, (now, NORMAL, later_id, done))
                break
            done = transfer.done
            done._ok, done._value = True, None
            callbacks, done.callbacks = done.callbacks, None
            self._due = len(arrived) - index - 1  # for _arm_later: still due this instant
            for callback in callbacks:
                callback(done)
        self._due = 0

    def _follow(self, trace: Any) -> Generator[Event]:
        """Set a traced link's capacity at each of its instants."""
        for time, capacity in zip(trace.times, trace.capacities, strict=True):
            if time > self.env.now:
                yield self.env.timeout(time - self.env.now)
            for link in self.links.trace_links(trace.link):
                self.network.set_capacity(link, capacity, self.env.now)
            self._arm_later()
