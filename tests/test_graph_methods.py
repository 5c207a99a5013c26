"""Agents on a graph (topology graph, docs/algorithms.md §4 "Graphs"): Fragile SGD, Amelie SGD
and AD-PSGD exact event by event.

Every update time of a run is compared with an independent event-by-event computation written
here in rational arithmetic (``fractions.Fraction``): shortest path times by this file's own
Dijkstra, messages relayed hop by hop (store and forward, each hop after its edge's latency),
the messages on one link sharing it equally (a hop crosses one link, so max-min fairness is an
equal share), and each method's rules as docs/algorithms.md states them. The order within an
instant is the documented one: hops, then computations that end (by agent), then deliveries,
then the agents' reactions (by agent).
"""

from __future__ import annotations

import heapq
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from asyncsim import graph_theory, theory
from asyncsim.core.errors import ConfigError
from asyncsim.run.runner import simulate
from asyncsim.scenario.loading import load_scenario
from asyncsim.scenario.schema import validate_scenario

REL = 1e-9

# ---------------------------------------------------------------- the reference


def edges_of(kind: str, n: int) -> list[tuple[int, int]]:
    """The graph families as docs/algorithms.md defines them (0-based agents)."""
    if kind == "ring":
        return sorted({(min(i, (i + 1) % n), max(i, (i + 1) % n)) for i in range(n)})
    if kind == "complete":
        return [(a, b) for a in range(n) for b in range(a + 1, n)]
    if kind == "star":
        return [(0, b) for b in range(1, n)]
    if kind == "torus":  # rows = largest divisor <= √n
        rows = max(r for r in range(1, int(n**0.5) + 1) if n % r == 0)
        cols = n // rows
        found = set()
        for r in range(rows):
            for c in range(cols):
                a = r * cols + c
                for b in (r * cols + (c + 1) % cols, ((r + 1) % rows) * cols + c):
                    if a != b:
                        found.add((min(a, b), max(a, b)))
        return sorted(found)
    raise ValueError(kind)


class Reference:
    """The graph's times and an event loop with messages sharing links equally."""

    def __init__(self, n: int, edges: dict[tuple[int, int], tuple[Fraction, Fraction]], size):
        self.n, self.size = n, Fraction(size)
        self.edges = edges  # (a, b), a < b → (bandwidth, latency)
        self.adjacent = {
            i: sorted({b for a, b in edges if a == i} | {a for a, b in edges if b == i})
            for i in range(n)
        }
        self.dist = {t: self._dijkstra(t) for t in range(n)}
        self.now = Fraction(0)
        self.flows: dict[int, list] = {}  # id → [link, bytes left, callback]
        self.timers: list = []  # (time, seq, callback) of latencies and computations
        self.seq = 0

    def hop(self, u: int, v: int) -> Fraction:
        bandwidth, latency = self.edges[(min(u, v), max(u, v))]
        return latency + self.size / bandwidth

    def _dijkstra(self, target: int) -> dict[int, Fraction]:
        best = {target: Fraction(0)}
        queue = [(Fraction(0), target)]
        done = set()
        while queue:
            d, u = heapq.heappop(queue)
            if u in done:
                continue
            done.add(u)
            for v in self.adjacent[u]:
                if v not in best or d + self.hop(v, u) < best[v]:
                    best[v] = d + self.hop(v, u)
                    heapq.heappush(queue, (best[v], v))
        return best

    def route(self, source: int, target: int) -> list[int]:
        path = [source]
        while path[-1] != target:
            u = path[-1]
            path.append(
                next(
                    v
                    for v in self.adjacent[u]
                    if self.hop(u, v) + self.dist[target][v] == self.dist[target][u]
                )
            )
        return path

    # -- the event loop

    def at(self, time: Fraction, phase: int, agent: int, callback: Any) -> list:
        """Schedule ``callback()`` at ``time`` in ``phase`` (1 computation end, 2 delivery,
        3 reaction) of agent ``agent``; returns the entry (cancel: entry[-1] = None)."""
        self.seq += 1
        entry = [time, phase, agent, self.seq, callback]
        heapq.heappush(self.timers, entry)
        return entry

    def send(self, route: list[int], on_delivery: Any, size: Any = None) -> None:
        """Store and forward along ``route`` a message of ``size`` bytes (default: a vector);
        ``on_delivery()`` at the target's delivery."""
        size = self.size if size is None else Fraction(size)
        if len(route) == 1:
            raise AssertionError("a message to oneself")
        u, v = route[0], route[1]
        latency = self.edges[(min(u, v), max(u, v))][1]

        def join() -> None:
            self.flows[self.seq] = [(u, v), size, lambda: arrived()]
            self.seq += 1

        def arrived() -> None:
            if len(route) == 2:
                self.at(self.now, 2, route[-1], on_delivery)
            else:
                self.send(route[1:], on_delivery, size)

        if latency > 0:
            self.at(self.now + latency, 0, -1, join)
        else:
            join()

    def _rate(self, link: tuple[int, int]) -> Fraction:
        sharing = sum(1 for flow in self.flows.values() if flow[0] == link)
        return self.edges[(min(link), max(link))][0] / sharing

    def run(self, until: Any) -> None:
        """Process events until ``until()`` is true."""
        while not until():
            rates = {f: self._rate(flow[0]) for f, flow in self.flows.items()}
            ends = [self.now + flow[1] / rates[f] for f, flow in self.flows.items()]
            while self.timers and self.timers[0][-1] is None:
                heapq.heappop(self.timers)
            instant = min([*ends, self.timers[0][0]] if self.timers else ends)
            for f, flow in self.flows.items():
                flow[1] -= rates[f] * (instant - self.now)
            self.now = instant
            for f in sorted(f for f, flow in self.flows.items() if flow[1] == 0):
                self.flows.pop(f)[2]()
            # latencies (phase 0), computations (1), deliveries (2), reactions (3) at this instant
            while self.timers and self.timers[0][0] == instant:
                entry = heapq.heappop(self.timers)
                if entry[-1] is not None:
                    entry[-1]()


# ---------------------------------------------------------------- the methods' rules


def fragile_updates(ref: Reference, tau: list[Fraction], batch: int, pivot: int, count: int):
    """Update times of Fragile SGD (docs/algorithms.md, "Fragile SGD")."""
    n = ref.n
    parent = {i: ref.route(i, pivot)[1] for i in range(n) if i != pivot}
    children = {i: [c for c in range(n) if parent.get(c) == i] for i in range(n)}
    version = [-1] * n
    gathered = [0] * n
    sending = [False] * n
    reacting = [False] * n
    running: list[Any] = [None] * n
    collector = {"version": -1, "got": 0}
    updates: list[Fraction] = []

    def compute(i: int) -> None:
        v = version[i]

        def end() -> None:
            if version[i] == v:
                gathered[i] += 1
                compute(i)
                react(i)

        running[i] = ref.at(ref.now + tau[i], 1, i, end)

    def receive_point(i: int, v: int) -> None:
        if v <= version[i]:
            return
        version[i], gathered[i] = v, 0
        for c in children[i]:
            ref.send([i, c], lambda c=c: receive_point(c, v))
        if running[i] is not None:
            running[i][-1] = None
        compute(i)

    def react(i: int) -> None:
        if not reacting[i]:
            reacting[i] = True
            ref.at(ref.now, 3, i, lambda: flush(i))

    def flush(i: int) -> None:
        reacting[i] = False
        if sending[i] or not gathered[i]:
            return
        items, v, gathered[i] = gathered[i], version[i], 0
        if i == pivot:
            if v == collector["version"]:
                collector["got"] += items
                if collector["got"] >= batch:
                    updates.append(ref.now)
                    start(v + 1)
            return
        sending[i] = True
        p = parent[i]

        def sent() -> None:
            sending[i] = False
            if version[p] == v:
                gathered[p] += items
                react(p)
            react(i)

        ref.send([i, p], sent)

    def start(v: int) -> None:
        collector["version"], collector["got"] = v, 0
        receive_point(pivot, v)

    start(0)
    ref.run(lambda: len(updates) >= count)
    return updates[:count]


def amelie_updates(ref: Reference, tau: list[Fraction], batch: int, pivot: int, count: int):
    """Update times of Amelie SGD (docs/algorithms.md, "Amelie SGD"): counters of 8 bytes,
    the stop at Σ_i 1/s_i <= n²/S, a stop signal down the tree, partial sums up it."""
    n = ref.n
    parent = {i: ref.route(i, pivot)[1] for i in range(n) if i != pivot}
    children = {i: [c for c in range(n) if parent.get(c) == i] for i in range(n)}
    st = [
        {"version": -1, "count": 0, "counters": {}, "sent": None, "sending": False,
         "stopped": False, "partials": set(), "reduced": False, "reacting": False,
         "running": None}
        for _ in range(n)
    ]  # fmt: skip
    updates: list[Fraction] = []

    def compute(i: int) -> None:
        def end() -> None:
            st[i]["count"] += 1
            compute(i)
            react(i)

        st[i]["running"] = ref.at(ref.now + tau[i], 1, i, end)

    def stop_computing(i: int) -> None:
        if st[i]["running"] is not None:
            st[i]["running"][-1] = None

    def receive_point(i: int, v: int) -> None:
        if v <= st[i]["version"]:
            return
        st[i].update(version=v, count=0, counters=dict.fromkeys(children[i]), sent=None,
                     stopped=False, partials=set(), reduced=False)  # fmt: skip
        for c in children[i]:
            ref.send([i, c], lambda c=c: receive_point(c, v))
        stop_computing(i)
        compute(i)

    def react(i: int) -> None:
        if not st[i]["reacting"]:
            st[i]["reacting"] = True
            ref.at(ref.now, 3, i, lambda: flush(i))

    def counter(i: int) -> Any:
        values = list(st[i]["counters"].values())
        if None in values or st[i]["count"] == 0:
            return None
        return sum(values, Fraction(0)) + Fraction(1, st[i]["count"])

    def flush(i: int) -> None:
        st[i]["reacting"] = False
        if st[i]["stopped"]:
            reduce(i)
            return
        value, v = counter(i), st[i]["version"]
        if i == pivot:
            if value is not None and value <= Fraction(n * n, batch):
                receive_stop(i, v)
            return
        if st[i]["sending"] or value == st[i]["sent"]:
            return
        st[i]["sending"], st[i]["sent"] = True, value
        p = parent[i]

        def counted() -> None:
            st[i]["sending"] = False
            if st[p]["version"] == v and not st[p]["stopped"]:
                st[p]["counters"][i] = value
                react(p)
            react(i)

        ref.send([i, p], counted, 8)

    def receive_stop(i: int, v: int) -> None:
        if v != st[i]["version"] or st[i]["stopped"]:
            return
        st[i]["stopped"] = True
        stop_computing(i)
        for c in children[i]:
            ref.send([i, c], lambda c=c: receive_stop(c, v), 8)
        react(i)

    def reduce(i: int) -> None:
        if st[i]["reduced"] or len(st[i]["partials"]) < len(children[i]):
            return
        st[i]["reduced"] = True
        v = st[i]["version"]
        if i == pivot:
            updates.append(ref.now)
            receive_point(pivot, v + 1)
            return
        p = parent[i]

        def summed() -> None:
            if st[p]["version"] == v:
                st[p]["partials"].add(i)
                react(p)

        ref.send([i, p], summed)

    receive_point(pivot, 0)
    ref.run(lambda: len(updates) >= count)
    return updates[:count]


def ad_psgd_updates(ref: Reference, tau: list[Fraction], count: int) -> list[tuple[int, Fraction]]:
    """(agent, time) of AD-PSGD's updates (docs/algorithms.md, "AD-PSGD")."""
    updates: list[tuple[int, Fraction]] = []

    def iteration(i: int, visit: int) -> None:
        j = ref.adjacent[i][visit % len(ref.adjacent[i])]
        waiting = {"left": 3}

        def one_done() -> None:
            waiting["left"] -= 1
            if waiting["left"] == 0:
                updates.append((i, ref.now))
                iteration(i, visit + 1)

        ref.at(ref.now + tau[i], 1, i, one_done)
        ref.send(ref.route(i, j), one_done)
        ref.send(ref.route(j, i), one_done)

    for i in range(ref.n):
        iteration(i, 0)
    ref.run(lambda: len(updates) >= count)
    return updates


# ---------------------------------------------------------------- runs


def scenario(kind: str, n: int, method: dict, h: Any, link: float = 8.0, latency: float = 0.5,
             budget: int = 12, **graph: Any) -> dict:  # fmt: skip
    return {
        "name": "graph",
        "oracle": {"kind": "quadratic", "dim": 4, "noise": 0.1},
        "cluster": {
            "n": n,
            "compute": {"kind": "fixed", "h": h},
            "topology": "graph",
            "graph": {"kind": kind, **graph},
            "network": {"message_bytes": "4*d", "link": link, "latency": latency},
        },
        "methods": [{"lr": 0.01, **method}],
        "budget": {"iterations": budget},
    }


def reference_of(data: dict) -> tuple[Reference, list[Fraction]]:
    """The reference of a scenario: its edges as validated (each with the file's bandwidth and
    latency, else the network's), its message size and compute times."""
    cluster = data["cluster"]
    links = validate_scenario(data).cluster.links(data["oracle"]["dim"])
    n = cluster["n"]
    size = Fraction(4 * data["oracle"]["dim"])
    edges = {
        (min(a, b), max(a, b)): (Fraction(float(bandwidth)), Fraction(float(latency)))
        for (a, b), bandwidth, latency in zip(
            links.graph.edges, links.bandwidth, links.latency_of_edge, strict=True
        )
    }
    h = cluster["compute"]["h"]
    tau = [Fraction(x) for x in h] if isinstance(h, list) else [Fraction(h)] * n
    return Reference(n, edges, size), tau


FAMILIES = [("ring", 6, {}), ("torus", 8, {}), ("complete", 5, {}), ("star", 6, {}),
            ("erdos_renyi", 7, {"p": 0.5, "seed": 4})]  # fmt: skip
COMPUTE = {  # seconds per gradient; a hop alone takes 0.5 + 16/8 = 2.5 s
    "compute-bound": {5: [1, 3, 0.5, 2, 1.5], 6: [1, 2, 3, 0.5, 4, 1.5],
                      7: [2, 1, 0.5, 3, 1.5, 2.5, 1], 8: [1, 0.5, 2, 3, 1.5, 1, 4, 2.5]},
    "communication-bound": {5: [0.25, 0.5, 0.125, 0.75, 0.5], 6: [0.25, 0.5, 0.75, 0.125, 1, 0.5],
                            7: [0.5, 0.25, 0.125, 0.75, 0.5, 0.25, 1],
                            8: [0.25, 0.125, 0.5, 0.75, 0.5, 0.25, 1, 0.5]},
}  # fmt: skip
# edges a,b[,bandwidth,latency]: 1-2 is slow (8 B/s), so 1 → 2 is faster through 5 and 4
GRAPH_FILE = (
    "a,b,bandwidth,latency\n1,2,2,0.5\n2,3,,\n3,4,16,0.25\n4,5,32,0\n5,1,16,0.25\n2,4,8,1\n5,6\n"
)


def family_scenarios(tmp_path: Any) -> list[tuple[str, dict]]:
    path = tmp_path / "edges.csv"
    path.write_text(GRAPH_FILE)
    return [(kind, n, graph) for kind, n, graph in FAMILIES] + [("file", 6, {"path": str(path)})]


@pytest.mark.parametrize("regime", list(COMPUTE))
@pytest.mark.parametrize("batch", [3, 8, 40])
def test_fragile_sgd_update_times_equal_the_event_by_event_reference(tmp_path, regime, batch):
    for kind, n, graph in family_scenarios(tmp_path):
        h = COMPUTE[regime][n]
        data = scenario(kind, n, {"name": "fragile_sgd", "batch": batch}, h, **graph)
        rows = simulate(data).methods["fragile_sgd"].rows
        ref, tau = reference_of(data)
        expected = fragile_updates(ref, tau, batch, pivot_of(ref, tau, batch), len(rows))
        measured = [row["time_end"] for row in rows]
        assert len(rows) == 13
        assert measured == pytest.approx([float(t) for t in expected], rel=REL), kind


@pytest.mark.parametrize("regime", list(COMPUTE))
@pytest.mark.parametrize("batch", [5, 40])
def test_amelie_sgd_update_times_equal_the_event_by_event_reference(tmp_path, regime, batch):
    for kind, n, graph in family_scenarios(tmp_path):
        h = COMPUTE[regime][n]
        data = scenario(kind, n, {"name": "amelie_sgd", "batch": batch}, h, budget=6, **graph)
        rows = simulate(data).methods["amelie_sgd"].rows
        ref, tau = reference_of(data)
        expected = amelie_updates(ref, tau, batch, pivot_of(ref, tau, batch), len(rows))
        assert len(rows) == 7
        measured = [row["time_end"] for row in rows]
        assert measured == pytest.approx([float(t) for t in expected], rel=REL), kind


def pivot_of(ref: Reference, tau: list[Fraction], batch: int) -> int:
    """Corollary 1: argmin_j min_k max{max(τ̄_πk, h_πk), S / Σ_{i≤k} 1/h_πi} (lowest j)."""

    def equilibrium(j: int) -> Fraction:
        trip = [ref.dist[j][i] + ref.dist[i][j] for i in range(ref.n)]
        order = sorted(range(ref.n), key=lambda i: (max(trip[i], tau[i]), i))
        rate, best = Fraction(0), None
        for i in order:
            rate += 1 / tau[i]
            value = max(max(trip[i], tau[i]), batch / rate)
            best = value if best is None else min(best, value)
        return best

    values = [equilibrium(j) for j in range(ref.n)]
    return values.index(min(values))


def test_the_pivot_is_corollary_1s(tmp_path):
    for kind, n, graph in family_scenarios(tmp_path):
        for regime in COMPUTE:
            h = COMPUTE[regime][n]
            data = scenario(kind, n, {"name": "fragile_sgd", "batch": 5}, h, **graph)
            links = validate_scenario(data).cluster.links(4)
            ref, tau = reference_of(data)
            pivot = graph_theory.fragile_pivot(np.array(h, dtype=float), links.path_times, 5)
            assert pivot == pivot_of(ref, tau, 5), (kind, regime)


@pytest.mark.parametrize("regime", list(COMPUTE))
def test_ad_psgd_update_times_equal_the_event_by_event_reference(tmp_path, regime):
    for kind, n, graph in family_scenarios(tmp_path):
        data = scenario(kind, n, {"name": "ad_psgd"}, COMPUTE[regime][n], budget=60, **graph)
        rows = simulate(data).methods["ad_psgd"].rows
        ref, tau = reference_of(data)
        expected = ad_psgd_updates(ref, tau, len(rows))
        assert len(rows) == 61
        for agent in range(n):
            mine = [row["time_end"] for row in rows if row["agent"] == agent + 1]
            theirs = [float(t) for a, t in expected if a == agent][: len(mine)]
            assert mine == pytest.approx(theirs, rel=REL), (kind, agent)


def test_the_families_have_their_edges():
    for kind, n in [("ring", 6), ("torus", 8), ("complete", 5), ("star", 6), ("ring", 2)]:
        data = scenario(kind, n, {"name": "ad_psgd"}, 1)
        links = validate_scenario(data).cluster.links(4)
        assert sorted(links.graph.edges) == edges_of(kind, n), kind


def test_a_message_between_far_agents_is_relayed_along_the_shortest_time_path(tmp_path):
    (tmp_path / "edges.csv").write_text(GRAPH_FILE)
    data = scenario("file", 6, {"name": "ad_psgd"}, 1, path=str(tmp_path / "edges.csv"))
    links = validate_scenario(data).cluster.links(4)
    ref, _ = reference_of(data)
    for source in range(6):
        for target in range(6):
            assert links.route(source, target) == ref.route(source, target)
            assert links.path_times[source, target] == pytest.approx(
                float(ref.dist[target][source])
            )
    assert links.route(0, 1) == [0, 4, 3, 1]  # the slow edge 1-2 is avoided


# ---------------------------------------------------------------- relations and closed forms


def test_on_a_complete_graph_fragile_sgd_is_rennala_sgd_with_a_round_trip_offset():
    """Equal edges of ρ s and τ_i >= ρ: no message waits for another, so agent i's m-th
    gradient reaches j* at 2ρ + m·τ_i (ρ for the point, ρ for the gradient; 0 at j*) and a
    round is Rennala's collection of S gradients with offsets b_i = 2ρ·[i ≠ j*]."""
    h = [3, 2.5, 4, 6, 2.5]
    data = scenario("complete", 5, {"name": "fragile_sgd", "batch": 7}, h)
    rows = simulate(data).methods["fragile_sgd"].rows
    links = validate_scenario(data).cluster.links(4)
    rho = links.hop_times[0, 1]
    pivot = graph_theory.fragile_pivot(np.array(h, dtype=float), links.path_times, 7)
    offsets = np.where(np.arange(5) == pivot, 0.0, 2 * rho)
    start = 0.0
    for row in rows:
        exact = theory.rennala_collection_exact(np.array(h, dtype=float), 7, start + offsets)
        assert row["time_end"] == pytest.approx(exact.stop_time, rel=REL)
        start = row["time_end"]


def test_the_equilibrium_time_on_a_line_is_the_papers_eq_15():
    """Line of n = 2r + 1 agents, edges ρ, h_i = h: min_d max{2ρd, h, σ²h/(ε(2d+1))} at the
    middle agent (Section 6, with round trips τ_{i→j} + τ_{j→i} = 2ρ|i − j|)."""
    n, rho, h, s = 9, 1.5, 2.0, 40.0
    paths = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) * rho
    value = min(
        graph_theory.equilibrium_time(s, np.full(n, h), paths[:, j] + paths[j, :]) for j in range(n)
    )
    expected = min(max(2 * rho * d, h, s * h / (2 * d + 1)) for d in range(n // 2 + 1))
    assert value == pytest.approx(expected)
    middle = n // 2  # the paper's j* (ties go to the lowest agent)
    pivot = graph_theory.fragile_pivot(np.full(n, h), paths, s)
    at = [graph_theory.equilibrium_time(s, np.full(n, h), paths[:, j] + paths[j, :])
          for j in (middle, pivot)]  # fmt: skip
    assert at == [value, value] and pivot <= middle


def test_the_acceptance_scenario_runs_both_methods_and_bounds_prints_their_rows(tmp_path):
    from click.testing import CliRunner

    from asyncsim.cli import main

    result = CliRunner().invoke(main, ["bounds", "scenarios/graph/ring.yaml"])
    assert result.exit_code == 0, result.output
    for row in ("fragile_sgd", "amelie_sgd", "ad_psgd"):
        lines = [line for line in result.output.splitlines() if line.startswith(row)]
        assert len(lines) == 2, row  # the method's closed forms and its shape
    run = simulate(load_scenario("scenarios/graph/ring.yaml"))
    assert run.scenario.cluster.n == 6 and run.scenario.cluster.graph.kind == "ring"
    for method in ("fragile_sgd", "amelie_sgd", "ad_psgd"):
        assert len(run.methods[method].rows) >= 2


def test_vector_messages_on_a_graph_count_as_uploads():
    """AD-PSGD: every visit sends the model there and back (2 vectors) as it starts; when the
    run stops after U updates every agent has started one visit more than it finished, but the
    one that made the last update: 2·(U + n − 1) uploads."""
    run = simulate(load_scenario("scenarios/graph/ring.yaml"))
    rows = run.methods["ad_psgd"].rows
    assert sum(row["uploads"] for row in rows) == 2 * (len(rows) + 6 - 1)
    for method in ("fragile_sgd", "amelie_sgd"):
        assert all(row["uploads"] > 0 for row in run.methods[method].rows), method


BAD_GRAPHS = [
    ({"kind": "file", "rows": "1,2\n2,2\n"}, "graph.path (edges.csv:2): self-loop at agent 2"),
    ({"kind": "file", "rows": "1,2\n2,9\n"}, "agent 9 is out of range 1..6"),
    ({"kind": "file", "rows": "1,2\n3,4\n4,5\n5,6\n"},
     "cluster.graph: the graph is disconnected: agent 3 cannot reach agent 1"),
    ({"kind": "file", "rows": "1,2,0\n2,3\n"}, "bandwidth must be > 0 and finite, got '0'"),
    ({"kind": "file", "rows": "1,2\n2,1\n"}, "edge 2,1 repeats line 1"),
    ({"kind": "erdos_renyi", "p": 0.05}, "cluster.graph: the graph is disconnected"),
    ({"kind": "erdos_renyi"}, "cluster.graph.p: is required for kind erdos_renyi"),
    ({"kind": "torus", "rows": 4}, "cluster.graph.rows: must divide n = 6, got 4"),
]  # fmt: skip


@pytest.mark.parametrize(("graph", "message"), BAD_GRAPHS)
def test_a_bad_graph_is_one_line_naming_its_field(tmp_path, monkeypatch, graph, message):
    monkeypatch.chdir(tmp_path)
    graph = dict(graph)
    if "rows" in graph and graph["kind"] == "file":
        (tmp_path / "edges.csv").write_text(graph.pop("rows"))
        graph["path"] = "edges.csv"
    data = scenario("ring", 6, {"name": "ad_psgd"}, 1)
    data["cluster"]["graph"] = graph
    with pytest.raises(ConfigError) as caught:
        validate_scenario(data)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topology": "server"}, "cluster.graph: must be omitted under topology 'server'"),
        ({"graph": None}, "cluster.graph: is required under topology 'graph'"),
        ({"network": {"link": None}}, "cluster.network.link: is required under topology graph"),
    ],
)
def test_graph_and_network_come_with_topology_graph(change, message):
    data = scenario("ring", 6, {"name": "ad_psgd"}, 1)
    for key, value in change.items():
        if isinstance(value, dict):
            data["cluster"][key].update(value)
            data["cluster"][key] = {k: v for k, v in data["cluster"][key].items() if v is not None}
        elif value is None:
            del data["cluster"][key]
        else:
            data["cluster"][key] = value
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        validate_scenario(data)


def test_methods_of_a_graph_run_only_on_one():
    data = scenario("ring", 6, {"name": "rennala_sgd"}, 1)
    with pytest.raises(ConfigError, match="needs a server or a collective, got 'graph'"):
        validate_scenario(data)
    data = scenario("ring", 6, {"name": "fragile_sgd", "pivot": 7}, 1)
    with pytest.raises(ConfigError, match=r"methods\[0\].pivot: must be in 1..6, got 7"):
        validate_scenario(data)


def test_same_seed_same_bytes_on_a_graph():
    data = scenario("torus", 8, {"name": "ad_psgd"}, [1, 0.5, 2, 3, 1.5, 1, 4, 2.5], budget=30)
    first = simulate(data).methods["ad_psgd"].rows
    assert first == simulate(data).methods["ad_psgd"].rows


def test_a_graph_scenario_survives_its_round_trip_to_a_sweep_worker():
    import pickle

    scenario_ = validate_scenario(scenario("torus", 9, {"name": "fragile_sgd"}, 1))
    again = pickle.loads(pickle.dumps(scenario_))
    assert again.model_dump(mode="json") == scenario_.model_dump(mode="json")
    assert again.cluster.graph.kind == "torus"
