"""Transfers whose ends are found at once (asyncsim.topology.links: cohort_ends, held_ends,
FlowNetwork.cohort) equal, to the bit and in their order of delivery, what FlowNetwork finds
event by event: flows of one size joining an idle hub together (a round's copies, a reduce's
uploads), and uploads joining at their own instants while each is held at its cap."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsim.topology.links import FlowNetwork, cohort_ends, delivery_order, held_ends

HUB = 0
caps_st = st.lists(
    st.one_of(st.integers(1, 60).map(float), st.floats(0.5, 60.0)), min_size=1, max_size=12
)


def _events(network: FlowNetwork, flows: dict[int, int]) -> list[tuple[float, int]]:
    """Run the network until its flows have ended: (end, flow position) in delivery order."""
    delivered = []
    while (end := network.next_end()) < math.inf:
        delivered += [(end, flows[flow]) for flow in network.finished(end)]
    return delivered


@settings(max_examples=200, deadline=None)
@given(caps=caps_st, capacity=st.floats(1.0, 400.0), size=st.floats(1.0, 100.0),
       start=st.floats(0.0, 50.0))  # fmt: skip
def test_a_cohort_ends_as_the_network_ends_it(caps, capacity, size, start) -> None:
    network = FlowNetwork([capacity, *caps], hubs=[HUB])
    flows = {network.add((1 + i, HUB), size, start): i for i in range(len(caps))}
    expected = _events(network, flows)
    found = cohort_ends(size, np.array(caps), capacity, start)
    if found is None:  # rounding moves a flow after the water level: left to the events
        return
    ends, at_level = found
    links = np.where(at_level, HUB, np.arange(1, len(caps) + 1))
    order = delivery_order(ends, links).tolist()
    assert [(float(ends[i]), i) for i in order] == expected


@settings(max_examples=200, deadline=None)
@given(caps=caps_st, capacity=st.floats(1.0, 400.0), size=st.floats(1.0, 100.0),
       starts=st.lists(st.integers(0, 8), min_size=12, max_size=12))  # fmt: skip
def test_held_uploads_end_as_the_network_ends_them(caps, capacity, size, starts) -> None:
    """Uploads joining at their own instants (ties included): where each stays held at its
    cap, its end is start + S/c, as the network finds it."""
    start = np.array(starts[: len(caps)], dtype=float) / 2
    network = FlowNetwork([capacity, *caps], hubs=[HUB])
    delivered, flows = [], {}
    for i in np.lexsort((np.arange(len(caps)), start)).tolist():
        instant = float(start[i])
        while (end := network.next_end()) <= instant:  # ends of an instant before its starts
            delivered += [(end, flows[flow]) for flow in network.finished(end)]
        flows[network.add((1 + i, HUB), size, instant)] = i
    delivered += _events(network, flows)
    ends = held_ends(size, np.array(caps), start, capacity)
    held = all(end == start[i] + size / caps[i] for end, i in delivered)
    if ends is None:
        return
    assert held, "held_ends found the uploads held where the network moved one to the level"
    assert sorted((float(ends[i]), i) for i in range(len(caps))) == sorted(delivered)


def test_a_congested_cohort_ends_at_the_level_first_then_at_its_caps() -> None:
    """Four copies through a hub of 40 with caps 5, 10, 20, 40: the level is 12.5; caps 20 and
    40 ride it and end at S/12.5, the others at S/c."""
    ends, at_level = cohort_ends(100.0, np.array([5.0, 10.0, 20.0, 40.0]), 40.0, 0.0)
    assert at_level.tolist() == [False, False, True, True]
    assert ends.tolist() == [20.0, 10.0, 8.0, 8.0]


def test_uploads_beyond_the_hub_are_not_held() -> None:
    assert held_ends(10.0, np.array([6.0, 6.0]), np.array([0.0, 1.0]), 10.0) is None
    assert held_ends(10.0, np.array([6.0, 6.0]), np.array([0.0, 2.0]), 10.0).tolist() == [
        10 / 6,
        2 + 10 / 6,
    ]
