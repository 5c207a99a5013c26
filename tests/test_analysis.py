"""Acceptance of the theory check (issue "Reproduce the paper", theory-check acceptance).

On reduced synthetic sweeps (``analysis.run_all --quick``: n ∈ {1, 4, 16, 64, 256} and
α ∈ {0, 0.5, 1, 1.5, 2}, one seed) the report must show

* zero mismatches between measured and closed-form round times, and
* the harmonic-like shape for Rennala NIGT (time to ε falls, then saturates, within the fit
  tolerance) and the max-like shape for Synchronized NIGT (time grows with n once slow agents
  join).

The checks can fail: a round time perturbed on disk by 1e-7 (relative) is reported as a
mismatch, and the Rennala measurements do not fit the max-like shape.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analysis import run_all
from analysis.theory_check import TheoryReport, theory_check, verdict_line
from asyncsim.bounds import check_rounds
from asyncsim.csvtables import read_table, table_text
from asyncsim.fitting import (
    AGREEMENT_TOLERANCE,
    axis_value,
    classify_trend,
    fit_constant,
    max_log_deviation,
    rank_correlation,
)
from asyncsim.results import is_complete, load_run
from asyncsim.runner import simulate
from asyncsim.sweep import read_index


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reduced synthetic sweeps, run once in this process."""
    root = tmp_path_factory.mktemp("results")
    directories, failed = run_all.run_sweeps(
        run_all.SYNTHETIC, root, quick=True, workers=1, quiet=True
    )
    assert failed == 0
    assert [d.name for d in directories] == list(run_all.SYNTHETIC)
    return root


@pytest.fixture(scope="module")
def report(results: Path) -> TheoryReport:
    sweeps = [results / "sweeps" / name for name in run_all.SYNTHETIC]
    return theory_check(sweeps, results / "theory_check" / "report.md")


def test_quick_grids_are_the_reduced_ones(results: Path) -> None:
    n_rows = read_index(results / "sweeps" / "n_agents_synthetic")
    assert sorted({row["cluster.n"] for row in n_rows}) == [1, 4, 16, 64, 256]
    alpha_rows = read_index(results / "sweeps" / "heterogeneity_synthetic")
    alphas = sorted(axis_value("cluster.compute.h", r["cluster.compute.h"]) for r in alpha_rows)
    assert alphas == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert {row["status"] for row in n_rows + alpha_rows} == {"done"}


# ---------------------------------------------------------------- acceptance


def test_zero_round_time_mismatches(report: TheoryReport) -> None:
    # 3 round methods at each of the 10 NIGT points, 3 (Rennala, Minibatch, m-Synchronous SGD)
    # at each of the 5 points of the SGD baselines
    assert len(report.round_checks) == 3 * 10 + 3 * 5
    assert report.rounds_checked > 500
    assert report.mismatches == 0
    assert report.count_mismatches == 0
    assert max(check.max_rel_error for check in report.round_checks) <= 1e-12
    assert {skip.reason for skip in report.skips} == {
        "asynchronous: no exact round",
        "ringmaster: no exact round",
    }
    assert "**0 mismatches** above 1e-09" in report.markdown


def test_rennala_is_harmonic_like_in_n(report: TheoryReport) -> None:
    fit = report.fit("rennala_nigt", "cluster.n")
    assert fit.x == [1, 4, 16, 64, 256]
    measured = np.array(fit.measured, dtype=float)
    # decreases, then saturates: n = 1 is >= 3x slower, n >= 16 are equal (M = 16 agents suffice)
    assert measured[0] > 3 * measured[-1]
    assert np.all(np.diff(measured) <= 1e-9 * measured[:-1])
    assert measured[2] == pytest.approx(measured[-1], rel=1e-9)
    assert fit.trend_measured == fit.trend_theory == "decreases, then saturates"
    # tolerance: a factor 1.5 (AGREEMENT_TOLERANCE says why); measured ≈ 0.11
    assert fit.max_log_dev <= AGREEMENT_TOLERANCE
    assert fit.rank_correlation > 0.8
    assert fit.verdict is True
    assert "Rennala NIGT: harmonic-like (decreases, then saturates with n) ✓" in report.markdown


def test_synchronized_is_max_like_in_n(report: TheoryReport) -> None:
    fit = report.fit("synchronized_nigt", "cluster.n")
    measured = dict(zip(fit.x, fit.measured, strict=True))
    # once the slow agents join, every round waits for τ_n = √n: time grows like √n
    assert measured[16] < measured[64] < measured[256]
    assert measured[256] / measured[64] == pytest.approx(2.0, rel=0.1)
    assert measured[256] > 2 * min(measured.values())
    assert fit.trend_measured.endswith("grows")
    assert fit.trend_ok
    assert "Synchronized NIGT: max-like (" in report.markdown


def test_heterogeneity_shapes(report: TheoryReport) -> None:
    rennala = report.fit("rennala_nigt", "cluster.compute.h")
    synchronized = report.fit("synchronized_nigt", "cluster.compute.h")
    assert rennala.verdict and synchronized.verdict
    # α = 0 → 2 with n = 32: Synchronized pays max h_i = 32² (≈ 1000x), Rennala ≈ 10x
    growth = {f.method: f.measured[-1] / f.measured[0] for f in (rennala, synchronized)}
    assert 5 < growth["rennala_nigt"] < 20
    assert 500 < growth["synchronized_nigt"] < 2000


def test_sgd_baselines_scale_as_their_shapes_in_n(report: TheoryReport) -> None:
    """Tyurin & Richtárik's figure from asyncsim's own runs: Rennala SGD and Ringmaster ASGD
    fall, then saturate (harmonic-like), Minibatch SGD grows (max-like) once slow agents join."""
    fits = {
        m: report.fit(m, "cluster.n", "async_sgd_baselines")
        for m in ("rennala_sgd", "ringmaster_asgd", "minibatch_sgd", "m_synchronous_sgd")
    }
    for method in ("rennala_sgd", "ringmaster_asgd"):
        fit = fits[method]
        assert fit.trend_measured == fit.trend_theory == "decreases, then saturates", method
        assert fit.trend_ok and fit.rank_correlation > 0.8, method
    minibatch = fits["minibatch_sgd"]
    assert minibatch.trend_measured.endswith("grows") and minibatch.trend_ok
    largest = {m: f.measured[-1] for m, f in fits.items()}
    assert largest["rennala_sgd"] < largest["minibatch_sgd"] / 5  # n = 256: saturated vs √n
    assert fits["ringmaster_asgd"].verdict is True
    assert fits["m_synchronous_sgd"].trend_measured == "flat"  # m = 1: the fastest agent only


def test_report_and_figures_are_written(results: Path, report: TheoryReport) -> None:
    text = (results / "theory_check" / "report.md").read_text()
    assert text == report.markdown
    assert len(report.figures) == 3
    for figure in report.figures:
        assert figure.is_file() and figure.with_suffix(".pdf").is_file()
        assert f"]({figure.name})" in text


# ---------------------------------------------------------------- the checks can fail


def _first_point(sweep: Path, n: int) -> Path:
    row = next(r for r in read_index(sweep) if r["cluster.n"] == n)
    return sweep / "points" / row["hash"]


def test_perturbed_round_time_is_a_mismatch(results: Path) -> None:
    run = load_run(_first_point(results / "sweeps" / "n_agents_synthetic", 16))
    assert sum(c.mismatches for c in check_rounds(run)[0]) == 0
    row = run.methods["malenia_nigt"].rows[3]
    row["time_end"] += 1e-7 * (row["time_end"] - row["time_start"])
    checks = {c.method: c for c in check_rounds(run)[0]}
    assert checks["malenia_nigt"].mismatches == 1
    assert checks["malenia_nigt"].worst_iteration == 3
    assert checks["malenia_nigt"].max_rel_error == pytest.approx(1e-7, rel=1e-3)
    assert checks["rennala_nigt"].mismatches == checks["synchronized_nigt"].mismatches == 0
    # far below the tolerance: not a mismatch
    row["time_end"] -= 1e-7 * (row["time_end"] - row["time_start"]) * (1 - 1e-5)
    assert check_rounds(run)[0][1].mismatches == 0
    run.methods["rennala_nigt"].rows[0]["gradients_used"] += 1
    assert check_rounds(run)[0][0].count_mismatches == 1


def test_perturbed_run_on_disk_fails_the_report(results: Path, tmp_path: Path) -> None:
    """End to end: one round of one stored point shifted by 1e-7 → one mismatch, exit 1."""
    sweep = tmp_path / "n_agents_synthetic"
    shutil.copytree(results / "sweeps" / "n_agents_synthetic", sweep)
    table = _first_point(sweep, 64) / "rennala_nigt" / "iterations.csv"
    rows = read_table(table)
    rows[5]["time_end"] *= 1 + 1e-7
    columns = list(rows[0])
    table.write_text(table_text(columns, [[r.get(c) for c in columns] for r in rows]))
    assert is_complete(table.parent.parent)

    report = theory_check([sweep], tmp_path / "report.md", figures=False)
    assert report.mismatches == 1
    assert "**1 mismatches**" in report.markdown
    from analysis.theory_check import main

    assert main([str(sweep), "--out", str(tmp_path / "cli.md"), "--no-figures"]) == 1


def test_wrong_shape_is_rejected(report: TheoryReport) -> None:
    """Rennala's measurements against the max-like shape: both the fit and the trend fail."""
    rennala = report.fit("rennala_nigt", "cluster.n")
    synchronized = report.fit("synchronized_nigt", "cluster.n")
    wrong = replace(
        rennala,
        shape=synchronized.shape,
        theory=synchronized.theory,
        constant=fit_constant(rennala.measured, synchronized.theory),
        max_log_dev=max_log_deviation(rennala.measured, synchronized.theory),
        trend_theory=classify_trend(synchronized.theory),
    )
    assert wrong.max_log_dev > AGREEMENT_TOLERANCE
    assert not wrong.fit_ok and not wrong.trend_ok
    assert wrong.verdict is False
    assert "✗" in verdict_line(wrong)


# ---------------------------------------------------------------- command lines and helpers


def test_theory_check_cli(results: Path, tmp_path: Path, capsys) -> None:
    from analysis.theory_check import main

    out = tmp_path / "report" / "report.md"
    sweeps = [str(results / "sweeps" / name) for name in run_all.SYNTHETIC]
    assert main([*sweeps, "--out", str(out), "--no-figures"]) == 0
    printed = capsys.readouterr().out
    assert "0 time mismatches, 0 count mismatches" in printed
    assert "[n_agents_synthetic] Rennala NIGT: harmonic-like" in printed
    assert out.is_file()


def test_run_all_resumes_the_finished_sweeps(results: Path, capsys) -> None:
    """The sweeps are done: run_all only re-analyses them (and says so by its exit status)."""
    status = run_all.main(
        ["--quick", "--results", str(results), "--quiet", "--no-figures", "--workers", "1"]
    )
    assert status == 0
    assert "0 time mismatches" in capsys.readouterr().out


def test_run_dir_is_accepted(results: Path) -> None:
    point = _first_point(results / "sweeps" / "n_agents_synthetic", 4)
    report = theory_check([point])
    assert report.mismatches == 0 and len(report.round_checks) == 3
    assert report.fits == []


def test_random_times_are_skipped_with_a_reason() -> None:
    run = simulate(
        {
            "name": "random",
            "oracle": {"kind": "nonconvex", "dim": 2},
            "cluster": {"n": 3, "compute": {"kind": "exponential", "h": 1.0}},
            "methods": [{"name": "rennala_nigt", "batch": 2}, {"name": "afedpg"}],
            "budget": {"iterations": 2},
        }
    )
    checks, skips = check_rounds(run)
    assert checks == []
    assert [(s.method, s.reason) for s in skips] == [
        ("rennala_nigt", "exponential compute times (not fixed)"),
        ("afedpg", "asynchronous: no exact round"),
    ]


def test_quick_sweep_thins_the_grid() -> None:
    data = {"sweep": {"cluster.n": [1, 2, 4, 8, 16, 512, 1024], "seed": [0, 1, 2]}}
    assert run_all.quick_sweep(data)["sweep"] == {"cluster.n": [1, 4, 16], "seed": [0]}
    assert data["sweep"]["seed"] == [0, 1, 2]  # the input is not modified


@pytest.mark.parametrize(
    ("values", "trend"),
    [
        ([8, 4, 2, 2, 2, 2], "decreases, then saturates"),
        ([1, 2, 4, 8, 16], "grows"),
        ([4, 2, 1, 2, 4, 8], "decreases, then grows"),
        ([1, 3, 9, 10, 10, 10], "grows, then saturates"),
        ([1, 1.1, 0.95, 1.05], "flat"),
        ([9, 3, 1], "decreases"),
        ([1, 2], "too few points"),
    ],
)
def test_classify_trend(values: list[float], trend: str) -> None:
    assert classify_trend(values) == trend


def test_trends_change_at_a_factor_one_and_a_half() -> None:
    assert classify_trend([1, 1, 1, 1.4]) == "flat"
    assert classify_trend([1, 1, 1, 1.6]) == "grows"
    assert classify_trend([1, 1, 1, 1 / 1.6]) == "decreases"


@pytest.mark.parametrize(
    ("axis", "value", "expected"),
    [
        ("cluster.compute.h", "i**0.25", 0.25),
        ("cluster.compute.h", "i ** (1.5)", 1.5),
        ("cluster.compute.h", "sqrt(i)", 0.5),
        ("cluster.compute.h", "i", 1.0),
        ("cluster.compute.h", 2.0, 0.0),
        ("cluster.compute.h", "log(i)", None),
        ("cluster.n", 64, 64.0),
        ("cluster.n", "x", None),
    ],
)
def test_axis_value(axis: str, value: object, expected: float | None) -> None:
    assert axis_value(axis, value) == expected


def test_rank_correlation() -> None:
    assert rank_correlation([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([3, 1, 1], [2, 1, 1]) == pytest.approx(1.0)  # ties averaged
    assert math.isnan(rank_correlation([1, 1, 1], [1, 2, 3]))


@pytest.mark.parametrize("module", ["analysis.run_all", "analysis.theory_check"])
def test_analysis_commands_run_from_any_directory(module: str, tmp_path: Path) -> None:
    """The analysis package is installed with asyncsim: its commands start outside the
    repository (they read the repository's scenarios/ through the package's own path)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert f"usage: python -m {module}" in result.stdout
    assert run_all.SWEEPS_DIR.is_dir()


def test_the_shared_link_figures_name_the_swept_link_and_multicast() -> None:
    """analysis.shared_links: the ingress sweep's table keeps its columns; the egress sweep's
    has one line per capacity and multicast, n ascending."""
    from analysis.shared_links import EGRESS, INGRESS, MULTICAST, table
    from asyncsim.analysis.report import ReportRow

    def row(link: str, capacity: float, n: int, mean: float, **more: object) -> ReportRow:
        group = (("cluster.n", n), (link, capacity), *more.items())
        return ReportRow(group, "rennala_nigt", 2, 0, mean, 0.0, None, 1.0, 1.0)

    ingress = [row(INGRESS, 160.0, 100, 7.5), row(INGRESS, 160.0, 10, 2.0)]
    assert table(ingress) == (
        "method,ingress,n,time_to_target,missed\n"
        "rennala_nigt,160,10,2,0\nrennala_nigt,160,100,7.5,0\n"
    )
    egress = [row(EGRESS, 10.0, 10, 3.0, **{MULTICAST: "true"}),
              row(EGRESS, 10.0, 10, 9.0, **{MULTICAST: "false"})]  # fmt: skip
    assert table(egress) == (
        "method,egress,multicast,n,time_to_target,missed\n"
        "rennala_nigt,10,true,10,3,0\nrennala_nigt,10,false,10,9,0\n"
    )


def test_a_shared_link_sweep_of_one_n_is_drawn_against_the_capacity() -> None:
    """analysis.shared_links, one n: a line per method over the capacities, evenly spaced from
    the uncontended one ("private") down, a missed point hollow."""
    from analysis.shared_links import INGRESS, figure_by_capacity
    from asyncsim.analysis.report import ReportRow

    def row(method: str, capacity: float, mean: float, missed: int) -> ReportRow:
        group = (("cluster.n", 10), (INGRESS, capacity))
        return ReportRow(group, method, 1, missed, mean, 0.0, None, 1.0, 1.0)

    rows = [row("afedpg", 1e9, 900.0, 0), row("afedpg", 2000.0, 7500.0, 1),
            row("afedpg", 16000.0, 1500.0, 0), row("rennala_nigt", 2000.0, 3000.0, 0),
            row("rennala_nigt", 1e9, 800.0, 0)]  # fmt: skip
    ax = figure_by_capacity(rows, "return 300").axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in ("afedpg", "rennala_nigt")]
    drawn = {line.get_label(): list(zip(*line.get_data(), strict=True)) for line in lines}
    assert drawn == {"afedpg": [(0, 900.0), (1, 1500.0), (2, 7500.0)],
                     "rennala_nigt": [(0, 800.0), (2, 3000.0)]}  # fmt: skip
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert labels == ["private", "16,000", "2,000"]
    hollow = [line.get_data() for line in ax.get_lines() if line.get_markerfacecolor() == "none"]
    assert [(list(x), list(y)) for x, y in hollow] == [([2], [7500.0])]
    assert ax.get_ylabel() == "time to return 300 (s)"


def test_the_shared_link_figure_names_the_sweeps_target(tmp_path: Path) -> None:
    """analysis.shared_links labels its time axis with the sweep's target: the Humanoid
    sweep's return, the synthetic sweeps' ε."""
    from analysis.shared_links import target_name

    root = Path(__file__).resolve().parents[1] / "scenarios" / "sweeps"
    for name, target in [("humanoid", "return 300"), ("synthetic", "ε")]:
        (tmp_path / name).mkdir()
        shutil.copy(root / f"shared_ingress_{name}.yaml", tmp_path / name / "sweep.yaml")
        assert target_name(tmp_path / name) == target


@pytest.mark.parametrize(
    "script", ["graph_families", "shared_links", "learning_curves", "heterogeneous_returns"]
)
def test_a_report_script_refuses_a_missing_directory_in_one_line(script, tmp_path):
    missing = tmp_path / "no-such-sweep"
    result = subprocess.run(
        [sys.executable, "-m", f"analysis.{script}", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert str(missing) in result.stderr
    assert not missing.exists()
