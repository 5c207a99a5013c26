"""Run directories: the output contract, byte-identical tables, round trips, atomicity."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asyncsim.core.csvtables as csvtables
from asyncsim.config import validate_scenario
from asyncsim.csvtables import read_table, table_text, write_table
from asyncsim.errors import AsyncSimError, ConfigError
from asyncsim.results import (
    COMPLETE,
    TRACE_COLUMNS,
    atomic_write,
    is_complete,
    load_run,
    method_dir_name,
    scenario_hash,
    write_run,
)
from asyncsim.runner import RunResult, simulate
from asyncsim.scenario import load_yaml

SCENARIO: dict[str, Any] = {
    "name": "results",
    "seed": 3,
    "oracle": {"kind": "quadratic", "dim": 4},
    "cluster": {"n": 3, "compute": {"kind": "exponential", "h": "i**0.5"}, "uplink": {"time": 0.1}},
    "methods": [{"name": "rennala_nigt", "batch": 4}, {"name": "afedpg"}],
    "budget": {"iterations": 15},
}
REQUIRED = [
    "iteration",
    "time_start",
    "time_end",
    "gradients_used",
    "gradients_computed",
    "uploads",
    "grad_norm",
]


@pytest.fixture(scope="module")
def run() -> RunResult:
    return simulate(SCENARIO)


@pytest.fixture
def run_dir(run: RunResult, tmp_path: Path) -> Path:
    return write_run(run, tmp_path / "run")


def test_layout_follows_the_output_contract(run_dir: Path) -> None:
    assert is_complete(run_dir)
    for key in ("rennala_nigt", "afedpg"):
        header = (run_dir / key / "iterations.csv").read_text().splitlines()[0].split(",")
        assert header[: len(REQUIRED)] == REQUIRED
        trace_header = (run_dir / key / "trace.csv").read_text().splitlines()[0]
        assert trace_header == "time,agent,event,iteration,version"
        summary = json.loads((run_dir / key / "summary.json").read_text())
        assert {
            "total_time",
            "iterations",
            "gradients_used",
            "gradients_computed",
            "uploads",
        } <= set(summary)
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["seed"] == 3
    assert {"asyncsim_version", "git_commit", "host", "python", "started", "finished"} <= set(
        metadata
    )


def test_scenario_yaml_is_the_resolved_scenario(run: RunResult, run_dir: Path) -> None:
    stored = load_yaml((run_dir / "scenario.yaml").read_text())
    assert stored == run.scenario.model_dump(mode="json")
    assert validate_scenario(stored) == run.scenario


def test_round_trip_parses_numbers_back(run: RunResult, run_dir: Path) -> None:
    loaded = load_run(run_dir)
    assert loaded.scenario == run.scenario
    assert list(loaded.methods) == list(run.methods)
    for key, method in run.methods.items():
        assert loaded.methods[key].rows == method.rows
        assert loaded.methods[key].trace == method.trace
        assert loaded.methods[key].summary == method.summary


def test_same_seed_gives_byte_identical_tables(run_dir: Path, tmp_path: Path) -> None:
    again = write_run(simulate(SCENARIO), tmp_path / "again")
    for key in ("rennala_nigt", "afedpg"):
        for table in ("iterations.csv", "trace.csv"):
            assert (again / key / table).read_bytes() == (run_dir / key / table).read_bytes()


def test_unfinished_directory_is_recognised(run_dir: Path) -> None:
    (run_dir / COMPLETE).unlink()
    assert not is_complete(run_dir)
    with pytest.raises(AsyncSimError, match="unfinished run directory"):
        load_run(run_dir)


def test_rewrite_drops_the_marker_first(
    run: RunResult, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("asyncsim.results._write_method", fail)
    with pytest.raises(OSError, match="disk full"):
        write_run(run, run_dir)
    assert not is_complete(run_dir)


def test_rewrite_removes_methods_of_the_earlier_run(run: RunResult, run_dir: Path) -> None:
    only_first = RunResult(run.scenario, {"rennala_nigt": run.methods["rennala_nigt"]})
    write_run(only_first, run_dir)
    assert not (run_dir / "afedpg").exists()


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    atomic_write(target, "old")

    with pytest.raises(TypeError):
        atomic_write(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_cells_use_repr_for_numpy_and_python_floats(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    rows = [[np.float64(0.1), 0.1, np.int64(3), None, True, "x,y"]]
    text = table_text(["a", "b", "c", "d", "e", "f"], rows)
    assert text.splitlines()[1] == '0.1,0.1,3,,True,"x,y"'
    path.write_text(text)
    assert read_table(path) == [{"a": 0.1, "b": 0.1, "c": 3, "e": True, "f": "x,y"}]


def test_scenario_hash_is_content_based(run: RunResult) -> None:
    same = validate_scenario(run.scenario.model_dump(mode="json"))
    other = validate_scenario({**SCENARIO, "seed": 4})
    assert scenario_hash(same) == scenario_hash(run.scenario)
    assert len(scenario_hash(run.scenario)) == 12
    assert scenario_hash(other) != scenario_hash(run.scenario)


def test_method_labels_must_be_directory_names() -> None:
    assert method_dir_name("rennala (M=4)") == "rennala (M=4)"
    with pytest.raises(ConfigError, match=r"methods\[1\]\.label: must not contain '/'.*'a/b'"):
        method_dir_name("a/b", "methods[1].label")
    for reserved in ("plots", "metadata.json", "COMPLETE"):  # a run directory's own entries
        with pytest.raises(ConfigError, match=r"methods\[1\]\.label: .*run directory's own"):
            method_dir_name(reserved, "methods[1].label")


def test_trace_rows_are_built_on_first_read_and_survive_pickling():
    import pickle

    from asyncsim.engine.trace import Trace

    method = simulate(SCENARIO).methods["rennala_nigt"]
    assert isinstance(method.recorded, Trace)
    copy = pickle.loads(pickle.dumps(method))
    assert copy.trace == method.trace and isinstance(method.recorded, list)
    assert method.trace == sorted(method.trace, key=lambda row: row[0])


def test_trace_rows_out_of_time_order_are_sorted_stably_when_read():
    from asyncsim.engine.trace import SERVER, Trace

    trace = Trace()
    for row in [
        (2.0, 0, "a", 0, 0),
        (1.0, 1, "b", 0, 0),
        (2.0, SERVER, "c", 0, 1),
        (1.0, 0, "d", 1, 1),
    ]:
        trace.record(*row)
    expected = [(1.0, 2, "b", 0, 0), (1.0, 1, "d", 1, 1), (2.0, 1, "a", 0, 0), (2.0, 0, "c", 0, 1)]
    assert trace.rows() == expected
    assert [v for block in trace.flat_blocks(3) for v in block] == [v for r in expected for v in r]
    assert trace.rows() == expected  # reading twice sorts the stored rows the same way


@pytest.mark.parametrize("method", ["rennala_nigt", "synchronized_nigt"])
def test_reduce_uploads_are_recorded_in_time_order(method: str):
    """Rennala's uploads start when the round stops, so its trace is recorded in time order and
    is written without sorting; synchronized NIGT's start when each agent finished (in the
    past), and its trace is sorted when written. Either way the rows come out stably sorted."""
    data = {**SCENARIO, "methods": [{"name": method}]}
    recorded = simulate(data).methods[method].recorded
    stored = recorded._flat[0::5]
    assert (stored == sorted(stored)) == (method == "rennala_nigt")
    flat = [value for block in recorded.flat_blocks(7) for value in block]
    assert flat[0::5] == sorted(stored) and len(flat) == len(recorded._flat)
    assert flat == [value for row in recorded.rows() for value in row]


@pytest.mark.parametrize("time", [0.1 + 0.2, 1e-5, 1.5e-7, 1e16, 1.2345678901234568e17, 3.0])
def test_trace_times_read_back_exactly(time: float, tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    rows = [(time, 0, "update", 2, 3), (np.float64(time), np.int64(1), "compute_start", 2, 2)]
    write_trace(path, [value for row in rows for value in row])
    assert [tuple(row.values()) for row in read_table(path)] == [
        (time, 0, "update", 2, 3),
        (time, 1, "compute_start", 2, 2),
    ]


def test_empty_trace_is_the_header_alone(tmp_path: Path) -> None:
    write_trace(tmp_path / "trace.csv", [])
    assert (tmp_path / "trace.csv").read_bytes() == b"time,agent,event,iteration,version\n"


def test_numeric_tables_keep_blanks_and_non_finite_floats(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    finite = table_text(["a", "b", "c"], [[1, 0.5, None], [2, 1e-05, 3.0]])
    assert finite == "a,b,c\n1,0.5,\n2,0.00001,3.0\n"
    path.write_text(table_text(["a", "b", "c"], [[1, 0.5, None], [2, float("nan"), -np.inf]]))
    rows = read_table(path)
    assert rows[0] == {"a": 1, "b": 0.5} and rows[1]["c"] == -np.inf and np.isnan(rows[1]["b"])


def test_a_trace_time_that_is_not_finite_is_still_written(tmp_path: Path) -> None:
    write_trace(tmp_path / "trace.csv", [1.5, 0, "update", 1, 2, float("inf"), 1, "lost", 2, 2])
    text = (tmp_path / "trace.csv").read_text()
    assert text.splitlines()[1:] == ["1.5,0,update,1,2", "inf,1,lost,2,2"]


def test_iteration_table_orders_columns_and_blanks_missing_keys() -> None:
    from asyncsim.recorder import COLUMNS
    from asyncsim.results import _iteration_blocks, _iteration_columns

    def table(rows: list[dict[str, Any]]) -> tuple[list[str], list[Any]]:
        names = _iteration_columns(rows)
        return names, [value for block in _iteration_blocks(rows, names) for value in block]

    full = [{name: k for name in reversed(COLUMNS)} for k in range(2)]  # any key order
    names, flat = table(full)
    assert names == list(COLUMNS) and flat == [0] * len(COLUMNS) + [1] * len(COLUMNS)
    names, flat = table([full[0], {**full[1], "return": 2.5}])
    assert names == [*COLUMNS, "return"]
    assert flat == [0] * len(COLUMNS) + [None] + [1] * len(COLUMNS) + [2.5]


@pytest.mark.parametrize("failing_write", [1, 2])
def test_a_table_write_that_fails_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_write: int
) -> None:
    """A full disk on the header (write 1, inside the constructor) or on a block (write 2)
    leaves the earlier table as it was and no ``.NAME.PID.tmp`` beside it."""
    path = tmp_path / "iterations.csv"
    path.write_text("earlier\n")
    writes = []
    original = csvtables.TableFile._write

    def write(table: csvtables.TableFile, data: bytes | bytearray) -> None:
        writes.append(data)
        if len(writes) == failing_write:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(table, data)

    monkeypatch.setattr(csvtables.TableFile, "_write", write)
    with pytest.raises(OSError, match="No space"):
        write_table(path, ["a", "b"], [[1, 2.5]])
    assert path.read_text() == "earlier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iterations.csv"]


def test_a_table_whose_last_bytes_do_not_fit_leaves_no_temporary_file(tmp_path: Path) -> None:
    """The last buffered bytes are written when the file closes: a failure there too."""
    path = tmp_path / "iterations.csv"

    class FullDisk(io.BytesIO):
        def close(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    table = csvtables.TableFile(path, ["a"])
    table._handle.close()
    table._handle = FullDisk()
    with pytest.raises(OSError, match="No space"):
        table.close()
    assert list(tmp_path.iterdir()) == []


def write_trace(path: Path, flat: list[Any]) -> None:
    """A trace file of the flattened rows ``flat``, as run directories write it."""
    write_table(path, TRACE_COLUMNS, [flat], identifiers=True)


EARLIER_RELEASE_SCENARIO = """\
schema_version: 1
name: legacy
description: ''
seed: 0
oracle: {kind: quadratic, dim: 3, noise: 1.0, noise_distribution: gaussian, df: 3.0,
  smoothness: 1.0, min_curvature: 0.1, init_scale: 1.0, heterogeneity: 0.0}
cluster:
  n: 3
  horizon: null
  timing: per_trajectory
  compute: {kind: fixed, h: i, time: null, sigma: null, spread: null, cv: null, shape: null,
    path: null, latency: null, bandwidth: null}
  uplink: {kind: fixed, h: null, time: 0.5, sigma: null, spread: null, cv: null, shape: null,
    path: null, latency: null, bandwidth: null}
  downlink: null
  topology: server
  allreduce: max
  outages: []
method_defaults: {lr: null, momentum: null, batch: 2, initial_batch: null}
methods:
- {name: rennala_nigt, label: null, lr: 0.1, momentum: 0.1, batch: 2, initial_batch: null}
- {name: afedpg, label: null, lr: 0.05, momentum: 0.1, batch: 2, initial_batch: null}
budget: {iterations: 4, time: null, transitions: null, gradients: null, target_return: null,
  target_grad_norm: null}
evaluation: {episodes: 0, every: 10, period: null}
output: {trace: true}
sweep: null
"""
"""scenario.yaml as releases before method parameters wrote it (every field, nulls, batch on
every method), for the tiny scenario below."""


def test_a_run_directory_of_an_earlier_release_is_read(tmp_path: Path) -> None:
    import yaml

    from asyncsim.config import validate_scenario
    from asyncsim.errors import ConfigError
    from asyncsim.results import load_run, read_run_scenario

    data = yaml.safe_load(EARLIER_RELEASE_SCENARIO)
    tiny = {
        "name": "legacy",
        "oracle": {"kind": "quadratic", "dim": 3},
        "cluster": {"n": 3, "compute": {"kind": "fixed", "h": "i"}, "uplink": {"time": 0.5}},
        "method_defaults": {"batch": 2},
        "methods": [{"name": "rennala_nigt", "lr": 0.1}, {"name": "afedpg", "lr": 0.05}],
        "budget": {"iterations": 4},
    }
    with pytest.raises(ConfigError):  # the control: this release does not read it as it is
        validate_scenario(data)
    out = tmp_path / "run"
    write_run(simulate(validate_scenario(tiny)), out)
    (out / "scenario.yaml").write_text(EARLIER_RELEASE_SCENARIO)
    assert read_run_scenario(out) == validate_scenario(tiny)
    assert list(load_run(out).methods) == ["rennala_nigt", "afedpg"]
    (out / "scenario.yaml").write_text("methods: [{name: rennala_nigt, bogus: 1}]\n")
    with pytest.raises(ConfigError):
        read_run_scenario(out)
