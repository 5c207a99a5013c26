"""Evaluation of the model θ: by iteration count or by simulated-time period, and the target
return read from the evaluation (NIGT's training returns are taken at θ̃, not θ)."""

from __future__ import annotations

import pytest

from asyncsim import simulate

BASE = {
    "name": "evaluation",
    "oracle": {"kind": "policy_gradient", "env": "Pendulum-v1", "horizon": 10, "workers": 1},
    "cluster": {"n": 2, "compute": {"h": [1, 3]}},
    "methods": [{"name": "rennala_nigt", "batch": 3}, {"name": "afedpg"}],
    "budget": {"iterations": 12},
}


def _rows(evaluation: dict, budget: dict | None = None) -> dict[str, list[dict]]:
    scenario = {**BASE, "evaluation": evaluation, "budget": budget or BASE["budget"]}
    return {key: m.rows for key, m in simulate(scenario).methods.items()}


def test_every_k_iterations_evaluates_those_iterations_only():
    for rows in _rows({"episodes": 2, "every": 4}).values():
        evaluated = [r["iteration"] for r in rows if "eval_return" in r]
        assert evaluated == [0, 4, 8, 12]


def test_period_evaluates_the_first_update_after_each_multiple_of_the_period():
    period = 60.0
    for rows in _rows({"episodes": 2, "period": period}).values():
        expected, next_due = [], 0.0
        for row in rows:
            if row["time_end"] >= next_due:
                expected.append(row["iteration"])
                next_due = (row["time_end"] // period + 1) * period
        assert [r["iteration"] for r in rows if "eval_return" in r] == expected
        assert len(expected) < len(rows)


def test_target_return_uses_the_evaluation_when_there_is_one():
    rows = _rows({"episodes": 2, "every": 5}, {"iterations": 12, "target_return": -1e9})
    for method_rows in rows.values():
        assert method_rows[-1]["iteration"] == 0  # evaluated, and any return beats -1e9
        assert "eval_return" in method_rows[-1]
    never = _rows({"episodes": 2, "every": 5}, {"iterations": 7, "target_return": 1e9})
    for method_rows in never.values():
        assert len(method_rows) == 8


@pytest.mark.parametrize("bad", [{"period": 0}, {"every": 0}, {"episodes": -1}])
def test_bad_evaluation_settings_are_rejected(bad):
    from asyncsim.errors import ConfigError

    with pytest.raises(ConfigError, match="evaluation"):
        simulate({**BASE, "evaluation": bad})
