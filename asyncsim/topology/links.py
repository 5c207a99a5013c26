"""Shared links: transfers (flows) that cross lists of links, at max-min fair rates
(docs/algorithms.md §4, "Shared links"; the flow-level model of SimGrid).

A link has a capacity (bytes/s); a flow has a size (bytes) and a path (the links it crosses).
At every instant the rates are max-min fair over all active flows (progressive filling: raise
every rate together, freeze the flows of a link when it is full, go on with the others), and
they change only when a flow starts or ends or a capacity changes, so a flow's end time is
exact for piecewise-constant rates.

Every flow rides the clock of its bottleneck link l: W_l(t) = ∫ level_l dt, the bytes one flow
frozen at l has received; the flow ends when W_l reaches its target. A flow whose bottleneck
does not change is never touched, so a recomputation costs only the links whose levels change
and the flows that change bottleneck.

Two recomputations:

* general: the connected component of the touched links (links linked by the flows crossing
  them) is filled again from scratch (:func:`max_min_rates`);
* a hub (the server's ingress or egress of a star): every flow through it crosses one private
  link (its agent's uplink or downlink, which carries no other flow), so max-min is
  water-filling: flow i gets min(c_i, L), the level L solving Σ_i min(c_i, L) = C. The flows
  are kept in two heaps by cap, those held by their own link (c_i < L) and those at the level,
  so a start or an end moves L and only the flows whose cap it crosses (O(log k) each).
  Uploads that arrive one at a time at an uncongested hub (staggered by their agents' compute
  times) skip it: one flow added, nothing at the level and the caps within the capacity is
  held at once, and a held flow leaving such a hub changes nothing (bit for bit what the
  water-filling finds). The hot steps are written out where they run once per message: a
  held flow is held and ends without the generic rider heaps (:meth:`finished`,
  :meth:`FlowNetwork._held_alone`), a broadcast's copies are placed and leave the level
  together (:meth:`FlowNetwork._leave_level`), a path's hub is looked up once.

An idle link's clock restarts at 0 (a transfer alone on its link ends at start + S/c). So the
ends of flows that join idle links, nothing else joining, are found at once by the same
floating-point steps (:func:`cohort_ends`, :func:`held_ends`, :meth:`FlowNetwork.cohort`):
a round's copies, a reduce's uploads, uploads held at their caps.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from heapq import heappush

import numpy as np

__all__ = [
    "FlowNetwork",
    "cohort_ends",
    "delivery_order",
    "held_ends",
    "max_min_rates",
    "transfer_times",
    "water_level",
]

DONE_TOLERANCE = 1e-9
"""A flow has ended when what it still has to receive is at most this fraction of its size
(the rounding of the clocks' floating-point sums)."""


def water_level(caps: Sequence[float] | np.ndarray, capacity: float) -> float:
    """The level L with Σ_i min(c_i, L) = capacity; inf when Σ_i c_i <= capacity (the flows
    through a link of this capacity whose other links cap them at c_i each get min(c_i, L)).

    Over the caps in ascending order, with R_j the capacity left after the j smallest
    (subtracted one at a time) and k_j the caps from the j-th on, L = R_j / k_j at the first j
    where c_(j) · k_j > R_j."""
    ordered = np.sort(np.asarray(caps, dtype=float))
    count = np.arange(ordered.size, 0, -1)
    remaining = np.subtract.accumulate(np.concatenate(([float(capacity)], ordered)))[:-1]
    over = np.flatnonzero(ordered * count > remaining)
    return float(remaining[over[0]] / count[over[0]]) if over.size else math.inf


def transfer_times(
    size: float, caps: Sequence[float], capacity: float, latency: float = 0.0
) -> list[float]:
    """Transfers of ``size`` bytes that start together through one link of ``capacity``, each
    also crossing a link of its own of cap c_i: t_i = latency + S / min(c_i, L), L the
    :func:`water_level`.

    Exact under max-min sharing: the flows at the level all receive the same bytes, so they end
    together, first; the others run at their own caps from start to end (the level only rises
    when flows leave)."""
    level = water_level(caps, capacity)
    return [latency + size / min(cap, level) for cap in caps]


def cohort_ends(
    size: float, caps: np.ndarray, capacity: float, start: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """When each of k flows of ``size`` bytes ends that join an idle hub of ``capacity``
    together at ``start``, flow i also crossing an idle private link of cap c_i, while nothing
    else joins the hub: the steps :class:`FlowNetwork` takes, in arrays, by the same
    floating-point operations. The level L of :func:`water_level` places flow i at the hub's
    level (c_i >= L) or holds it at its cap; the hub's rate is then
    L' = max(C - Σ_held c_i, 0) / k_L, the held caps summed in flow order. The flows at the
    level all end first, together, at start + S/L' (a held flow's rate c_i <= L' is not higher);
    the held ones, whose caps fit within C once they leave, at start + S/c_i (the clocks of idle
    links are 0). Returns (ends, at_level) in flow order, or None where FlowNetwork would move
    flows after the water level (a held cap above L' or a cap at the level below it, from
    rounding) or L' is 0."""
    at_level = caps >= water_level(caps, capacity)
    held = caps[~at_level]
    held_sum = float(np.add.accumulate(held)[-1]) if held.size else 0.0
    ends = start + size / caps
    levelled = int(np.count_nonzero(at_level))
    if not levelled:
        return (ends, at_level) if held_sum <= capacity else None
    rate = max(capacity - held_sum, 0.0) / levelled
    if rate <= 0 or (held.size and held.max() > rate) or caps[at_level].min() < rate:
        return None
    ends[at_level] = start + size / rate
    return ends, at_level


def delivery_order(ends: np.ndarray, links: np.ndarray) -> np.ndarray:
    """The order in which :meth:`FlowNetwork.finished` gives flows (index: flow order) that end
    at ``ends`` as riders of ``links``: by end, then link, then flow."""
    return np.lexsort((np.arange(len(ends)), links, ends))


def held_ends(
    size: float, caps: np.ndarray, starts: np.ndarray, capacity: float
) -> np.ndarray | None:
    """When each of k flows of ``size`` bytes ends that join an idle hub of ``capacity`` at
    ``starts`` (flow i crossing an idle private link of cap c_i; flows in order of their
    starts, then index), if each is held at its cap from start to end: start_i + S/c_i. That
    holds, by :class:`FlowNetwork`'s floating-point steps, while the caps held fit the hub: its
    running sum of them (ends of an instant first, by link, then the starts of that instant
    settled together) stays within C, and flows that join the idle hub together leave its water
    level infinite. None where a flow would reach the hub's level."""
    ends = starts + size / caps
    count = len(caps)
    times = np.concatenate((ends, starts))
    order = np.lexsort((np.tile(np.arange(count), 2), np.repeat((0, 1), count), times))
    held_sum, holding, joining = 0.0, 0, []
    for event, time in zip(order.tolist(), times[order].tolist(), strict=True):
        if joining and (event < count or time != joining[0][0]):
            held_sum, holding = _settled(held_sum, holding, joining, capacity)
            if held_sum > capacity:
                return None
        if event < count:  # an end, held: FlowNetwork._leave_held
            holding -= 1
            held_sum = held_sum - float(caps[event]) if holding else 0.0
        else:
            joining.append((time, float(caps[event - count])))
    if joining:
        held_sum, _ = _settled(held_sum, holding, joining, capacity)
        if held_sum > capacity:
            return None
    return ends


def _settled(
    held_sum: float, holding: int, joining: list[tuple[float, float]], capacity: float
) -> tuple[float, int]:
    """The hub's held sum and count once the flows ``joining`` at one instant are held (the
    sum above the capacity where one would reach the level); ``joining`` is emptied."""
    caps = [cap for _, cap in joining]
    joining.clear()
    if not holding and len(caps) > 1 and water_level(caps, capacity) != math.inf:
        return math.inf, holding
    for cap in caps:
        held_sum += cap
    return held_sum, holding + len(caps)


def max_min_rates(
    paths: Sequence[Sequence[int]], capacity: Sequence[float]
) -> tuple[list[float], list[int]]:
    """Progressive filling: the max-min fair rate of each flow (its path: link indices) and the
    link that froze it (its bottleneck). A link whose fair share (capacity left over flows not
    yet frozen) is smallest freezes all its unfrozen flows at that share; ties go to the lower
    link index."""
    rates = [0.0] * len(paths)
    bottleneck = [-1] * len(paths)
    crossing: dict[int, list[int]] = {}
    for flow, path in enumerate(paths):
        for link in path:
            crossing.setdefault(link, []).append(flow)
    left = {link: float(capacity[link]) for link in crossing}
    unfrozen = {link: len(flows) for link, flows in crossing.items()}
    while unfrozen:
        link = min(unfrozen, key=lambda k: (left[k] / unfrozen[k], k))
        share = left[link] / unfrozen[link]
        for flow in crossing[link]:
            if bottleneck[flow] >= 0:
                continue
            rates[flow], bottleneck[flow] = share, link
            for other in paths[flow]:
                left[other] -= share
                unfrozen[other] -= 1
        unfrozen = {k: count for k, count in unfrozen.items() if count > 0}
    return rates, bottleneck


class _Flow:
    """An active flow: it rides the clock of link ``ride`` and ends when that clock reaches
    ``target``; ``hub``/``own``: the hub it crosses and its private link (-1: none)."""

    __slots__ = ("hub", "own", "path", "ride", "size", "target", "version")

    def __init__(self, path: tuple[int, ...], size: float, hub: int = -1, own: int = -1):
        self.path, self.size, self.hub, self.own = path, size, hub, own
        self.ride, self.target = (-1 if hub >= 0 else own), 0.0
        self.version = 0  # bumped when it changes clocks: older heap entries are stale


@dataclass
class _Hub:
    """Water-filling state of a hub link: flows held by their own link (a max-heap by cap) and
    flows at the level (a min-heap by cap), both lazy (an entry is stale when its flow left)."""

    held: list[tuple[float, int, int]] = field(default_factory=list)  # (-cap, flow, version)
    level: list[tuple[float, int, int]] = field(default_factory=list)  # (cap, flow, version)
    held_count: int = 0
    held_sum: float = 0.0
    level_count: int = 0
    flows: int = 0
    pending: list[int] = field(default_factory=list)  # added this instant, not yet placed


class FlowNetwork:
    """Active flows over links, at max-min fair rates, advanced event by event.

    ``add(path, size, now)`` starts a flow, ``remove(flow, now)`` ends one early,
    ``set_capacity(link, value, now)`` changes a link; ``next_end()`` is the earliest instant a
    flow ends and ``finished(now)`` removes and returns the flows that have ended by ``now``.
    Instants passed must not decrease. ``hubs`` are the links that get the water-filling
    recomputation; a flow through a hub must cross exactly one other link, which carries no other
    flow while it does (ValueError otherwise). Changes at one instant are settled together: a
    hub's level is found again once, before the clock moves on or a query is answered.
    """

    def __init__(self, capacity: Sequence[float], hubs: Iterable[int] = ()) -> None:
        self.capacity = [float(c) for c in capacity]
        links = len(self.capacity)
        self._clock = [0.0] * links  # W_l at _since[l]
        self._since = [0.0] * links
        self._level = [0.0] * links  # the rate of each flow riding l
        self._riders: list[list[tuple[float, int, int]]] = [[] for _ in range(links)]
        self._crossing: list[set[int]] = [set() for _ in range(links)]  # flows of no hub
        self._hubs = {link: _Hub() for link in hubs}
        self._owner: dict[int, int] = {}  # private link → the flow through a hub it carries
        self._flows: dict[int, _Flow] = {}
        self._next_id = 0
        self._ends: list[tuple[float, int, int]] = []  # (time, link, stamp)
        self._stamp = [0] * links
        self._now = 0.0
        self._unsettled: set[int] = set()  # hubs whose level is to be found again
        self._routes: dict[tuple[int, ...], tuple[int, int]] = {}  # path → (hub, own) or (-1, -1)

    # ---------------------------------------------------------------- queries

    def rate(self, flow: int) -> float:
        """The flow's current rate (bytes/s)."""
        self._settle()
        return self._level[self._flows[flow].ride]

    def remaining(self, flow: int, now: float) -> float:
        """Bytes the flow has still to receive at ``now``."""
        self._settle()
        record = self._flows[flow]
        return record.target - self._clock_at(record.ride, now)

    def __len__(self) -> int:
        return len(self._flows)

    def next_end(self) -> float:
        """The earliest instant at which an active flow ends (inf: none will)."""
        if self._unsettled:
            self._settle()
        ends, stamp = self._ends, self._stamp
        while ends and ends[0][2] != stamp[ends[0][1]]:
            heapq.heappop(ends)
        return ends[0][0] if ends else math.inf

    # ---------------------------------------------------------------- changes

    def cohort(
        self, hub: int, owns: list[int], size: float, now: float, before: float = math.inf
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Flows of ``size`` bytes over (``owns[i]``, ``hub``) that join together at ``now`` a
        network without flows, nothing else joining until they have all ended (or been
        dropped): when each ends and the link whose end it is (the hub for the flows at its
        level, else its own: :func:`delivery_order`), as :func:`cohort_ends` finds them. They come
        and go without being held (their ids are taken): once they have left, the links are
        idle with their clocks at 0, as if they had run. None, nothing done, where the links
        are not idle, the water level does not settle them, or the last ends at or after
        ``before``."""
        if not self.idle(hub, owns):
            return None
        caps = np.array([self.capacity[own] for own in owns])
        found = cohort_ends(size, caps, self.capacity[hub], now)
        if found is None or not found[0].max() < before:
            return None
        ends, at_level = found
        self.passed(len(owns))
        return ends, np.where(at_level, hub, np.array(owns))

    def add(self, path: Sequence[int], size: float, now: float) -> int:
        """Start a flow of ``size`` bytes over ``path`` at ``now``; returns its id."""
        if now != self._now:
            self._move_to(now)
        path = tuple(path)
        flow = self._next_id
        self._next_id += 1
        route = self._routes.get(path)
        if route is None:
            route = self._routes[path] = self._route(path)
        hub, own = route
        if hub >= 0:
            if self._crossing[own] or own in self._owner:
                raise ValueError(f"link {own} already carries a transfer")
            record = self._flows[flow] = _Flow(path, size, hub, own)
            record.target = size  # bytes to go, until it is placed
            self._owner[own] = flow
            state = self._hubs[hub]
            state.flows += 1
            state.pending.append(flow)
            self._unsettled.add(hub)
            return flow
        for link in path:
            if link in self._owner:
                raise ValueError(f"link {link} carries a transfer through a hub")
        self._flows[flow] = _Flow(path, float(size))
        for link in path:
            self._crossing[link].add(flow)
        self._refill(path, now, {flow: float(size)})
        return flow

    def idle(self, hub: int, owns: list[int]) -> bool:
        """Whether no flow is on its way and ``hub`` and ``owns`` have their clocks at 0."""
        if self._unsettled:
            self._settle()
        clock = self._clock
        return not self._flows and not clock[hub] and not any(clock[own] for own in owns)

    def passed(self, count: int) -> None:
        """``count`` flows came and went on idle links (their ends found at once: :meth:`cohort`,
        :func:`held_ends`), leaving them idle: their ids are taken."""
        self._next_id += count

    def remove(self, flow: int, now: float) -> None:
        """End ``flow`` at ``now`` (finished or abandoned); the others' rates follow."""
        if now != self._now:
            self._move_to(now)
        record = self._flows.pop(flow)
        hub = record.hub
        if hub >= 0:
            del self._owner[record.own]
            self._hubs[hub].flows -= 1
            quiet = self._leaves_quietly(record)
            self._leave_hub(record, now)
            if not quiet:
                self._unsettled.add(hub)
            return
        for link in record.path:
            self._crossing[link].discard(flow)
        self._refill(record.path, now, {})

    def set_capacity(self, link: int, capacity: float, now: float) -> None:
        """Change a link's capacity at ``now`` (a bandwidth trace)."""
        self._move_to(now)
        self._settle()
        if link in self._hubs:
            self._advance(link, now)
            self.capacity[link] = float(capacity)
            self._unsettled.add(link)
            return
        flow = self._owner.get(link)
        if flow is None:
            self.capacity[link] = float(capacity)
            self._refill((link,), now, {})
            return
        record = self._flows[flow]
        left = self.remaining(flow, now)
        self._leave_hub(record, now)
        self.capacity[link] = float(capacity)
        self._hold(record.hub, flow, link, left, now)
        self._unsettled.add(record.hub)

    def finished(self, now: float, links: list[int] | None = None) -> list[int]:
        """Remove and return the flows that have ended by ``now`` (in the order of their links'
        ends, then of their ids); ``links``, when given, gets the link whose end each was."""
        done: list[int] = []
        owner, flows = self._owner, self._flows
        while self.next_end() <= now:
            _, link, _ = heapq.heappop(self._ends)
            self._stamp[link] += 1
            flow = owner.get(link)
            if flow is not None and flows[flow].ride == link:
                # held by its own link, whose only rider it is: it ends at this end (what
                # _riders_done finds), and the link, idle, has nothing to schedule
                self._riders[link] = []
                self.remove(flow, now)
                done.append(flow)
                if links is not None:
                    links.append(link)
                continue
            ended = self._riders_done(link, now)
            if link in self._hubs:
                self._leave_level(link, ended, now)
            else:
                for flow in ended:
                    self.remove(flow, now)
            done += ended
            if links is not None:
                links += [link] * len(ended)
            self._schedule(link)
        return done

    def run_joining(
        self, paths: list[tuple[int, ...]], size: float, starts: list[float]
    ) -> tuple[list[float], list[int]]:
        """Flows of ``size`` bytes joining over ``paths`` at ``starts`` (in the order given,
        starts not decreasing), nothing else joining, run to their ends: the ends of an instant
        before the flows joining then, the flows of an instant settled together, as the live
        network runs them. Returns each flow's end and the link whose end it was."""
        ends, links = [math.inf] * len(paths), [-1] * len(paths)
        ids: dict[int, int] = {}
        position = 0
        while position < len(paths) or self._flows:
            joining = starts[position] if position < len(paths) else math.inf
            end = self.next_end()
            if end <= joining and end < math.inf:
                ending: list[int] = []
                for flow, link in zip(self.finished(end, ending), ending, strict=True):
                    ends[ids[flow]], links[ids[flow]] = end, link
                continue
            if joining == math.inf:
                break  # flows that never end (a link of capacity 0)
            while position < len(paths) and starts[position] == joining:
                ids[self.add(paths[position], size, joining)] = position
                position += 1
        return ends, links

    def _riders_done(self, link: int, now: float) -> list[int]:
        """Pop the riders of ``link`` that have ended by ``now`` (sorted ids)."""
        clock, level, since = self._clock[link], self._level[link], self._since[link]
        reached = clock + level * (now - since)
        riders, ended = self._riders[link], []
        while riders:
            target, flow, version = riders[0]
            record = self._flows.get(flow)
            if record is None or record.version != version or record.ride != link:
                heapq.heappop(riders)
                continue
            end = since + (target - clock) / level
            if target - reached > DONE_TOLERANCE * record.size and end > now:
                break
            heapq.heappop(riders)
            ended.append(flow)
        return sorted(ended)

    def _move_to(self, now: float) -> None:
        """Settle the changes of the last instant before the clock moves to ``now``."""
        if now != self._now:
            if self._unsettled:
                self._settle()
            self._now = now

    def _settle(self) -> None:
        while self._unsettled:
            self._rebalance(self._unsettled.pop(), self._now)

    # ---------------------------------------------------------------- clocks

    def _clock_at(self, link: int, now: float) -> float:
        return self._clock[link] + self._level[link] * (now - self._since[link])

    def _advance(self, link: int, now: float) -> None:
        self._clock[link] = self._clock_at(link, now)
        self._since[link] = now

    def _ride(self, record: _Flow, flow: int, link: int, left: float) -> None:
        """Put ``flow`` on ``link``'s clock (advanced to now) with ``left`` bytes to go."""
        record.ride, record.version = link, record.version + 1
        record.target = self._clock[link] + left
        heapq.heappush(self._riders[link], (record.target, flow, record.version))

    def _schedule(self, link: int) -> None:
        """Queue the instant the first rider of ``link`` ends (earlier entries go stale)."""
        self._stamp[link] += 1
        riders = self._riders[link]
        while riders:
            _, flow, version = riders[0]
            record = self._flows.get(flow)
            if record is not None and record.version == version and record.ride == link:
                break
            heapq.heappop(riders)
        level = self._level[link]
        if riders and level > 0:
            end = self._since[link] + (riders[0][0] - self._clock[link]) / level
            heapq.heappush(self._ends, (end, link, self._stamp[link]))

    # ---------------------------------------------------------------- general refill

    def _refill(self, touched: Iterable[int], now: float, new: dict[int, float]) -> None:
        """Fill the component of ``touched`` again: every flow's bytes left, then max-min."""
        links, flows = self._component(touched)
        for link in links:
            self._advance(link, now)
        left = {flow: new[flow] if flow in new else self._left(flow, now) for flow in sorted(flows)}
        order = list(left)
        rates, bottleneck = max_min_rates([self._flows[f].path for f in order], self.capacity)
        for link in links:
            self._level[link] = 0.0
            self._riders[link] = []
        for flow, rate, link in zip(order, rates, bottleneck, strict=True):
            self._level[link] = rate
            self._ride(self._flows[flow], flow, link, left[flow])
        for link in links:
            self._schedule(link)

    def _left(self, flow: int, now: float) -> float:
        record = self._flows[flow]
        return record.target - self._clock_at(record.ride, now)

    def _component(self, touched: Iterable[int]) -> tuple[set[int], set[int]]:
        links, flows = set(), set()
        stack = list(touched)
        while stack:
            link = stack.pop()
            if link in links:
                continue
            links.add(link)
            for flow in self._crossing[link]:
                if flow not in flows:
                    flows.add(flow)
                    stack.extend(self._flows[flow].path)
        return links, flows

    # ---------------------------------------------------------------- hubs (water-filling)

    def _route(self, path: tuple[int, ...]) -> tuple[int, int]:
        """The hub a path crosses and its private link ((-1, -1): no hub), found once per path."""
        hubs = [link for link in path if link in self._hubs]
        if not hubs:
            return -1, -1
        if len(path) != 2 or len(hubs) != 1:
            raise ValueError(f"a transfer through a hub crosses one other link, got {path}")
        return hubs[0], path[0] if path[1] == hubs[0] else path[1]

    def _hold(self, hub: int, flow: int, own: int, left: float, now: float) -> None:
        """The flow runs at its own link's cap (its own link's clock)."""
        state, cap, record = self._hubs[hub], self.capacity[own], self._flows[flow]
        self._advance(own, now)
        self._level[own] = cap
        self._ride(record, flow, own, left)
        heapq.heappush(state.held, (-cap, flow, record.version))
        state.held_count += 1
        state.held_sum += cap
        self._schedule(own)

    def _leave_hub(self, record: _Flow, now: float) -> None:
        if record.ride == record.own:
            self._leave_held(record, now)
            return
        state = self._hubs[record.hub]
        self._advance(record.hub, now)
        if record.ride < 0:  # not placed yet (it has left the flows already)
            state.pending = [flow for flow in state.pending if flow in self._flows]
        else:  # at the level
            state.level_count -= 1
        record.version += 1

    def _leave_level(self, hub: int, ended: list[int], now: float) -> None:
        """:meth:`remove` of flows at a hub's level that ended together (a broadcast's copies):
        the same steps, the hub's clock advanced once (again at the same instant adds 0)."""
        if not ended:
            return
        if now != self._now:
            self._move_to(now)
        self._advance(hub, now)
        flows, owner = self._flows, self._owner
        for flow in ended:
            record = flows.pop(flow)
            del owner[record.own]
            record.version += 1
        state = self._hubs[hub]
        state.flows -= len(ended)
        state.level_count -= len(ended)
        self._unsettled.add(hub)

    def _leave_held(self, record: _Flow, now: float) -> None:
        """A flow held by its own link leaves its hub (the common end of an upload; the clock
        updates of :meth:`_advance` inlined)."""
        hub, own = record.hub, record.own
        state, clock, level, since = self._hubs[hub], self._clock, self._level, self._since
        clock[hub] += level[hub] * (now - since[hub])
        since[hub] = now
        clock[own], since[own], level[own] = 0.0, now, 0.0  # idle: its clock restarts
        state.held_count -= 1
        state.held_sum = state.held_sum - self.capacity[own] if state.held_count else 0.0
        self._stamp[own] += 1  # its end, queued, goes stale
        record.version += 1

    def _top(self, heap: list[tuple[float, int, int]]) -> int | None:
        """The flow on top of a lazy heap of a hub (None: empty); entries of flows that have
        ended or moved since are dropped."""
        while heap:
            _, flow, version = heap[0]
            record = self._flows.get(flow)
            if record is not None and record.version == version:
                return flow
            heapq.heappop(heap)
        return None

    def _rebalance(self, hub: int, now: float) -> None:
        """Water-filling after a change: move flows between held and level until every held cap
        is <= L <= every cap at the level, then set the hub's level L."""
        state, capacity = self._hubs[hub], self.capacity[hub]
        self._advance(hub, now)
        if self._held_alone(hub, state, now):
            return
        if state.pending:
            self._place(hub, state, now)
        moves = 0
        while True:
            held = self._top(state.held)
            if state.level_count == 0:
                if held is None or state.held_sum <= capacity:
                    break
                self._to_level(hub, held, now)
            else:
                level = (capacity - state.held_sum) / state.level_count
                lowest = self._top(state.level)
                if held is not None and -state.held[0][0] > level:
                    self._to_level(hub, held, now)
                elif lowest is not None and state.level[0][0] < level:
                    self._to_held(hub, lowest, now)
                else:
                    break
            moves += 1
            if moves > 4 * (state.flows + 2):
                raise RuntimeError(f"water-filling of link {hub} does not settle")
        count = state.level_count
        if count:
            self._level[hub] = max(capacity - state.held_sum, 0.0) / count
        else:  # idle at its level: the hub's clock restarts
            self._clock[hub], self._level[hub] = 0.0, 0.0
        self._schedule(hub)

    def _leaves_quietly(self, record: _Flow) -> bool:
        """A flow held by its own link leaving a hub with no flow at its level and none added:
        the flows left keep their own caps, there is nothing to find again (what the
        rebalancing would find: no move, the level stays 0)."""
        state = self._hubs[record.hub]
        return record.ride == record.own and not state.level_count and not state.pending

    def _held_alone(self, hub: int, state: _Hub, now: float) -> bool:
        """The common case of staggered uploads, settled directly: one flow added, none at the
        level, and the held caps, its own included, within the hub's capacity: it is held at
        its cap and nothing else moves (what :meth:`_place` and the rebalancing loop find, by
        the same floating-point steps). False, doing nothing, otherwise."""
        if len(state.pending) != 1 or state.level_count:
            return False
        flow = state.pending[0]
        record = self._flows[flow]
        own = record.own
        cap = self.capacity[own]
        if state.held_sum + cap > self.capacity[hub]:
            return False
        state.pending = []
        # _hold and the two _schedule calls, inlined (the hot path of staggered uploads): the
        # own link carries no other flow, so its riders are this one; no flow rides the hub
        level, stamp = self._level, self._stamp
        clock = self._clock[own] = self._clock[own] + level[own] * (now - self._since[own])
        self._since[own] = now
        level[own] = cap
        record.ride = own
        version = record.version = record.version + 1
        target = record.target = clock + record.target
        self._riders[own] = [(target, flow, version)]
        heappush(state.held, (-cap, flow, version))
        state.held_count += 1
        state.held_sum += cap
        stamp[own] += 1
        if cap > 0:
            heappush(self._ends, (now + (target - clock) / cap, own, stamp[own]))
        self._clock[hub], level[hub] = 0.0, 0.0  # no flow at its level: its clock restarts
        self._riders[hub] = []
        stamp[hub] += 1
        return True

    def _place(self, hub: int, state: _Hub, now: float) -> None:
        """Place the flows added this instant: into an idle hub by water-filling over their
        sorted caps (a round's n copies at once), else at the level when their cap reaches
        the hub's present level (which new flows can only lower), held otherwise; the
        rebalancing loop corrects the rest."""
        flows = state.pending
        caps = [self.capacity[self._flows[flow].own] for flow in flows]
        if state.held_count == 0 and state.level_count == 0:
            level = water_level(caps, self.capacity[hub])
        else:
            level = self._level[hub] if state.level_count else math.inf
        riders, at_level, clock = self._riders[hub], state.level, self._clock[hub]
        for flow, cap in zip(flows, caps, strict=True):
            record = self._flows[flow]
            if cap >= level:  # _ride(record, flow, hub, record.target), inlined: once per copy
                state.level_count += 1
                record.ride = hub
                version = record.version = record.version + 1
                record.target = clock + record.target
                heappush(riders, (record.target, flow, version))
                heappush(at_level, (cap, flow, version))
            else:
                self._hold(hub, flow, record.own, record.target, now)
        state.pending = []

    def _to_level(self, hub: int, flow: int, now: float) -> None:
        state, record = self._hubs[hub], self._flows[flow]
        heapq.heappop(state.held)
        own = record.own
        left = record.target - self._clock_at(own, now)
        self._clock[own], self._since[own], self._level[own] = 0.0, now, 0.0  # idle: restarts
        self._stamp[own] += 1  # its end, queued, goes stale
        state.held_count -= 1
        state.held_sum = state.held_sum - self.capacity[own] if state.held_count else 0.0
        state.level_count += 1
        self._ride(record, flow, hub, left)
        heapq.heappush(state.level, (self.capacity[own], flow, record.version))

    def _to_held(self, hub: int, flow: int, now: float) -> None:
        state, record = self._hubs[hub], self._flows[flow]
        heapq.heappop(state.level)
        left = record.target - self._clock[hub]  # the hub's clock is at now
        state.level_count -= 1
        self._hold(hub, flow, record.own, left, now)
