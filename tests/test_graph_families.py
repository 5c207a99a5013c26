"""The graph-families sweep's figure data and verdicts (analysis/graph_families.py, README
"Decentralized agents on a graph"): the numbers it writes are recomputed here from the runs'
iteration tables and the shapes' definitions."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis import graph_families
from asyncsim import graph_theory
from asyncsim.run.sweep import run_sweep
from asyncsim.store.runs import load_run
from asyncsim.store.sweep_index import read_index

SWEEP = Path("scenarios/sweeps/graph_families_synthetic.yaml")


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = yaml.safe_load(SWEEP.read_text())
    data["methods"] = [data["methods"][0]]  # Fragile SGD
    data["sweep"] = {"cluster.n": [4, 9, 16], "cluster.graph.kind": ["ring", "complete"]}
    del data["seeds"]  # the base seed, 0
    folder = tmp_path_factory.mktemp("graph_families")
    out = folder / "out"
    run_sweep(data, out, workers=1)
    return out


def test_the_figure_data_are_the_runs_times_and_the_fitted_shapes(swept, tmp_path, monkeypatch):
    out = tmp_path / "families.png"
    monkeypatch.setattr("sys.argv", ["graph_families", str(swept), "--out", str(out)])
    graph_families.main()
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert len(rows) == 6
    by_point = {}
    for entry in read_index(swept):
        run = load_run(swept / "points" / entry["hash"])
        table = run.methods["fragile_sgd"].rows
        reached = next(r["time_end"] for r in table if r["grad_norm"] <= 0.5)
        eps2 = 0.25
        constants = {"L_g": 5.0, "sigma2": 16.0}
        x0 = np.full(10, 0.5)
        delta = float(np.sum(0.5 * x0**2 + 2.0 * np.sin(x0) ** 2))
        links = run.scenario.cluster.links(10)
        trips = links.path_times + links.path_times.T
        n = run.scenario.cluster.n
        best = min(
            _equilibrium(constants["sigma2"] / eps2, np.ones(n), trips[:, j]) for j in range(n)
        )
        shape = constants["L_g"] * delta / eps2 * best
        by_point[(entry["cluster.graph.kind"], float(entry["cluster.n"]))] = (reached, shape)
    for row in rows:
        kind, n = row["graph"], float(row["n"])
        reached, shape = by_point[(kind, n)]
        ratios = [math.log(m / s) for (k, _), (m, s) in by_point.items() if k == kind]
        constant = math.exp(sum(ratios) / len(ratios))  # least squares in log space, per family
        assert float(row["time_to_target"]) == pytest.approx(reached, rel=1e-5)
        assert float(row["fitted_shape"]) == pytest.approx(constant * shape, rel=1e-5)
    verdicts = out.with_suffix(".md").read_text().splitlines()
    assert len(verdicts) == 2 and all("Fragile SGD" in line for line in verdicts)


def _equilibrium(s: float, h: np.ndarray, trip: np.ndarray) -> float:
    """Definition 2 by brute force over every subset size k of the agents sorted by max(τ̄, h)."""
    key = np.maximum(trip, h)
    order = sorted(range(h.size), key=lambda i: key[i])
    return min(
        max(key[order[k - 1]], s / sum(1 / h[i] for i in order[:k])) for k in range(1, h.size + 1)
    )


def test_the_equilibrium_time_is_definition_2():
    rng = np.random.default_rng(3)
    for _ in range(20):
        h, trip = rng.uniform(0.1, 3, 7), rng.uniform(0, 5, 7)
        assert graph_theory.equilibrium_time(9.0, h, trip) == pytest.approx(
            _equilibrium(9.0, h, trip)
        )
