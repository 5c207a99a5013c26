"""Agents on a communication graph: no server, each edge a full-duplex link with its own
bandwidth and latency, messages relayed along shortest-time paths (docs/algorithms.md §4,
"Graphs"; the setting of Tyurin & Richtárik, NeurIPS 2024, §1.1).

``cluster.graph`` names the graph (``ring``, ``torus``, ``complete``, ``star``,
``erdos_renyi`` or a CSV ``file`` of edges ``a,b[,bandwidth,latency]``, agents 1..n);
``cluster.network`` gives the message size and the default bandwidth (``link``) and latency of
an edge. Edge e = {a, b} is two links: 2e carries a → b, 2e + 1 carries b → a, each of the
edge's bandwidth.

A message crosses one edge in ρ_e = latency_e + S / bandwidth_e seconds when it is alone on
the link. Between agents that are not adjacent it is relayed hop by hop (store and forward:
an agent passes a message on once it holds all of it) along a shortest path for the weights
ρ_e, τ_{i→j} = min over paths of Σ ρ_e (the paper's eq. 2). Among equally short paths, each
agent passes the message to its lowest-numbered neighbour that lies on one. While several
messages cross a link they share it max-min fairly (:mod:`asyncsim.topology.links`).
"""

from __future__ import annotations

import csv
import heapq
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from pydantic import Field

from asyncsim.core.errors import ConfigError, clip, quote
from asyncsim.core.files import read_text_file
from asyncsim.core.registry import Params, register_topology

__all__ = ["Graph", "GraphConfig", "GraphLinks", "shortest_times"]

MAX_GRAPH_BYTES = 64 * 2**20
TIE_TOLERANCE = 1e-12
"""Two path times within this relative distance are equally short (sums in another order)."""


class GraphConfig(Params):
    """The communication graph of ``topology: graph``."""

    kind: Literal["ring", "torus", "complete", "star", "erdos_renyi", "file"] = Field(
        description="ring, torus (rows × n/rows, wrapped), complete, star (centre: agent 1), "
        "erdos_renyi (each pair an edge with probability p) or a CSV file of edges"
    )
    rows: int | None = Field(
        None, ge=1, description="torus: rows (default: the largest divisor of n <= √n)"
    )
    p: float | None = Field(None, gt=0, le=1, description="erdos_renyi: edge probability")
    seed: int = Field(0, ge=0, description="erdos_renyi: seed of the edges")
    path: str | None = Field(None, description="file: CSV rows a,b[,bandwidth,latency]")

    def build(self, n: int, field: str = "cluster.graph") -> Graph:
        """The graph of n agents; a bad value, a self-loop, an agent out of range or a
        disconnected graph raises a one-line ConfigError naming its field."""
        for name, needed in (("p", "erdos_renyi"), ("path", "file"), ("rows", "torus")):
            if getattr(self, name) is not None and self.kind != needed:
                raise ConfigError(
                    f"{field}.{name}", f"applies only to kind {needed}, got {self.kind}"
                )
        if self.kind == "file":
            graph = _read_edges(self.path, n, f"{field}.path")
        else:
            edges = _FAMILIES[self.kind](self, n, field)
            graph = Graph(n, tuple(edges), (None,) * len(edges), (None,) * len(edges))
        graph.check_connected(field)
        return graph


def _ring(config: GraphConfig, n: int, field: str) -> list[tuple[int, int]]:
    return sorted({tuple(sorted((i, (i + 1) % n))) for i in range(n) if n > 1})


def _torus(config: GraphConfig, n: int, field: str) -> list[tuple[int, int]]:
    rows = config.rows or max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
    if n % rows:
        raise ConfigError(f"{field}.rows", f"must divide n = {n}, got {rows}")
    columns = n // rows
    edges = set()
    for r in range(rows):
        for c in range(columns):
            here = r * columns + c
            for there in (r * columns + (c + 1) % columns, ((r + 1) % rows) * columns + c):
                if there != here:
                    edges.add((min(here, there), max(here, there)))
    return sorted(edges)


def _complete(config: GraphConfig, n: int, field: str) -> list[tuple[int, int]]:
    return [(a, b) for a in range(n) for b in range(a + 1, n)]


def _star(config: GraphConfig, n: int, field: str) -> list[tuple[int, int]]:
    return [(0, b) for b in range(1, n)]


def _erdos_renyi(config: GraphConfig, n: int, field: str) -> list[tuple[int, int]]:
    if config.p is None:
        raise ConfigError(f"{field}.p", "is required for kind erdos_renyi")
    rng = np.random.default_rng(config.seed)
    pairs = _complete(config, n, field)
    keep = rng.random(len(pairs)) < config.p
    return [pair for pair, kept in zip(pairs, keep, strict=True) if kept]


_FAMILIES = {
    "ring": _ring,
    "torus": _torus,
    "complete": _complete,
    "star": _star,
    "erdos_renyi": _erdos_renyi,
}


def _read_edges(path: str | None, n: int, field: str) -> Graph:
    """Rows ``a,b[,bandwidth,latency]`` (1-based agents; an empty value takes the network's
    default; a first row ``a,b,...`` is a header)."""
    if path is None:
        raise ConfigError(field, "is required for kind file")
    name = f"graph file {quote(path)}"
    text = read_text_file(path, field, name, MAX_GRAPH_BYTES)
    edges: list[tuple[int, int]] = []
    bandwidths: list[float | None] = []
    latencies: list[float | None] = []
    seen: dict[tuple[int, int], int] = {}
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ConfigError(field, f"{name} is not CSV ({exc})") from None
    for line, row in enumerate(rows, 1):
        cells = [cell.strip() for cell in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if line == 1 and cells[:2] == ["a", "b"]:
            continue
        where = f"{field} ({clip(path)}:{line})"
        a, b, bandwidth, latency = _edge_row(cells, n, where)
        key = (min(a, b), max(a, b))
        if key in seen:
            raise ConfigError(where, f"edge {a + 1},{b + 1} repeats line {seen[key]}")
        seen[key] = line
        edges.append((a, b))
        bandwidths.append(bandwidth)
        latencies.append(latency)
    if not edges:
        raise ConfigError(field, f"{name} has no edges")
    return Graph(n, tuple(edges), tuple(bandwidths), tuple(latencies))


def _edge_row(cells: list[str], n: int, where: str) -> tuple[int, int, float | None, float | None]:
    if len(cells) not in (2, 3, 4):
        raise ConfigError(where, f"expected a,b[,bandwidth,latency], got {quote(','.join(cells))}")
    try:
        a, b = int(cells[0]), int(cells[1])
    except ValueError:
        raise ConfigError(
            where, f"agents must be integers, got {quote(','.join(cells[:2]))}"
        ) from None
    for agent in (a, b):
        if not 1 <= agent <= n:
            raise ConfigError(where, f"agent {agent} is out of range 1..{n}")
    if a == b:
        raise ConfigError(where, f"self-loop at agent {a}")
    cells = [*cells[2:], "", ""]
    bandwidth = _edge_value(cells[0], "bandwidth", where, lambda v: v > 0, "> 0")
    latency = _edge_value(cells[1], "latency", where, lambda v: v >= 0, ">= 0")
    return a - 1, b - 1, bandwidth, latency


def _edge_value(cell: str, what: str, where: str, valid: Callable[[float], bool], bound: str):
    """An edge's own bandwidth or latency; None where the cell is empty (the default)."""
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not (valid(value) and math.isfinite(value)):
        raise ConfigError(where, f"{what} must be {bound} and finite, got {quote(cell)}")
    return value


@dataclass(frozen=True)
class Graph:
    """n agents and their undirected edges (0-based (a, b)), with each edge's own bandwidth
    and latency where the file gives them (None: the network's default)."""

    n: int
    edges: tuple[tuple[int, int], ...]
    bandwidths: tuple[float | None, ...]
    latencies: tuple[float | None, ...]

    def check_connected(self, field: str) -> None:
        """Raise a one-line ConfigError when an agent cannot reach agent 1."""
        reached = {0}
        frontier = [0]
        neighbours = _adjacency(self.n, self.edges)
        while frontier:
            here = frontier.pop()
            for there in neighbours[here]:
                if there not in reached:
                    reached.add(there)
                    frontier.append(there)
        if len(reached) < self.n:
            missing = min(set(range(self.n)) - reached) + 1
            raise ConfigError(
                field, f"the graph is disconnected: agent {missing} cannot reach agent 1"
            )


def _adjacency(n: int, edges: tuple[tuple[int, int], ...]) -> list[list[int]]:
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    return [sorted(agents) for agents in neighbours]


def shortest_times(hop: np.ndarray, neighbours: list[list[int]], target: int) -> np.ndarray:
    """τ_{i→target} for every i (Dijkstra from ``target`` over the reversed edges; ``hop[u, v]``
    is ρ_{u→v})."""
    times = np.full(len(neighbours), math.inf)
    times[target] = 0.0
    queue = [(0.0, target)]
    while queue:
        time, here = heapq.heappop(queue)
        if time > times[here]:
            continue
        for there in neighbours[here]:
            candidate = time + hop[there, here]
            if candidate < times[there]:
                times[there] = candidate
                heapq.heappush(queue, (candidate, there))
    return times


@dataclass(frozen=True)
class GraphLinks:
    """The links of a graph (``cluster.network`` under ``topology: graph``): per edge, its
    bandwidth (bytes/s) and latency (s), and a message of ``message_bytes``."""

    graph: Graph
    message_bytes: float
    bandwidth: np.ndarray
    latency_of_edge: np.ndarray

    hubs: tuple[int, ...] = ()
    traces: tuple = ()
    latency: float = 0.0  # a hop pays its edge's latency (:meth:`hop_latency`)

    @property
    def n(self) -> int:
        return self.graph.n

    @cached_property
    def neighbours(self) -> list[list[int]]:
        """Each agent's neighbours, in increasing order."""
        return _adjacency(self.graph.n, self.graph.edges)

    @cached_property
    def _edge_of(self) -> dict[tuple[int, int], int]:
        return {(min(a, b), max(a, b)): e for e, (a, b) in enumerate(self.graph.edges)}

    def capacities(self) -> list[float]:
        """Link 2e (a → b) and 2e + 1 (b → a) of edge e = (a, b), both of its bandwidth."""
        return np.repeat(self.bandwidth, 2).tolist()

    def link(self, source: int, target: int) -> int:
        """The link that carries source → target (adjacent agents)."""
        a, b = self.graph.edges[edge := self._edge_of[(min(source, target), max(source, target))]]
        return 2 * edge + (0 if (source, target) == (a, b) else 1)

    def hop_latency(self, source: int, target: int) -> float:
        return float(
            self.latency_of_edge[self._edge_of[(min(source, target), max(source, target))]]
        )

    @cached_property
    def hop_times(self) -> np.ndarray:
        """ρ_{u→v} = latency + S / bandwidth of the edge (inf: not adjacent; 0 on the diagonal)."""
        hop = np.full((self.n, self.n), math.inf)
        np.fill_diagonal(hop, 0.0)
        for (a, b), bandwidth, latency in zip(
            self.graph.edges, self.bandwidth, self.latency_of_edge, strict=True
        ):
            hop[a, b] = hop[b, a] = latency + self.message_bytes / bandwidth
        return hop

    @cached_property
    def path_times(self) -> np.ndarray:
        """τ_{i→j} for every pair: row i, column j (one Dijkstra per target)."""
        targets = range(self.n)
        return np.column_stack(
            [shortest_times(self.hop_times, self.neighbours, j) for j in targets]
        )

    def next_hop(self, source: int, target: int) -> int:
        """The agent ``source`` passes a message for ``target`` to: its lowest-numbered
        neighbour v on a shortest path, ρ_{source→v} + τ_{v→target} = τ_{source→target}."""
        times = self.path_times[:, target]
        best = times[source]
        for there in self.neighbours[source]:
            through = self.hop_times[source, there] + times[there]
            if through <= best * (1 + TIE_TOLERANCE):
                return there
        raise AssertionError("a connected graph has a next hop")  # pragma: no cover

    def route(self, source: int, target: int) -> list[int]:
        """The agents a message from ``source`` to ``target`` visits, both ends included."""
        path = [source]
        while path[-1] != target:
            path.append(self.next_hop(path[-1], target))
        return path


def build_links(graph: Graph, message_bytes: float, link: float, latency: float) -> GraphLinks:
    """The graph's links, each edge with its own bandwidth and latency or the defaults."""
    bandwidth = np.array([link if b is None else b for b in graph.bandwidths], dtype=float)
    latencies = np.array([latency if t is None else t for t in graph.latencies], dtype=float)
    return GraphLinks(graph, float(message_bytes), bandwidth, latencies)


def _everyone(counts: np.ndarray) -> np.ndarray:
    """Every agent takes part (the graph's own protocols say who sends what)."""
    return np.ones(np.asarray(counts).size, dtype=bool)


register_topology(
    "graph",
    _everyone,
    "agents on a graph (cluster.graph), no server; messages relayed along shortest-time paths",
    broadcasts=False,
    has_server=False,
    decentralized=True,
)
