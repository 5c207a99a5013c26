"""Every scenario file shipped in scenarios/ loads, validates and expands (no simulation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncsim.scenario import load_scenario_data
from asyncsim.sweep import expand_sweep

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").rglob("*.yaml"))


def test_the_scenario_files_are_found() -> None:
    names = {path.name for path in SCENARIOS}
    assert {"quickstart.yaml", "fig1a_humanoid_equal_times.yaml"} <= names
    assert len(SCENARIOS) >= 1 + 12 + 12 + 4


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: str(path.relative_to(path.parents[1])))
def test_scenario_file_is_valid(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCSIM_TRUST_PLUGINS", "1")  # the shipped files' plug-ins are ours
    points = expand_sweep(load_scenario_data(path))
    assert points and all(point.scenario.methods for point in points)


def test_reduced_paper_files_mirror_their_full_variant() -> None:
    """Same oracle, cluster and methods; only budget, evaluation, name, seeds and the step sizes
    (α and its decay) differ (the paper tunes α for each plot, and a budget is part of the
    plot)."""
    paper = [path for path in SCENARIOS if path.parent.name == "paper"]
    assert len(paper) == 12
    for full in paper:
        reduced = full.parent / "reduced" / full.name
        a, b = load_scenario_data(full), load_scenario_data(reduced)
        for field in ("oracle", "cluster", "method_defaults"):
            assert a[field] == b[field], (full.name, field)
        without_steps = [[_without_lr(method) for method in d["methods"]] for d in (a, b)]
        assert without_steps[0] == without_steps[1], full.name


def _without_lr(method: dict | str) -> dict | str:
    if not isinstance(method, dict):
        return method
    return {k: v for k, v in method.items() if k not in ("lr", "lr_decay")}
