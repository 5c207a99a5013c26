"""Topology is a registry: the records decide (no topology name is compared anywhere else), the
built-ins carry today's formulas, and a topology from outside the package (the plug-in file
examples/plugins/tree_allreduce.py) runs the built-in methods with exact round times."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from asyncsim import theory
from asyncsim.cli import main
from asyncsim.config import validate_scenario
from asyncsim.core.registry import TOPOLOGIES, TopologyContext
from asyncsim.errors import ConfigError
from asyncsim.plugins import load_plugin
from asyncsim.runner import simulate
from asyncsim.topology.allreduce import COLLECTIVE_TIMES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "asyncsim"
TREE = ROOT / "examples" / "plugins" / "tree_allreduce.py"


def load_tree() -> None:
    """Load the plug-in, unless another test loaded it (or a copy of it) in this process."""
    if "tree_allreduce" not in TOPOLOGIES:
        load_plugin(TREE)


def _compared_strings(node: ast.Compare) -> set[str]:
    """The string constants a comparison compares with (``x == "a"``, ``x in ("a", "b")``)."""
    found: set[str] = set()
    for operand in (node.left, *node.comparators):
        items = operand.elts if isinstance(operand, ast.Tuple | ast.List | ast.Set) else [operand]
        found |= {i.value for i in items if isinstance(i, ast.Constant) and type(i.value) is str}
    return found


def test_no_topology_name_is_compared_outside_the_topology_records() -> None:
    names = {*TOPOLOGIES.names(), *COLLECTIVE_TIMES}
    assert {"server", "allreduce", "max", "ring"} <= names
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if (PACKAGE / "topology") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Compare) and _compared_strings(node) & names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_the_scan_finds_a_comparison() -> None:
    code = 'if cluster.topology == "allreduce" or allreduce in ("max", "ring"): pass'
    compares = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Compare)]
    assert [_compared_strings(n) for n in compares] == [{"allreduce"}, {"max", "ring"}]


def test_the_built_in_records() -> None:
    server, allreduce = TOPOLOGIES.get("server"), TOPOLOGIES.get("allreduce")
    assert (server.broadcasts, server.has_server, server.collective) == (True, True, None)
    assert (allreduce.broadcasts, allreduce.has_server) == (False, False)
    counts = np.array([0, 2, 1, 0])
    assert server.senders(counts).tolist() == [False, True, True, False]
    assert allreduce.senders(counts).tolist() == [True] * 4
    kappa = np.array([0.5, 3.0, 1.0])
    context = TopologyContext(3, "ring")
    assert server.reduce_time(kappa, context) == 3.0
    assert allreduce.reduce_time(kappa, TopologyContext(3, "max")) == 3.0
    assert allreduce.reduce_time(kappa, context) == 2.0 * 2 / 3 * 3.0
    assert server.reduce_time(np.array([]), context) == 0.0
    assert allreduce.reduce_time(np.array([]), context) == 0.0


def _tree_scenario(methods: list[dict[str, Any]], **cluster: Any) -> dict[str, Any]:
    """n = 4, τ = (1, 2, 3, 4), κ = (0.5, 0.5, 0.5, 1) on the plug-in's tree AllReduce."""
    return {
        "name": "tree",
        "oracle": {"kind": "quadratic", "dim": 3},
        "cluster": {
            "n": 4,
            "horizon": 1,
            "compute": {"kind": "fixed", "h": [1.0, 2.0, 3.0, 4.0]},
            "uplink": {"kind": "fixed", "time": [0.5, 0.5, 0.5, 1.0]},
            "topology": "tree_allreduce",
            **cluster,
        },
        "methods": methods,
        "budget": {"iterations": 5},
    }


@pytest.mark.parametrize(
    ("method", "stop"),
    [
        # Rennala, M = 3: completions 1 (agent 1), 2 (agent 1), 2 (agent 2) → stop at 2
        ({"name": "rennala_nigt", "batch": 3}, 2.0),
        # synchronized: the slowest agent's gradient at τ_4 = 4
        ({"name": "synchronized_nigt"}, 4.0),
        # m-synchronous, m = 2: the second gradient at τ_2 = 2
        ({"name": "m_synchronous_sgd", "m": 2}, 2.0),
    ],
)
def test_a_plug_in_topology_runs_with_its_closed_form(method: dict[str, Any], stop: float) -> None:
    load_tree()
    reduce = 2.0 * math.ceil(math.log2(4)) * 1.0  # 2⌈log₂ n⌉ · max_i κ_i = 4 s
    rows = next(iter(simulate(_tree_scenario([method])).methods.values())).rows
    assert [row["time_end"] for row in rows] == [(k + 1) * (stop + reduce) for k in range(6)]
    assert all(row["uploads"] == 4 for row in rows)  # every agent joins the collective
    times = theory.AgentTimes(np.array([1.0, 2, 3, 4]), np.array([0.5, 0.5, 0.5, 1]),
                              np.zeros(4), "tree_allreduce")  # fmt: skip
    spec = validate_scenario(_tree_scenario([method])).methods[0].spec.protocol_spec
    params = validate_scenario(_tree_scenario([method])).methods[0].params
    assert spec.exact_round(times, params, 1).round_time == stop + reduce


def test_server_only_methods_are_refused_on_a_topology_without_a_server() -> None:
    load_tree()
    with pytest.raises(ConfigError, match=r"cluster.topology: method 'afedpg' .*needs a server"):
        validate_scenario(_tree_scenario([{"name": "afedpg"}]))


def test_an_unknown_topology_lists_the_registered_ones() -> None:
    unknown = r"cluster.topology: must be one of 'server'.*, got 'mesh'"
    with pytest.raises(ConfigError, match=unknown):
        validate_scenario(_tree_scenario([{"name": "rennala_nigt"}], topology="mesh"))


def test_the_example_runs_and_its_results_read_back_without_the_plug_in(tmp_path: Path) -> None:
    out = tmp_path / "tree"
    result = CliRunner().invoke(
        main, ["run", str(TREE.with_name("tree.yaml")), "--out", str(out), "-q", "--no-plots",
               "--trust-plugins"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((out / "plugins.json").read_text())["topology"]["collective"] is True
    code = (
        "import sys; from asyncsim.results import read_run_scenario; "
        "from asyncsim.core.registry import TOPOLOGIES; "
        "s = read_run_scenario(sys.argv[1]).cluster; "
        "print(s.topology, s.topology_spec.broadcasts, s.topology_spec.has_server, "
        "'tree_allreduce' in TOPOLOGIES)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert done.stdout.split() == ["tree_allreduce", "False", "False", "False"], done.stderr
