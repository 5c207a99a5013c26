"""The quickstart (`make run`): its scenario at a reduced budget, the printed table and the
sentence on the closed forms, which must say what the table's own numbers say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from asyncsim.cli import main

QUICKSTART = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"
COLUMNS = ["method", "time to target (s)", "s/gradient", "gradients used", "uploads", "seeds"]

pytestmark = pytest.mark.mujoco


def cli(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("quickstart") / "run"
    shorter = ["budget.time=2000", "budget.target_return=40", "seeds=[0, 1]"]
    settings = [arg for value in shorter for arg in ("--set", value)]
    cli("sweep", QUICKSTART, "--out", out, "--workers", "2", "-q", *settings)
    return cli("report", out)


def groups(text: str) -> list[list[str]]:
    """The report's groups, each as its lines."""
    return [block.splitlines() for block in text.strip().split("\n\n")]


def parse(lines: list[str]) -> tuple[dict[str, tuple[float, float, bool]], str]:
    """{method: (mean time to target, cost per gradient, some run missed)} and the closing
    sentence."""
    header = next(i for i, line in enumerate(lines) if line.startswith("method"))
    assert re.split(r"\s{2,}", lines[header].strip()) == COLUMNS
    rows = {}
    for line in lines[header + 1 :]:
        if line.startswith("Closed forms:"):
            return rows, line
        method, rest = line.split(maxsplit=1)
        mean = float(re.search(r"(\d[\d.e+]*) ±", rest)[1])
        cost = float(re.split(r"\s{2,}", line.strip())[2])
        rows[method] = (mean, cost, "missed" in rest)
    raise AssertionError("no sentence")


def test_the_table_has_the_columns_and_the_sentence_matches_the_numbers(report: str) -> None:
    """The sentence agrees unless a pair the runs order (a method that always reached the
    target, measured faster than another's time or lower bound) is ordered the other way by
    the costs per gradient (printed to 3 digits: equal ones are a tie)."""
    blocks = groups(report)
    assert len(blocks) == 2  # Fig. 1(b) and 1(c) times
    for lines in blocks:
        rows, sentence = parse(lines)
        assert set(rows) == {"rennala_nigt", "afedpg", "synchronized_nigt"}
        shown = [
            (a, b)
            for a in rows
            for b in rows
            if a != b and not rows[a][2] and rows[a][0] <= rows[b][0]
            and (rows[b][2] or rows[a][0] < rows[b][0])
        ]  # fmt: skip
        contradicted = [(a, b) for a, b in shown if rows[a][1] > rows[b][1]]
        assert ("differs from" if contradicted else "agrees with") in sentence, (rows, sentence)
