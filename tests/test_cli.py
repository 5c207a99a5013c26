"""The asyncsim command: every subcommand on tiny synthetic scenarios, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result

from asyncsim.cli import main
from asyncsim.config import validate_scenario
from asyncsim.oracles import build_oracle
from asyncsim.registry import METHODS, ORACLES, TIME_MODELS
from asyncsim.results import is_complete, load_run
from asyncsim.runner import simulate

ASYNCSIM = str(Path(sys.executable).with_name("asyncsim"))

TINY: dict[str, Any] = {
    "name": "tiny",
    "oracle": {"kind": "quadratic", "dim": 3},
    "cluster": {
        "n": 3,
        "compute": {"kind": "fixed", "h": [1.0, 1.5, 4.0]},
        "uplink": {"time": [0.5, 0.25, 1.0]},
    },
    "methods": [
        {"name": "rennala_nigt", "batch": 5},
        {"name": "malenia_nigt", "batch": 5},
        {"name": "synchronized_nigt"},
        {"name": "afedpg"},
    ],
    "budget": {"iterations": 4},
}
COMPARABLE = {"iterations": 4, "time": 1e6}
"""TINY's budget with a time: its methods' runs compare (no warning from scenario_warnings)."""
TEXT = """\
name: bad
oracle: {kind: quadratic, dim: 3}
cluster: {n: 3, compute: {h: 1.0}}
methods: [{name: rennala_nigt}]
budget: {iterations: 3}
"""


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write(tmp_path / "tiny.yaml", TINY)


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(*args: str | Path) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


# ---------------------------------------------------------------- run and sweep


def test_run_prints_the_table_and_writes_the_run(tiny: Path, tmp_path: Path) -> None:
    result = ok("run", tiny, "--out", tmp_path / "out")
    lines = result.stdout.splitlines()
    header = "method  simulated time  time to target  iterations  gradients used  uploads"
    assert " ".join(lines[0].split()) == " ".join(header.split())
    summary = simulate(TINY).methods["rennala_nigt"].summary
    expected = ["total_time", "time_to_target", "iterations", "gradients_used", "uploads"]
    assert lines[1].split() == ["rennala_nigt", "20", "-", "4", "25", "10"]
    assert [summary[key] for key in expected] == [20, None, 4, 25, 10]
    assert lines[-2] == f"results written to {tmp_path / 'out'}"
    assert lines[-1] == f"figures written to {tmp_path / 'out' / 'plots'}"
    assert (tmp_path / "out" / "plots" / "progress.png").is_file()
    assert "4/4 methods" in result.stderr
    assert list(load_run(tmp_path / "out").methods) == [m["name"] for m in TINY["methods"]]


def test_run_defaults_to_results_name_and_applies_overrides(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sets = ["cluster.n=2", "cluster.compute.h=2", "cluster.uplink.time=0", "budget.time=1e6"]
    result = ok("run", tiny, *(f"--set={text}" for text in sets), "-q")
    assert result.stderr == ""  # with a time budget, no warning on comparability either
    run = load_run(tmp_path / "results" / "tiny")
    assert (run.scenario.cluster.n, run.scenario.cluster.compute.h) == (2, 2)


def test_run_of_a_sweep_scenario_runs_the_base(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", {**TINY, "seeds": [1, 2], "budget": COMPARABLE})
    result = ok("run", path, "--out", tmp_path / "out", "-q")
    assert result.stderr.startswith("note: running the base scenario only")
    assert load_run(tmp_path / "out").scenario.sweep is None


def test_sweep_runs_points_and_resumes(tmp_path: Path) -> None:
    scalable = {**TINY, "cluster": {"n": 1, "compute": {"h": "i**0.5"}}}
    path = write(tmp_path / "s.yaml", {**scalable, "sweep": {"cluster.n": [2, 3]}, "seeds": [0, 1]})
    out = tmp_path / "sweep"
    result = ok("sweep", path, "--out", out, "--workers", "1")
    assert result.stdout.splitlines()[0] == "4 points: 4 done (0 already finished before), 0 failed"
    assert "4/4 points" in result.stderr
    assert len(list(out.glob("points/*/COMPLETE"))) == 4
    again = ok("sweep", path, "--out", out, "-q")
    assert again.stdout.startswith("4 points: 4 done (4 already finished before), 0 failed")


def test_sweep_with_a_failing_point_exits_non_zero(tmp_path: Path) -> None:
    # the second point's times turn negative at k = 1 (an error) without passing through 0
    varying = [{"kind": "varying", "h": "1"}, {"kind": "varying", "h": "1 - 2 * k"}]
    data = {**TINY, "sweep": {"cluster.compute": varying}, "budget": COMPARABLE}
    path = write(tmp_path / "s.yaml", data)
    result = invoke("sweep", path, "--out", tmp_path / "sweep", "-q")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 1 of 2 points failed; see ")


# ---------------------------------------------------------------- bounds, validate, list, schema


def test_bounds_totals_equal_the_simulated_times(tiny: Path) -> None:
    result = ok("bounds", tiny)
    lines = result.stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:6]}
    for key, method in simulate(TINY).methods.items():
        total, cost = rows[key][-2:]
        expected = method.summary["total_time"] if key != "afedpg" else None
        assert (None if total == "-" else float(total)) == expected
        if key != "afedpg":  # a round's time over its gradients
            row = method.rows[-1]
            duration = row["time_end"] - row["time_start"]
            assert float(cost) == pytest.approx(duration / row["gradients_used"], rel=1e-5)
    assert rows["synchronized_nigt"][3:6] == ["6", "6", "6"]  # max τ_i + 2κ = exact
    assert lines[-1].startswith("lower_bound")


def test_bounds_with_random_times_has_no_exact_forms(tiny: Path) -> None:
    result = ok("bounds", tiny, "--set", "cluster.compute.kind=exponential", "--eps", "0.5")
    assert "means of the time models (exponential compute times" in result.stdout
    assert "eps=0.5" in result.stdout
    rennala = next(line for line in result.stdout.splitlines() if line.startswith("rennala"))
    assert rennala.split()[-4:-1] == ["-", "-", "-"]


def test_bounds_communication_uses_the_parameter_count_d(tmp_path: Path) -> None:
    synthetic = {**TINY, "cluster": {"n": 2, "uplink": {"time": "sqrt(d)"}}}
    assert "κ = max uplink = 1.73205" in ok("bounds", write(tmp_path / "s.yaml", synthetic)).stdout
    oracle = {
        "kind": "policy_gradient",
        "env": "Pendulum-v1",
        "horizon": 5,
        "policy": {"kind": "linear"},
    }
    policy = {**synthetic, "oracle": oracle}
    built = build_oracle(validate_scenario(policy).oracle, 2, np.random.SeedSequence(0))
    d = built.dim
    built.close()
    assert (
        f"κ = max uplink = {d**0.5:.6g}," in ok("bounds", write(tmp_path / "p.yaml", policy)).stdout
    )


def test_validate_scenario_and_sweep(tiny: Path, tmp_path: Path) -> None:
    result = ok("validate", tiny)
    assert result.stdout == f"OK: {tiny}: scenario 'tiny' is valid; 4 method(s), n = 3\n"
    path = write(tmp_path / "s.yaml", {**TINY, "sweep": {"cluster.compute.h": [1, 1.0, 2]}})
    assert "sweep of 3 points (2 distinct)" in ok("validate", path).stdout


def test_list_names_everything() -> None:
    text = ok("list").stdout
    for name in [*METHODS, *TIME_MODELS, *ORACLES, "Pendulum-v1"]:
        assert name in text
    usable, unusable = text.split("environments (")[1].split("not usable here")
    assert "Hopper-v5" in usable and "CartPole-v1" not in usable  # discrete actions
    assert "CartPole-v1" in unusable and "Discrete" in unusable
    fast = usable.split("on the MuJoCo fast path")[1]
    assert "Humanoid-v5" in fast and "Pendulum-v1" not in fast and "Humanoid-v4" not in fast


def test_schema_is_the_scenario_json_schema() -> None:
    schema = json.loads(ok("schema").stdout)
    assert schema["title"] == "Scenario"
    assert {"oracle", "cluster", "methods", "budget", "sweep"} <= set(schema["properties"])


def test_plot_writes_figures_of_a_run(tiny: Path, tmp_path: Path) -> None:
    ok("run", tiny, "--out", tmp_path / "run", "--set", "methods=[{name: rennala_nigt}]", "-q")
    paths = [Path(line) for line in ok("plot", tmp_path / "run").stdout.splitlines()]
    assert paths and all(p.is_file() and p.parent == tmp_path / "run" / "plots" for p in paths)
    assert {p.suffix for p in paths} == {".png", ".pdf"}


def test_plot_rejects_other_directories(tmp_path: Path) -> None:
    result = invoke("plot", tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {tmp_path}: holds no asyncsim results (neither a finished run directory, with "
        "its COMPLETE marker, nor a sweep directory, with its index.csv)\n"
    )


# ---------------------------------------------------------------- user errors


NEGATIVE = "cluster.compute.h: must be finite and >= 0, got -1.0"
BAD_FILES = {
    "malformed YAML": (
        "name: x\noracle: {kind: quadratic\ncluster: [\n",
        "malformed YAML at line 3",
    ),
    "wrong type": (TEXT.replace("n: 3,", "n: three,"), "cluster.n: Input should be a valid int"),
    "negative time": (TEXT.replace("h: 1.0", "h: -1.0"), NEGATIVE),
    "unknown method": (
        TEXT.replace("rennala", "renala"),
        "methods[0].name: unknown method 'renala_",
    ),
    "unknown key": (TEXT.replace("n: 3,", "n: 3, nn: 4,"), "cluster.nn: unknown key; did you mean"),
    "missing field": (TEXT.replace("n: 3, ", ""), "cluster.n: required field is missing"),
    "wrong length": (TEXT.replace("h: 1.0", "h: [1, 2]"), "cluster.compute.h: list has 2 values"),
}


@pytest.mark.parametrize("case", BAD_FILES)
@pytest.mark.parametrize("command", ["validate", "run", "bounds"])
def test_bad_scenario_gives_one_error_line(case: str, command: str, tmp_path: Path) -> None:
    text, message = BAD_FILES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = invoke(command, path, "--out", tmp_path) if command == "run" else invoke(command, path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    if case == "wrong type":
        assert "got 'three'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "cluster.n=-1"], "error: cluster.n: must be >= 1, got -1\n"),
        (["--set", "cluster"], "error: --set: expected path=value, got 'cluster'\n"),
        (["--set", "methods[9].lr=1"], "error: methods[9].lr: index 9 out of range\n"),
    ],
)
def test_bad_override_gives_one_error_line(tiny: Path, args: list[str], message: str) -> None:
    result = invoke("validate", tiny, *args)
    assert (result.exit_code, result.stderr) == (2, message)


def test_missing_file_gives_one_error_line(tmp_path: Path) -> None:
    result = invoke("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    missing = "cannot read scenario file: No such file or directory"
    assert result.stderr == f"error: {tmp_path / 'nope.yaml'}: {missing}\n"


# ---------------------------------------------------------------- the installed command


def test_installed_command_runs_and_reports_errors(tiny: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [ASYNCSIM, "run", str(tiny), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert f"results written to {tmp_path / 'out'}" in run.stdout.splitlines()
    assert is_complete(tmp_path / "out")
    (tmp_path / "bad.yaml").write_text(TEXT.replace("h: 1.0", "h: -1.0"))
    bad = subprocess.run(
        [ASYNCSIM, "validate", str(tmp_path / "bad.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr == f"error: {NEGATIVE}\n"


def test_an_override_under_sweep_names_a_whole_field_path():
    from asyncsim.scenario import apply_overrides

    data = apply_overrides({"sweep": {"cluster.n": [1, 2]}}, [("sweep.cluster.n", [4, 8])])
    assert data == {"sweep": {"cluster.n": [4, 8]}}


def test_validate_warns_when_an_iteration_budget_mixes_rounds_and_updates(tiny: Path) -> None:
    mixed = invoke("validate", tiny)  # rennala, malenia, synchronized and afedpg, iterations
    assert mixed.exit_code == 0
    assert mixed.stderr.startswith("warning: budget.iterations counts rounds")
    timed = invoke("validate", tiny, "--set", "budget={time: 50}")
    assert timed.exit_code == 0 and timed.stderr == ""
    rounds_only = invoke("validate", tiny, "--set", "methods=[{name: rennala_nigt}]")
    assert rounds_only.stderr == ""
