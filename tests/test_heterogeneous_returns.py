"""The H.3 report's reading of evaluation rows (first value, mean of the last K)."""

from __future__ import annotations

import pytest

from analysis.heterogeneous_returns import evaluation_columns, start_and_end

ROWS = [
    {"eval_return": 10.0, "eval_return_agent_2": 12.0, "eval_return_agent_1": 8.0},
    {"return_mean": 50.0},  # not an evaluation row
    {"eval_return": 20.0, "eval_return_agent_2": 30.0, "eval_return_agent_1": 10.0},
    {"eval_return": 40.0, "eval_return_agent_2": 50.0, "eval_return_agent_1": 30.0},
]


def test_columns_are_the_average_then_each_agent_in_order():
    rows = [*ROWS, {"eval_return_agent_10": 1.0}]
    assert evaluation_columns(rows) == [
        "eval_return",
        "eval_return_agent_1",
        "eval_return_agent_2",
        "eval_return_agent_10",
    ]


def test_start_is_the_first_evaluation_and_end_the_mean_of_the_last_k():
    assert start_and_end(ROWS, "eval_return", last=2) == (10.0, 30.0)
    assert start_and_end(ROWS, "eval_return_agent_1", last=5) == (8.0, 16.0)
    with pytest.raises(ValueError, match="no evaluated rows"):
        start_and_end(ROWS, "eval_return_agent_3", last=1)
