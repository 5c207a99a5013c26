"""Plug-ins: the examples of examples/plugins/ through the CLI, the conformance checkers, method
parameters, and installed plug-ins (entry points)."""

from __future__ import annotations

import heapq
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from asyncsim.checks import CHECK_SCENARIO, ConformanceError, check_method, check_oracle
from asyncsim.cli import main
from asyncsim.config import scenario_json_schema, validate_scenario
from asyncsim.errors import ConfigError
from asyncsim.oracles.base import GradientOracle, GradientResult
from asyncsim.plugins import load_plugin
from asyncsim.registry import METHODS
from asyncsim.results import load_run
from asyncsim.runner import simulate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "plugins"


FEDBUFF = EXAMPLES / "fedbuff.yaml"

pytestmark = pytest.mark.usefixtures("restore_registries")
CUSTOM = EXAMPLES / "custom.yaml"


def cli(*args: str | Path) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


# ---------------------------------------------------------------- through the command line


def test_fedbuff_runs_plots_and_has_a_bounds_row(tmp_path: Path) -> None:
    out = tmp_path / "run"
    table = cli("run", FEDBUFF, "--out", out, "-q", "--trust-plugins")
    assert table.splitlines()[1].split()[:4] == ["fedbuff", "156", "-", "200"]
    run = load_run(out)  # the stored scenario names its plug-in, so it loads anywhere
    rows = run.methods["fedbuff"].rows
    assert all(row["gradients_used"] == 3 for row in rows[1:])
    assert (out / "plots" / "timeline_fedbuff.png").is_file()
    bounds = cli("bounds", FEDBUFF, "--trust-plugins").splitlines()
    fedbuff = next(line.split() for line in bounds if line.startswith("fedbuff"))
    # no round bound, no exact round: '-'; a cost per gradient like the asynchronous server's
    asynchronous = next(line.split() for line in bounds if line.startswith("asynchronous_sgd"))
    assert fedbuff[2:7] == ["-"] * 5 and fedbuff[-1] == asynchronous[-1]
    plotted = cli("plot", out, "--out", tmp_path / "figures")
    assert "timeline_fedbuff.png" in plotted


def test_fedbuff_sweeps_in_worker_processes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    text = cli(
        "sweep",
        FEDBUFF,
        "--trust-plugins",
        "--set",
        "sweep.cluster.n=[2, 4]",
        "--set",
        "budget.iterations=20",
        "--out",
        out,
        "--workers",
        "2",
        "-q",
    )
    assert text.startswith("2 points: 2 done")
    lone = simulate(
        validate_scenario(
            {
                **_fedbuff_data(),
                "cluster": {**_fedbuff_data()["cluster"], "n": 4},
                "budget": {"iterations": 20},
            }
        )
    )
    swept = [load_run(p.parent) for p in out.glob("points/*/COMPLETE")]
    four = next(run for run in swept if run.scenario.cluster.n == 4)
    assert four.methods["fedbuff"].rows == lone.methods["fedbuff"].rows


def _fedbuff_data() -> dict:
    from asyncsim.scenario import load_scenario_data

    return load_scenario_data(FEDBUFF)


def test_plugin_option_on_every_command(tmp_path: Path) -> None:
    listing = cli("list", "--plugin", EXAMPLES / "local_means.py")
    assert "local_means_nigt" in listing
    assert "(lr, momentum, lr_decay, batch, initial_batch)" in listing
    scenario = tmp_path / "s.yaml"
    text = CUSTOM.read_text().replace("plugins: [local_means.py, ", "plugins: [")
    scenario.write_text(
        text.replace("sphere_oracle.py", str(EXAMPLES / "sphere_oracle.py")).replace(
            "pareto_times.py", str(EXAMPLES / "pareto_times.py")
        )
    )
    listed = [
        option for name in ("local_means.py", "sphere_oracle.py", "pareto_times.py")
        for option in ("--plugin", EXAMPLES / name)
    ]  # fmt: skip
    out = cli("validate", scenario, *listed)  # naming every file is the word for each
    assert out.startswith("OK")
    cli("run", scenario, *listed, "--out", tmp_path / "r", "-q")
    # the CLI's plug-in is recorded in the run, so plots need no --plugin
    assert any(p.endswith("local_means.py") for p in load_run(tmp_path / "r").scenario.plugins)


def test_every_kind_of_plugin_in_one_scenario(tmp_path: Path) -> None:
    cli("run", CUSTOM, "--out", tmp_path / "custom", "-q", "--trust-plugins")
    run = load_run(tmp_path / "custom")
    # the sphere oracle knows ||∇f|| = ||x||; both methods share rounds (same stop rule)
    rows = {key: result.rows for key, result in run.methods.items()}
    assert rows["local_means_nigt"][-1]["grad_norm"] < rows["local_means_nigt"][0]["grad_norm"]
    times = [[r["time_end"] for r in rs] for rs in rows.values()]
    assert times[0] == times[1]
    durations = np.diff([0.0, *times[0]])
    assert len(set(np.round(durations, 9))) > 5  # the Pareto times are random


# ---------------------------------------------------------------- FedBuff's update times


def independent_update_times(tau, down, up, buffer: int, updates: int) -> list[float]:
    """Every agent cycles downlink → compute → uplink and is re-dispatched on arrival, so its
    k-th arrival is k cycles after the start (accumulated as the simulator adds); arrivals at
    one instant go in agent order; the server steps at every ``buffer``-th arrival."""
    heap = [(((0.0 + b) + t) + u, i) for i, (t, b, u) in enumerate(zip(tau, down, up, strict=True))]
    heapq.heapify(heap)
    steps = []
    for arrival in range(updates * buffer):
        now, i = heapq.heappop(heap)
        heapq.heappush(heap, (((now + down[i]) + tau[i]) + up[i], i))
        if (arrival + 1) % buffer == 0:
            steps.append(now)
    return steps


@pytest.mark.parametrize("buffer", [1, 3, 4])
def test_fedbuff_update_times_match_an_independent_heap(buffer: int) -> None:
    tau, down, up = [1.0, 1.5, 0.7, 2.0, 1.0], [0.1, 0.0, 0.2, 0.1, 0.1], [0.3, 0.2, 0.0, 0.1, 0.3]
    load_plugin(EXAMPLES / "fedbuff.py")
    run = simulate(
        {
            "name": "fedbuff-times",
            "oracle": {"kind": "quadratic", "dim": 3},
            "cluster": {
                "n": 5,
                "compute": {"kind": "fixed", "h": tau},
                "uplink": {"kind": "fixed", "time": up},
                "downlink": {"kind": "fixed", "time": down},
            },
            "methods": [{"name": "fedbuff", "buffer": buffer}],
            "budget": {"iterations": 49},
        }
    )
    measured = [row["time_end"] for row in run.methods["fedbuff"].rows]
    assert measured == independent_update_times(tau, down, up, buffer, 50)


# ---------------------------------------------------------------- method parameters


def test_plugin_parameters_are_validated_and_documented() -> None:
    load_plugin(EXAMPLES / "fedbuff.py")
    base = {**CHECK_SCENARIO, "methods": [{"name": "fedbuff", "bufer": 3}]}
    with pytest.raises(ConfigError, match=r"methods\[0\]\.bufer: unknown key; did you mean"):
        validate_scenario(base)
    with pytest.raises(ConfigError, match=r"methods\[0\]\.buffer: must be >= 1, got 0"):
        validate_scenario({**base, "methods": [{"name": "fedbuff", "buffer": 0}]})
    needs_server = r"cluster.topology: method 'fedbuff' .* needs a server"
    with pytest.raises(ConfigError, match=needs_server):
        validate_scenario(
            {
                **base,
                "methods": [{"name": "fedbuff"}],
                "cluster": {**CHECK_SCENARIO["cluster"], "topology": "allreduce"},
            }
        )
    schema = json.dumps(scenario_json_schema())
    assert '"buffer"' in schema and "arriving gradients per server step" in schema


def test_method_defaults_fill_only_declared_parameters() -> None:
    scenario = validate_scenario(
        {
            **CHECK_SCENARIO,
            "method_defaults": {"batch": 6, "momentum": 0.2},
            "methods": [{"name": "rennala_nigt"}, {"name": "synchronized_pg"}],
        }
    )
    rennala, synchronized = (m.params.model_dump() for m in scenario.methods)
    assert rennala == {
        "batch": 6,
        "initial_batch": 6,
        "lr": 0.01,
        "momentum": 0.2,
        "lr_decay": None,
    }
    assert synchronized == {"lr": 0.01}
    with pytest.raises(ConfigError, match=r"method_defaults\.momentm: unknown key; did you mean"):
        validate_scenario(
            {
                **CHECK_SCENARIO,
                "method_defaults": {"momentm": 0.2},
                "methods": [{"name": "rennala_nigt"}],
            }
        )


def test_aliases_resolve_to_one_entry_and_keep_the_written_name() -> None:
    run = simulate({**CHECK_SCENARIO, "methods": [{"name": "rennala_sgd", "batch": 4}]})
    assert list(run.methods) == ["rennala_sgd"]
    summary = run.methods["rennala_sgd"].summary
    assert (summary["name"], summary["protocol"], summary["optimizer"]) == (
        "rennala_sgd",
        "rennala",
        "sgd",
    )
    assert METHODS.get("rennala_sgd") is METHODS.get("rennala_pg")


# ---------------------------------------------------------------- conformance checkers


@pytest.mark.parametrize("name", METHODS.names())
def test_check_method_passes_on_every_builtin_method(name: str) -> None:
    summary = check_method(name)
    assert summary["iterations"] == CHECK_SCENARIO["budget"]["iterations"]


def test_check_method_passes_on_the_plugin_methods() -> None:
    load_plugin(EXAMPLES / "fedbuff.py")
    load_plugin(EXAMPLES / "local_means.py")
    check_method("fedbuff", {"buffer": 2})
    check_method("local_means_nigt", {"batch": 5})


WRONG_EXACT_ROUND = """
from asyncsim.checks import ConformanceError, check_method
from asyncsim.methods import rennala
from asyncsim.registry import register_method, register_protocol

def late(times, params, iteration, start=0.0):  # claims every round ends 1e-6 later
    exact = rennala.PROTOCOL.exact_round(times, params, iteration, start)
    return type(exact)(exact.stop_time, exact.counts, exact.round_time + 1e-6)

spec = rennala.PROTOCOL
register_protocol("late", spec.train, description="test", params=spec.params, exact_round=late)
register_method("late_nigt", "late", "nigt", "test")
try:
    check_method("late_nigt")
except ConformanceError as exc:
    print(exc)
"""


def test_check_method_rejects_a_protocol_whose_exact_round_is_wrong() -> None:
    """(In a fresh process: the broken method stays out of this process's registry.)"""
    out = subprocess.run(
        [sys.executable, "-c", WRONG_EXACT_ROUND], capture_output=True, text=True, check=True
    )
    assert "13 rounds differ from the protocol's exact round" in out.stdout  # all 13


@pytest.mark.parametrize("kind", ["quadratic", "nonconvex"])
def test_check_oracle_passes_on_the_synthetic_oracles(kind: str) -> None:
    oracle_config = {"kind": kind, "dim": 4, "noise": 1.0, "noise_distribution": "student_t"}
    scenario = validate_scenario(
        {**CHECK_SCENARIO, "oracle": oracle_config, "methods": [{"name": "afedpg"}]}
    )
    check_oracle(scenario.oracle.build(3, np.random.SeedSequence(5)), rtol=1e-12)


@pytest.mark.parametrize(
    "env", ["Pendulum-v1", pytest.param("Hopper-v5", marks=pytest.mark.mujoco)]
)
def test_check_oracle_passes_on_the_policy_gradient_oracle(env: str) -> None:
    """Rollouts are keyed by (seed, agent, index) and batch independent; the float32 backward
    sums batches of different shapes, hence the tolerance."""
    from asyncsim.oracles.policy_gradient import PolicyGradientOracle

    with PolicyGradientOracle(env, 2, np.random.SeedSequence(2), horizon=30, workers=1) as oracle:
        check_oracle(oracle, rtol=1e-5)


def test_check_oracle_passes_on_the_plugin_oracle() -> None:
    load_plugin(EXAMPLES / "sphere_oracle.py")
    scenario = validate_scenario(
        {**CHECK_SCENARIO, "oracle": {"kind": "sphere"}, "methods": [{"name": "afedpg"}]}
    )
    check_oracle(scenario.oracle.build(2, np.random.SeedSequence(1)), rtol=1e-12)


class CallOrderNoise(GradientOracle):
    """The old synthetic noise: each agent draws from its own stream in call order."""

    def __init__(self) -> None:
        self.dim, self.n_agents = 3, 2
        self._streams = [np.random.default_rng(a) for a in range(2)]

    def initial_point(self) -> np.ndarray:
        return np.zeros(self.dim)

    def compute(self, requests):
        results = []
        for request in requests:
            total = np.zeros(self.dim)
            for job in request.jobs:
                draws = self._streams[job.agent].normal(size=(job.count, self.dim))
                total += job.weight * (-request.point * job.count + draws.sum(axis=0))
            results.append(GradientResult(total))
        return results


def test_check_oracle_rejects_noise_drawn_in_call_order() -> None:
    with pytest.raises(ConformanceError, match="depend only on"):
        check_oracle(CallOrderNoise())


# ---------------------------------------------------------------- installed plug-ins


def test_an_installed_package_registers_through_its_entry_point(tmp_path: Path) -> None:
    """A distribution on sys.path declaring ``[asyncsim.plugins]`` is loaded on first use."""
    (tmp_path / "fake_fedbuff.py").write_text((EXAMPLES / "fedbuff.py").read_text())
    info = tmp_path / "fake_fedbuff-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-fedbuff\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[asyncsim.plugins]\nfedbuff = fake_fedbuff\n")
    code = "from asyncsim.registry import METHODS; print('fedbuff' in METHODS)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert out.stdout.strip() == "True"


def test_a_broken_plugin_file_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import asyncsim\nraise RuntimeError('no\\nway')\n")
    result = CliRunner().invoke(main, ["list", "--plugin", str(broken)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --plugin: plug-in {str(broken)!r} failed to load: no way"
    ]
