"""Fault injection for tests/test_sweep_faults.py.

Python imports this module at start-up in every process whose PYTHONPATH starts with this
directory: the sweep's driver, its fork server and every pool worker forked from it. It changes
nothing unless one of these variables is set:

- ``ASYNCSIM_FAULT_CRASH_SEED=S``: a pool worker (a process with a parent process in
  multiprocessing's sense) that starts a point with ``seed: S`` kills itself with SIGKILL.
- ``ASYNCSIM_FAULT_DISK=DIR:BYTES``: DIR is a disk of BYTES bytes: a file written with
  ``asyncsim.results.atomic_write``, or a block of a table (``asyncsim.csvtables.TableFile``),
  under DIR that would take it past BYTES fails as a full disk fails a write(2), with
  ``[Errno 28]`` and no file name.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any


def _crash_on(seed: int) -> None:
    import asyncsim.sweep_executors as executors

    original = executors.run_point

    def run_point(scenario: Any, *args: Any) -> Any:
        if scenario.seed == seed and multiprocessing.parent_process() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(scenario, *args)

    executors.run_point = run_point


def _disk(spec: str) -> None:
    import asyncsim.results as results

    root, _, capacity = spec.rpartition(":")
    original = results.atomic_write

    def atomic_write(path: str | Path, data: str | bytes | bytearray) -> None:
        inside = Path(path).resolve().is_relative_to(Path(root).resolve())
        if inside and _used(root) + len(data) > int(capacity):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(path, data)

    # before the sweep modules exist, so that its `from asyncsim.results import` takes this one
    results.atomic_write = atomic_write

    import asyncsim.csvtables as csvtables

    write_block = csvtables.TableFile._write

    def write(table: Any, data: bytes | bytearray) -> None:
        inside = table.path.resolve().is_relative_to(Path(root).resolve())
        if inside and _used(root) + len(data) > int(capacity):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_block(table, data)

    csvtables.TableFile._write = write


def _used(root: str) -> int:
    """Bytes of the files under ``root`` (files renamed or removed meanwhile count 0)."""
    total = 0
    for directory, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(directory, name)).st_size
    return total


if "ASYNCSIM_FAULT_DISK" in os.environ:
    _disk(os.environ["ASYNCSIM_FAULT_DISK"])
if "ASYNCSIM_FAULT_CRASH_SEED" in os.environ:
    _crash_on(int(os.environ["ASYNCSIM_FAULT_CRASH_SEED"]))
