"""Helpers of the bad-input tests: run the installed command on a file in a sandbox and check
that it fails the way a user error must (exit status 2, one ``error:`` line naming the field,
no traceback, in under 5 s, nothing written or changed outside the output directory)."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

MEMORY_LIMIT = 4 * 2**30
"""Address-space limit of the child: a regression (an alias bomb) fails instead of taking the
machine's memory."""

SECONDS = 5.0
"""Longest a bad input may take to be refused, in CPU seconds of the command (user + system):
the suite runs on two busy cores, where wall time would measure the load, not the command. A
hang is caught by the wall-clock :data:`HANG_SECONDS`."""

HANG_SECONDS = 120
"""Wall-clock seconds after which a command counts as hung: far above any command here, also
when the cores are shared with other jobs (at a load of 11 on 2 cores, starting Python with
asyncsim's imports took over 30 s)."""

BASE_TEXT = """\
name: bad-input
oracle: {kind: quadratic, dim: 3}
cluster: {n: 4, compute: {kind: fixed, h: 1.0}, uplink: {time: 0.1}}
methods: [{name: rennala_nigt, batch: 2}, {name: afedpg}]
budget: {iterations: 3}
"""
"""A tiny valid scenario (simulates in milliseconds)."""

BASE: dict = yaml.safe_load(BASE_TEXT)

_COMMAND = "import sys; from asyncsim.cli import main; sys.argv[0] = 'asyncsim'; main()"


@dataclass
class Outcome:
    """What one command did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def asyncsim(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = HANG_SECONDS
) -> Outcome:
    """Run ``asyncsim ARGS`` in a fresh interpreter in ``cwd`` (killed after ``timeout``
    seconds), with the variables ``env`` added to this one's; the outcome's ``seconds`` is the
    command's CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", _COMMAND, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        preexec_fn=_limit_memory,
        env={**os.environ, **(env or {})},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Outcome(done.returncode, done.stdout, done.stderr, cpu)


def assert_one_line_error(outcome: Outcome, field: str | tuple[str, ...]) -> str:
    """Exit status 2, exactly one stderr line ``error: FIELD: ...``, no traceback, fast.

    Returns the message (without ``error: ``)."""
    fields = (field,) if isinstance(field, str) else field
    assert "Traceback" not in outcome.stderr, outcome.stderr[-2000:]
    assert outcome.returncode == 2, (outcome.returncode, outcome.stderr[-2000:])
    assert outcome.stderr.count("\n") == 1 and outcome.stderr.endswith("\n"), outcome.stderr[:2000]
    line = outcome.stderr.removesuffix("\n")
    assert line.startswith(tuple(f"error: {f}: " for f in fields)), line[:500]
    assert len(line) <= 600, f"{len(line)} characters: {line[:300]}"
    assert outcome.seconds < SECONDS, f"took {outcome.seconds:.1f} s"
    return line.removeprefix("error: ")


def snapshot(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under ``root`` ('dir' for a directory)."""
    files = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink() or not path.is_file():
            files[key] = "dir" if path.is_dir() else "other"
        else:
            files[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def changes(before: dict[str, str], after: dict[str, str], allowed: str | None = None) -> list:
    """Paths added, removed or changed between two snapshots, except under ``allowed``."""
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    if allowed is not None:
        changed = {k for k in changed if k != allowed and not k.startswith(f"{allowed}/")}
    return sorted(changed)
