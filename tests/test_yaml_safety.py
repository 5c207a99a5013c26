"""Input files are read defensively: binary, UTF-16, endless, recursive, exploding, duplicated or
huge input gives one line naming the field, quickly, and long values are quoted shortly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bad_input import BASE_TEXT, assert_one_line_error, asyncsim, changes, snapshot

from asyncsim.errors import MESSAGE_LIMIT, AsyncSimError, ConfigError, UnknownNameError, quote
from asyncsim.scenario import MAX_YAML_DEPTH, MAX_YAML_VALUES, load_scenario_data, load_yaml
from asyncsim.timing import read_trace

BILLION_LAUGHS = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 9) + "]\n" for k in range(1, 10)
)
"""Nine levels of nine aliases: 639 bytes that expand to 9^10 strings."""

TRACE = "{kind: fixed, h: 1.0}"
TRACE_MODEL = "{kind: trace, path: times.csv}"
GOOD_TRACE = "agent,k,duration\n1,0,1.0\n2,0,1.0\n3,0,1.0\n4,0,1.0\n"


def _scenario(tmp_path: Path, data: bytes | str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# name → (scenario file content, trace file content or None, field, fragment)
CASES: dict[str, tuple[bytes | str, bytes | str | None, str | None, str]] = {
    "binary file": (bytes(range(256)) * 4, None, None, "not text (it holds NUL bytes"),
    "UTF-16 with BOM": (BASE_TEXT.encode("utf-16"), None, None, "is UTF-16/UTF-32"),
    "UTF-16 without BOM": (BASE_TEXT.encode("utf-16-le"), None, None, "holds NUL bytes"),
    "Latin-1 file": (BASE_TEXT.replace("bad-input", "café").encode("latin-1"), None, None, "UTF-8"),
    "recursive alias": (BASE_TEXT + "extra: &r {x: *r}\n", None, "extra.x", "recursive YAML alias"),
    "recursive list": (BASE_TEXT + "extra: &r [1, *r]\n", None, "extra[1]", "recursive YAML alias"),
    "billion laughs": (BILLION_LAUGHS, None, "a9[8][8][8]", f"more than {MAX_YAML_VALUES} values"),
    "deep nesting": (
        BASE_TEXT + "extra: " + "[" * 100_000 + "]" * 100_000 + "\n",
        None,
        None,
        f"more than {MAX_YAML_DEPTH} levels deep",
    ),
    "duplicate top-level key": (BASE_TEXT + "seed: 1\nseed: 2\n", None, "seed", "lines 6 and 7"),
    "duplicate nested key": (
        BASE_TEXT.replace("dim: 3}", "dim: 3, dim: 4}"),
        None,
        "oracle.dim",
        "duplicate key (lines 2 and 2",
    ),
    "duplicate key in a list": (
        BASE_TEXT.replace("batch: 2}", "batch: 2, batch: 3}"),
        None,
        "methods[0].batch",
        "duplicate key",
    ),
    "5000-digit integer": (BASE_TEXT + "seed: " + "9" * 5000 + "\n", None, None, "4300 digits"),
    "impossible date": (BASE_TEXT + "description: 2001-13-45\n", None, None, "month must be"),
    "binary trace": (
        BASE_TEXT.replace(TRACE, TRACE_MODEL),
        b"agent,k,duration\n\x00\xff\xfe\x01,2\n",
        "cluster.compute.path",
        "holds NUL bytes",
    ),
    "UTF-16 trace": (
        BASE_TEXT.replace(TRACE, TRACE_MODEL),
        GOOD_TRACE.encode("utf-16"),
        "cluster.compute.path",
        "is UTF-16/UTF-32",
    ),
    "duplicate trace rows": (
        BASE_TEXT.replace(TRACE, TRACE_MODEL),
        GOOD_TRACE + "2,3,1.0\n2,3,5.0\n",
        "cluster.compute.path",
        "two rows for agent 2 at k = 3 (lines 6 and 7)",
    ),
    "trace with a 200 kB field": (
        BASE_TEXT.replace(TRACE, TRACE_MODEL),
        GOOD_TRACE + "1,1," + "9" * 200_000 + "\n",
        "cluster.compute.path",
        "is not CSV",
    ),
    "trace row of garbage": (
        BASE_TEXT.replace(TRACE, TRACE_MODEL),
        GOOD_TRACE + "1,x" + "y" * 100_000 + ",1.0\n",
        "cluster.compute.path (times.csv:6)",
        "expected columns agent, k, duration",
    ),
    "5 MB value": (
        BASE_TEXT + "description: [" + "x" * 5_200_000 + "]\n",
        None,
        "description",
        "characters)",
    ),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_gives_one_line(case: str, command: str, tmp_path: Path) -> None:
    text, trace, field, fragment = CASES[case]
    scenario = _scenario(tmp_path, text)
    if trace is not None:
        (tmp_path / "times.csv").write_bytes(trace.encode() if isinstance(trace, str) else trace)
    before = snapshot(tmp_path)
    args = ["--out", tmp_path / "out"] if command == "run" else []
    outcome = asyncsim(command, scenario, *args, cwd=tmp_path)
    message = assert_one_line_error(outcome, field or str(scenario))
    assert fragment in message
    assert changes(before, snapshot(tmp_path)) == []


@pytest.mark.parametrize("command", ["validate", "run", "bounds"])
def test_dev_zero_as_the_scenario_is_refused_without_reading_it_all(
    command: str, tmp_path: Path
) -> None:
    outcome = asyncsim(command, "/dev/zero", cwd=tmp_path)
    assert "is larger than" in assert_one_line_error(outcome, "/dev/zero")
    assert list(tmp_path.iterdir()) == []


def test_dev_zero_as_a_trace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^cluster\.compute\.path: trace file '/dev/zero' is"):
        read_trace("/dev/zero", 2, "cluster.compute.path", max_bytes=2**20)


def test_duplicate_key_in_an_override_is_refused(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, BASE_TEXT)
    outcome = asyncsim(
        "validate", scenario, "--set", "oracle={kind: quadratic, kind: x}", cwd=tmp_path
    )
    assert "duplicate key" in assert_one_line_error(outcome, "kind")


# ---------------------------------------------------------------- what still loads


def test_aliases_and_merge_keys_still_work() -> None:
    text = "base: &b {lr: 0.1, momentum: 0.5}\nmethods: [{<<: *b, lr: 0.2}, *b]\nx: [*b, *b]\n"
    data = load_yaml(text)
    assert data["methods"] == [{"lr": 0.2, "momentum": 0.5}, {"lr": 0.1, "momentum": 0.5}]
    assert data["x"] == [data["base"], data["base"]]


def test_a_shared_list_within_the_limit_loads(tmp_path: Path) -> None:
    laughs = "\n".join(BILLION_LAUGHS.splitlines()[:6]) + "\n"  # 9^6 = 531441 strings
    assert len(load_yaml(laughs)["a5"]) == 9


def test_nesting_at_the_depth_bound_loads() -> None:
    assert load_yaml("[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1)) is not None
    with pytest.raises(ConfigError, match="levels deep"):
        load_yaml("[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1))


def test_a_byte_order_mark_and_scientific_notation_are_read(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "\ufeff" + BASE_TEXT + "method_defaults: {lr: 1e-3}\n")
    assert load_scenario_data(path)["method_defaults"]["lr"] == 1e-3


def test_equal_keys_of_different_types_are_not_duplicates() -> None:
    assert load_yaml("1: a\n'1': b\n") == {1: "a", "1": "b"}


def test_trace_without_duplicates_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("agent,k,duration\n1,0,1.0\n1,2,3.0\n2,0,2.0\n")
    model = read_trace(path, 2, "f")
    rng = np.random.default_rng(0)
    assert [model.sample(0, k, rng) for k in range(3)] == [1.0, 1.0, 3.0]


# ---------------------------------------------------------------- short messages


def test_quote_shows_at_most_200_characters() -> None:
    assert quote("abc") == "'abc'"
    long = quote("x" * 5_200_000)
    assert long.endswith("… (5200000 characters)") and len(long) < 240
    assert len(quote(list(range(10**6)))) < 240


def test_every_asyncsim_error_is_short() -> None:
    message = str(AsyncSimError("field: got " + "y" * 5_000_000 + " (hint at the end)"))
    assert message.startswith("field: got yyy") and message.endswith("(hint at the end)")
    assert len(message) <= MESSAGE_LIMIT + 50


def test_unknown_name_lists_a_bounded_number_of_names() -> None:
    error = UnknownNameError("oracle.env", "x" * 10_000, [f"Env{i}-v0" for i in range(500)])
    assert "(500 in all; `asyncsim list` prints them)" in str(error)
    assert len(str(error)) <= MESSAGE_LIMIT
