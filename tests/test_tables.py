"""Results as data (DataFrames, results.csv, `asyncsim report`) and step-size tuning."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from asyncsim.cli import main
from asyncsim.errors import ConfigError
from asyncsim.runner import simulate
from asyncsim.tables import load_run_frame, load_sweep
from asyncsim.tune import parse_grid

BASE = {
    "name": "data",
    "oracle": {"kind": "nonconvex", "dim": 4, "noise": 1.0, "init_scale": 1.0},
    "cluster": {"n": 3, "compute": {"kind": "fixed", "h": "i**0.5"}, "uplink": {"time": 0.1}},
    "method_defaults": {"batch": 3},  # a tuning point holding asynchronous_sgd alone ignores it
    "methods": [
        {"name": "rennala_sgd", "lr": 0.1},
        {"name": "asynchronous_sgd", "lr": 0.05},
    ],
    "budget": {"iterations": 300, "target_grad_norm": 1.0},
}


def cli(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A 2 × 2 × 2 sweep: n, the heterogeneity, and two seeds."""
    root = tmp_path_factory.mktemp("sweep")
    path = root / "s.yaml"
    sweep = {"cluster.n": [2, 3], "cluster.compute.h": ["i**0", "i**1"], "seed": [0, 1]}
    path.write_text(yaml.safe_dump({**BASE, "sweep": sweep}, sort_keys=False))
    cli("sweep", path, "--out", root / "out", "--workers", "1", "-q")
    return root / "out"


def test_load_sweep_has_a_row_per_point_and_method(sweep_dir: Path) -> None:
    frame = load_sweep(sweep_dir)
    assert len(frame) == 8 * 2
    assert list(frame.columns[:4]) == ["cluster.n", "cluster.compute.h", "seed", "hash"]
    assert set(frame["method"]) == {"rennala_sgd", "asynchronous_sgd"}
    assert sorted(frame.groupby(["cluster.n", "cluster.compute.h", "seed"]).size()) == [2] * 8
    for column in (
        "total_time",
        "time_to_target",
        "gradients_used",
        "reached",
        "time_to_target_censored",
    ):
        assert column in frame
    # results.csv is the same table, written by the sweep
    written = pd.read_csv(sweep_dir / "results.csv")
    assert list(written.columns) == list(frame.columns)
    assert len(written) == len(frame)
    iterations = load_sweep(sweep_dir, "iterations")
    assert {"cluster.n", "seed", "method", "iteration", "time_end"} <= set(iterations.columns)
    assert len(iterations) == sum(frame["iterations"] + 1)


def test_report_prints_the_means_and_standard_errors(sweep_dir: Path) -> None:
    frame = load_sweep(sweep_dir)
    text = cli("report", sweep_dir)
    for (n, h, method), part in frame.groupby(["cluster.n", "cluster.compute.h", "method"]):
        times = part["time_to_target_censored"].to_numpy(float)
        mean = times.mean()
        error = times.std(ddof=1) / math.sqrt(len(times))
        group = text[text.index(f"cluster.n = {n}, cluster.compute.h = {h}") :]
        line = next(row for row in group.splitlines() if row.startswith(method))
        shown_mean, shown_error = map(float, re.search(r"([\d.]+) ± ([\d.]+)", line).groups())
        assert shown_mean == pytest.approx(mean, rel=5e-3, abs=0.5), line
        assert shown_error == pytest.approx(error, rel=5e-3, abs=0.5), line
    assert text.count("Closed forms: the measured order") == 4


def test_run_frames_from_memory_and_from_disk(tmp_path: Path) -> None:
    run = simulate(BASE)
    memory = run.to_pandas()
    assert list(memory["method"]) == ["rennala_sgd", "asynchronous_sgd"]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(BASE))
    cli("run", path, "--out", tmp_path / "run", "-q", "--no-plots")
    disk = load_run_frame(tmp_path / "run")
    columns = [c for c in memory.columns if c != "real_seconds"]
    pd.testing.assert_frame_equal(disk[columns], memory[columns], check_dtype=False)
    trace = run.to_pandas("trace")
    assert list(trace.columns) == ["method", "time", "agent", "event", "iteration", "version"]


# ---------------------------------------------------------------- tuning


@pytest.mark.parametrize(
    ("text", "values"),
    [("2**-k for k in 1..3", [0.5, 0.25, 0.125]), ("0.1, 0.01", [0.1, 0.01])],
)
def test_grids(text: str, values: list[float]) -> None:
    assert parse_grid(text) == values


@pytest.mark.parametrize("text", ["2**-k for k in 3..1", "-k for k in 1..2", "fast", "0, 1"])
def test_bad_grids_are_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^grid: "):  # the command line names --lr
        parse_grid(text)


def brute_force_picks(grid: list[float], seeds: list[int]) -> dict[str, float]:
    """For each method: the step with the fewest missed runs, then the smallest mean time to
    target over the seeds (a missed run counted at its total time), by direct simulation."""
    best = {}
    for method in BASE["methods"]:
        scores = []
        for lr in grid:
            times, missed = [], 0
            for seed in seeds:
                run = simulate({**BASE, "seed": seed, "methods": [{**method, "lr": lr}]})
                summary = next(iter(run.methods.values())).summary
                missed += summary["time_to_target"] is None
                times.append(summary["time_to_target"] or summary["total_time"])
            scores.append((missed, float(np.mean(times)), lr))
        best[method["name"]] = min(scores)[2]
    return best


def test_tune_picks_what_brute_force_picks(tmp_path: Path) -> None:
    grid, seeds = [0.4, 0.1, 0.025, 0.00625], [0, 1, 2]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "seeds": seeds}))
    out = cli(
        "tune",
        path,
        "--lr",
        ", ".join(map(str, grid)),
        "--out",
        tmp_path / "tune",
        "--write",
        tmp_path / "tuned.yaml",
        "--workers",
        "1",
        "-q",
    )
    expected = brute_force_picks(grid, seeds)
    picked = out.splitlines()[-2]
    for method, lr in expected.items():
        assert f"{method}: lr = {lr:g}" in picked
    table = pd.read_csv(tmp_path / "tune" / "tune.csv")
    assert len(table) == len(grid) * 2 and table["picked"].eq("*").sum() == 2
    tuned = yaml.safe_load((tmp_path / "tuned.yaml").read_text())
    assert {m["name"]: m["lr"] for m in tuned["methods"]} == expected
    assert tuned["sweep"] == {"seed": seeds}


def test_the_public_names_keep_their_meaning() -> None:
    """``asyncsim.load_run`` is the DataFrame reader, ``asyncsim.results.load_run`` the reader of
    a RunResult; the run's data classes are one class whatever the import path."""
    import asyncsim
    import asyncsim.results
    import asyncsim.run_data
    import asyncsim.runner

    assert asyncsim.load_run is load_run_frame
    assert asyncsim.results.load_run.__annotations__["return"] == "RunResult"
    assert asyncsim.RunResult is asyncsim.runner.RunResult is asyncsim.run_data.RunResult
    assert asyncsim.runner.MethodResult is asyncsim.run_data.MethodResult
