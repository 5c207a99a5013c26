"""Sweeps under faults: a killed driver, a dead worker, two sweeps on one directory, a full
disk. Each fault runs the real command; every surviving result is compared byte for byte with a
sweep that ran alone."""

from __future__ import annotations

import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import wait_until

from asyncsim.results import COMPLETE
from asyncsim.sweep import read_index, run_sweep

ASYNCSIM = str(Path(sys.executable).with_name("asyncsim"))
FAULTS = str(Path(__file__).with_name("faults"))  # its sitecustomize.py injects the faults

SWEEP: dict[str, Any] = {
    "name": "faults",
    "oracle": {"kind": "quadratic", "dim": 4},
    "cluster": {"n": 3, "compute": {"kind": "exponential", "h": "i**0.5"}},
    "methods": [{"name": "rennala_nigt"}, {"name": "afedpg"}],
    "budget": {"iterations": 200, "time": 1e6},  # a time too: no warning on comparability
    "sweep": {"seed": [0, 1, 2, 3, 4, 5]},
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SWEEP run alone, in-process."""
    out = tmp_path_factory.mktemp("reference") / "sweep"
    run_sweep(SWEEP, out, workers=1)
    return out


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    return path


def sweep_command(scenario: Path, out: Path, *options: str) -> list[str]:
    return [ASYNCSIM, "sweep", str(scenario), "--out", str(out), "--workers", "2", "-q", *options]


def run(command: list[str], **faults: str) -> subprocess.CompletedProcess:
    """``command`` with the faults of tests/faults/sitecustomize.py given as variables."""
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=_env(faults))


def start(command: list[str], **faults: str) -> subprocess.Popen:
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(faults)
    )


def _env(faults: dict[str, str]) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [FAULTS, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **faults}


def complete_points(out: Path) -> set[str]:
    return {marker.parent.name for marker in out.glob(f"points/*/{COMPLETE}")}


def assert_same_points(out: Path, reference: Path, keys: set[str]) -> None:
    """The points ``keys`` of ``out`` are complete, with the reference's tables byte for byte."""
    assert keys <= complete_points(out)
    tables = [p.relative_to(reference) for k in keys for p in reference.glob(f"points/{k}/*/*.csv")]
    assert len(tables) == 4 * len(keys)  # 2 methods x (iterations.csv, trace.csv)
    for table in tables:
        assert (out / table).read_bytes() == (reference / table).read_bytes(), table


def assert_identical(out: Path, reference: Path) -> None:
    """``out`` holds what the lone run wrote: its index, its tables, and no leftovers."""
    assert (out / "index.csv").read_bytes() == (reference / "index.csv").read_bytes()
    assert_same_points(out, reference, complete_points(reference))
    assert complete_points(out) == complete_points(reference)
    leftovers = [*out.rglob("*.tmp"), *out.rglob("error.txt")]
    assert not leftovers


# ---------------------------------------------------------------- a dead worker


def test_a_dead_worker_fails_only_its_own_point(
    scenario: Path, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run(sweep_command(scenario, out), ASYNCSIM_FAULT_CRASH_SEED="1")
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"error: 1 of 6 points failed; see {out / 'index.csv'}"
    rows = {row["seed"]: row for row in read_index(out)}
    assert rows[1]["status"] == "failed"
    assert rows[1]["error"] == (
        "the worker process running this point died (killed by SIGKILL, e.g. out of memory)"
    )
    assert [rows[seed]["status"] for seed in (0, 2, 3, 4, 5)] == ["done"] * 5
    assert_same_points(out, reference, {rows[seed]["hash"] for seed in (0, 2, 3, 4, 5)})
    again = run(sweep_command(scenario, out))  # the failed point is retried, without the fault
    assert again.returncode == 0, again.stderr
    assert_identical(out, reference)


# ---------------------------------------------------------------- two sweeps, one directory


def test_a_second_sweep_on_a_directory_refuses_or_waits(
    scenario: Path, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = start(sweep_command(scenario, out))
    holder = f"{first.pid} sweep"  # the lock file names its holder
    wait_until(lambda: (out / ".lock").is_file() and _text(out / ".lock") == holder, first)
    os.kill(first.pid, signal.SIGSTOP)  # it holds the lock for as long as the test needs
    try:
        second = run(sweep_command(scenario, out))
        waiting = start(sweep_command(scenario, out, "--wait"))
        assert select.select([waiting.stderr], [], [], 30)[0], "no line from the waiting sweep"
        waited = waiting.stderr.readline()
        assert waiting.poll() is None
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 2
    assert second.stderr == (
        f"error: {out}: another sweep (pid {first.pid}) is using this directory; re-run when it "
        "has finished, or with --wait to wait for it\n"
    )
    assert waited == f"waiting for the other sweep (pid {first.pid}) using {out} to finish\n"
    assert first.wait(timeout=60) == 0, first.communicate()
    stdout, stderr = waiting.communicate(timeout=60)
    assert (waiting.returncode, stderr) == (0, "")
    assert "6 points: 6 done (6 already finished before), 0 failed" in stdout
    assert_identical(out, reference)


def _text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


# ---------------------------------------------------------------- a full disk

FULL = re.compile(
    r"error: cannot write (\S+): \[Errno 28\] No space left on device; the sweep stopped and "
    r"kept its finished points: free some space and re-run it to resume"
)


def check_full_disk_stop(result: subprocess.CompletedProcess, out: Path, reference: Path) -> None:
    """A clean stop: exit 2, one line naming a path of the sweep, some points finished, each
    exactly as in the lone run."""
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    match = FULL.fullmatch(line)
    assert match, line
    assert Path(match[1]).resolve().is_relative_to(out.resolve())
    finished = complete_points(out)
    assert 1 <= len(finished) < 6
    assert_same_points(out, reference, finished)


def test_a_full_disk_stops_the_sweep_cleanly_and_it_resumes(
    scenario: Path, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    size = sum(path.stat().st_size for path in reference.rglob("*") if path.is_file())
    result = run(sweep_command(scenario, out), ASYNCSIM_FAULT_DISK=f"{out}:{size // 2}")
    check_full_disk_stop(result, out, reference)
    again = run(sweep_command(scenario, out))  # space freed
    assert again.returncode == 0, again.stderr
    assert_identical(out, reference)


def _can_mount_tmpfs() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    check = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"]
    return subprocess.run(check, capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare -rm and a tmpfs mount")
def test_a_full_tmpfs_stops_the_sweep_cleanly_and_it_resumes(
    scenario: Path, reference: Path, tmp_path: Path
) -> None:
    """On a real 800 KiB file system (each point writes about 250 kB), in a private mount
    namespace; what was left there is copied out and the sweep resumed on a roomier disk."""
    mount, copy = tmp_path / "mnt", tmp_path / "copy"
    mount.mkdir()
    inside = shlex.join(sweep_command(scenario, mount / "out"))
    script = (
        f"mount -t tmpfs -o size=800k tmpfs {mount} || exit 99; {inside} 2>{tmp_path}/stderr; "
        f"echo $? >{tmp_path}/rc; cp -a {mount}/out {copy}"
    )
    subprocess.run(["unshare", "-rm", "sh", "-c", script], check=True, timeout=120)
    stderr = (tmp_path / "stderr").read_text().replace(str(mount / "out"), str(copy))
    returncode = int((tmp_path / "rc").read_text())
    result = subprocess.CompletedProcess([], returncode, "", stderr)
    check_full_disk_stop(result, copy, reference)
    again = run(sweep_command(scenario, copy))
    assert again.returncode == 0, again.stderr
    assert_identical(copy, reference)
