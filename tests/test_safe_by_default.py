"""Safe by default: no plug-in code runs without the user's word, no result is lost or silently
replaced, every command guarded, damaged results read, long work shows progress.

Each reproducer runs the installed command in a fresh, memory-limited interpreter
(:func:`bad_input.asyncsim`) and checks what a user's error must give: exit status 2, one
``error:`` line (or the documented warning), no traceback, nothing outside the output directory
changed, no earlier result lost (hash snapshots before and after), and no plug-in code executed
without the opt-in (the plug-ins here write a marker file when imported).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from bad_input import BASE_TEXT, assert_one_line_error, asyncsim, changes, snapshot
from click.testing import CliRunner

from asyncsim.cli import main
from asyncsim.errors import AsyncSimError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "plugins"


def marker_plugin(directory: Path, body: str = "") -> tuple[Path, Path]:
    """A plug-in file that writes a marker file when imported (then runs ``body``)."""
    marker = directory / "MARKER"
    plugin = directory / "marked.py"
    plugin.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n{body}")
    return plugin, marker


COMPARABLE_TEXT = BASE_TEXT.replace(
    "budget: {iterations: 3}", "budget: {iterations: 3, time: 1000}"
)
"""The tiny scenario with a time budget beside its iterations, so that it draws no warning (its
methods count iterations differently) and every refusal below is the only line on stderr."""


def scenario_with(directory: Path, text: str = COMPARABLE_TEXT, **fields: object) -> Path:
    data = {**yaml.safe_load(text), **fields}
    path = directory / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def one_line(outcome, field: str, *fragments: str) -> str:
    message = assert_one_line_error(outcome, field)
    for fragment in fragments:
        assert fragment in message, message
    return message


# ---------------------------------------------------------------- 1. plug-in trust


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("validate", ()),
        ("bounds", ()),
        ("run", ("--out", "out")),
        ("sweep", ("--out", "out", "--workers", "1")),
        ("tune", ("--out", "out", "--workers", "1", "--lr", "0.1")),
        ("emulate", ("--out", "out")),
    ],
)
def test_a_scenario_s_plugins_are_not_imported_without_the_word(
    command: str, args: tuple[str, ...], tmp_path: Path
) -> None:
    plugin, marker = marker_plugin(tmp_path)
    scenario = scenario_with(tmp_path, plugins=[plugin.name])
    before = snapshot(tmp_path)
    outcome = asyncsim(command, scenario, *args, cwd=tmp_path)
    one_line(outcome, "plugins", "marked.py", "--trust-plugins", "ASYNCSIM_TRUST_PLUGINS=1")
    assert not marker.exists()
    assert changes(before, snapshot(tmp_path)) == []


@pytest.mark.parametrize(
    "opt_in",
    [("--trust-plugins",), ("--plugin", "marked.py"), ("ENV",)],
    ids=["--trust-plugins", "--plugin", "ASYNCSIM_TRUST_PLUGINS"],
)
def test_the_word_imports_them(opt_in: tuple[str, ...], tmp_path: Path) -> None:
    plugin, marker = marker_plugin(tmp_path)
    scenario = scenario_with(tmp_path, plugins=[plugin.name])
    env = {"ASYNCSIM_TRUST_PLUGINS": "1"} if opt_in == ("ENV",) else None
    args = () if env else opt_in
    outcome = asyncsim("validate", scenario, *args, cwd=tmp_path, env=env)
    assert outcome.returncode == 0, outcome.stderr
    assert marker.read_text() == "ran"


def test_received_results_are_read_without_importing_their_plugins(tmp_path: Path) -> None:
    """A colleague's results folder: report, plot, load_run and load_sweep read it, moved and
    without the plug-in files, and import nothing (the plug-ins are FedBuff and the custom
    example's method, oracle and time model, each with a marker)."""
    sender = tmp_path / "sender"
    shutil.copytree(EXAMPLES, sender)
    marker = tmp_path / "MARKER"
    for name in ("fedbuff.py", "local_means.py", "sphere_oracle.py", "pareto_times.py"):
        with open(sender / name, "a") as handle:
            handle.write(f"\nimport pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    for example, out in (("fedbuff.yaml", "run"), ("custom.yaml", "custom")):
        done = asyncsim("run", sender / example, "--out", sender / out, "--trust-plugins",
                        "--set", "budget.iterations=20", "--no-plots", "-q",
                        cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
    sweep = asyncsim("sweep", sender / "fedbuff.yaml", "--out", sender / "sweep", "--set",
                     "sweep={seed: [0, 1]}", "--set", "budget.iterations=20", "--workers", "2",
                     "--trust-plugins", "-q", cwd=tmp_path)  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    stored = yaml.safe_load((sender / "run" / "scenario.yaml").read_text())
    assert stored["plugins"] == ["../fedbuff.py"]  # relative to the stored scenario
    record = json.loads((sender / "run" / "plugins.json").read_text())
    assert record["methods"]["fedbuff"]["family"] == "FedBuff"
    assert str(tmp_path) not in (sender / "run" / "plugins.json").read_text()
    received = tmp_path / "received"
    for out in ("run", "custom", "sweep"):
        shutil.copytree(sender / out, received / out)
    shutil.rmtree(sender)
    marker.unlink()
    for directory in ("run", "custom", "sweep"):
        report = asyncsim("report", received / directory, cwd=tmp_path)
        assert report.returncode == 0, report.stderr
    for directory in ("custom", "sweep"):  # a plug-in method, oracle and time model; a sweep
        plot = asyncsim("plot", received / directory, cwd=tmp_path, timeout=300)
        assert plot.returncode == 0, plot.stderr
    assert "fedbuff" in asyncsim("report", received / "run", cwd=tmp_path).stdout
    code = (
        "import asyncsim; "
        f"print(asyncsim.load_run({str(received / 'custom')!r}, table='iterations').shape[0]); "
        f"print(len(asyncsim.load_sweep({str(received / 'sweep')!r})))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0 and loaded.stdout.split()[1] == "6", loaded.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("import sys\nsys.exit(0)\n", "it called sys.exit(0) while being imported"),
        ("raise SystemExit(3)\n", "it called sys.exit(3) while being imported"),
        ("raise KeyboardInterrupt\n", "it raised KeyboardInterrupt while being imported"),
    ],
)
def test_a_plugin_that_exits_while_imported_is_one_line(
    body: str, fragment: str, tmp_path: Path
) -> None:
    plugin, _ = marker_plugin(tmp_path, body)
    scenario = scenario_with(tmp_path, plugins=[plugin.name])
    outcome = asyncsim("validate", scenario, "--trust-plugins", cwd=tmp_path)
    one_line(outcome, "plugins[0]", fragment)


def test_a_plugin_url_is_refused(tmp_path: Path) -> None:
    scenario = scenario_with(tmp_path, plugins=["https://example.com/plugin.py"])
    outcome = asyncsim("validate", scenario, "--trust-plugins", cwd=tmp_path)
    one_line(outcome, "plugins[0]", "URLs are not fetched")


def test_a_broken_installed_plugin_disables_only_itself(tmp_path: Path) -> None:
    for name, body in (("broken_one", "raise SystemExit(3)\n"),
                       ("working_one", (EXAMPLES / "fedbuff.py").read_text())):  # fmt: skip
        (tmp_path / f"{name}.py").write_text(body)
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[asyncsim.plugins]\n{name} = {name}\n")
    env = {"PYTHONPATH": str(tmp_path)}
    listing = asyncsim("list", cwd=tmp_path, env=env)
    assert listing.returncode == 0, listing.stderr
    assert listing.stderr.splitlines() == [
        "warning: installed plug-in 'broken_one' (broken_one) failed to load and is left out: "
        "it called sys.exit(3) while being imported"
    ]
    assert "fedbuff" in listing.stdout  # the other installed plug-in works
    validated = asyncsim("validate", scenario_with(tmp_path), cwd=tmp_path, env=env)
    assert validated.returncode == 0 and validated.stdout.startswith("OK")


# ---------------------------------------------------------------- 2. nothing lost or replaced


def test_run_over_another_scenario_s_results_refuses_without_overwrite(tmp_path: Path) -> None:
    scenario, out = scenario_with(tmp_path), tmp_path / "out"
    assert asyncsim("run", scenario, "--out", out, "--no-plots", cwd=tmp_path).returncode == 0
    again = asyncsim("run", scenario, "--out", out, "--no-plots", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # the same scenario into its own directory
    before = snapshot(tmp_path)
    other = asyncsim("run", scenario, "--out", out, "--set", "seed=1", cwd=tmp_path)
    one_line(other, str(out), "another version of scenario 'bad-input'", "--overwrite")
    emulated = asyncsim("emulate", scenario, "--out", out, cwd=tmp_path)
    one_line(emulated, str(out), "the results of `asyncsim run`", "--overwrite")
    assert changes(before, snapshot(tmp_path)) == []
    replaced = asyncsim("run", scenario, "--out", out, "--set", "seed=1", "--overwrite",
                        "--no-plots", cwd=tmp_path)  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((out / "metadata.json").read_text())["seed"] == 1


LOCK_HOLDER = """\
import sys, time
from pathlib import Path
from asyncsim.locks import locked
with locked(Path(sys.argv[1]), sys.argv[2]):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("command", ["run", "emulate"])
def test_a_second_writer_on_the_same_out_refuses(command: str, tmp_path: Path) -> None:
    scenario, out = scenario_with(tmp_path), tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(out), "run"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        before = snapshot(tmp_path)
        outcome = asyncsim(command, scenario, "--out", out, cwd=tmp_path)
        one_line(outcome, str(out), f"another run (pid {holder.pid}) is using this directory")
        assert changes(before, snapshot(tmp_path)) == []
    finally:
        holder.kill()
        holder.wait()


def test_sweep_and_tune_over_another_sweep_refuse_without_overwrite(tmp_path: Path) -> None:
    scenario, out = scenario_with(tmp_path), tmp_path / "out"
    first = asyncsim("sweep", scenario, "--out", out, "--set", "sweep={seed: [0, 1]}",
                     "--workers", "1", "-q", cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    more = asyncsim("sweep", scenario, "--out", out, "--set", "sweep={seed: [0, 1, 2]}",
                    "--workers", "1", "-q", cwd=tmp_path)  # fmt: skip
    assert more.returncode == 0 and "2 already finished before" in more.stdout  # extended
    before = snapshot(tmp_path)
    for command, extra in (("sweep", ("--set", "sweep={seed: [5]}")), ("tune", ("--lr", "0.1"))):
        other = asyncsim(command, scenario, "--out", out, *extra, "--workers", "1", "-q",
                         cwd=tmp_path)  # fmt: skip
        one_line(other, str(out), "holds another sweep: 3 of the 3 points", "--overwrite")
    assert changes(before, snapshot(tmp_path)) == []
    replaced = asyncsim("sweep", scenario, "--out", out, "--set", "sweep={seed: [5]}",
                        "--workers", "1", "--overwrite", "-q", cwd=tmp_path)  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    after = snapshot(out / "points")
    kept = {k: v for k, v in before.items() if k.startswith("out/points/")}
    assert all(after[k.removeprefix("out/points/")] == v for k, v in kept.items())


def test_sweep_into_a_folder_of_foreign_files_refuses(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    scenario = scenario_with(tmp_path)
    before = snapshot(tmp_path)
    outcome = asyncsim("sweep", scenario, "--out", out, cwd=tmp_path)
    one_line(outcome, str(out), "holds no sweep", "'notes.txt'", "--overwrite")
    assert changes(before, snapshot(tmp_path)) == []


WRITER = """\
import random, resource, sys
from asyncsim.csvtables import BLOCK_ROWS, write_table
from asyncsim.results import TRACE_COLUMNS
rows, flat, t = int(sys.argv[2]), [], 0.0
for i in range(rows):
    t += random.random()
    flat.extend((t, i % 100 + 1, "compute_start", i // 100, i // 100))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
blocks = (flat[5 * s : 5 * (s + BLOCK_ROWS)] for s in range(0, rows, BLOCK_ROWS))
write_table(sys.argv[1], TRACE_COLUMNS, blocks, identifiers=True)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.slow
def test_a_large_trace_is_written_in_bounded_memory(tmp_path: Path) -> None:
    """Writing 2·10^6 trace rows (87 MiB) adds 16-17 MiB of peak memory (259 MiB before:
    the text three times over), so writing cannot run out of memory where the run did not."""
    path = tmp_path / "trace.csv"
    done = subprocess.run([sys.executable, "-c", WRITER, str(path), "2000000"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert path.stat().st_size > 80 * 2**20
    assert int(done.stdout) < 48 * 2**20, int(done.stdout) / 2**20


def test_a_method_failing_mid_run_is_one_line_and_the_others_are_kept(tmp_path: Path) -> None:
    body = textwrap.dedent(
        """
        import asyncsim
        from asyncsim.methods.asynchronous import PROTOCOL

        def failing(run):
            if False:
                yield
            raise RuntimeError("the plug-in broke")

        asyncsim.register_protocol("failing", failing, description="fails", round_based=False)
        asyncsim.register_method("failing_sgd", "failing", "sgd", "fails")
        """
    )
    plugin, _ = marker_plugin(tmp_path, body)
    scenario = scenario_with(
        tmp_path,
        plugins=[plugin.name],
        methods=[{"name": "rennala_nigt", "batch": 2}, {"name": "failing_sgd"}, {"name": "afedpg"}],
    )
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    outcome = asyncsim("run", scenario, "--out", out, "--trust-plugins", "--no-plots", "-q",
                       cwd=tmp_path)  # fmt: skip
    message = one_line(
        outcome, "methods[1]", "failing_sgd (plug-in marked.py)", "the plug-in broke"
    )
    assert f"the methods that finished are written to {out}" in message
    assert [k for k in changes(before, snapshot(tmp_path)) if not k.startswith("out")] == ["MARKER"]
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["methods"] == ["rennala_nigt", "afedpg"]
    assert "the plug-in broke" in metadata["failed"]["failing_sgd"]
    report = asyncsim("report", out, cwd=tmp_path)
    assert report.returncode == 0 and "afedpg" in report.stdout


# ---------------------------------------------------------------- 3. every command guarded


def test_emulate_refuses_what_cannot_finish_or_fit_before_starting_agents(
    tmp_path: Path,
) -> None:
    scenario = scenario_with(tmp_path)
    before = snapshot(tmp_path)
    forever = asyncsim("emulate", scenario, "--time-scale", "1e6", "--out", "out",
                       cwd=tmp_path)  # fmt: skip
    one_line(forever, "--time-scale", "more than 7 days", "lower --time-scale, or --force")
    many = asyncsim("emulate", scenario, "--set", "cluster.n=5000", "--out", "out", cwd=tmp_path)
    one_line(many, "cluster.n", "5000 processes, more than 1000")
    assert [k for k in changes(before, snapshot(tmp_path)) if not k.startswith("out")] == []


def test_emulate_warns_below_the_documented_floor() -> None:
    from asyncsim.emulation import limits

    tau = limits.np.array([1.0, 2.0])
    assert limits.floor_warning(tau, tau, 0.1) is None
    slow = limits.floor_warning(tau, tau, 0.005)
    assert slow is not None and "lasts 5 ms of real time" in slow
    crowded = limits.floor_warning(tau * 0 + 1.0, limits.np.full(1000, 1.0), 1.0)
    assert crowded is not None and "2e+03 messages a second" in crowded


@pytest.mark.parametrize("eps", ["0", "-1", "nan", "inf"])
def test_bounds_validates_eps(eps: str, tmp_path: Path) -> None:
    outcome = asyncsim("bounds", scenario_with(tmp_path), "--eps", eps, cwd=tmp_path)
    one_line(outcome, "--eps", "must be a finite number > 0")


def test_bounds_stays_fast_at_a_million_agents(tmp_path: Path) -> None:
    """Over 60 s and 1.4 GB before (a random-stream seed per agent per model, built six
    times); 1.6 s and 330 MB here, under the 4 GB limit and 30 s timeout of the helper."""
    outcome = asyncsim("bounds", scenario_with(tmp_path), "--set", "cluster.n=1000000",
                       cwd=tmp_path)  # fmt: skip
    assert outcome.returncode == 0, outcome.stderr
    assert "n = 1000000" in outcome.stdout


def test_a_protocol_that_never_updates_stops_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_registries: None
) -> None:
    import asyncsim.recorder

    monkeypatch.setattr(asyncsim.recorder, "UPDATE_LAPSE", 5_000)  # 10^6 in 23 s otherwise
    plugin = tmp_path / "silent.py"
    plugin.write_text(
        textwrap.dedent(
            """
            import asyncsim

            def silent(run):  # keeps its agents busy and never reports an update
                sim = run.sim
                point = sim.oracle.initial_point()
                for agent in range(sim.cluster.n):
                    sim.dispatch(agent, point, 0)
                while True:
                    arrival = yield sim.next_arrival()
                    sim.dispatch(arrival.agent, point, 0)

            asyncsim.register_protocol("silent", silent, description="x", round_based=False)
            asyncsim.register_method("silent_sgd", "silent", "sgd", "never updates")
            """
        )
    )
    scenario_with(
        tmp_path, methods=[{"name": "silent_sgd"}, {"name": "afedpg"}], budget={"iterations": 3}
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["run", "scenario.yaml", "--plugin", "silent.py", "--out", "out", "-q", "--no-plots"]
    )
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: budget.iterations: ") and "computations and no update" in line
    assert "methods[0] silent_sgd (plug-in silent.py), before its first update" in line
    assert (tmp_path / "out" / "afedpg" / "summary.json").is_file()


def test_mindflayer_patience_below_every_compute_time_is_refused(tmp_path: Path) -> None:
    methods = [{"name": "mindflayer_sgd", "patience": 0.5}]
    outcome = asyncsim("run", scenario_with(tmp_path, methods=methods), cwd=tmp_path)
    one_line(outcome, "methods[0].patience", "no round would ever end", "1 s")


BAD_TIMES = """\
from typing import Literal
import asyncsim

class Times(asyncsim.TimeModel):
    def sample(self, agent, k, rng):
        return {value} if k >= 2 else 1.0
    def mean(self, agent):
        return {mean}

class Config(asyncsim.ScaledTimeConfig):
    kind: Literal["bad_times"]
    def build(self, n, field, role, dim=1):
        return Times()

asyncsim.register_time_model("bad_times", Config, "bad times")
"""


@pytest.mark.parametrize(
    ("value", "mean", "field", "fragment"),
    [
        ("-1.0", "1.0", "cluster.compute", "got -1.0 (drawn by the time model of plug-in"),
        ("float('nan')", "1.0", "cluster.compute", "got nan (drawn by the time model"),
        ("float('inf')", "1.0", "cluster.compute", "got inf (drawn by the time model"),
        ("'1.5'", "1.0", "cluster.compute", "got '1.5' (drawn by the time model"),
        ("1.0", "float('nan')", "cluster.compute.h", "must be finite and >= 0 (the time model"),
        ("1.0", "'x'", "cluster.compute.h", "mean times must be numbers (the time model"),
    ],
)
def test_a_plugin_time_model_with_bad_times_is_one_line_naming_it(
    value: str, mean: str, field: str, fragment: str, tmp_path: Path
) -> None:
    plugin = tmp_path / "bad_times.py"
    plugin.write_text(BAD_TIMES.format(value=value, mean=mean))
    cluster = {"n": 4, "compute": {"kind": "bad_times", "h": 1.0}, "uplink": {"time": 0.1}}
    scenario = scenario_with(tmp_path, plugins=[plugin.name], cluster=cluster)
    outcome = asyncsim("run", scenario, "--trust-plugins", "--out", "out", "--no-plots", "-q",
                       cwd=tmp_path)  # fmt: skip
    one_line(outcome, field, fragment, "bad_times.py")


def test_a_plugin_oracle_with_gradients_of_the_wrong_shape_is_one_line(tmp_path: Path) -> None:
    plugin = tmp_path / "wrong_shape.py"
    plugin.write_text(
        textwrap.dedent(
            """
            from typing import Literal
            import numpy as np
            import asyncsim

            class Oracle(asyncsim.GradientOracle):
                dim, n_agents, horizon = 3, 4, 1
                def initial_point(self):
                    return np.zeros(3)
                def compute(self, requests):
                    return [asyncsim.GradientResult(np.zeros(4)) for _ in requests]

            class Config(asyncsim.Params):
                kind: Literal["wrong_shape"]
                def build(self, n_agents, seed):
                    return Oracle()

            asyncsim.register_oracle("wrong_shape", Config, "wrong shape")
            """
        )
    )
    scenario = scenario_with(tmp_path, plugins=[plugin.name], oracle={"kind": "wrong_shape"})
    outcome = asyncsim("run", scenario, "--trust-plugins", "--out", "out", "--no-plots", "-q",
                       cwd=tmp_path)  # fmt: skip
    field = "oracle Oracle of plug-in wrong_shape.py"
    one_line(outcome, field, "shape (4,)", "expected shape (3,)")


# ---------------------------------------------------------------- 4. damaged results


@pytest.fixture
def swept(tmp_path: Path) -> tuple[Path, Path]:
    scenario, out = scenario_with(tmp_path), tmp_path / "sweep"
    done = asyncsim("sweep", scenario, "--out", out, "--set", "sweep={seed: [0, 1, 2]}",
                    "--workers", "1", "-q", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return scenario, out


def test_a_corrupt_summary_makes_its_point_unfinished(swept: tuple[Path, Path]) -> None:
    scenario, out = swept
    point = sorted((out / "points").iterdir())[0]
    tables = {path: path.read_bytes() for path in point.glob("*/*.csv")}
    intact = json.loads((point / "afedpg" / "summary.json").read_text())
    (point / "afedpg" / "summary.json").write_text('{"total_time": 1.')
    report = asyncsim("report", out, cwd=out.parent)
    assert report.returncode == 0 and report.stdout.splitlines()[1].endswith("2")  # 2 seeds
    resumed = asyncsim("sweep", scenario, "--out", out, "--set", "sweep={seed: [0, 1, 2]}",
                       "--workers", "1", "-q", cwd=out.parent)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "2 already finished before" in resumed.stdout
    again = json.loads((point / "afedpg" / "summary.json").read_text())
    assert {**again, "real_seconds": 0} == {**intact, "real_seconds": 0}
    assert {path: path.read_bytes() for path in tables} == tables


def test_a_truncated_index_is_rebuilt_from_the_points(swept: tuple[Path, Path]) -> None:
    scenario, out = swept
    index = (out / "index.csv").read_text()
    (out / "index.csv").write_text(index[: index.index("\n", index.index("\n") + 1) + 6])
    for command in ("report", "plot"):
        outcome = asyncsim(command, out, cwd=out.parent)
        assert outcome.returncode == 0, outcome.stderr
    from asyncsim.tables import load_sweep

    assert sorted(load_sweep(out)["seed"].unique()) == [0, 1, 2]
    resumed = asyncsim("sweep", scenario, "--out", out, "--set", "sweep={seed: [0, 1, 2]}",
                       "--workers", "1", "-q", cwd=out.parent)  # fmt: skip
    assert resumed.returncode == 0 and "3 already finished before" in resumed.stdout
    assert (out / "index.csv").read_text() == index


@pytest.mark.parametrize("command", ["report", "plot"])
def test_report_and_plot_of_what_is_not_results_is_one_line(command: str, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("a,b\n")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    before = snapshot(tmp_path)
    one_line(asyncsim(command, foreign, cwd=tmp_path), str(foreign), "holds no asyncsim results")
    one_line(asyncsim(command, tmp_path / "loop", cwd=tmp_path), str(tmp_path / "loop"),
             "a loop of symbolic links")  # fmt: skip
    assert changes(before, snapshot(tmp_path)) == []


def test_load_run_of_a_sweep_directory_is_one_line(swept: tuple[Path, Path]) -> None:
    import asyncsim

    _, out = swept
    for load in (asyncsim.load_run, lambda path: asyncsim.load_run(path, table="trace")):
        with pytest.raises(AsyncSimError, match="a sweep directory, not a run directory"):
            load(out)
    point = next((out / "points").iterdir())
    with pytest.raises(AsyncSimError, match="a run directory, not a sweep directory"):
        asyncsim.load_sweep(point)


# ---------------------------------------------------------------- 5. progress


def test_a_run_and_a_sweep_show_progress_in_logs(tmp_path: Path) -> None:
    """Not a terminal: a line every ASYNCSIM_PROGRESS_SECONDS, with the running method's
    iteration, simulated time, transitions, share of the budget and ETA, from pool workers
    too."""
    cluster = {"n": 32, "compute": {"kind": "exponential", "h": "sqrt(i)"}, "uplink": {"time": 0.1}}
    scenario = scenario_with(tmp_path, cluster=cluster, budget={"iterations": 1500})
    env = {"ASYNCSIM_PROGRESS_SECONDS": "0"}
    run = asyncsim("run", scenario, "--out", "run", "--no-plots", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    running = [line for line in run.stderr.splitlines() if "| running " in line]
    assert running and "rennala_nigt iteration " in running[0]
    assert all(w in running[-1] for w in ("simulated", "transitions", "of its budget", "ETA"))
    sweep = subprocess.run(
        [Path(sys.executable).with_name("asyncsim"), "sweep", scenario, "--out", "sweep", "--set",
         "sweep={seed: [0, 1]}", "--workers", "2"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    lines = sweep.stderr.splitlines()
    assert any("| running seed=" in line and " iteration " in line for line in lines), lines
    assert lines[-1].startswith("2/2 points")


def test_a_terminal_gets_one_redrawn_line() -> None:
    import io

    from asyncsim.progress import Progress, Status

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    display = Progress(2, "methods", stream=stream, interval=0)
    display.update("", Status("rennala_nigt", 3, 12.5, 400, 0.25, 2.0))
    display.advance(50.0, 10)
    display.advance(20.0, 5)
    display.close()
    text = stream.getvalue()
    assert text.count("\r\033[K") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "running rennala_nigt iteration 3, simulated 12.5 s, 400 transitions" in text
    assert "25% of its budget, ETA 0:06" in text


def test_a_round_stuck_at_one_instant_under_a_time_budget_stops_with_one_line(
    tmp_path: Path,
) -> None:
    """Compute times that reach 0 (h = 3 − k at round k = 3) while another agent's download
    is still on its way: Malenia NIGT's round collects zero-time gradients at one instant
    forever and the clock never reaches the time budget; the watchdog stops it."""
    cluster = {"n": 3, "compute": {"kind": "varying", "h": "3 - k"},
               "uplink": {"time": [0.5, 0.25, 1.0]}}  # fmt: skip
    scenario = scenario_with(
        tmp_path, cluster=cluster, methods=[{"name": "malenia_nigt", "batch": 5}],
        budget={"iterations": 4, "time": 1e6},
    )  # fmt: skip
    outcome = asyncsim("run", scenario, "--out", tmp_path / "out", "--no-plots", cwd=tmp_path)
    assert outcome.returncode == 2, outcome.stderr[-2000:]
    (line,) = outcome.stderr.splitlines()  # 10^6 computations first: not the 5 s of a refusal
    assert line.startswith("error: budget.iterations: ") and "times of 0 keep the clock" in line
