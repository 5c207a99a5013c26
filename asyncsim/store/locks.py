"""One writer per output directory: the lock that ``run``, ``emulate``, ``sweep`` and ``tune``
hold on their ``--out`` while they write there.

An flock(2) on ``DIR/.lock`` rather than a lock file's mere existence: the kernel releases it
when the holder ends in any way, SIGKILL included, so a lock is never stale, and a waiter blocks
in the kernel without polling. (The filelock package would add Windows, where the 'forkserver'
pool cannot run anyway.) The file holds the holder's pid and command, for the message of a
refused one; it is never removed, as removing it would race with a waiter that holds it open.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from asyncsim.core.errors import AsyncSimError, switch

__all__ = ["LOCK_FILE", "locked"]

LOCK_FILE = ".lock"


@contextmanager
def locked(directory: Path, command: str, wait: bool = False) -> Iterator[None]:
    """Hold the lock of ``directory`` (which must exist) while the block runs.

    Args:
        directory: the output directory.
        command: what holds it (``run``, ``sweep``, ...), named to a refused second writer.
        wait: if another writer holds it, wait for it to finish instead of refusing.

    Raises:
        AsyncSimError: another writer holds the lock and ``wait`` is False.
        OSError: the lock file cannot be created.
    """
    path = directory / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held while the block runs)
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            if not wait:
                waits = command in ("sweep", "tune")
                how = f", or with {switch('wait')} to wait for it" if waits else ""
                raise AsyncSimError(
                    f"{directory}: another {holder} is using this directory; re-run when it has "
                    f"finished{how}"
                ) from None
            print(f"waiting for the other {holder} using {directory} to finish", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.truncate(0)
        handle.write(f"{os.getpid()} {command}\n")
        handle.flush()
        yield


def _holder(path: Path) -> str:
    """``sweep (pid N)`` naming the command and process that hold the lock, as far as the lock
    file tells (an earlier release wrote the pid of a sweep alone)."""
    with contextlib.suppress(OSError):
        pid, _, command = path.read_text(encoding="utf-8").strip().partition(" ")
        if pid.isdigit():
            return f"{command or 'sweep'} (pid {pid})"
    return "asyncsim command"
