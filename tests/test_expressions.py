"""Expressions are a closed language: fixed arities, no booleans, no keywords, bounded length
and depth; every violation is one ConfigError line naming the field, found at parse time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bad_input import BASE_TEXT, assert_one_line_error, asyncsim, changes, snapshot

from asyncsim.errors import ConfigError
from asyncsim.expressions import FUNCTIONS, MAX_DEPTH, MAX_LENGTH, parse_expression

FIELD = "cluster.compute.h"
AGENTS = np.arange(1.0, 5.0)

# expression → fragment of the one-line error
REFUSED = {
    "+".join(["i"] * 1000): f"at most {MAX_LENGTH} are allowed",  # was RecursionError
    "-" * 100_000 + "i": f"at most {MAX_LENGTH} are allowed",  # was MemoryError
    "-" * 999 + "i": f"nests more than {MAX_DEPTH} operations deep",
    "+".join(["i"] * (MAX_DEPTH + 1)): f"nests more than {MAX_DEPTH} operations deep",
    "sqrt()": "sqrt() takes 1 argument, got 0",  # was TypeError
    "min(i)": "min() takes 2 arguments, got 1",  # was TypeError
    "max(i, 1, 2)": "max() takes 2 arguments, got 3",  # was TypeError
    "sqrt(i, i) + i": "sqrt() takes 1 argument, got 2",  # was 2, 2.83, 3.46, 4
    "max(i, 2, i) + i": "max() takes 2 arguments, got 3",  # was 4, 4, 6, 8
    "True": "True is not a number",  # was 1
    "False + i": "False is not a number",
    "sqrt(x=i)": "sqrt() takes no keyword arguments",
    "sqrt(*i)": "sqrt() takes no *arguments",
    "foo(i)": "function 'foo' is not allowed",
    "__import__('os')": "is not allowed",
    "'abc'": "'abc' is not a number",
    "1e999": "beyond the floating-point range",
    "1" + "0" * 400: "beyond the floating-point range",
    "i.real": "'i.real' is not allowed",
    "i if i else 1": "is not allowed",
    "x * i": "'x' is not allowed",
    "sqrt(i": "does not parse",
    "(" * 300 + "i" + ")" * 300: "does not parse",
    "a\0b": "does not parse",
}


@pytest.mark.parametrize("text", list(REFUSED), ids=lambda t: repr(t[:20]))
def test_refused_at_parse_time_with_one_line(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_expression(text, FIELD)
    message = str(caught.value)
    assert message.startswith(f"{FIELD}: malformed expression ")
    assert REFUSED[text] in message
    assert "\n" not in message and len(message) <= 400


def test_every_function_has_its_arity() -> None:
    for name, (_, arity) in FUNCTIONS.items():
        args = ", ".join(["i"] * arity)
        assert parse_expression(f"{name}({args})", FIELD)({"i": AGENTS}).shape == AGENTS.shape
        for wrong in (arity - 1, arity + 1):
            with pytest.raises(ConfigError, match=rf"{name}\(\) takes {arity} argument"):
                parse_expression(f"{name}({', '.join(['i'] * wrong)})", FIELD)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sqrt(i) + i", np.sqrt(AGENTS) + AGENTS),
        ("max(i, 2) + i", np.maximum(AGENTS, 2) + AGENTS),
        ("min(i, 2.5)", np.minimum(AGENTS, 2.5)),
        ("1 + 0.1*i", 1 + 0.1 * AGENTS),
        ("log(i+1)", np.log(AGENTS + 1)),
        ("-(-i) % 3", AGENTS % 3),
        ("pi * e", np.full(4, np.pi * np.e)),
        ("+".join(["i"] * MAX_DEPTH), MAX_DEPTH * AGENTS),  # exactly at the depth bound
    ],
)
def test_allowed_formulas_evaluate_and_leave_the_variable_alone(text: str, expected) -> None:
    values = AGENTS.copy()
    result = parse_expression(text, FIELD)({"i": values})
    np.testing.assert_allclose(result * np.ones(4), expected)
    np.testing.assert_array_equal(values, AGENTS)  # sqrt(i, i) used to write into i


def test_length_bound_is_inclusive() -> None:
    text = "1" + " " * (MAX_LENGTH - 1)
    assert float(parse_expression(text, FIELD)({"i": AGENTS})) == 1.0
    with pytest.raises(ConfigError, match="characters long"):
        parse_expression(text + " ", FIELD)


def test_long_expression_is_quoted_shortly() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_expression("i" * 5_000_000, FIELD)
    assert "(5000000 characters)" in str(caught.value)
    assert len(str(caught.value)) < 400


CLI_CASES = {
    "sum of 1000 terms": ("+".join(["i"] * 1000), "at most 1000"),
    "100000 unary minus": ("-" * 100_000 + "i", "at most 1000"),
    "sqrt()": ("sqrt()", "sqrt() takes 1 argument, got 0"),
    "min(i)": ("min(i)", "min() takes 2 arguments, got 1"),
    "max(i, 1, 2)": ("max(i, 1, 2)", "max() takes 2 arguments, got 3"),
    "sqrt(i, i) + i": ("sqrt(i, i) + i", "sqrt() takes 1 argument, got 2"),
    "max(i, 2, i) + i": ("max(i, 2, i) + i", "max() takes 2 arguments, got 3"),
    "True": ("True", "True is not a number"),
    "keyword": ("sqrt(x=i)", "takes no keyword arguments"),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", list(CLI_CASES))
def test_command_gives_one_line(case: str, command: str, tmp_path: Path) -> None:
    text, fragment = CLI_CASES[case]
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(BASE_TEXT.replace("h: 1.0", f"h: '{text}'"))
    before = snapshot(tmp_path)
    args = ["--out", tmp_path / "out"] if command == "run" else []
    message = assert_one_line_error(asyncsim(command, scenario, *args, cwd=tmp_path), FIELD)
    assert fragment in message
    assert changes(before, snapshot(tmp_path)) == []


def test_varying_model_names_its_field(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    varying = "{kind: varying, h: 'max(i, k, 1)'}"
    scenario.write_text(BASE_TEXT.replace("{kind: fixed, h: 1.0}", varying))
    outcome = asyncsim("validate", scenario, cwd=tmp_path)
    assert "max() takes 2 arguments, got 3" in assert_one_line_error(outcome, FIELD)
