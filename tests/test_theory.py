"""Tests of asyncsim.theory: hand-computed cases, brute-force cross-checks and the lemmas."""

from __future__ import annotations

import heapq
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsim import theory as th

# ---------------------------------------------------------------------------------------------
# Helpers and strategies
# ---------------------------------------------------------------------------------------------

REL = 1e-9

positive = st.floats(min_value=0.05, max_value=10.0, allow_nan=False, allow_infinity=False)
nonneg = st.floats(min_value=0.0, max_value=5.0, allow_nan=False, allow_infinity=False)


@st.composite
def cluster(draw, max_n: int = 6):
    """Compute times τ, offsets b ≤ κ, uplinks ≤ κ and κ."""
    n = draw(st.integers(1, max_n))
    tau = draw(st.lists(positive, min_size=n, max_size=n))
    kappa = draw(nonneg)
    fraction = st.floats(0.0, 1.0)
    offsets = [kappa * f for f in draw(st.lists(fraction, min_size=n, max_size=n))]
    uplink = [kappa * f for f in draw(st.lists(fraction, min_size=n, max_size=n))]
    return tau, offsets, uplink, kappa


def brute_force_rennala(tau, batch, offsets):
    """Sort all (b_i + k τ_i, i) for k ≤ M, accumulated by repeated addition; take the M-th."""
    events = []
    for i, (t, b) in enumerate(zip(tau, offsets, strict=True)):
        now = b
        for _ in range(batch):
            now = now + t
            events.append((now, i))
    events.sort()
    counts = [0] * len(tau)
    for _, i in events[:batch]:
        counts[i] += 1
    return events[batch - 1][0], tuple(counts)


def brute_force_malenia(tau, batch, offsets):
    """Process events in (time, agent) order and recompute Σ 1/B_i from scratch each time."""
    heap = [(b + t, i) for i, (t, b) in enumerate(zip(tau, offsets, strict=True))]
    heapq.heapify(heap)
    counts = [0] * len(tau)
    n = len(tau)
    while True:
        now, i = heapq.heappop(heap)
        counts[i] += 1
        if min(counts) >= 1 and n * n >= batch * sum(1.0 / c for c in counts) * (1 - 1e-12):
            return now, tuple(counts)
        heapq.heappush(heap, (now + tau[i], i))


# ---------------------------------------------------------------------------------------------
# Import hygiene
# ---------------------------------------------------------------------------------------------


def test_import_is_pure():
    code = (
        "import sys, asyncsim.theory; "
        "print(sorted(m for m in ('simpy', 'torch', 'gymnasium') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_shape_a_protocol_names_exists_with_the_shared_signature():
    from asyncsim.registry import METHODS

    named = {spec.shape for _, spec in METHODS.items() if spec.shape is not None}
    assert named <= set(th.COMPLEXITY_SHAPES), named - set(th.COMPLEXITY_SHAPES)
    for name in named | {"lower_bound"}:
        value = th.COMPLEXITY_SHAPES[name](
            [1.0, 2.0], 0.5, 0.1, L_g=2.0, L_h=1.0, sigma2=3.0, delta=4.0
        )
        assert math.isfinite(value) and value > 0, name


# ---------------------------------------------------------------------------------------------
# reduce_time and the Malenia stop rule
# ---------------------------------------------------------------------------------------------


def test_reduce_time_models():
    assert th.reduce_time([1.0, 3.0, 2.0]) == 3.0
    assert th.reduce_time([1.0, 3.0, 2.0], "allreduce") == 3.0
    assert th.reduce_time([1.0, 3.0, 2.0], "allreduce", "ring") == pytest.approx(4.0)
    assert th.reduce_time([5.0], "allreduce", "ring") == 0.0
    assert th.reduce_time([], "allreduce", "ring") == 0.0
    assert th.reduce_time([]) == 0.0


@pytest.mark.parametrize(("topology", "allreduce"), [("star", "max"), ("allreduce", "tree")])
def test_reduce_time_rejects_unknown_names(topology, allreduce):
    with pytest.raises(ValueError, match="unknown"):
        th.reduce_time([1.0], topology, allreduce)


def test_malenia_stop_reached():
    # n = 2, M = 4: stop iff Σ 1/B_i ≤ 1.
    assert th.malenia_stop_reached(2, 4, 1.0, 0)
    assert not th.malenia_stop_reached(2, 4, 1.0 + 1e-9, 0)
    assert th.malenia_stop_reached(2, 4, 1.0 + 1e-14, 0)  # within the relative tolerance
    assert not th.malenia_stop_reached(2, 4, 0.5, 1)  # an agent has B_i = 0


# ---------------------------------------------------------------------------------------------
# Exact collections: hand-computed cases
# ---------------------------------------------------------------------------------------------


def test_rennala_exact_basic():
    # Completions: 1 (a0), 2 (a0), 2 (a1), 3 (a0) ... The third is a1's at t = 2.
    got = th.rennala_collection_exact([1.0, 2.0], 3)
    assert got == th.Collection(2.0, (2, 1), 2.0)


def test_rennala_exact_ties_by_agent_index():
    # Both agents complete at t = 1; with M = 1 agent 0 is first, so only it participates.
    got = th.rennala_collection_exact([1.0, 1.0], 1, uplink=[0.5, 7.0])
    assert got == th.Collection(1.0, (1, 0), 1.5)
    swapped = th.rennala_collection_exact([1.0, 1.0], 1, uplink=[7.0, 0.5])
    assert swapped == th.Collection(1.0, (1, 0), 8.0)


def test_rennala_exact_offsets_shift():
    # b = (3, 0), τ = (1, 2): completions a1@2, a0@4, a1@4, a0@5, a0@6, a1@6 ...
    got = th.rennala_collection_exact([1.0, 2.0], 2, offsets=[3.0, 0.0])
    assert (got.stop_time, got.counts) == (4.0, (1, 1))
    got = th.rennala_collection_exact([1.0, 2.0], 3, offsets=[3.0, 0.0])
    assert (got.stop_time, got.counts) == (4.0, (1, 2))
    got = th.rennala_collection_exact([1.0, 2.0], 1, offsets=[0.5, 0.0])
    assert (got.stop_time, got.counts) == (1.5, (1, 0))


def test_rennala_exact_reduces_over_participants_on_a_server_and_all_agents_in_allreduce():
    # The slow agent 2 never finishes before the stop: on a server it sends nothing, so its
    # large uplink does not count; an AllReduce is a collective of all n, agent 2 included.
    got = th.rennala_collection_exact([1.0, 1.0, 100.0], 4, uplink=[0.5, 0.25, 50.0])
    assert got == th.Collection(2.0, (2, 2, 0), 2.5)
    ring = th.rennala_collection_exact(
        [1.0, 1.0, 100.0], 4, uplink=[0.5, 0.25, 50.0], topology="allreduce", allreduce="ring"
    )
    assert ring.round_time == pytest.approx(2.0 + 2 * (3 - 1) / 3 * 50.0)


def test_rennala_exact_accumulates_like_a_simulator():
    # 0.1 added ten times is not 10 * 0.1: the exact form must use repeated addition.
    got = th.rennala_collection_exact([0.1], 10)
    now = 0.0
    for _ in range(10):
        now = now + 0.1
    assert got.stop_time == now
    assert got.stop_time != 10 * 0.1


def test_malenia_exact_basic():
    # n = 2, M = 4, τ = (1, 3): stop once 1/B_0 + 1/B_1 ≤ 1. After a1@3, B = (3, 1): 4/3;
    # a0@4, a0@5, a0@6 give (6, 1): 7/6 > 1; then a1@6 gives (6, 2): 2/3 ≤ 1 → stop at 6.
    got = th.malenia_collection_exact([1.0, 3.0], 4, uplink=[2.0, 1.0])
    assert got == th.Collection(6.0, (6, 2), 8.0)


def test_malenia_exact_equality_case_stops():
    # Equal times, M = n: every agent once gives Σ 1/B_i = n = n²/M exactly.
    got = th.malenia_collection_exact([1.0, 1.0, 1.0], 3)
    assert got == th.Collection(1.0, (1, 1, 1), 1.0)


def test_malenia_exact_rejects_zero_time():
    with pytest.raises(ValueError, match="positive"):
        th.malenia_collection_exact([0.0, 1.0], 2)


def test_synchronized_round_time():
    tau, offsets, uplink = [1.0, 2.0, 4.0], [0.5, 0.0, 0.0], [3.0, 1.0, 0.5]
    assert th.synchronized_round_time(tau, offsets, uplink) == 4.5
    assert th.synchronized_round_time(tau, offsets, uplink, "allreduce") == 7.0
    ring = th.synchronized_round_time(tau, offsets, uplink, "allreduce", "ring")
    assert ring == pytest.approx(4.0 + 4.0 / 3.0 * 3.0)
    assert th.synchronized_round_time(tau) == 4.0


# ---------------------------------------------------------------------------------------------
# Exact collections: properties
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(cluster(), st.integers(1, 25))
def test_rennala_exact_matches_brute_force(data, batch):
    tau, offsets, _, _ = data
    got = th.rennala_collection_exact(tau, batch, offsets)
    assert (got.stop_time, got.counts) == brute_force_rennala(tau, batch, offsets)
    assert sum(got.counts) == batch


@settings(max_examples=200, deadline=None)
@given(cluster(), st.integers(1, 25))
def test_malenia_exact_matches_fresh_sum(data, batch):
    tau, offsets, _, _ = data
    got = th.malenia_collection_exact(tau, batch, offsets)
    assert (got.stop_time, got.counts) == brute_force_malenia(tau, batch, offsets)


@settings(max_examples=300, deadline=None)
@given(cluster(), st.integers(1, 40))
def test_rennala_exact_within_lemma_c1(data, batch):
    tau, offsets, uplink, kappa = data
    got = th.rennala_collection_exact(tau, batch, offsets, uplink)
    assert got.round_time <= th.rennala_collection_bound(tau, kappa, batch) * (1 + REL)


@settings(max_examples=300, deadline=None)
@given(cluster(), st.integers(1, 40))
def test_malenia_exact_within_lemma_c2(data, batch):
    tau, offsets, uplink, kappa = data
    got = th.malenia_collection_exact(tau, batch, offsets, uplink)
    assert got.round_time <= th.malenia_collection_bound(tau, kappa, batch) * (1 + REL)


@settings(max_examples=300, deadline=None)
@given(cluster(), st.data(), st.sampled_from(["max", "ring"]))
def test_rennala_no_slower_than_synchronized_allreduce(data, draw, model):
    # With M ≤ n the M-th completion is no later than the last first completion, and a reduce
    # over a subset of the agents is no longer than over all (allreduce topology).
    tau, _, uplink, _ = data
    batch = draw.draw(st.integers(1, len(tau)))
    got = th.rennala_collection_exact(
        tau, batch, uplink=uplink, topology="allreduce", allreduce=model
    )
    sync = th.synchronized_round_time(tau, uplink=uplink, topology="allreduce", allreduce=model)
    assert got.round_time <= sync


@settings(max_examples=200, deadline=None)
@given(cluster(), st.data())
def test_rennala_no_slower_than_synchronized_server_equal_uplinks(data, draw):
    tau, offsets, _, kappa = data
    batch = draw.draw(st.integers(1, len(tau)))
    uplink = [kappa] * len(tau)
    got = th.rennala_collection_exact(tau, batch, offsets, uplink)
    assert got.round_time <= th.synchronized_round_time(tau, offsets, uplink)


def test_rennala_can_be_slower_than_synchronized_server_with_unequal_uplinks():
    # Not a theorem for the star with heterogeneous κ_i: a participant that finished early
    # can still upload late. τ = (1, 1.5), κ = (10, 0), M = 2: Rennala 1.5 + 10, sync 11.
    tau, uplink = [1.0, 1.5], [10.0, 0.0]
    assert th.rennala_collection_exact(tau, 2, uplink=uplink).round_time == 11.5
    assert th.synchronized_round_time(tau, uplink=uplink) == 11.0


def test_rennala_exact_on_10000_agents_uses_m_gradients_within_the_bound():
    rng = np.random.default_rng(0)
    tau = rng.uniform(1.0, 100.0, size=10_000)
    got = th.rennala_collection_exact(tau, 100_000)
    assert sum(got.counts) == 100_000
    assert got.round_time <= th.rennala_collection_bound(tau, 0.0, 100_000)


# ---------------------------------------------------------------------------------------------
# Bounds
# ---------------------------------------------------------------------------------------------


def test_rennala_bound_hand_computed():
    # τ = (1, 2, 100), M = 4: m=1 → 5/1, m=2 → 6/1.5 = 4, m=3 → 7/1.51 ≈ 4.636.
    assert th.rennala_collection_bound([100.0, 2.0, 1.0], 0.5, 4) == pytest.approx(5.0)
    assert th.rennala_optimal_m([100.0, 2.0, 1.0], 4) == 2
    # Equal times: (M + m)/(m/τ) decreases in m, so all agents are used.
    assert th.rennala_optimal_m([3.0] * 5, 10) == 5
    assert th.rennala_collection_bound([3.0] * 5, 0.0, 10) == pytest.approx(3.0 * 15 / 5)
    # One agent much faster than the rest: m = 1.
    assert th.rennala_optimal_m([1.0, 1000.0, 1000.0], 2) == 1


def test_malenia_and_synchronized_bounds_hand_computed():
    # 2κ + τ_n + 2M/n² Σ τ = 1 + 3 + 2·4/4·4 = 12.
    assert th.malenia_collection_bound([1.0, 3.0], 0.5, 4) == pytest.approx(12.0)
    assert th.synchronized_collection_bound([1.0, 3.0], 0.5) == 4.0


def test_time_varying_bound_and_total_time():
    rounds = [[1.0, 2.0], [2.0, 2.0], [4.0, 4.0]]
    expected = (
        th.rennala_collection_bound(rounds[0], 1.0, 6)
        + th.rennala_collection_bound(rounds[1], 1.0, 2)
        + th.rennala_collection_bound(rounds[2], 1.0, 2)
    )
    got = th.rennala_time_varying_bound(rounds, 1.0, 2, initial_batch=6)
    assert got == pytest.approx(expected)
    # Round 2: (2 + 2)/(2/2) + 2 = 6; round 3: (2 + 2)/(2/4) + 2 = 10.
    assert th.rennala_time_varying_bound(rounds[1:], 1.0, 2) == pytest.approx(16.0)
    assert th.total_time(3.0, 2.0, 10) == 23.0


@settings(max_examples=200, deadline=None)
@given(st.lists(positive, min_size=1, max_size=8), st.integers(1, 50))
def test_optimal_m_is_the_argmin(tau, batch):
    ordered = sorted(tau)
    values = [(batch + m) / sum(1 / t for t in ordered[:m]) for m in range(1, len(tau) + 1)]
    m = th.rennala_optimal_m(tau, batch)
    assert values[m - 1] == pytest.approx(min(values))
    assert th.rennala_collection_bound(tau, 0.0, batch) == pytest.approx(min(values))


# ---------------------------------------------------------------------------------------------
# ε-complexity shapes
# ---------------------------------------------------------------------------------------------

shape_h = st.lists(positive, min_size=1, max_size=8)
shape_eps = st.floats(min_value=1e-3, max_value=1.0)


def test_complexities_hand_computed():
    # All constants 1, ε = 1: A = L_gΔ/ε² + √L_hΔ/ε^{3/2} = 2, σ² terms = 1 each.
    h, kappa = [1.0, 1.0], 0.5
    # Rennala: κA + min_m (m/Σ1/h)(A + 2/m) = 1 + min(1·4, 1·3) = 4.
    assert th.rennala_nigt_complexity(h, kappa, 1.0) == pytest.approx(4.0)
    # Malenia: (κ + h_n)A + mean(h)(1/2 + 1/2) = 3 + 1 = 4.
    assert th.malenia_nigt_complexity(h, kappa, 1.0) == pytest.approx(4.0)
    # Synchronized: (1 + 0.5)(2 + 1/2) = 3.75.
    assert th.synchronized_nigt_complexity(h, kappa, 1.0) == pytest.approx(3.75)
    # AFedPG: 1·(2^{4/3} + 1/2) + 0.5.
    assert th.afedpg_complexity(h, kappa, 1.0) == pytest.approx(2 ** (4 / 3) + 1.0)
    # Lower bound: min_m (m/Σ1/h)(1 + 1/m) = 1.5, plus κ = 0.5.
    assert th.lower_bound_complexity(h, kappa, 1.0) == pytest.approx(2.0)
    # Doubling every τ_i doubles the compute terms: 2·1.5 + 0.5.
    assert th.lower_bound_complexity([2.0, 2.0], kappa, 1.0) == pytest.approx(3.5)


def test_sgd_complexities_hand_computed():
    # L = σ² = Δ = 1, ε = 1 (so ε' = ε² = 1): LΔ/ε' = σ²LΔ/ε'² = 1.
    h = [1.0, 3.0]
    # Rennala SGD: min_m (m/Σ_{i≤m} 1/τ_i)(1 + 1/m) = min(2, 1.5·1.5) = 2.
    assert th.rennala_sgd_complexity(h, 0.0, 1.0) == pytest.approx(2.0)
    assert th.rennala_sgd_complexity([1.0, 1.0], 0.0, 1.0) == pytest.approx(1.5)
    # Malenia SGD: τ_n + mean(τ)/n = 3 + 1.
    assert th.malenia_sgd_complexity(h, 0.0, 1.0) == pytest.approx(4.0)
    # Minibatch SGD: τ_n (1 + 1/n) = 4.5.
    assert th.minibatch_sgd_complexity(h, 0.0, 1.0) == pytest.approx(4.5)
    # Asynchronous SGD: (n/Σ 1/τ_i)(1 + 1/n) = 1.5 · 1.5.
    assert th.asynchronous_sgd_complexity(h, 0.0, 1.0) == pytest.approx(2.25)
    # ε is the target of ||∇f||: the papers' ε' = ε² = 1/4 gives 4 and 16.
    assert th.minibatch_sgd_complexity([1.0], 0.0, 0.5) == pytest.approx(4.0 + 16.0)
    # Communication is not part of the fixed computation model.
    assert th.rennala_sgd_complexity(h, 5.0, 1.0) == th.rennala_sgd_complexity(h, 0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(shape_h, st.lists(positive, min_size=1, max_size=4), shape_eps)
def test_sgd_shapes_order_as_the_papers_state(h, extra, eps):
    """Rennala SGD ≤ Asynchronous SGD ≤ Minibatch SGD (the optimal form is a min over m that
    includes m = n), and Rennala SGD only improves when agents are added."""
    rennala = th.rennala_sgd_complexity(h, 0.0, eps)
    asynchronous = th.asynchronous_sgd_complexity(h, 0.0, eps)
    assert rennala <= asynchronous * (1 + REL)
    assert asynchronous <= th.minibatch_sgd_complexity(h, 0.0, eps) * (1 + REL)
    assert th.rennala_sgd_complexity(h + extra, 0.0, eps) <= rennala * (1 + REL)


def test_complexities_use_constants():
    base = th.rennala_nigt_complexity([1.0, 2.0], 0.0, 0.1)
    assert th.rennala_nigt_complexity([1.0, 2.0], 0.0, 0.1, sigma2=4.0) > base
    assert th.rennala_nigt_complexity([1.0, 2.0], 0.0, 0.1, L_g=4.0) > base
    lb = th.lower_bound_complexity([1.0], 1.0, 0.5, L_g=2.0, L_h=3.0, delta=5.0, sigma2=0.0)
    expected = 3**0.5 * 5 / 0.5**1.5 + 2 ** (3 / 7) * 3 ** (2 / 7) * 5 / 0.5 ** (12 / 7)
    assert lb == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(shape_h, st.lists(positive, min_size=1, max_size=4), nonneg, shape_eps)
def test_rennala_nigt_is_robust_to_added_agents(h, extra, kappa, eps):
    before = th.rennala_nigt_complexity(h, kappa, eps)
    assert th.rennala_nigt_complexity(h + extra, kappa, eps) <= before * (1 + REL)
    # Stragglers hurt the synchronized shape, which waits for the slowest agent.
    slow = [1e6 * x for x in extra]
    sync = th.synchronized_nigt_complexity(h, kappa, eps)
    assert th.synchronized_nigt_complexity(h + slow, kappa, eps) > sync


@settings(max_examples=200, deadline=None)
@given(shape_h, nonneg, shape_eps)
def test_synchronized_nigt_grows_with_the_slowest_agent(h, kappa, eps):
    base = th.synchronized_nigt_complexity(h, kappa, eps)
    slower = [*h[:-1], max(h) * 10]
    assert th.synchronized_nigt_complexity(slower, kappa, eps) > base


@settings(max_examples=200, deadline=None)
@given(shape_h, nonneg, shape_eps)
def test_rennala_vs_synchronized_nigt(h, kappa, eps):
    # Rennala (m = n term) ≤ Synchronized except for the σ²/(nε²) term that the synchronized
    # shape drops (dominated by σ²√L_hΔ/(nε^{7/2}) when ε ≤ 1): an exact consequence.
    rennala = th.rennala_nigt_complexity(h, kappa, eps)
    sync = th.synchronized_nigt_complexity(h, kappa, eps)
    assert rennala <= (sync + max(h) / (len(h) * eps**2)) * (1 + REL)
    assert rennala <= 2 * sync * (1 + REL)


def test_rennala_beats_synchronized_under_heterogeneity():
    h = [1.0] + [100.0] * 9
    assert th.rennala_nigt_complexity(h, 1.0, 0.1) < th.synchronized_nigt_complexity(h, 1.0, 0.1)
    assert th.rennala_nigt_complexity(h, 1.0, 0.1) < th.malenia_nigt_complexity(h, 1.0, 0.1)


@settings(max_examples=200, deadline=None)
@given(shape_h, nonneg, shape_eps)
def test_lower_bound_below_rennala(h, kappa, eps):
    # Compute terms: Rennala's has more summands; communication: x^{3/7}y^{4/7} ≤ x + y.
    lower = th.lower_bound_complexity(h, kappa, eps)
    assert lower <= th.rennala_nigt_complexity(h, kappa, eps) * (1 + REL)


@settings(max_examples=100, deadline=None)
@given(shape_h, nonneg, shape_eps, st.sampled_from(sorted(th.COMPLEXITY_SHAPES)))
def test_complexities_decrease_in_eps(h, kappa, eps, name):
    shape = th.COMPLEXITY_SHAPES[name]
    coarse, fine = shape(h, kappa, eps), shape(h, kappa, eps / 2)
    assert math.isfinite(coarse)
    assert fine > coarse
