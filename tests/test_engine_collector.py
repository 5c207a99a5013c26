"""A run rests Python's cyclic garbage collector (``Simulation.run``): it leaves it as it found
it, also when the run fails, and back-to-back runs in one process do not keep each other's
garbage."""

from __future__ import annotations

import gc

import pytest
from conftest import TINY

from asyncsim.engine.simulation import Simulation
from asyncsim.errors import AsyncSimError
from asyncsim.runner import simulate

BUSY = {
    "name": "busy",
    "oracle": {"kind": "quadratic", "dim": 20},
    "cluster": {"n": 8, "compute": {"kind": "exponential", "h": 1.0}},
    "methods": [{"name": "rennala_nigt"}, {"name": "afedpg"}],
    "budget": {"iterations": 400},
}
"""A sweep point of the sweep benchmark: ~0.1 s, thousands of SimPy objects a run."""


def test_a_run_rests_the_collector_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    before, during = gc.get_threshold(), []
    original = Simulation.record_update

    def record_update(sim: Simulation, iteration: int) -> None:
        during.append(gc.get_threshold())
        original(sim, iteration)

    monkeypatch.setattr(Simulation, "record_update", record_update)
    simulate(TINY)
    assert during, "the run made no update"
    assert all(threshold[0] > before[0] for threshold in during)
    assert gc.get_threshold() == before


def test_a_failing_run_restores_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()

    def record_update(sim: Simulation, iteration: int) -> None:
        raise RuntimeError("update failed")

    monkeypatch.setattr(Simulation, "record_update", record_update)
    with pytest.raises(AsyncSimError, match="RuntimeError: update failed"):
        simulate(TINY)  # the run's failure, named with its method
    assert gc.get_threshold() == before


def test_back_to_back_runs_free_their_garbage() -> None:
    """Objects the collector tracks stay level over 30 runs (freezing the objects alive at a
    run's start kept every earlier run's garbage: +500 objects a run here)."""
    for seed in range(5):
        simulate({**BUSY, "seed": seed})
    start = len(gc.get_objects())
    for seed in range(5, 35):
        simulate({**BUSY, "seed": seed})
    assert len(gc.get_objects()) - start < 5_000
