"""The ``cluster.network`` block: the links of a star and of a ring, their capacities, the size
of a message and the latency (docs/algorithms.md §4, "Shared links").

The links are numbered once: the server's ingress (0) and egress (1), agent i's uplink
(2 + i) and downlink (2 + n + i), 0-based i (under multicast, the egress's stream to agent i:
2 + 2n + i). A transfer crosses:

* an upload, agent i → server: uplink_i, then the ingress;
* a broadcast copy, server → agent i: the egress, then downlink_i (``multicast: true``: the
  egress carries the broadcast once, so the copy is not shared with the others there; it
  crosses a stream of the egress's capacity of its own, then downlink_i);
* a ring step, agent i → its neighbour j: uplink_i, then downlink_j.

Bandwidth traces give a link's capacity over time (CSV with columns ``time, capacity``): from
each row's instant on, the link has that capacity (before the first row, the block's).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, model_serializer

from asyncsim.core.errors import ConfigError, clip, quote
from asyncsim.core.files import read_text_file
from asyncsim.core.registry import Params
from asyncsim.timing.expressions import parse_expression
from asyncsim.timing.models import PerAgent, per_agent_values
from asyncsim.topology.allreduce import COLLECTIVE_STEPS
from asyncsim.topology.links import transfer_times

__all__ = ["EGRESS", "INGRESS", "BandwidthTrace", "Links", "NetworkConfig", "TraceConfig"]

INGRESS, EGRESS = 0, 1
"""The server's links: every upload shares the ingress, every unicast copy the egress."""

_OPTIONAL_LINKS = frozenset({"server", "uplink", "downlink", "link"})
_PER_AGENT = "bytes/s: a number, a list of n numbers, or an expression in i (1-based) and d"
MAX_TRACE_BYTES = 64 * 2**20


class ServerLinks(Params):
    """The server's two links, bytes/s."""

    ingress: PositiveFloat = Field(description="bytes/s shared by every transfer into the server")
    egress: PositiveFloat = Field(description="bytes/s shared by every transfer out of it")


class TraceConfig(Params):
    """A link's capacity over time, from a CSV file with columns time, capacity."""

    link: Literal["ingress", "egress", "uplink", "downlink"]
    agent: int | None = Field(None, ge=1, description="1-based agent, for uplink and downlink")
    path: str = Field(description="CSV file with columns time (s), capacity (bytes/s)")


class NetworkConfig(Params):
    """Shared links with capacities; a message of ``message_bytes`` crosses them at max-min
    fair rates."""

    message_bytes: float | str = Field(
        "4*d", description="bytes of one vector message: a number or an expression in d"
    )
    server: ServerLinks | None = Field(None, description="the server's links (star, ring)")
    uplink: PerAgent | None = Field(None, description=f"agent → server, {_PER_AGENT}")
    downlink: PerAgent | None = Field(None, description=f"server → agent, {_PER_AGENT}")
    link: PositiveFloat | None = Field(
        None, description="topology graph: bytes/s of an edge the graph file does not set"
    )
    latency: float = Field(
        0.0, ge=0, description="seconds per message, paid before the transfer joins its links"
    )
    multicast: bool = Field(False, description="a broadcast crosses the egress once")
    traces: list[TraceConfig] = Field([], description="bandwidth traces (CSV), one per link")

    @model_serializer(mode="wrap")
    def _without_unset_links(self, handler: Any) -> dict[str, Any]:
        """The fields of the other kind of network (None) are left out of the dump."""
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None or k not in _OPTIONAL_LINKS}

    def message_size(self, dim: int, field: str = "cluster.network") -> float:
        """Bytes of one vector of d = ``dim`` parameters, checked > 0 and finite."""
        size = self.message_bytes
        if isinstance(size, str):
            size = float(parse_expression(size, f"{field}.message_bytes", ("d",))({"d": dim}))
        if not 0 < size < math.inf:
            raise ConfigError(f"{field}.message_bytes", f"must be > 0 and finite, got {size}")
        return float(size)

    def check_fields(self, graph: bool, field: str = "cluster.network") -> None:
        """A graph's network gives ``link`` and none of the star's links; a star's gives
        ``server``, ``uplink`` and ``downlink`` and no ``link``; one line otherwise."""
        star = ("server", "uplink", "downlink")
        wanted, unwanted = (
            (("link",), (*star, "traces", "multicast")) if graph else (star, ("link",))
        )
        where = "under topology graph" if graph else "without topology graph"
        for name in wanted:
            if getattr(self, name) is None:
                raise ConfigError(f"{field}.{name}", f"is required {where}")
        for name in unwanted:
            if getattr(self, name) != NetworkConfig.model_fields[name].default:
                raise ConfigError(f"{field}.{name}", f"must be omitted {where}")

    def build(self, n: int, dim: int, field: str = "cluster.network") -> Links:
        """The links of n agents for vectors of d = ``dim`` parameters; a bad value raises a
        one-line ConfigError naming its field."""
        self.check_fields(graph=False, field=field)
        size = self.message_size(dim, field)
        uplink = _positive(self.uplink, n, f"{field}.uplink", dim)
        downlink = _positive(self.downlink, n, f"{field}.downlink", dim)
        links = Links(
            float(size), self.server.ingress, self.server.egress, uplink, downlink,
            self.latency, self.multicast, (),
        )  # fmt: skip
        traces = tuple(_trace(t, links, f"{field}.traces[{i}]") for i, t in enumerate(self.traces))
        return replace(links, traces=traces)


def _positive(value: PerAgent, n: int, field: str, dim: int) -> np.ndarray:
    values = per_agent_values(value, n, field, {"d": dim})
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        where = field if isinstance(value, int | float) else f"{field}[{int(bad[0])}]"
        raise ConfigError(where, f"must be > 0 bytes/s, got {float(values[bad[0]])}")
    return values


@dataclass(frozen=True)
class BandwidthTrace:
    """Link ``link`` has capacity ``capacities[j]`` from ``times[j]`` on."""

    link: int
    times: tuple[float, ...]
    capacities: tuple[float, ...]


@dataclass(frozen=True)
class Links:
    """The links of a cluster of n agents (``uplink``/``downlink``: bytes/s per agent)."""

    message_bytes: float
    ingress: float
    egress: float
    uplink: np.ndarray
    downlink: np.ndarray
    latency: float
    multicast: bool
    traces: tuple[BandwidthTrace, ...]

    @property
    def n(self) -> int:
        return self.uplink.size

    @property
    def hubs(self) -> tuple[int, int]:
        """The links every upload and every unicast copy cross (water-filled)."""
        return (INGRESS, EGRESS)

    def capacities(self) -> list[float]:
        """Every link's capacity by number (see the module's docstring)."""
        streams = [self.egress] * self.n if self.multicast else []
        return [self.ingress, self.egress, *self.uplink.tolist(), *self.downlink.tolist(), *streams]

    def uplink_of(self, agent: int) -> int:
        return 2 + agent

    def downlink_of(self, agent: int) -> int:
        return 2 + self.n + agent

    def upload_path(self, agent: int) -> tuple[int, int]:
        """Agent → server: its uplink and the ingress."""
        return (self.uplink_of(agent), INGRESS)

    def broadcast_path(self, agent: int) -> tuple[int, int]:
        """A copy of a broadcast, server → agent: the egress and the agent's downlink; under
        multicast the egress's stream to that agent (link 2 + 2n + i, the egress's capacity,
        its own: the egress carries the broadcast once) and the downlink."""
        start = 2 + 2 * self.n + agent if self.multicast else EGRESS
        return (start, self.downlink_of(agent))

    @cached_property
    def broadcast_paths(self) -> list[tuple[int, int]]:
        """:meth:`broadcast_path` of every agent, found once (a round sends n copies)."""
        return [self.broadcast_path(agent) for agent in range(self.n)]

    def unicast_path(self, agent: int) -> tuple[int, int]:
        """A point sent to one agent (the asynchronous server): the egress and its downlink."""
        return (EGRESS, self.downlink_of(agent))

    def broadcast_times(self) -> np.ndarray:
        """b_i: when agent i holds a point the server sent to all n at once (closed form):
        n unicast copies share the egress (:func:`~asyncsim.topology.links.transfer_times`);
        under multicast each copy gets min(egress, downlink_i)."""
        size, downlink = self.message_bytes, self.downlink
        if self.multicast:
            return self.latency + size / np.minimum(downlink, self.egress)
        return np.array(transfer_times(size, downlink.tolist(), self.egress, self.latency))

    def reduce_time(self, sending: np.ndarray, collective: bool, allreduce: str) -> float:
        """Seconds from a stop until the aggregate is held when the agents of the mask
        ``sending`` send at once (closed form): on a star, the slowest of their uploads through
        the ingress (:func:`~asyncsim.topology.links.transfer_times`); a collective of p agents
        in a ring, s steps of a share of S (``COLLECTIVE_STEPS``: 2(p-1) of S/p for ``ring``,
        1 of S for ``max``), each max_k (latency + share·S / min(uplink_k, downlink_{k+1})):
        every link carries one transfer of a step."""
        agents = np.flatnonzero(np.asarray(sending))
        if not agents.size:
            return 0.0
        size, latency = self.message_bytes, self.latency
        if not collective:
            caps = self.uplink[agents].tolist()
            return max(transfer_times(size, caps, self.ingress, latency))
        steps, share = COLLECTIVE_STEPS[allreduce](agents.size)
        rate = np.minimum(self.uplink[agents], self.downlink[np.roll(agents, -1)])
        return steps * float((latency + share * size / rate).max()) if steps else 0.0

    def round_end(
        self, ready: np.ndarray, taking_part: np.ndarray, spec: Any, allreduce: str
    ) -> float | None:
        """The end of a round whose participants (mask ``taking_part``) hold their vectors at
        ``ready`` and send them (a star: each when it is ready; a collective, topology record
        ``spec``: all at the last one); None on a star whose participants are ready at
        different instants (their uploads then share the ingress without a closed form)."""
        times = ready[taking_part]
        collective = spec.collective is not None
        if not collective and times.size and np.any(times != times[0]):
            return None
        start = float(times.max()) if times.size else 0.0
        sending = spec.senders(taking_part.astype(int))
        return start + self.reduce_time(sending, collective, allreduce)

    def alone_upload_times(self) -> np.ndarray:
        """κ_i: an upload's time when it is alone on its links."""
        return self.latency + self.message_bytes / np.minimum(self.uplink, self.ingress)

    def trace_links(self, link: int) -> list[int]:
        """The links a trace of ``link`` sets: the egress's streams follow the egress."""
        if link == EGRESS and self.multicast:
            return [EGRESS, *range(2 + 2 * self.n, 2 + 3 * self.n)]
        return [link]

    def ring_path(self, agent: int, neighbour: int) -> tuple[int, int]:
        """Agent → its neighbour in a ring: its uplink and the neighbour's downlink."""
        return (self.uplink_of(agent), self.downlink_of(neighbour))


def _link_number(trace: TraceConfig, links: Links, field: str) -> int:
    if trace.link in ("ingress", "egress"):
        if trace.agent is not None:
            message = f"must be omitted for {trace.link}, got {trace.agent}"
            raise ConfigError(f"{field}.agent", message)
        return INGRESS if trace.link == "ingress" else EGRESS
    if trace.agent is None or trace.agent > links.n:
        raise ConfigError(f"{field}.agent", f"must be in 1..{links.n}, got {trace.agent}")
    number = links.uplink_of if trace.link == "uplink" else links.downlink_of
    return number(trace.agent - 1)


def _trace(trace: TraceConfig, links: Links, field: str) -> BandwidthTrace:
    """Read a trace file: rows ``time, capacity`` with increasing times >= 0, capacities > 0."""
    link = _link_number(trace, links, field)
    name = f"bandwidth trace {quote(trace.path)}"
    text = read_text_file(trace.path, f"{field}.path", name, MAX_TRACE_BYTES)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    times: list[float] = []
    capacities: list[float] = []
    try:
        for record in reader:
            where = f"{field}.path ({clip(trace.path)}:{reader.line_num})"
            try:
                time, capacity = float(record["time"]), float(record["capacity"])
            except (KeyError, TypeError, ValueError):
                raise ConfigError(
                    where, f"expected columns time, capacity with numbers, got {quote(record)}"
                ) from None
            if not (0 <= time < math.inf) or (times and time <= times[-1]):
                raise ConfigError(where, f"time must be finite and increasing, got {time}")
            if not (0 < capacity < math.inf):
                raise ConfigError(where, f"capacity must be > 0 and finite, got {capacity}")
            times.append(time)
            capacities.append(capacity)
    except csv.Error as exc:
        raise ConfigError(f"{field}.path", f"{name} is not CSV ({exc})") from None
    if not times:
        raise ConfigError(f"{field}.path", f"{name} has no rows")
    return BandwidthTrace(link, tuple(times), tuple(capacities))
