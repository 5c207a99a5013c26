"""Reports claim only what the runs show: `asyncsim report`'s column and verdict, ties, methods
that missed the target, one seed, duplicate seeds, budgets that are not comparable, and the
steps `asyncsim tune` picks."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from asyncsim.cli import main
from asyncsim.report import ReportRow, agreement, format_time

README = Path(__file__).resolve().parents[1] / "README.md"
NOT_COMPARABLE = "budget.iterations counts rounds of the round-based methods"

#: fixed times, a target no method can miss: asynchronous_sgd under two labels ties exactly
TIED: dict[str, Any] = {
    "name": "tied",
    "oracle": {"kind": "quadratic", "dim": 4, "noise": 0.5},
    "cluster": {
        "n": 3,
        "compute": {"kind": "fixed", "h": "sqrt(i)"},
        "uplink": {"kind": "fixed", "time": 0.1},
    },
    "methods": [
        {"name": "rennala_sgd", "batch": 3, "lr": 0.1},
        {"name": "asynchronous_sgd", "lr": 0.05},
        {"name": "asynchronous_sgd", "lr": 0.05, "label": "async_copy"},
    ],
    "budget": {"iterations": 400, "target_grad_norm": 0.5},
}


def invoke(*args: Any) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def readme_scenario() -> dict[str, Any]:
    """The scenario of the README's "Writing a scenario"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Writing a scenario") :]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S)[1])


def row(method: str, mean: float, cost: float, missed: int = 0, runs: int = 3) -> ReportRow:
    return ReportRow((), method, runs, missed, mean, 1.0, cost, 100.0, 10.0)


# ---------------------------------------------------------------- budgets that do not compare


def test_readme_example_reports_total_time_and_no_verdict(tmp_path: Path) -> None:
    """Issue reproducer: 21 AFedPG gradients against 336 of Rennala were set against the
    costs per gradient; without a target the column is the total time and nothing is
    compared, and run, sweep, validate and report all give the budget warning."""
    path = write(tmp_path, readme_scenario())
    ran = invoke("run", path, "--out", tmp_path / "run", "-q", "--no-plots")
    assert NOT_COMPARABLE in ran.stderr
    reported = invoke("report", tmp_path / "run")
    assert NOT_COMPARABLE in reported.stderr
    header = reported.stdout.splitlines()[0]
    assert "total time (s)" in header and "time to target" not in header
    assert "Closed forms: not compared: the runs neither reach a common target" in reported.stdout
    assert "agrees with" not in reported.stdout and "differs from" not in reported.stdout
    assert " ± " not in reported.stdout  # one seed
    assert NOT_COMPARABLE in invoke("validate", path).stderr
    swept = {**readme_scenario(), "sweep": {"seed": [0, 1]}}
    sweep = invoke("sweep", write(tmp_path, swept), "--out", tmp_path / "sweep", "--workers", 1,
                   "-q")  # fmt: skip
    assert NOT_COMPARABLE in sweep.stderr
    assert NOT_COMPARABLE in invoke("report", tmp_path / "sweep").stderr


def test_equal_gradient_budgets_are_compared(tmp_path: Path) -> None:
    """Runs that each used 48 gradients can be set against the costs per gradient (Malenia
    NIGT, whose rounds overshoot such a budget, is left out)."""
    data = readme_scenario()
    data.update(name="gradients", budget={"gradients": 48})
    data["methods"] = [m for m in data["methods"] if m["name"] != "malenia_nigt"]
    invoke("run", write(tmp_path, data), "--out", tmp_path / "run", "-q", "--no-plots")
    text = invoke("report", tmp_path / "run").stdout
    assert "total time (s)" in text
    assert re.search(r"Closed forms: the measured order .* (agrees with|differs from)", text)
    data["methods"] = readme_scenario()["methods"]  # Malenia's 60 gradients: not compared
    invoke("run", write(tmp_path, data), "--out", tmp_path / "all", "-q", "--no-plots")
    assert "malenia_nigt 60" in invoke("report", tmp_path / "all").stdout


# ---------------------------------------------------------------- ties, misses, seeds


def test_ties_are_ties(tmp_path: Path) -> None:
    """Issue reproducer: two methods with one closed form and the same times are printed
    '=' in both orders, not '<'."""
    invoke("run", write(tmp_path, TIED), "--out", tmp_path / "run", "-q", "--no-plots")
    text = invoke("report", tmp_path / "run").stdout
    sentence = next(line for line in text.splitlines() if line.startswith("Closed forms"))
    assert re.search(r"asynchronous_sgd = async_copy|async_copy = asynchronous_sgd", sentence)
    assert re.search(r"asynchronous_sgd \([\d.]+ s\) = async_copy \([\d.]+ s\)", sentence) or (
        "agrees with" in sentence
    )
    assert "asynchronous_sgd < async_copy" not in sentence
    assert "async_copy < asynchronous_sgd" not in sentence


def test_tied_costs_agree_with_either_measured_order() -> None:
    rows = [row("a", 10.0, 0.165), row("b", 12.0, 0.165)]
    assert "agrees with" in agreement(rows)
    rows = [row("a", 10.0, 0.165), row("b", 10.0, 0.2)]
    text = agreement(rows)
    assert "the measured order a = b agrees" in text  # a tie contradicts nothing


def test_methods_that_missed_are_not_ordered() -> None:
    """Both missed: their lower bounds order nothing between them, whatever the costs."""
    rows = [row("a", 5.0, 0.1), row("b", 50.0, 0.3, missed=3), row("c", 40.0, 0.2, missed=1)]
    text = agreement(rows)
    assert "the measured order a < {b, c} agrees" in text
    assert "lower bounds" in text
    # a miss whose lower bound lies below a finished time is not placed after it
    rows = [row("a", 30.0, 0.1), row("b", 20.0, 0.3, missed=1)]
    text = agreement(rows)
    assert text.startswith("the measured order a (b: missed the target")
    assert "agrees" in text
    # a finished method measured slower than the other's lower bound: the costs are contradicted
    rows = [row("a", 10.0, 0.3), row("b", 20.0, 0.1, missed=1)]
    assert "differs from" in agreement(rows)


def test_one_seed_has_no_standard_error() -> None:
    assert format_time(row("a", 123.4, 0.1, runs=1)) == "123"
    assert format_time(row("a", 123.4, 0.1, runs=2)) == "123 ± 1"
    assert format_time(row("a", 123.4, 0.1, missed=1, runs=1)) == "≥ 123 (1/1 missed)"


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"seeds": [0, 0, 0]}, "seeds"), ({"sweep": {"seed": [0, 1, 0]}}, "sweep.seed")],
)
def test_duplicate_seeds_are_refused(tmp_path: Path, extra: dict, field: str) -> None:
    path = write(tmp_path, {**copy.deepcopy(TIED), **extra})
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.output == f"error: {field}: holds 0 twice; give each value once\n"


# ---------------------------------------------------------------- tune


def test_tune_never_picks_a_step_that_diverged(tmp_path: Path) -> None:
    """Issue reproducer: with an unreachable target, --lr 0.05,1e300 picked 1e300 (its run
    diverged at once, so its censored time was the smallest) and --write saved it."""
    data = {**copy.deepcopy(TIED), "methods": [{"name": "asynchronous_sgd", "lr": 0.05}],
            "budget": {"iterations": 30, "target_grad_norm": 1e-9}}  # fmt: skip
    out = invoke("tune", write(tmp_path, data), "--lr", "0.05,1e300", "--out", tmp_path / "t",
                 "--write", tmp_path / "tuned.yaml", "--workers", 1, "-q")  # fmt: skip
    assert "picked: asynchronous_sgd: lr = 0.05" in out.stdout
    tuned = yaml.safe_load((tmp_path / "tuned.yaml").read_text())
    assert tuned["methods"][0]["lr"] == 0.05
    assert "is the smallest step of the grid" in out.stderr  # 1e300 diverged: 0.05 is an edge


def test_tune_warns_when_every_step_diverged_or_the_pick_is_in_the_middle(tmp_path: Path) -> None:
    data = {**copy.deepcopy(TIED), "methods": [{"name": "asynchronous_sgd", "lr": 0.05}],
            "budget": {"iterations": 30, "target_grad_norm": 0.5}}  # fmt: skip
    out = invoke("tune", write(tmp_path, data), "--lr", "1e300,1e301", "--out", tmp_path / "t",
                 "--workers", 1, "-q")  # fmt: skip
    assert "every step of the grid diverged; no step picked" in out.stderr
    assert out.stdout.splitlines()[-1] == "picked: "
