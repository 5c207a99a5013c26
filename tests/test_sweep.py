"""Sweeps: expansion, the index, failing points, resume after SIGKILL, SIGINT and SIGTERM."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from processes import alive, session_processes, wait_until

from asyncsim.cli import main
from asyncsim.errors import ConfigError
from asyncsim.progress import Progress
from asyncsim.results import COMPLETE, is_complete, load_run, scenario_hash
from asyncsim.scenario import expand_shorthands, load_scenario_data
from asyncsim.sweep import (
    default_workers,
    expand_sweep,
    finished_runs,
    read_index,
    rollout_workers,
    run_sweep,
)

ASYNCSIM = str(Path(sys.executable).with_name("asyncsim"))

BASE: dict[str, Any] = {
    "name": "sweep",
    "oracle": {"kind": "quadratic", "dim": 4},
    "cluster": {"n": 2, "compute": {"kind": "exponential", "h": 1.0}},
    "methods": [{"name": "rennala_nigt"}, {"name": "afedpg"}],
    "budget": {"iterations": 5},
}


def sweep_data(sweep: dict[str, list], **fields: Any) -> dict[str, Any]:
    return {**BASE, **fields, "sweep": sweep}


# ---------------------------------------------------------------- expansion


def test_points_are_the_cartesian_product_in_key_order() -> None:
    data = expand_shorthands(
        {**sweep_data({"cluster.n": [1, 2], "methods": [[{"name": "afedpg"}]]}), "seeds": [0, 1]}
    )
    points = expand_sweep(data)
    assert [tuple(p.values.values()) for p in points] == [
        (1, [{"name": "afedpg"}], 0),
        (1, [{"name": "afedpg"}], 1),
        (2, [{"name": "afedpg"}], 0),
        (2, [{"name": "afedpg"}], 1),
    ]
    last = points[-1].scenario
    assert (last.cluster.n, last.seed, [m.name for m in last.methods]) == (2, 1, ["afedpg"])
    assert last.sweep is None
    assert all(p.key == scenario_hash(p.scenario) for p in points)
    assert len({p.key for p in points}) == 4


def test_without_a_sweep_block_there_is_one_point() -> None:
    (point,) = expand_sweep(BASE)
    assert point.values == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (sweep_data({"cluster.n": [2, 0]}), r"sweep point cluster\.n=0: cluster\.n: must be >= 1"),
        (sweep_data({"cluster.n": []}), r"sweep\.cluster\.n: must be a non-empty list"),
        (sweep_data({"cluster.n": 3}), r"sweep\.cluster\.n: must be a non-empty list.*got 3"),
        (
            sweep_data({"methods[0].name": ["malenia_nigt", "fedavg"]}),
            r"sweep point methods\[0\]\.name='fedavg': methods\[0\]\.name: unknown method",
        ),
        (sweep_data({"cluster.nn": [1]}), r"cluster\.nn: unknown key"),
    ],
)
def test_bad_points_fail_the_sweep_up_front(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        expand_sweep(data)


def test_seeds_shorthand_conflicts_with_a_seed_axis() -> None:
    with pytest.raises(ConfigError, match="seeds: give the seeds either"):
        expand_shorthands({**sweep_data({"seed": [1]}), "seeds": [0]})
    with pytest.raises(ConfigError, match=r"seeds: must be a non-empty list of seeds, got 3"):
        expand_shorthands({**BASE, "seeds": 3})


# ---------------------------------------------------------------- running


def test_index_and_rerun_skip_finished_points(tmp_path: Path) -> None:
    data = sweep_data({"cluster.n": [1, 2], "cluster.compute.h": [1, 1.0]})  # equal points
    index = run_sweep(data, tmp_path, workers=1)
    rows = read_index(tmp_path)
    assert list(rows[0]) == ["hash", "cluster.n", "cluster.compute.h", "status", "error"]
    assert [(r["cluster.n"], r["cluster.compute.h"], r["status"]) for r in rows] == [
        (1, 1, "done"),
        (1, 1.0, "done"),
        (2, 1, "done"),
        (2, 1.0, "done"),
    ]
    assert rows[0]["hash"] == rows[1]["hash"]  # equal points run once
    assert len(list(tmp_path.glob("points/*/COMPLETE"))) == 2
    assert index.skipped == 0
    first = load_run(tmp_path / "points" / rows[2]["hash"])
    assert first.scenario.cluster.n == 2
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("points/*/*/iterations.csv")}
    again = run_sweep(data, tmp_path, workers=1)
    assert again.skipped == 4  # points, counting equal ones
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    varying = [{"kind": "varying", "h": "1"}, {"kind": "varying", "h": "3 - k"}]
    data = sweep_data({"cluster.compute": varying})
    index = run_sweep(data, tmp_path, workers=1)
    rows = read_index(tmp_path)
    assert [r["status"] for r in rows] == ["done", "failed"]
    message = "sampled time for agent 1 at iteration 4 must be a finite number >= 0"
    assert message in rows[1]["error"]
    assert "\n" not in rows[1]["error"]
    error_file = tmp_path / "points" / rows[1]["hash"] / "error.txt"
    assert "Traceback" in error_file.read_text()
    assert (index.count("done"), index.count("failed")) == (1, 1)
    again = run_sweep(data, tmp_path, workers=1)  # failed points are retried
    assert (again.skipped, again.count("failed")) == (1, 1)


def test_progress_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(2, "points", stream=stream, interval=3600)
    progress.advance(10.0, 5)
    progress.advance(2.5, 1, failed=True)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("1/2 points | simulated 10 s | 5 iterations | real 0:00 | ETA")
    assert lines[1].startswith("2/2 points (1 failed) | simulated 12.5 s | 6 iterations")
    quiet = Progress(1, "points", stream=stream, quiet=True)
    quiet.advance()
    assert len(stream.getvalue().splitlines()) == 2


# ---------------------------------------------------------------- interruption


SLOW_POINTS = {
    **BASE,
    "cluster": {"n": 4, "compute": {"kind": "exponential", "h": "i**0.5"}},
    "budget": {"iterations": 400},  # slow enough to be interrupted part-way
    "sweep": {"cluster.n": [2, 3, 4, 5], "seed": [0, 1, 2]},
}


def start_sweep(scenario: Path, out: Path) -> subprocess.Popen:
    """The sweep as a user's shell starts it: with Ctrl-C enabled (a background job of a
    non-interactive shell, as the test run may be, inherits SIGINT ignored)."""
    command = [ASYNCSIM, "sweep", str(scenario), "--out", str(out), "--workers", "2", "-q"]
    return subprocess.Popen(
        command,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def finished_points(out: Path) -> list[Path]:
    return sorted(marker.parent for marker in out.glob(f"points/*/{COMPLETE}"))


def stamps(point: Path) -> list[tuple[int, int]]:
    files = [point / COMPLETE, *sorted(point.glob("*/iterations.csv"))]
    return [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files]


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SLOW_POINTS, sort_keys=False))
    return path


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_driver_killed_with_sigkill_leaves_no_process_and_resumes_exactly(
    tmp_path: Path, scenario_file: Path
) -> None:
    out = tmp_path / "killed"
    process = start_sweep(scenario_file, out)
    wait_until(lambda: len(finished_points(out)) >= 3, process)
    # the driver, the fork server and 2 workers (and the resource tracker)
    assert len(session_processes(process.pid)) >= 4
    process.kill()  # the driver alone: its workers must notice by themselves
    deadline = time.monotonic() + 5
    while session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not session_processes(process.pid)
    process.communicate()
    before = {point: stamps(point) for point in finished_points(out)}
    assert 3 <= len(before) < 12
    stale = [out / ".index.csv.4194305.tmp", out / ".sweep.yaml.4194305.tmp"]
    for path in stale:  # as a driver killed while writing them leaves them
        path.write_text("partial")
    result = CliRunner().invoke(main, ["sweep", str(scenario_file), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert f"12 points: 12 done ({len(before)} already finished before), 0 failed" in result.stdout
    assert {point: stamps(point) for point in before} == before
    assert not list(out.glob(".*.tmp"))
    reference = tmp_path / "reference"
    run_sweep(load_scenario_data(scenario_file), reference, workers=1)
    assert (out / "index.csv").read_bytes() == (reference / "index.csv").read_bytes()
    tables = sorted(p.relative_to(reference) for p in reference.glob("points/*/*/*.csv"))
    assert len(tables) == 12 * 2 * 2
    for table in tables:
        assert (out / table).read_bytes() == (reference / table).read_bytes(), table


def interrupt(process: subprocess.Popen, out: Path, sig: int, after: int) -> dict[str, str]:
    """Send ``sig`` once ``after`` points are finished; check the one-line exit and that the
    index matches the point directories exactly; return the index's statuses."""
    wait_until(lambda: len(finished_points(out)) >= after, process)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1].startswith("interrupted: finished work is kept")
    statuses = {row["hash"]: row["status"] for row in read_index(out)}
    assert statuses == {
        key: "done" if is_complete(out / "points" / key) else "pending" for key in statuses
    }
    return statuses


def test_sweep_interrupted_with_sigint_keeps_an_exact_index(
    tmp_path: Path, scenario_file: Path
) -> None:
    out = tmp_path / "interrupted"
    statuses = interrupt(start_sweep(scenario_file, out), out, signal.SIGINT, after=2)
    assert "pending" in statuses.values()
    done = sum(status == "done" for status in statuses.values())
    index = run_sweep(load_scenario_data(scenario_file), out, workers=1)
    assert (index.skipped, index.count("done")) == (done, 12)


def _descendants(pid: int) -> list[int]:
    """Live processes below ``pid`` (from /proc), zombies excluded."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sweep_terminated_with_sigterm_stops_its_workers(
    tmp_path: Path, scenario_file: Path
) -> None:
    out = tmp_path / "terminated"
    process = start_sweep(scenario_file, out)
    wait_until(lambda: len(finished_points(out)) >= 1, process)
    workers = _descendants(process.pid)
    assert workers  # the pool (forkserver and its workers) is running
    interrupt(process, out, signal.SIGTERM, after=1)
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(alive, workers))


def test_finished_runs_yields_only_complete_points(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    run_sweep(sweep_data({"seed": [0, 1, 2]}), out, workers=1)
    assert [row["seed"] for row, _ in finished_runs(out)] == [0, 1, 2]
    first = read_index(out)[0]["hash"]
    (out / "points" / first / COMPLETE).unlink()
    runs = list(finished_runs(out))
    assert [row["seed"] for row, _ in runs] == [1, 2]
    assert all(run.scenario.seed == row["seed"] for row, run in runs)


# ---------------------------------------------------------------- rollout processes per point


POLICY_GRADIENT = {
    "name": "rollouts",
    "oracle": {"kind": "policy_gradient", "env": "Pendulum-v1", "horizon": 10},
    "cluster": {"n": 2, "compute": {"kind": "fixed", "h": 1}},
    "methods": [{"name": "rennala_nigt", "batch": 4, "initial_batch": 4}],
    "budget": {"iterations": 3},
    "sweep": {"seed": [0, 1]},
}


@pytest.mark.slow
def test_parallel_points_roll_out_in_their_share_of_the_cores(tmp_path: Path) -> None:
    """Points run two at a time with oracle.workers unset (rollout_workers(2) rollout
    processes each: in-process on 2 cores) give what points with rollout pools of their own,
    started inside the pool's workers, give; they record the scenario as given."""
    default = run_sweep(POLICY_GRADIENT, tmp_path / "default", workers=2)
    pooled = {**POLICY_GRADIENT, "oracle": {**POLICY_GRADIENT["oracle"], "workers": 2}}
    explicit = run_sweep(pooled, tmp_path / "explicit", workers=2)
    assert default.count("done") == explicit.count("done") == 2
    assert rollout_workers(1) is None
    assert rollout_workers(2) == max(1, default_workers() // 2)
    for ours, theirs in zip(default.points, explicit.points, strict=True):
        run = load_run(tmp_path / "default" / "points" / ours.key)
        assert run.scenario.oracle.workers is None
        assert scenario_hash(run.scenario) == ours.key
        for table in ["rennala_nigt/iterations.csv", "rennala_nigt/trace.csv"]:
            mine = tmp_path / "default" / "points" / ours.key / table
            other = tmp_path / "explicit" / "points" / theirs.key / table
            assert mine.read_bytes() == other.read_bytes(), table


def test_an_interrupted_point_resumes_from_its_finished_methods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each method × seed is a resumable unit: the point's first method is written as soon as
    it finishes; after a failure in the second, a re-run runs only the second and leaves the
    first one's files as they were; the point then equals one run without interruption."""
    import asyncsim.runner as runner

    data = sweep_data({"seed": [3]})
    real_run_method, calls = runner.run_method, []

    def interrupted(scenario, index):
        calls.append(scenario.methods[index].key)
        if index == 1:
            raise RuntimeError("interrupted")
        return real_run_method(scenario, index)

    monkeypatch.setattr(runner, "run_method", interrupted)
    run_sweep(data, tmp_path / "resumed", workers=1)
    (point,) = (tmp_path / "resumed" / "points").iterdir()
    first = point / "rennala_nigt" / "iterations.csv"
    assert first.is_file() and not (point / "afedpg").exists() and not is_complete(point)
    stamp = first.stat().st_mtime_ns
    calls.clear()
    monkeypatch.setattr(runner, "run_method", lambda s, i: calls.append(s.methods[i].key)
                        or real_run_method(s, i))  # fmt: skip
    index = run_sweep(data, tmp_path / "resumed", workers=1)
    assert calls == ["afedpg"] and index.count("done") == 1 and is_complete(point)
    assert first.stat().st_mtime_ns == stamp
    run_sweep(data, tmp_path / "whole", workers=1)
    (whole,) = (tmp_path / "whole" / "points").iterdir()
    for key in ("rennala_nigt", "afedpg"):
        for name in ("iterations.csv", "trace.csv"):
            assert (point / key / name).read_bytes() == (whole / key / name).read_bytes()
        mine, fresh = (json.loads((d / key / "summary.json").read_text()) for d in (point, whole))
        assert {**mine, "real_seconds": 0} == {**fresh, "real_seconds": 0}
    assert load_run(point).summary_table()[1]["method"] == "afedpg"
