"""Helpers of the process tests: who is alive, by /proc, and waiting on a running command."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def session_processes(sid: int) -> list[int]:
    """Live processes of session ``sid`` (from /proc), zombies excluded."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(stat.parent.name))
    return found


def wait_until(condition: Callable[[], bool], process: subprocess.Popen) -> None:
    """Poll ``condition`` until it holds; fail if ``process`` ends first or after 60 s."""
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
