"""A run rests Python's cyclic garbage collector and leaves it as it found it, also when the run
fails (``Simulation.run``)."""

from __future__ import annotations

import gc

import pytest
from conftest import TINY

from asyncsim.engine.simulation import Simulation
from asyncsim.runner import simulate


def _collector() -> tuple[tuple[int, int, int], int]:
    return gc.get_threshold(), gc.get_freeze_count()


def test_a_run_rests_the_collector_and_restores_it(monkeypatch: pytest.MonkeyPatch) -> None:
    before, during = _collector(), []
    original = Simulation.record_update

    def record_update(sim: Simulation, iteration: int) -> None:
        during.append(_collector())
        original(sim, iteration)

    monkeypatch.setattr(Simulation, "record_update", record_update)
    simulate(TINY)
    assert during, "the run made no update"
    assert all(threshold[0] > before[0][0] and frozen > 0 for threshold, frozen in during)
    assert _collector() == before


def test_a_failing_run_restores_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _collector()

    def record_update(sim: Simulation, iteration: int) -> None:
        raise RuntimeError("update failed")

    monkeypatch.setattr(Simulation, "record_update", record_update)
    with pytest.raises(RuntimeError, match="update failed"):
        simulate(TINY)
    assert _collector() == before
