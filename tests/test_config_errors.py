"""Bad input fails fast with a one-line ConfigError naming the field path and the value."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY, deep_merge

from asyncsim.config import validate_scenario
from asyncsim.errors import ConfigError, UnknownNameError
from asyncsim.registry import METHODS
from asyncsim.runner import simulate
from asyncsim.scenario import load_scenario

YAML = """\
schema_version: 1
name: bad-input
seed: 0
oracle: {{kind: quadratic, dim: 3, noise: 1.0}}
cluster:
  n: 4
  compute: {{kind: fixed, h: {h}}}
  uplink: {{kind: fixed, time: {uplink}}}
methods:
  - {{name: {method}, lr: {lr}, momentum: {momentum}, batch: {batch}}}
budget: {{iterations: 2}}
"""
GOOD = {
    "h": "[1, 2, 3, 4]",
    "uplink": 0.1,
    "method": "rennala_nigt",
    "lr": 0.01,
    "momentum": 0.1,
    "batch": 4,
}


def _yaml_file(tmp_path: Path, **fields: Any) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(YAML.format(**(GOOD | fields)))
    return path


def _error(call, *args: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return info.value


def _dict_error(**overrides: Any) -> str:
    return str(_error(validate_scenario, deep_merge(TINY, overrides)))


# ------------------------------------------------------------------ through validate_scenario

DICT_CASES = {
    "negative scalar time": (
        {"cluster": {"compute": {"h": -1}}},
        ["cluster.compute.h:", ">= 0", "-1"],
    ),
    "negative list element": (
        {"cluster": {"compute": {"h": [1, -2, 3, 4]}}},
        ["cluster.compute.h[1]:", ">= 0", "-2"],
    ),
    "negative uplink": (
        {"cluster": {"uplink": {"time": -0.5}}},
        ["cluster.uplink.time:", "-0.5"],
    ),
    "expression negative for one agent": (
        {"cluster": {"compute": {"h": "2 - i"}}},
        ["cluster.compute.h[2]:", "-1", "2 - i"],
    ),
    "NaN time": (
        {"cluster": {"compute": {"h": math.nan}}},
        ["cluster.compute.h:", "finite", "nan"],
    ),
    "NaN in a list": (
        {"cluster": {"compute": {"h": [1, math.nan, 3, 4]}}},
        ["cluster.compute.h[1]:", "finite", "nan"],
    ),
    "infinite uplink": (
        {"cluster": {"uplink": {"time": math.inf}}},
        ["cluster.uplink.time:", "inf"],
    ),
    "n = 0": ({"cluster": {"n": 0}}, ["cluster.n:", ">= 1", "got 0"]),
    "batch = 0": (
        {"methods": [{"name": "rennala_nigt", "batch": 0}]},
        ["methods[0].batch:", ">= 1", "got 0"],
    ),
    "initial_batch = 0": (
        {"methods": [{"name": "malenia_nigt", "initial_batch": 0}]},
        ["methods[0].initial_batch:", "got 0"],
    ),
    "momentum = 0": (
        {"methods": [{"name": "rennala_nigt", "momentum": 0}]},
        ["methods[0].momentum:", "> 0", "got 0"],
    ),
    "momentum = 1.5": (
        {"methods": [{"name": "rennala_nigt", "momentum": 1.5}]},
        ["methods[0].momentum:", "<= 1", "got 1.5"],
    ),
    "momentum = 1.5 in the second method": (
        {"methods": [{"name": "rennala_nigt"}, {"name": "afedpg", "momentum": 1.5}]},
        ["methods[1].momentum:", "got 1.5"],
    ),
    "negative lr": ({"methods": [{"name": "afedpg", "lr": -1}]}, ["methods[0].lr:", "got -1"]),
    "list length != n": (
        {"cluster": {"uplink": {"time": [0.1, 0.2, 0.3]}}},
        ["cluster.uplink.time:", "3 values", "n = 4"],
    ),
    "compute list length != n": (
        {"cluster": {"n": 2, "compute": {"h": [1, 2, 3]}}},
        ["cluster.compute.h:", "3 values", "n = 2"],
    ),
    "unclosed expression": (
        {"cluster": {"compute": {"h": "sqrt(i"}}},
        ["cluster.compute.h:", "malformed expression", "'sqrt(i'"],
    ),
    "code injection": (
        {"cluster": {"compute": {"h": "__import__('os')"}}},
        ["cluster.compute.h:", "malformed expression", "__import__('os')", "not allowed"],
    ),
    "attribute access": (
        {"cluster": {"uplink": {"time": "i.__class__"}}},
        ["cluster.uplink.time:", "not allowed"],
    ),
    "unknown method key": (
        {"methods": [{"name": "rennala_nigt", "momentun": 0.1}]},
        ["methods[0].momentun:", "unknown key", "did you mean 'momentum'"],
    ),
    "unknown top-level key": (
        {"budjet": {"iterations": 1}},
        ["budjet:", "unknown key", "did you mean 'budget'"],
    ),
    "unknown cluster key": (
        {"cluster": {"topolgy": "server"}},
        ["cluster.topolgy:", "did you mean 'topology'"],
    ),
    "unknown time model kind": (
        {"cluster": {"compute": {"kind": "weibull"}}},
        ["cluster.compute.kind:", "'weibull'", "lognormal"],
    ),
    "unknown topology": (
        {"cluster": {"topology": "ring"}},
        ["cluster.topology:", "'ring'", "allreduce"],
    ),
    "outage of a missing agent": (
        {"cluster": {"outages": [{"agent": 9, "start": 0, "end": 1}]}},
        ["cluster.outages[0].agent:", "1..4", "got 9"],
    ),
    "outage ending before it starts": (
        {"cluster": {"outages": [{"agent": 1, "start": 2, "end": 1}]}},
        ["cluster.outages[0]:", "end must be > start", "got 1.0"],
    ),
    "no budget limit": (
        {"budget": {"iterations": None, "target_grad_norm": 0.1}},
        ["budget:", "iterations"],
    ),
}


@pytest.mark.parametrize("case", list(DICT_CASES))
def test_validate_scenario_names_field_and_value(case: str) -> None:
    overrides, fragments = DICT_CASES[case]
    message = _dict_error(**overrides)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert message.count(", got ") <= 1, message


def test_the_field_is_also_an_attribute() -> None:
    error = _error(
        validate_scenario, deep_merge(TINY, {"cluster": {"compute": {"h": [1, -2, 3, 4]}}})
    )
    assert error.field == "cluster.compute.h[1]"


def test_scenario_must_be_a_mapping() -> None:
    assert "mapping" in str(_error(validate_scenario, [1, 2]))


# ------------------------------------------------------------------ unknown method names


def test_unknown_method_lists_the_valid_ones_before_anything_runs() -> None:
    scenario = deep_merge(TINY, {"methods": [{"name": "rennala_nigt"}, {"name": "renala_nigt"}]})
    ran: list[str] = []
    with pytest.raises(UnknownNameError) as info:
        simulate(scenario, progress=lambda key, _: ran.append(key))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("methods[1].name: unknown method 'renala_nigt'")
    assert "did you mean 'rennala_nigt'" in message
    for name in METHODS:
        assert name in message
    assert ran == []  # the bad name is reported before the first method is simulated
    assert isinstance(info.value, ConfigError)


# ------------------------------------------------------------------ through YAML files


YAML_CASES = {
    "negative time": ({"uplink": -0.25}, ["cluster.uplink.time:", "-0.25"]),
    "NaN time": ({"uplink": ".nan"}, ["cluster.uplink.time:", "nan"]),
    "NaN in a list": ({"h": "[1, .nan, 3, 4]"}, ["cluster.compute.h[1]:", "nan"]),
    "batch = 0": ({"batch": 0}, ["methods[0].batch:", "got 0"]),
    "momentum = 0": ({"momentum": 0}, ["methods[0].momentum:", "got 0"]),
    "momentum = 1.5": ({"momentum": 1.5}, ["methods[0].momentum:", "got 1.5"]),
    "list length != n": ({"h": "[1, 2]"}, ["cluster.compute.h:", "2 values", "n = 4"]),
    "malformed expression": ({"h": '"sqrt(i"'}, ["cluster.compute.h:", "'sqrt(i'"]),
    "code injection": ({"h": "\"__import__('os')\""}, ["cluster.compute.h:", "__import__"]),
    "string lr": ({"lr": "fast"}, ["methods[0].lr:", "'fast'"]),
}


@pytest.mark.parametrize("case", list(YAML_CASES))
def test_load_scenario_names_field_and_value(tmp_path: Path, case: str) -> None:
    fields, fragments = YAML_CASES[case]
    message = str(_error(load_scenario, _yaml_file(tmp_path, **fields)))
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_n_zero_in_yaml(tmp_path: Path) -> None:
    path = _yaml_file(tmp_path)
    path.write_text(path.read_text().replace("n: 4", "n: 0"))
    assert "cluster.n: must be >= 1, got 0" in str(_error(load_scenario, path))


def test_unknown_key_in_yaml_suggests_the_right_one(tmp_path: Path) -> None:
    path = _yaml_file(tmp_path)
    path.write_text(path.read_text().replace("momentum:", "momentun:"))
    message = str(_error(load_scenario, path))
    assert message == "methods[0].momentun: unknown key; did you mean 'momentum'?"


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = _yaml_file(tmp_path)
    path.write_text(path.read_text().replace("n: 4", "n: [4"))
    message = str(_error(load_scenario, path))
    assert "malformed YAML" in message and "line" in message


@pytest.mark.parametrize(("text", "value"), [("1e-3", 1e-3), ("2.5E-2", 0.025), ("1e+0", 1.0)])
def test_scientific_notation_loads_as_a_float(tmp_path: Path, text: str, value: float) -> None:
    scenario = load_scenario(_yaml_file(tmp_path, lr=text))
    lr = scenario.methods[0].params.lr
    assert isinstance(lr, float) and lr == value


def test_the_good_yaml_loads(tmp_path: Path) -> None:
    scenario = load_scenario(_yaml_file(tmp_path))
    assert scenario.cluster.n == 4 and scenario.methods[0].params.batch == 4
