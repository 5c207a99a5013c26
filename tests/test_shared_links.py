"""Shared links (cluster.network, docs/algorithms.md §4 "Shared links"): max-min fair rates,
recomputed at every transfer start and end, exact event by event.

The flow model is checked against an independent solver written here in rational arithmetic
(``fractions.Fraction``): a fluid simulation that, between two events, gives every active flow
its max-min fair rate found by freezing, again and again, every flow of the links whose fair
share is smallest. It is checked on random flows and on the traffic of every method's runs.
"""

from __future__ import annotations

import heapq
import math
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simpy.events import NORMAL

from asyncsim.analysis.bounds import check_rounds, method_bounds
from asyncsim.core.errors import ConfigError
from asyncsim.engine import links as live_links
from asyncsim.run.runner import simulate
from asyncsim.scenario.schema import validate_scenario
from asyncsim.topology.links import FlowNetwork, transfer_times

REL = 1e-9

# ---------------------------------------------------------------- the independent solver


def fair_rates(paths: dict[int, tuple[int, ...]], capacity: dict[int, Fraction]) -> dict:
    """Max-min fair rates: freeze the flows of every link whose fair share is the smallest."""
    rates: dict[int, Fraction] = {}
    while len(rates) < len(paths):
        shares = {}
        for link, cap in capacity.items():
            open_flows = [f for f, p in paths.items() if link in p and f not in rates]
            if open_flows:
                used = sum((rates[f] for f, p in paths.items() if link in p and f in rates),
                           Fraction(0))  # fmt: skip
                shares[link] = (cap - used) / len(open_flows)
        least = min(shares.values())
        for link, share in shares.items():
            if share == least:
                for flow, path in paths.items():
                    if link in path and flow not in rates:
                        rates[flow] = least
    return rates


def reference_ends(
    capacity: list[Any], flows: list[tuple], cancels: dict[int, Any], changes: tuple = ()
) -> dict:
    """End instant of each flow (start, path, size), exactly; a flow in ``cancels`` leaves at
    that instant unfinished (no end); ``changes``: (instant, link, capacity) of traces."""
    capacity = {link: Fraction(c) for link, c in enumerate(capacity)}
    left = {}
    ends: dict[int, Fraction] = {}
    starts = sorted((Fraction(s), f) for f, (s, _, _) in enumerate(flows))
    stops = sorted((Fraction(t), f) for f, t in cancels.items())
    traced = sorted((Fraction(t), link, Fraction(c)) for t, link, c in changes)
    now = Fraction(0)
    while starts or stops or left:
        rates = fair_rates({f: flows[f][1] for f in left}, capacity) if left else {}
        finish = [now + left[f] / r for f, r in rates.items() if r > 0]
        due = [t for t, _ in starts[:1]] + [t for t, _ in stops[:1]] + [t for t, _, _ in traced[:1]]
        instant = min([*finish, *due])
        for flow in left:
            left[flow] -= rates[flow] * (instant - now)
        now = instant
        for flow in [f for f, remaining in left.items() if remaining == 0]:
            ends[flow] = now
            del left[flow]
        while stops and stops[0][0] == now:
            left.pop(stops.pop(0)[1], None)
        while traced and traced[0][0] == now:
            _, link, value = traced.pop(0)
            capacity[link] = value
        while starts and starts[0][0] == now:
            flow = starts.pop(0)[1]
            left[flow] = Fraction(flows[flow][2])
    return ends


def drive(
    network: FlowNetwork, flows: list[tuple], cancels: dict[int, Any], changes: tuple = ()
) -> dict:
    """Run the flows (start, path, size) through ``network`` event by event: their ends."""
    events = sorted(
        [(float(s), 2, f) for f, (s, _, _) in enumerate(flows)]
        + [(float(t), 0, f) for f, t in cancels.items()]
        + [(float(t), 1, (link, float(c))) for t, link, c in changes]
    )
    ids: dict[int, int] = {}
    ends: dict[int, float] = {}

    def settle(until: float) -> None:
        while network.next_end() <= until and len(network):
            instant = network.next_end()
            back = {v: k for k, v in ids.items()}
            ends.update({back[flow]: instant for flow in network.finished(instant)})

    for time, kind, flow in events:
        settle(time)
        if kind == 2:
            ids[flow] = network.add(flows[flow][1], float(flows[flow][2]), time)
        elif kind == 1:
            network.set_capacity(*flow, time)
        elif flow not in ends and flow in ids:
            network.remove(ids[flow], time)
    settle(math.inf)
    return ends


def assert_same_ends(ends: dict, reference: dict) -> None:
    assert set(ends) == set(reference)
    for flow, instant in reference.items():
        assert ends[flow] == pytest.approx(float(instant), rel=REL, abs=1e-9), flow


# ---------------------------------------------------------------- the flow model


def test_n_equal_uploads_through_one_ingress_end_at_n_s_over_c() -> None:
    for hubs in ((0,), ()):
        n, size, ingress = 7, 3.0, 5.0
        network = FlowNetwork([ingress] + [1e9] * n, hubs=hubs)
        flows = [(0, (1 + i, 0), size) for i in range(n)]
        ends = drive(network, flows, {})
        assert all(t == pytest.approx(n * size / ingress, rel=1e-12) for t in ends.values())


def test_the_issue_water_filling_case() -> None:
    """Uplinks 10, 20, 40, 1,000 into an ingress of 50, 40 bytes each: rates 10, 13.33, 13.33,
    13.33; the last three end at 3 s, the first alone at 4 s."""
    for hubs in ((0,), ()):
        network = FlowNetwork([50, 10, 20, 40, 1000], hubs=hubs)
        ids = [network.add((1 + i, 0), 40, 0.0) for i in range(4)]
        assert [network.rate(f) for f in ids] == pytest.approx([10, 40 / 3, 40 / 3, 40 / 3])
        flows = [(0, (1 + i, 0), 40) for i in range(4)]
        ends = drive(FlowNetwork([50, 10, 20, 40, 1000], hubs=hubs), flows, {})
        assert ends == {0: 4.0, 1: 3.0, 2: 3.0, 3: 3.0}


def test_staggered_arrivals_share_as_processor_sharing() -> None:
    """C = 10, S = 10: A alone from 0 to 0.5 (5 bytes), then both at 5: A ends at 1.5, B (5
    bytes by then) alone at 10: ends at 2.0."""
    for hubs in ((0,), ()):
        flows = [(0, (1, 0), 10), (0.5, (2, 0), 10)]
        assert drive(FlowNetwork([10, 1e9, 1e9], hubs=hubs), flows, {}) == {0: 1.5, 1: 2.0}


def test_water_level() -> None:
    assert transfer_times(40, [10, 20, 40, 1000], 50) == pytest.approx([4, 3, 3, 3])
    assert transfer_times(40, [10, 20], 50) == [4.0, 2.0]  # unsaturated


@st.composite
def random_flows(draw: Any, star: bool) -> tuple[list, list, dict]:
    links = draw(st.integers(1, 4))
    count = draw(st.integers(1, 8))
    if star:  # a hub (link 0) and a private link per flow
        capacity = [draw(st.integers(1, 60))] + [draw(st.integers(1, 60)) for _ in range(count)]
        paths = [(1 + f, 0) for f in range(count)]
    else:
        capacity = [draw(st.integers(1, 60)) for _ in range(links)]
        path = st.lists(st.integers(0, links - 1), min_size=1, max_size=links, unique=True)
        paths = [tuple(draw(path)) for _ in range(count)]
    flows = [
        (Fraction(draw(st.integers(0, 40)), 4), paths[f], draw(st.integers(1, 50)))
        for f in range(count)
    ]
    cancels = {
        f: flows[f][0] + Fraction(draw(st.integers(1, 40)), 8)
        for f in draw(st.lists(st.integers(0, count - 1), max_size=2, unique=True))
    }
    change = st.tuples(
        st.integers(0, 80).map(lambda t: Fraction(t, 4)),
        st.integers(0, len(capacity) - 1),
        st.integers(1, 60),
    )
    return capacity, flows, cancels, tuple(draw(st.lists(change, max_size=3)))


@settings(max_examples=150, deadline=None)
@given(random_flows(star=False))
def test_general_refill_matches_the_independent_solver(case: tuple) -> None:
    capacity, flows, cancels, changes = case
    reference = reference_ends(capacity, flows, cancels, changes)
    assert_same_ends(drive(FlowNetwork(capacity), flows, cancels, changes), reference)


@settings(max_examples=150, deadline=None)
@given(random_flows(star=True))
def test_hub_water_filling_matches_the_independent_solver(case: tuple) -> None:
    capacity, flows, cancels, changes = case
    reference = reference_ends(capacity, flows, cancels, changes)
    for hubs in ((0,), ()):
        ends = drive(FlowNetwork(capacity, hubs=hubs), flows, cancels, changes)
        assert_same_ends(ends, reference)


class _WaterFillingOnly(FlowNetwork):
    """A FlowNetwork without the hubs' shortcuts: every change goes through the water-filling."""

    def _held_alone(self, *_: Any) -> bool:
        return False

    def _leaves_quietly(self, *_: Any) -> bool:
        return False


@settings(max_examples=150, deadline=None)
@given(random_flows(star=True))
def test_the_hub_shortcuts_change_no_bit(case: tuple) -> None:
    """An upload held at once at an uncongested hub, and a held flow leaving one quietly, give
    every end time bit for bit as the water-filling does (inexact floats: thirds of seconds,
    sizes in tenths)."""
    capacity, flows, cancels, changes = case
    flows = [(start / 3, path, size / 10) for start, path, size in flows]
    cancels = {flow: instant / 3 for flow, instant in cancels.items()}
    changes = tuple((instant / 3, link, value) for instant, link, value in changes)
    fast = drive(FlowNetwork(capacity, hubs=(0,)), flows, cancels, changes)
    assert fast == drive(_WaterFillingOnly(capacity, hubs=(0,)), flows, cancels, changes)


def test_a_capacity_change_reshares() -> None:
    """Two flows of 10 through a hub of 10 (5 each); at t = 1 the hub drops to 2: each has 5
    left at 1 byte/s, ends at 6."""
    network = FlowNetwork([10, 1e9, 1e9], hubs=(0,))
    for i in range(2):
        network.add((1 + i, 0), 10, 0.0)
    network.set_capacity(0, 2, 1.0)
    assert network.next_end() == pytest.approx(6.0)
    assert network.finished(6.0) == [0, 1]


# ---------------------------------------------------------------- the engine over shared links


REPRODUCER = "scenarios/network/shared_links.yaml"


def test_the_reproducer_ends_its_rounds_at_7_14_21_28_35() -> None:
    rows = simulate(REPRODUCER).methods["minibatch_sgd"].rows
    assert [row["time_end"] for row in rows] == [7.0, 14.0, 21.0, 28.0, 35.0]


def _network(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "message_bytes": "4*d",
        "server": {"ingress": 50, "egress": 80},
        "uplink": "10 * i",
        "downlink": 1000,
        **overrides,
    }


def _scenario(method: str, n: int = 4, topology: str = "server", **cluster: Any) -> dict:
    return {
        "name": "links",
        "oracle": {"kind": "quadratic", "dim": 10, "noise": 0.0},
        "cluster": {
            "n": n,
            "compute": {"kind": "fixed", "h": 1.0},
            "topology": topology,
            "network": _network(n),
            **cluster,
        },
        "methods": [{"name": method, "lr": 0.1}],
        "budget": {"iterations": 6},
    }


@pytest.mark.parametrize(
    ("method", "topology", "compute"),
    [
        ("rennala_nigt", "server", "sqrt(i)"),
        ("malenia_nigt", "server", "sqrt(i)"),
        ("mindflayer_sgd", "server", "sqrt(i)"),
        ("synchronized_nigt", "server", 1.0),
        ("m_synchronous_sgd", "server", 1.0),
        ("rennala_nigt", "allreduce", "sqrt(i)"),
        ("synchronized_nigt", "allreduce", "sqrt(i)"),
    ],
)
@pytest.mark.parametrize("allreduce", ["ring", "max"])
def test_every_round_equals_its_closed_form_over_shared_links(
    method: str, topology: str, compute: Any, allreduce: str
) -> None:
    scenario = _scenario(method, 5, topology, allreduce=allreduce)
    scenario["cluster"]["compute"]["h"] = compute
    run = simulate(scenario)
    checks, skips = check_rounds(run, tolerance=1e-9)
    assert not skips
    assert (checks[0].mismatches, checks[0].count_mismatches) == (0, 0), checks[0]


def test_ring_allreduce_is_2_n_minus_1_steps_of_s_over_n() -> None:
    """n = 4, S = 40, uplinks 10 i, downlinks 1000: a step's slowest message is agent 1's 10
    bytes at 10 bytes/s (1 s); the collective takes 2(n-1) = 6 s after the stop (τ = 1)."""
    run = simulate(_scenario("synchronized_nigt", 4, "allreduce", allreduce="ring"))
    rows = run.methods["synchronized_nigt"].rows
    assert [row["time_end"] - row["time_start"] for row in rows] == [7.0] * len(rows)


def test_staggered_uploads_have_no_closed_form_and_bounds_say_so() -> None:
    scenario = validate_scenario(_scenario("synchronized_nigt", 4, compute={"h": "sqrt(i)"}))
    assert method_bounds(scenario, scenario.methods[0]).round_time is None


def test_bounds_give_the_shared_round_of_the_reproducer() -> None:
    from asyncsim.scenario.loading import load_scenario

    scenario = load_scenario(REPRODUCER)
    bounds = method_bounds(scenario, scenario.methods[0])
    assert (bounds.first_round, bounds.round_time, bounds.total) == (7.0, 7.0, 35.0)


class _Recording(FlowNetwork):
    """A FlowNetwork that logs its flows' starts, cancellations and ends."""

    logs: ClassVar[list[dict]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log = {"capacity": list(self.capacity), "flows": {}, "cancels": {}, "ends": {}}
        self._ending = False
        _Recording.logs.append(self.log)

    def add(self, path: Any, size: float, now: float) -> int:
        flow = super().add(path, size, now)
        self.log["flows"][flow] = (now, tuple(path), size)
        return flow

    def remove(self, flow: int, now: float) -> None:
        if not self._ending:
            self.log["cancels"][flow] = now
        super().remove(flow, now)

    def cohort(self, *args: Any) -> None:
        """Every transfer goes through the events recorded here (that the cohorts of a round
        give the same rows: tests/test_shared_round.py)."""
        return None

    def finished(self, now: float) -> list[int]:
        self._ending = True
        try:
            done = super().finished(now)
        finally:
            self._ending = False
        self.log["ends"].update(dict.fromkeys(done, now))
        return done


METHODS = [
    "rennala_nigt", "malenia_nigt", "synchronized_nigt", "afedpg", "rennala_pg",
    "asynchronous_pg", "delay_adaptive_asgd", "ringmaster_asgd", "mindflayer_sgd",
    "m_synchronous_sgd",
]  # fmt: skip
SERVER_ONLY = {"afedpg", "asynchronous_pg", "delay_adaptive_asgd", "ringmaster_asgd"}


@settings(max_examples=40, deadline=None)
@given(
    method=st.sampled_from(METHODS),
    n=st.integers(1, 5),
    h=st.lists(st.integers(1, 8), min_size=5, max_size=5),
    uplink=st.lists(st.integers(5, 80), min_size=5, max_size=5),
    downlink=st.lists(st.integers(5, 80), min_size=5, max_size=5),
    ingress=st.integers(5, 100),
    egress=st.integers(5, 100),
    latency=st.sampled_from([0, 0.25]),
    allreduce=st.booleans(),
    multicast=st.booleans(),
)
def test_every_methods_traffic_matches_the_independent_solver(
    method: str, n: int, h: list, uplink: list,
    downlink: list, ingress: int, egress: int, latency: float, allreduce: bool, multicast: bool,
) -> None:  # fmt: skip
    """Random fixed times and capacities, every method: each transfer's end in the run equals
    the independent solver's on the same starts (broadcasts, uploads, ring steps)."""
    topology = "allreduce" if allreduce and method not in SERVER_ONLY else "server"
    server = {"ingress": ingress, "egress": egress}
    network = _network(n, uplink=uplink[:n], downlink=downlink[:n], latency=latency,
                       server=server, multicast=multicast)  # fmt: skip
    scenario = _scenario(method, n, topology, network=network, allreduce="ring")
    scenario["cluster"]["compute"]["h"] = [x / 4 for x in h[:n]]
    scenario["budget"] = {"time": 40.0}
    if method == "ringmaster_asgd":  # its default max_delay needs σ² and ε
        scenario["methods"][0]["max_delay"] = 2
    _Recording.logs = []
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(live_links, "FlowNetwork", _Recording)
        simulate(scenario)
    (log,) = _Recording.logs
    flows = [log["flows"][f] for f in sorted(log["flows"])]
    cancels = {f: t for f, t in log["cancels"].items()}
    exact = [(Fraction(s), p, Fraction(z)) for s, p, z in flows]
    reference = reference_ends(log["capacity"], exact, {f: Fraction(t) for f, t in cancels.items()})
    unfinished_at_end = set(log["flows"]) - set(log["ends"]) - set(cancels)
    for flow, instant in reference.items():
        if flow in unfinished_at_end:  # the run's budget ended first
            assert float(instant) >= 40.0 - 1e-9
        else:
            assert log["ends"][flow] == pytest.approx(float(instant), rel=REL, abs=1e-9)
    assert set(log["ends"]) <= set(reference)


def _through_the_queue(self: Any, arrived: list, ids: list) -> None:
    """SimPy's own way: every arrival's event goes through its queue (``succeed()``)."""
    for transfer, eid in zip(arrived, ids, strict=True):
        transfer.done._ok, transfer.done._value = True, None
        heapq.heappush(self.env._queue, (self.env.now, NORMAL, eid, transfer.done))


@pytest.mark.parametrize("method", METHODS)
def test_arrivals_fired_at_once_keep_simpy_order(method: str) -> None:
    """LiveLinks fires a wake-up's arrivals without a trip through SimPy's queue: same rows and
    the same trace, row for row (ties at one instant included: integer times, latency), as when
    every arrival goes through the queue."""
    topology = "allreduce" if method not in SERVER_ONLY else "server"
    outputs = []
    for deliver in (None, _through_the_queue):
        runs = []
        for n, cluster in (
            (6, {"topology": "server", "network": _network(6, uplink=[10, 20, 20, 40, 10, 20])}),
            (5, {"topology": topology, "network": _network(5, latency=0.25, multicast=True)}),
        ):
            scenario = _scenario(method, n, **cluster)
            scenario["cluster"]["compute"]["h"] = [1, 2, 1, 2, 1, 3][:n]
            scenario["methods"][0].update({"max_delay": 2} if method == "ringmaster_asgd" else {})
            with pytest.MonkeyPatch.context() as patched:
                if deliver is not None:
                    patched.setattr(live_links.LiveLinks, "_deliver", deliver)
                result = simulate(scenario).methods[method]
            runs.append((result.rows, result.trace))
        outputs.append(runs)
    assert outputs[0] == outputs[1]


# ---------------------------------------------------------------- the block's validation


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uplink": {"kind": "fixed", "time": 1}}, "cluster.uplink: must be omitted under"),
        ({"downlink": {"kind": "fixed", "time": 1}}, "cluster.downlink: must be omitted under"),
        ({"network": _network(4, uplink=[1, 2, 3])}, "cluster.network.uplink: list has 3"),
        ({"network": _network(4, uplink=[1, 0, 3, 4])}, "cluster.network.uplink[1]: must be > 0"),
        ({"network": _network(4, downlink=-1)}, "cluster.network.downlink: must be finite"),
        ({"network": _network(4, message_bytes="d*")}, "cluster.network.message_bytes"),
        ({"network": _network(4, message_bytes=0)}, "cluster.network.message_bytes: must be > 0"),
        (
            {"network": _network(4, server={"ingress": 0, "egress": 1})},
            "cluster.network.server.ingress: must be > 0",
        ),
        ({"network": _network(4, latency=-1)}, "cluster.network.latency: must be >= 0"),
        (
            {"network": _network(4, traces=[{"link": "uplink", "path": "x.csv"}])},
            "cluster.network.traces[0].agent: must be in 1..4",
        ),
        ({"network": _network(4, speed=1)}, "cluster.network.speed: unknown key"),
    ],
)
def test_bad_network_fields_are_refused_in_one_line(change: dict, message: str) -> None:
    scenario = _scenario("rennala_nigt")
    scenario["cluster"].update(change)
    with pytest.raises(ConfigError) as error:
        validate_scenario(scenario)
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_a_bandwidth_trace_changes_a_link_over_time(tmp_path: Any) -> None:
    """The reproducer with the ingress halved to 25 bytes/s from t = 0: uploads (from 3 s) at
    rates 6.25 each (all four at the level): 40 / 6.25 = 6.4 s; the first round ends at 9.4."""
    trace = tmp_path / "ingress.csv"
    trace.write_text("time,capacity\n0,25\n")
    from asyncsim.scenario.loading import load_scenario

    data = load_scenario(REPRODUCER).model_dump(mode="json")
    data["cluster"]["network"]["traces"] = [{"link": "ingress", "path": str(trace)}]
    data["cluster"].pop("uplink")
    data["cluster"].pop("downlink")
    rows = simulate(data).methods["minibatch_sgd"].rows
    assert rows[0]["time_end"] == pytest.approx(2 + 1 + 40 / 6.25)
    assert np.diff([row["time_end"] for row in rows]).tolist() == pytest.approx([9.4] * 4)


# ---------------------------------------------------------------- the command line


def _invoke(*args: Any) -> Any:
    from click.testing import CliRunner

    from asyncsim.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_the_command_refuses_a_bad_network_field_in_one_line(tmp_path: Any) -> None:
    import yaml

    scenario = _scenario("rennala_nigt")
    scenario["cluster"]["network"]["uplink"] = [1, 2]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(scenario))
    result = _invoke("run", path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output == "error: cluster.network.uplink: list has 2 values but n = 4\n"
    assert not (tmp_path / "out").exists()


def test_emulate_refuses_shared_links_in_one_line(tmp_path: Any) -> None:
    result = _invoke("emulate", REPRODUCER, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.startswith("error: cluster.network: not emulated")
    assert result.output.count("\n") == 1


def test_bounds_print_the_shared_round_or_a_dash() -> None:
    result = _invoke("bounds", REPRODUCER)
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if line.startswith("minibatch_sgd"))
    assert row.split()[-4:] == ["7", "7", "35", "1.75"]


def test_results_of_a_network_run_read_back(tmp_path: Any) -> None:
    """The stored, resolved scenario keeps the default uplink and downlink (no time): read
    back, it validates again, and the report shows the run."""
    out = tmp_path / "run"
    assert _invoke("run", REPRODUCER, "--out", out, "-q").exit_code == 0
    result = _invoke("report", out)
    assert result.exit_code == 0, result.output
    assert "minibatch_sgd" in result.output


@pytest.mark.parametrize("method", ["rennala_nigt", "mindflayer_sgd"])
def test_rounds_through_a_narrow_ingress_equal_their_closed_form(method: str) -> None:
    """An ingress of 5 makes the reduce share it (every upload is slower than alone), and the
    times are positive and finite (the closed form's array path): the rounds still equal it."""
    scenario = _scenario(method, 5)
    scenario["cluster"]["compute"]["h"] = "sqrt(i)"
    scenario["cluster"]["network"]["server"]["ingress"] = 5
    checks, skips = check_rounds(simulate(scenario), tolerance=1e-9)
    assert not skips
    assert (checks[0].mismatches, checks[0].count_mismatches) == (0, 0), checks[0]


HUMANOID_SWEEP = "scenarios/sweeps/shared_ingress_humanoid.yaml"
PRIVATE_HUMANOID = "scenarios/paper/reduced/fig1c_humanoid_large_communication.yaml"


def _short_humanoid(path: str, seconds: float, **cluster: Any) -> dict[str, Any]:
    """The Humanoid file ``path`` as one run of ``seconds``, no evaluation, the sweep's four
    methods (the private-wire file has three); ``cluster`` overrides its fields."""
    from asyncsim.scenario.loading import load_scenario_data

    data = load_scenario_data(path)
    for key in ("sweep", "seeds", "evaluation"):
        data.pop(key, None)
    data["budget"] = {"time": seconds}
    data["oracle"]["workers"] = 1
    data["methods"] = load_scenario_data(HUMANOID_SWEEP)["methods"]
    data["cluster"].update(cluster)
    return data


def test_the_humanoid_sweeps_uncontended_point_is_the_private_wire_file() -> None:
    """Ingress 10^9: a vector alone over agent i's uplink S/(√i·d^{1/4}) takes the private
    file's κ_i, so every round ends when it ends there, to the bit (AFedPG's updates within a
    few ulps: S/(S/κ_i) is κ_i rounded twice)."""
    shared = simulate(_short_humanoid(HUMANOID_SWEEP, 100)).methods
    private = simulate(_short_humanoid(PRIVATE_HUMANOID, 100)).methods
    assert list(shared) == ["rennala_nigt", "malenia_nigt", "synchronized_nigt", "afedpg"]
    for method, run in shared.items():
        ends = [[row["time_end"] for row in r.rows] for r in (run, private[method])]
        assert ends[0], method
        if method == "afedpg":
            assert ends[0] == pytest.approx(ends[1], rel=1e-12, abs=0), method
        else:
            assert ends[0] == ends[1], method


def test_the_humanoid_sweeps_contended_rounds_equal_their_closed_form() -> None:
    """Ingress 8,000 bytes/s, below one uplink: the ten uploads of a round share it and the
    round takes 69.08 s instead of 48.56 s (Rennala NIGT) and 187.85 s instead of 85.49 s
    (Malenia NIGT), each the closed form over shared links."""
    scenario = _short_humanoid(HUMANOID_SWEEP, 200)
    scenario["cluster"]["network"]["server"]["ingress"] = 8000
    scenario["methods"] = scenario["methods"][:2]
    run = simulate(scenario)
    checks, skips = check_rounds(run, tolerance=1e-9)
    assert not skips and len(checks) == 2
    for check in checks:
        assert check.rounds >= 1 and (check.mismatches, check.count_mismatches) == (0, 0), check
    rounds = [run.methods[m].rows[0]["time_end"] for m in ("rennala_nigt", "malenia_nigt")]
    assert rounds == pytest.approx([69.0755, 187.854], abs=1e-4)
