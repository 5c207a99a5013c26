"""Same seed ⇒ identical iteration tables and traces, bit for bit (also across processes), and
common random numbers across the methods of a scenario (DESIGN.md, "Conventions")."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY, deep_merge

from asyncsim.config import validate_scenario
from asyncsim.results import write_run
from asyncsim.runner import build_cluster, seeds, simulate

RANDOM_CLUSTER = {
    "n": 6,
    "compute": {"kind": "lognormal", "h": "sqrt(i)", "sigma": 0.6},
    "uplink": {"kind": "exponential", "time": 0.2},
    "downlink": {"kind": "uniform", "time": 0.1, "spread": 0.5},
    "outages": [{"agent": 2, "start": 3.0, "end": 4.5}],
}
METHODS = [
    {"name": "rennala_nigt", "batch": 8, "initial_batch": 12},
    {"name": "malenia_nigt", "batch": 8, "initial_batch": 12},
    {"name": "synchronized_nigt"},
    {"name": "afedpg"},
    {"name": "rennala_pg", "lr": 0.05, "batch": 8},
    {"name": "asynchronous_pg", "lr": 0.05},
]


def random_scenario(seed: int = 7, **overrides: Any) -> dict[str, Any]:
    base = deep_merge(
        TINY,
        {
            "seed": seed,
            "oracle": {
                "kind": "nonconvex",
                "dim": 5,
                "noise": 1.0,
                "noise_distribution": "student_t",
            },
            "cluster": RANDOM_CLUSTER,
            "methods": METHODS,
            "budget": {"iterations": 15},
        },
    )
    return deep_merge(base, overrides)


def _fingerprint(result) -> str:
    """repr of every row and trace event (floats in shortest round-trip form), hashed."""
    text = repr([(key, m.rows, m.trace) for key, m in result.methods.items()])
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def twice() -> tuple[Any, Any]:
    return simulate(random_scenario()), simulate(random_scenario())


def test_same_seed_gives_identical_rows_and_traces(twice) -> None:
    first, second = twice
    assert list(first.methods) == [m["name"] for m in METHODS]
    for key in first.methods:
        a, b = first.methods[key], second.methods[key]
        assert a.rows == b.rows, key  # exact float equality, every column
        assert a.trace == b.trace, key
        assert len(a.rows) == 16
        drop = {"real_seconds"}
        assert {k: v for k, v in a.summary.items() if k not in drop} == {
            k: v for k, v in b.summary.items() if k not in drop
        }
    assert _fingerprint(first) == _fingerprint(second)
    # the random models and the outage are really exercised
    rennala = first.methods["rennala_nigt"]
    durations = {round(r["time_end"] - r["time_start"], 9) for r in rennala.rows[1:]}
    assert len(durations) > 5
    assert any(event == "lost" for _, _, event, _, _ in rennala.trace)


def test_same_seed_gives_byte_identical_csv_files(twice, tmp_path) -> None:
    first, second = twice
    write_run(first, tmp_path / "a")
    write_run(second, tmp_path / "b")
    for key in first.methods:
        for name in ("iterations.csv", "trace.csv"):
            a = (tmp_path / "a" / key / name).read_bytes()
            b = (tmp_path / "b" / key / name).read_bytes()
            assert a == b, (key, name)
            assert len(a) > 100


def test_same_seed_is_identical_in_a_fresh_process() -> None:
    """A new interpreter (another hash seed, fresh caches) reproduces the run bit for bit."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_determinism import random_scenario, _fingerprint\n"
        "from asyncsim.runner import simulate\n"
        "print(_fingerprint(simulate(random_scenario())))\n"
    )
    env = {"PYTHONHASHSEED": "12345", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == _fingerprint(simulate(random_scenario()))


def test_another_seed_gives_another_run(twice) -> None:
    other = simulate(random_scenario(seed=8))
    for key in other.methods:
        assert other.methods[key].trace != twice[0].methods[key].trace, key


# ------------------------------------------------------------------ common random numbers


def test_methods_share_the_problem_and_the_gradient_noise() -> None:
    """Two methods on the same protocol and batch take their first round at θ_0 from the same
    agents' same gradients: with a random problem (heterogeneous centres) and noise, their
    first aggregates are identical; another seed changes them."""

    def first_rows(seed: int) -> list[float]:
        run = simulate(
            random_scenario(
                seed=seed,
                oracle={"kind": "quadratic", "dim": 5, "noise": 1.0, "heterogeneity": 2.0},
                methods=[{"name": "rennala_nigt", "batch": 8}, {"name": "rennala_pg", "batch": 8}],
                budget={"iterations": 0},
            )
        )
        return [run.methods[key].rows[0]["estimate_norm"] for key in run.methods]

    nigt, pg = first_rows(7)
    assert nigt == pg
    assert first_rows(8)[0] != nigt


def test_the_jth_draw_of_agent_i_is_the_same_whatever_the_interleaving() -> None:
    scenario = validate_scenario(random_scenario())
    one = build_cluster(scenario, 5, seeds(scenario.seed)[0])
    two = build_cluster(scenario, 5, seeds(scenario.seed)[0])
    draws = 6
    # cluster one: agent by agent, compute only
    forward = {a: [one.compute_time(a, k, 1) for k in range(draws)] for a in range(6)}
    # cluster two: round-robin in reverse agent order, with uplink and downlink draws between
    backward: dict[int, list[float]] = {a: [] for a in range(6)}
    for k in range(draws):
        for a in reversed(range(6)):
            two.uplink_time(a, k)
            backward[a].append(two.compute_time(a, k, 1))
            two.broadcast_delay(a, k)
    assert forward == backward
    # agents and roles have distinct streams
    assert len({values[0] for values in forward.values()}) == 6
    fresh = build_cluster(scenario, 5, seeds(scenario.seed)[0])
    assert [fresh.uplink_time(0, k) for k in range(draws)] != forward[0]
    # per-trajectory scaling: τ = h · transitions with the same draw
    three = build_cluster(scenario, 5, seeds(scenario.seed)[0])
    assert three.compute_time(0, 0, 4) == pytest.approx(4 * forward[0][0], rel=1e-15)


def _computations(trace: list[tuple], agent: int) -> list[float | None]:
    """Duration of the agent's j-th computation in the run (None: discarded or lost)."""
    durations: list[float | None] = []
    start = None
    for time, who, event, _, _ in trace:
        if who != agent:
            continue
        if event == "compute_start":
            start = time
            durations.append(None)
        elif event == "compute_end":
            durations[-1] = time - start
    return durations


def test_methods_see_the_same_per_agent_compute_draws(twice) -> None:
    """Rennala, Malenia and AFedPG start different computations at different times, yet the j-th
    computation of agent i has the same (random) duration in all of them."""
    methods = twice[0].methods
    compared = 0
    for agent in range(1, 7):
        reference = _computations(methods["rennala_nigt"].trace, agent)
        for key in ("malenia_nigt", "afedpg", "synchronized_nigt"):
            other = _computations(methods[key].trace, agent)
            for a, b in zip(reference, other, strict=False):
                if a is not None and b is not None:
                    assert a == pytest.approx(b, rel=1e-9), (key, agent)
                    compared += 1
    assert compared > 50
    # first computations start at the (shared) first downlink draw of each agent
    for agent in range(1, 7):
        firsts = {
            key: next(t for t, a, e, _, _ in m.trace if a == agent and e == "compute_start")
            for key, m in methods.items()
        }
        assert len(set(firsts.values())) == 1, firsts
