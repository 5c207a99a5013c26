"""Time models (docs/algorithms.md §4): expressions, distributions, iteration-varying and
trace-file times, outages, per-step timing and the bandwidth model, alone and through the
engine."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import TINY, compute_ends, deep_merge
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsim import theory
from asyncsim.config import validate_scenario
from asyncsim.errors import AsyncSimError, ConfigError
from asyncsim.runner import simulate
from asyncsim.timing import (
    ExponentialTimes,
    FixedTimeConfig,
    FixedTimes,
    GammaTimes,
    LogNormalTimes,
    TimeModel,
    TraceTimes,
    TruncatedNormalTimes,
    UniformTimes,
    VaryingTimes,
    bandwidth_times,
    per_agent_values,
    read_trace,
)


def _run(**overrides: Any) -> dict[str, Any]:
    return simulate(deep_merge(TINY, overrides)).methods


# ------------------------------------------------------------------ expressions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sqrt(i)", lambda i: math.sqrt(i)),
        ("i**0.5", lambda i: i**0.5),
        ("1 + 0.1*i", lambda i: 1 + 0.1 * i),
        ("log(i+1)", lambda i: math.log(i + 1)),
        ("2", lambda i: 2.0),
        ("max(1, 5 - i) / 2", lambda i: max(1, 5 - i) / 2),
    ],
)
def test_expressions_in_the_agent_index(text: str, expected) -> None:
    n = 7
    values = per_agent_values(text, n, "cluster.compute.h")
    assert values.shape == (n,)
    assert values.tolist() == pytest.approx([expected(i) for i in range(1, n + 1)], rel=1e-15)


def test_expressions_drive_the_engine() -> None:
    """Synchronized round with h = 1 + 0.1·i, H = 2, κ = 0: max_i τ_i = 2·(1 + 0.1·n)."""
    n = 5
    rows = _run(
        cluster={"n": n, "horizon": 2, "compute": {"h": "1 + 0.1*i"}, "uplink": {"time": 0.0}},
        methods=[{"name": "synchronized_nigt"}],
    )["synchronized_nigt"].rows
    for row in rows:
        assert row["time_end"] - row["time_start"] == pytest.approx(2 * (1 + 0.1 * n), rel=1e-12)


def test_fixed_expressions_may_not_use_k() -> None:
    with pytest.raises(ConfigError, match=r"cluster\.compute\.h: malformed expression"):
        per_agent_values("i + k", 3, "cluster.compute.h")


# ------------------------------------------------------------------ distributions


#: the random kinds: their model class and the name of their shape parameter (None: no shape)
RANDOM_KINDS = {
    "exponential": (ExponentialTimes, None),
    "lognormal": (LogNormalTimes, "sigma"),
    "uniform": (UniformTimes, "spread"),
    "truncated_normal": (TruncatedNormalTimes, "cv"),
    "gamma": (GammaTimes, "shape"),
}


def _model(distribution: str, scale: list[float], shape: float | None = None) -> TimeModel:
    block: dict[str, Any] = {"kind": distribution, "h": scale}
    cls, parameter = RANDOM_KINDS[distribution]
    if shape is not None and parameter is not None:
        block[parameter] = shape
    config = validate_scenario(deep_merge(TINY, {"cluster": {"n": len(scale), "compute": block}}))
    model = config.cluster.compute.build(len(scale), "cluster.compute", "compute")
    assert type(model) is cls
    return model


def _shape(model: TimeModel, distribution: str) -> float | None:
    parameter = RANDOM_KINDS[distribution][1]
    return None if parameter is None else getattr(model, parameter)


def _truncated_normal_mean_numeric(mu: float, sigma: float) -> float:
    """E[X | X ≥ 0] for X ~ N(μ, σ²), by the trapezoid rule (independent of the closed form)."""
    x = np.linspace(0.0, mu + 12 * sigma, 400_001)
    density = np.exp(-0.5 * ((x - mu) / sigma) ** 2)
    return float(np.trapezoid(x * density, x) / np.trapezoid(density, x))


ANALYTIC_MEANS = {
    "exponential": lambda s, p: s,
    "lognormal": lambda s, p: s,
    "uniform": lambda s, p: s,
    "gamma": lambda s, p: s,
    "truncated_normal": lambda s, p: _truncated_normal_mean_numeric(s, p * s),
}


@pytest.mark.parametrize(
    ("distribution", "shape"),
    [
        ("exponential", None),
        ("lognormal", 0.8),
        ("lognormal", None),
        ("uniform", 0.9),
        ("uniform", None),
        ("gamma", 0.5),
        ("gamma", None),
        ("truncated_normal", 1.5),
        ("truncated_normal", None),
    ],
)
def test_empirical_mean_matches_the_analytic_mean(distribution: str, shape: float | None) -> None:
    scale = [0.5, 2.0]
    model = _model(distribution, scale, shape)
    assert set(ANALYTIC_MEANS) == set(RANDOM_KINDS)
    rng = np.random.default_rng(20240501)
    for agent, s in enumerate(scale):
        draws = np.array([model.sample(agent, k, rng) for k in range(40_000)])
        assert np.isfinite(draws).all() and (draws >= 0).all()
        analytic = ANALYTIC_MEANS[distribution](s, _shape(model, distribution))
        assert model.mean(agent) == pytest.approx(analytic, rel=1e-6)
        standard_error = draws.std() / math.sqrt(draws.size)
        assert abs(draws.mean() - analytic) < 5 * standard_error, (distribution, agent)
        assert draws.std() > 0


def test_shape_parameters_reach_the_model() -> None:
    assert _model("lognormal", [1.0], 0.3).sigma == 0.3
    assert _model("gamma", [1.0]).shape == 2.0  # documented default
    assert _model("uniform", [1.0]).spread == 0.5
    draws = [
        _model("uniform", [2.0], 0.25).sample(0, 0, np.random.default_rng(s)) for s in range(200)
    ]
    assert min(draws) >= 1.5 and max(draws) <= 2.5


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    distribution=st.sampled_from(sorted(RANDOM_KINDS)),
    scale=st.floats(0.0, 50.0, allow_nan=False),
    shape=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_samples_are_finite_nonnegative_and_centred(distribution, scale, shape, seed) -> None:
    cls, parameter = RANDOM_KINDS[distribution]
    model = cls(np.array([scale]), **({parameter: shape} if parameter else {}))
    rng = np.random.default_rng(seed)
    draws = np.array([model.sample(0, k, rng) for k in range(3000)])
    assert np.isfinite(draws).all() and (draws >= 0).all()
    analytic = model.mean(0)
    assert math.isfinite(analytic) and analytic >= 0
    standard_error = draws.std() / math.sqrt(draws.size)
    # 6 standard errors plus a relative slack for the skewed (gamma with small shape) cases
    assert abs(draws.mean() - analytic) <= 6 * standard_error + 0.05 * analytic + 1e-12


def test_random_times_through_the_engine_are_the_drawn_ones() -> None:
    """With exponential compute times the per-agent trace durations are Exp(h_i) draws: their
    mean over a long run approaches h_i."""
    methods = _run(
        seed=3,
        cluster={"n": 2, "compute": {"kind": "exponential", "h": [0.5, 2.0]}},
        methods=[{"name": "afedpg"}],
        budget={"iterations": 3000},
    )
    trace = methods["afedpg"].trace
    for agent, h in ((1, 0.5), (2, 2.0)):
        starts = [t for t, a, e, _, _ in trace if a == agent and e == "compute_start"]
        ends = [t for t, a, e, _, _ in trace if a == agent and e == "compute_end"]
        durations = np.array(ends) - np.array(starts[: len(ends)])
        assert len(durations) > 200
        assert durations.mean() == pytest.approx(h, rel=5 / math.sqrt(len(durations)))


# ------------------------------------------------------------------ iteration-varying times


def test_varying_model_values() -> None:
    model = VaryingTimes("i * (1 + 0.5*k)", 3, "cluster.compute.h")
    assert [model.sample(a, 2, np.random.default_rng()) for a in range(3)] == [2.0, 4.0, 6.0]
    assert model.means(3).tolist() == [1.0, 2.0, 3.0]


def test_varying_times_change_every_round() -> None:
    """Round k uses τ_{i,k} = h_{i,k}·H with h_{i,k} = i·(1 + 0.5k)/2 (Theorem 4.3's model)."""
    n, horizon, batch = 4, 2, 6
    methods = _run(
        cluster={
            "n": n,
            "horizon": horizon,
            "compute": {"kind": "varying", "h": "i * (1 + 0.5*k) / 2"},
            "uplink": {"time": 0.25},
            "downlink": {"time": 0.0},
        },
        methods=[{"name": "rennala_nigt", "batch": batch}, {"name": "synchronized_nigt"}],
        budget={"iterations": 4},
    )
    i = np.arange(1, n + 1)
    rennala, synchronized = methods["rennala_nigt"].rows, methods["synchronized_nigt"].rows
    taus = [i * (1 + 0.5 * k) / 2 * horizon for k in range(5)]
    for k, tau in enumerate(taus):
        duration = rennala[k]["time_end"] - rennala[k]["time_start"]
        exact = theory.rennala_collection_exact(tau, batch, uplink=[0.25] * n).round_time
        assert duration == pytest.approx(exact, rel=1e-9), k
        assert synchronized[k]["time_end"] - synchronized[k]["time_start"] == pytest.approx(
            tau.max() + 0.25, rel=1e-9
        )
    total = rennala[-1]["time_end"]
    assert total <= theory.rennala_time_varying_bound(np.array(taus), 0.25, batch) * (1 + 1e-9)
    assert len({round(r["time_end"] - r["time_start"], 9) for r in rennala}) == 5


def test_a_varying_time_that_turns_negative_fails_naming_agent_and_iteration() -> None:
    scenario = deep_merge(
        TINY,
        {
            "cluster": {"n": 2, "compute": {"kind": "varying", "h": "3 - k"}},
            "methods": [{"name": "synchronized_nigt"}],
            "budget": {"iterations": 6},
        },
    )
    with pytest.raises(AsyncSimError, match=r"cluster\.compute\.h: .*agent 1 at iteration 4.*-1"):
        simulate(scenario)


# ------------------------------------------------------------------ trace-file times


def _write_trace(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "times.csv"
    path.write_text(text)
    return path


def test_trace_file_times(tmp_path: Path) -> None:
    """Agent i at iteration k takes the duration of its row with the largest k' ≤ k."""
    path = _write_trace(
        tmp_path, "agent,k,duration\n1,2,3.0\n2,0,2.0\n1,0,1.0\n2,1,0.5\n"
    )  # rows out of order on purpose
    model = read_trace(path, 2, "cluster.compute.path")
    assert isinstance(model, TraceTimes)
    rng = np.random.default_rng()
    assert [model.sample(0, k, rng) for k in range(5)] == [1.0, 1.0, 3.0, 3.0, 3.0]
    assert [model.sample(1, k, rng) for k in range(5)] == [2.0, 0.5, 0.5, 0.5, 0.5]
    assert model.mean(0) == 2.0
    rows = _run(
        cluster={
            "n": 2,
            "compute": {"kind": "trace", "path": str(path), "h": None},
            "uplink": {"time": 0.0},
        },
        methods=[{"name": "synchronized_nigt"}],
        budget={"iterations": 3},
    )["synchronized_nigt"].rows
    assert [r["time_end"] - r["time_start"] for r in rows] == [2.0, 1.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("agent,k,duration\n1,0,1.0\n", "no rows for agents [2]"),
        ("agent,k,duration\n1,0,1.0\n2,0,-1\n", "times.csv:3"),
        ("agent,k,duration\n1,0,1.0\n3,0,1.0\n", "agent must be in 1..2, got 3"),
        ("agent,k,time\n1,0,1.0\n2,0,1.0\n", "expected columns agent, k, duration"),
    ],
)
def test_bad_trace_files(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write_trace(tmp_path, text)
    scenario = deep_merge(
        TINY, {"cluster": {"n": 2, "compute": {"kind": "trace", "path": str(path), "h": None}}}
    )
    with pytest.raises(ConfigError) as info:
        validate_scenario(scenario)
    assert fragment in str(info.value) and str(info.value).startswith("cluster.compute.path")


def test_missing_trace_file(tmp_path: Path) -> None:
    scenario = deep_merge(
        TINY,
        {"cluster": {"compute": {"kind": "trace", "path": str(tmp_path / "nope.csv"), "h": None}}},
    )
    with pytest.raises(ConfigError, match="cannot read trace file"):
        validate_scenario(scenario)


# ------------------------------------------------------------------ outages


def test_outage_loses_the_running_computation() -> None:
    """n = 2, τ = (1, 3), M = 4, agent 1 down during [2.5, 4).

    Agent 1 finishes at 1 and 2; the computation it starts at 2 is lost at 2.5; it waits until 4
    and finishes at 5. Agent 2 finishes at 3. The 4th gradient arrives at 5 (agent 1), agent 2's
    second computation is discarded; the reduce takes max κ = 0.5: the round ends at 5.5.
    """
    result = _run(
        cluster={
            "n": 2,
            "compute": {"h": [1.0, 3.0]},
            "uplink": {"time": [0.5, 0.25]},
            "downlink": {"time": 0.0},
            "outages": [{"agent": 1, "start": 2.5, "end": 4.0}],
        },
        methods=[{"name": "rennala_nigt", "batch": 4}],
        budget={"iterations": 1},
    )["rennala_nigt"]
    row = result.rows[0]
    assert row["stop_time"] == 5.0
    assert row["time_end"] == 5.5
    assert row["gradients_lost"] == 1
    assert row["gradients_used"] == 4
    assert row["gradients_discarded"] == 1
    assert row["gradients_computed"] == 6
    assert compute_ends(result.trace, 0, 2) == [3, 1]
    agent1 = [(t, e) for t, a, e, it, _ in result.trace if a == 1 and it == 0]
    assert agent1 == [
        (0, "broadcast_received"), (0, "compute_start"), (1.0, "compute_end"),
        (1.0, "compute_start"), (2.0, "compute_end"), (2.0, "compute_start"), (2.5, "lost"),
        (2.5, "outage_wait"), (4.0, "compute_start"), (5.0, "compute_end"),
        (5.0, "upload_start"), (5.5, "upload_end"),
    ]  # fmt: skip
    # round 1 starts at 5.5 after the outage: the plain exact form applies again
    exact = theory.rennala_collection_exact([1.0, 3.0], 4, uplink=[0.5, 0.25])
    second = result.rows[1]
    assert second["time_end"] - second["time_start"] == pytest.approx(exact.round_time)


def test_outage_in_a_later_round_and_at_the_start() -> None:
    """Synchronized, τ = (1, 2), κ = 0. Agent 2 is down during [0, 0.5): it starts at 0.5 and
    round 0 ends at 2.5. Agent 1 is down during [5, 6): in round 2 (start 4.5) its computation
    (4.5 → 5.5) is lost at 5, restarts at 6 and ends at 7, so round 2 lasts 2.5."""
    result = _run(
        cluster={
            "n": 2,
            "compute": {"h": [1.0, 2.0]},
            "uplink": {"time": 0.0},
            "outages": [
                {"agent": 2, "start": 0.0, "end": 0.5},
                {"agent": 1, "start": 5.0, "end": 6.0},
            ],
        },
        methods=[{"name": "synchronized_nigt"}],
        budget={"iterations": 3},
    )["synchronized_nigt"]
    durations = [r["time_end"] - r["time_start"] for r in result.rows]
    assert durations == [2.5, 2.0, 2.5, 2.0]
    assert [r["gradients_lost"] for r in result.rows] == [0, 0, 1, 0]
    events = {(t, a, e) for t, a, e, _, _ in result.trace}
    assert {
        (0, 2, "outage_wait"),
        (0.5, 2, "compute_start"),
        (5.0, 1, "lost"),
        (6.0, 1, "compute_start"),
    } <= events


# ------------------------------------------------------------------ per-step timing


def test_per_step_timing_with_the_synthetic_oracle_equals_per_trajectory() -> None:
    """The synthetic oracle never terminates early, so every gradient simulates H transitions."""
    overrides = {
        "cluster": {
            "n": 3,
            "horizon": 5,
            "compute": {"kind": "lognormal", "h": [0.1, 0.2, 0.4]},
            "uplink": {"time": 0.05},
        },
        "methods": [{"name": "rennala_nigt", "batch": 5}, {"name": "afedpg"}],
        "budget": {"iterations": 10},
    }
    trajectory = _run(**deep_merge(overrides, {"cluster": {"timing": "per_trajectory"}}))
    step = _run(**deep_merge(overrides, {"cluster": {"timing": "per_step"}}))
    for key in trajectory:
        assert step[key].rows == trajectory[key].rows
        assert step[key].trace == trajectory[key].trace
    rows = trajectory["rennala_nigt"].rows
    assert all(r["transitions"] == 5 * r["gradients_used"] for r in rows)
    # τ = h·H: the round lasts at least 5 × the fastest agent's h-draw
    assert rows[0]["stop_time"] > 0.1


# ------------------------------------------------------------------ bandwidth model


def test_bandwidth_model_values() -> None:
    model = bandwidth_times(np.array([0.1, 0.0]), np.array([1e3, 4e2]), dim=10)
    assert isinstance(model, FixedTimes)
    assert model.values.tolist() == pytest.approx([0.1 + 40 / 1e3, 40 / 4e2])


def test_bandwidth_model_through_the_engine() -> None:
    """κ_i = latency_i + 4d/bandwidth_i; the downlink defaults to the uplink, so a synchronized
    round is max_i (κ_i + τ_i + κ_i)."""
    dim, latency, bandwidth, h = 25, [0.5, 0.1, 0.0], [100.0, 50.0, 400.0], [1.0, 1.2, 0.3]
    kappa = [lat + 4 * dim / bw for lat, bw in zip(latency, bandwidth, strict=True)]
    assert kappa == pytest.approx([1.5, 2.1, 0.25])
    methods = _run(
        oracle={"kind": "quadratic", "dim": dim},
        cluster={
            "n": 3,
            "compute": {"h": h},
            "uplink": {
                "kind": "bandwidth",
                "latency": latency,
                "bandwidth": bandwidth,
                "time": None,
            },
        },
        methods=[{"name": "synchronized_nigt"}, {"name": "rennala_nigt", "batch": 4}],
    )
    expected = max(2 * k + t for k, t in zip(kappa, h, strict=True))
    for row in methods["synchronized_nigt"].rows:
        assert row["time_end"] - row["time_start"] == pytest.approx(expected, rel=1e-12)
    exact = theory.rennala_collection_exact(h, 4, offsets=kappa, uplink=kappa).round_time
    for row in methods["rennala_nigt"].rows:
        assert row["time_end"] - row["time_start"] == pytest.approx(exact, rel=1e-9)


def test_bandwidth_must_be_positive() -> None:
    scenario = deep_merge(
        TINY,
        {
            "cluster": {
                "uplink": {"kind": "bandwidth", "bandwidth": [1.0, 0.0, 1.0, 1.0], "time": None}
            }
        },
    )
    with pytest.raises(ConfigError, match=r"cluster\.uplink\.bandwidth: must be > 0"):
        validate_scenario(scenario)


def test_communication_expressions_may_use_the_vector_dimension():
    """κ_i = √i · d^{1/4} (the paper's Fig. 1c) with d the number of parameters."""
    model = FixedTimeConfig(time="sqrt(i) * d**0.25").build(
        4, "cluster.uplink", "communication", 81
    )
    assert np.allclose(model.fixed_values(), np.sqrt([1, 2, 3, 4]) * 3.0)
    with pytest.raises(ConfigError, match=r"cluster.compute.h: .*'d' is not allowed"):
        FixedTimeConfig(h="d * i").build(4, "cluster.compute", "compute", 81)
