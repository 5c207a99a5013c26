"""One convention for the ε-complexity shapes: every shape is evaluated at τ_i = h_i·H (the
seconds one gradient takes in the scenario, whatever γ), in ``asyncsim bounds``, the figures'
CSVs, the theory check and ``bounds.shape_value`` alike (docs/algorithms.md §5).

The shapes are recomputed here from their formulas, without asyncsim.theory; the runs of the
agreement tests are made up (their times are data, only the closed forms are compared), so no
policy-gradient run is needed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from analysis.theory_check import theory_check
from asyncsim import bounds
from asyncsim.cli import main
from asyncsim.config import validate_scenario
from asyncsim.results import write_run
from asyncsim.runner import MethodResult, RunResult

H_SQRT = [1.0, 1.5, 2.0, 3.0]  # h_i (seconds per transition) of the n = 4 scenarios


def independent_shape(
    name: str,
    tau: list[float],
    kappa: float,
    eps: float,
    L_g: float = 1.0,
    L_h: float = 1.0,
    sigma2: float = 1.0,
    delta: float = 1.0,
    m: int | None = None,
) -> float:
    """docs/algorithms.md §5 and §7, term by term (τ sorted ascending, ε' = ε² for SGD)."""
    t = sorted(tau)
    n = len(t)

    def harmonic(k: int) -> float:  # (1/k Σ_{i≤k} 1/τ_i)^{-1}
        return k / sum(1.0 / t[i] for i in range(k))

    iterations = L_g * delta / eps**2 + math.sqrt(L_h) * delta / eps**1.5
    curvature = sigma2 * math.sqrt(L_h) * delta / eps**3.5
    deterministic, noise = L_g * delta / eps**2, sigma2 * L_g * delta / eps**4
    if name == "rennala_nigt":
        return kappa * iterations + min(
            harmonic(k) * (iterations + sigma2 / (k * eps**2) + curvature / k)
            for k in range(1, n + 1)
        )
    if name == "malenia_nigt":
        mean = sum(t) / n
        return (kappa + t[-1]) * iterations + mean * (sigma2 / (n * eps**2) + curvature / n)
    if name == "synchronized_nigt":
        return (t[-1] + kappa) * (iterations + curvature / n)
    if name == "afedpg":
        return harmonic(n) * (n ** (4 / 3) / eps ** (7 / 3) + 1 / (n * eps**3.5)) + kappa / eps**3
    if name == "lower_bound":
        compute = min(
            harmonic(k) * (math.sqrt(L_h) * delta / eps**1.5 + curvature / k)
            for k in range(1, n + 1)
        )
        return compute + kappa * L_g ** (3 / 7) * L_h ** (2 / 7) * delta / eps ** (12 / 7)
    if name == "rennala_sgd":
        return min(harmonic(k) * (deterministic + noise / k) for k in range(1, n + 1))
    if name == "malenia_sgd":
        return t[-1] * deterministic + sum(t) / n * noise / n
    if name == "minibatch_sgd":
        return t[-1] * (deterministic + noise / n)
    if name == "asynchronous_sgd":
        return harmonic(n) * (deterministic + noise / n)
    if name == "m_synchronous_sgd":
        m = n if m is None else m
        return t[m - 1] * (deterministic + noise / m)
    raise AssertionError(name)


def synthetic(horizon: int, **changes: Any) -> dict[str, Any]:
    """n = 4 agents, h_i fixed, κ_i = 0.25, every shape family among the methods."""
    data = {
        "schema_version": 1,
        "name": f"shapes-h{horizon}",
        "seed": 0,
        "oracle": {"kind": "nonconvex", "dim": 4, "noise": 2.0},
        "cluster": {
            "n": 4,
            "horizon": horizon,
            "compute": {"kind": "fixed", "h": H_SQRT},
            "uplink": {"kind": "fixed", "time": 0.25},
        },
        "method_defaults": {"lr": 0.05},
        "methods": [
            {"name": "rennala_nigt", "batch": 4},
            {"name": "malenia_nigt", "batch": 4},
            {"name": "synchronized_nigt"},
            {"name": "afedpg"},
            {"name": "rennala_sgd", "batch": 4},
            {"name": "malenia_sgd", "batch": 4},
            {"name": "minibatch_sgd"},
            {"name": "asynchronous_sgd"},
            {"name": "m_synchronous_sgd", "m": 2},
        ],
        "budget": {"time": 1000.0, "target_grad_norm": 0.5},
    }
    data.update(changes)
    return data


def policy_gradient(horizon: int, discount: float) -> dict[str, Any]:
    """The same cluster and methods with a policy-gradient oracle (never run here)."""
    data = synthetic(horizon, name=f"shapes-pg-h{horizon}")
    cluster = {k: v for k, v in data["cluster"].items() if k != "horizon"}
    oracle = {"kind": "policy_gradient", "env": "InvertedPendulum-v5", "horizon": horizon,
              "discount": discount}  # fmt: skip
    return {**data, "oracle": oracle, "cluster": cluster,
            "budget": {"time": 1000.0, "target_return": 100.0}}  # fmt: skip


def write_scenario(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def bounds_shapes(path: Path, *options: str) -> dict[str, list[str]]:
    """The ε-complexity table ``asyncsim bounds`` prints: row label → cells as printed."""
    result = CliRunner().invoke(main, ["bounds", str(path), *options])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("shape "))
    rows = {}
    for line in lines[start + 1 :]:
        label, *cells = line.rsplit(maxsplit=len(lines[start].split()) - 1)
        rows[label.strip()] = cells
    return rows


def oracle_constants(data: dict[str, Any]) -> dict[str, float]:
    """The constants the shapes take: the synthetic oracle's own; for a policy-gradient oracle
    (which knows none) L_g = Δ = 1, L_h = 0, σ² = M·ε² with the first batch M and ε = 1."""
    if data["oracle"]["kind"] == "policy_gradient":
        return {"L_g": 1.0, "L_h": 0.0, "sigma2": 4.0, "delta": 1.0}
    oracle = validate_scenario(data).oracle.build(data["cluster"]["n"], np.random.SeedSequence(0))
    try:
        return dict(oracle.constants)
    finally:
        oracle.close()


def label_of(method: dict[str, Any], shape: str) -> str:
    return f"{shape} (m = {method['m']})" if "m" in method else shape


# ---------------------------------------------------------------- the reproducers


def test_sgd_shapes_take_tau_not_h_over_one_minus_gamma(tmp_path: Path) -> None:
    """Issue reproducer: H = 3 with h = [1, 1.5] is τ = [3, 4.5]; the same τ given with H = 1
    must print the same table (asynchronous SGD at ε = 0.1: 18360 with unit constants, not
    6120)."""
    two = {"n": 2, "uplink": {"kind": "fixed", "time": 0}}
    tables = []
    for horizon, h in ((3, [1.0, 1.5]), (1, [3.0, 4.5])):
        data = synthetic(horizon, name=f"h{horizon}", methods=[{"name": "asynchronous_sgd"}])
        data["cluster"].update(two, compute={"kind": "fixed", "h": h})
        tables.append(bounds_shapes(write_scenario(tmp_path, data), "--constants", "unit"))
    assert tables[0] == tables[1]
    assert tables[0]["asynchronous_sgd"][0] == "18360"
    assert float(tables[0]["asynchronous_sgd"][0]) == pytest.approx(
        independent_shape("asynchronous_sgd", [3.0, 4.5], 0.0, 0.1), rel=1e-6
    )


@pytest.mark.parametrize("horizon", [1, 2, 3])
@pytest.mark.parametrize("discount", [None, 0.99], ids=["synthetic-gamma0", "pg-gamma0.99"])
@pytest.mark.parametrize("constants", ["unit", "oracle"])
def test_every_printed_shape_cell(
    tmp_path: Path, horizon: int, discount: float | None, constants: str
) -> None:
    """Every cell of the shape table is the shape at τ_i = h_i·H, recomputed here; γ changes
    nothing; m-Synchronous SGD takes the scenario's m."""
    data = synthetic(horizon) if discount is None else policy_gradient(horizon, discount)
    printed = bounds_shapes(write_scenario(tmp_path, data), "--eps", "0.5", "--eps", "0.1",
                            "--constants", constants)  # fmt: skip
    values = {} if constants == "unit" else oracle_constants(data)
    tau = [h * horizon for h in H_SQRT]
    expected = {}
    for name in ("rennala_nigt", "malenia_nigt", "synchronized_nigt", "afedpg", "rennala_sgd",
                 "malenia_sgd", "minibatch_sgd", "asynchronous_sgd", "lower_bound"):  # fmt: skip
        expected[name] = [independent_shape(name, tau, 0.25, e, **values) for e in (0.5, 0.1)]
    expected["m_synchronous_sgd (m = 2)"] = [
        independent_shape("m_synchronous_sgd", tau, 0.25, e, **values, m=2) for e in (0.5, 0.1)
    ]
    assert set(printed) == set(expected)
    for label, cells in printed.items():
        assert cells == [f"{value:.6g}" for value in expected[label]], label


def test_m_synchronous_row_without_such_a_method_is_minibatch(tmp_path: Path) -> None:
    data = synthetic(1, methods=[{"name": "rennala_nigt", "batch": 4}])
    printed = bounds_shapes(write_scenario(tmp_path, data), "--constants", "unit")
    assert printed["m_synchronous_sgd"] == printed["minibatch_sgd"]


# ---------------------------------------------------------------- all views agree


def at_n(data: dict[str, Any], n: int) -> dict[str, Any]:
    """``data`` with n agents, h_i = √i."""
    cluster = {**data["cluster"], "n": n, "compute": {"kind": "fixed", "h": "sqrt(i)"}}
    return {**data, "name": f"{data['name']}-n{n}", "cluster": cluster}


def made_up_sweep(tmp_path: Path, data: dict[str, Any], sizes: tuple[int, ...]) -> Path:
    """A sweep directory over cluster.n whose runs are made up: each method 'reaches its
    target' at c·(its shape)·(1 + n/100) seconds, one row each."""
    sweep = tmp_path / f"sweep-{data['name']}"
    index = []
    for n in sizes:
        point = at_n(data, n)
        scenario = validate_scenario(point)
        values = oracle_constants(point)
        tau = [math.sqrt(i) * scenario.horizon for i in range(1, n + 1)]
        run = RunResult(scenario)
        for position, method in enumerate(scenario.methods):
            shape = method.spec.shape
            arguments = {"m": method.params.m} if shape == "m_synchronous_sgd" else {}
            eps = bounds.epsilon(scenario)
            seconds = (position + 1) * independent_shape(shape, tau, 0.25, eps, **values,
                                                         **arguments) * (1 + n / 100)  # fmt: skip
            row = {"iteration": 0, "time_start": 0.0, "time_end": seconds, "grad_norm": 0.4}
            summary = {"method": method.key, "total_time": seconds, "time_to_target": seconds,
                       "iterations": 0, "stop_reason": "target"}  # fmt: skip
            run.methods[method.key] = MethodResult(method.key, [row], [], summary)
        write_run(run, sweep / "points" / f"n{n}")
        index.append({"hash": f"n{n}", "cluster.n": n, "seed": 0, "status": "done", "error": ""})
    with open(sweep / "index.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(index[0]))
        writer.writeheader()
        writer.writerows(index)
    return sweep


@pytest.mark.parametrize(
    "data",
    [policy_gradient(1000, 0.99), synthetic(3)],
    ids=["policy-gradient-H1000-gamma0.99", "synthetic-H3"],
)
def test_bounds_figures_theory_check_and_shape_value_agree(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    """For every method and n: the bounds table cell, the figure's theory series (y / c, from
    plots/scaling_cluster.n.csv), the theory check's shape, bounds.shape_value and the shape
    recomputed here are one number; the figure's constants are the theory check's."""
    sizes = (2, 4, 8)
    sweep = made_up_sweep(tmp_path, data, sizes)
    plotted = CliRunner().invoke(main, ["plot", str(sweep), "--out", str(tmp_path / "plots")])
    assert plotted.exit_code == 0, plotted.output
    with open(tmp_path / "plots" / "scaling_cluster.n.csv", newline="") as handle:
        figure = [row for row in csv.DictReader(handle) if row["series"].endswith(" theory")]
    report = theory_check([sweep])
    fits = {fit.method: fit for fit in report.fits}
    methods = data["methods"]
    assert set(fits) == {m["name"] for m in methods}
    for n in sizes:
        point = at_n(data, n)
        scenario = validate_scenario(point)
        eps = bounds.epsilon(scenario)
        table = bounds_shapes(write_scenario(tmp_path, point), "--eps", f"{eps!r}")
        tau = [math.sqrt(i) * scenario.horizon for i in range(1, n + 1)]  # h_i = √i
        values = oracle_constants(point)
        for method, config in zip(scenario.methods, methods, strict=True):
            shape = method.spec.shape
            arguments = {"m": config["m"]} if "m" in config else {}
            expected = independent_shape(shape, tau, 0.25, eps, **values, **arguments)
            fit = fits[method.key]
            (row,) = [r for r in figure if r["series"] == f"{method.key} theory"
                      and float(r["x"]) == n]  # fmt: skip
            assert float(row["constant"]) == fit.constant
            assert float(row["y"]) / float(row["constant"]) == pytest.approx(expected, rel=1e-12)
            assert fit.theory[fit.x.index(n)] == pytest.approx(expected, rel=1e-12)
            assert bounds.shape_value(scenario, method, eps, values) == pytest.approx(
                expected, rel=1e-12
            )
            assert table[label_of(config, shape)] == [f"{expected:.6g}"], method.key
