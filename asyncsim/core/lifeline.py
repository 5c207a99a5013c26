"""Child processes that exit when the process that started them dies, however it dies.

A worker pool outlives a driver killed with SIGKILL: under the 'forkserver' start method a
worker's parent is the fork server, which stays alive as long as any worker does (each worker
holds its "alive" pipe), and a worker busy with a task never looks at its task queue. A lifeline
is a pipe whose write end only the starting process holds and nobody writes to: when that
process ends, for any reason, the kernel closes the write end, and a thread of every child,
blocked reading the read end, sees end-of-file and ends its process at once::

    lifeline = parent_lifeline()                    # in the parent
    Process(target=work, args=(lifeline, ...))      # or a pool's initializer and initargs
    exit_with_parent(lifeline)                      # first thing in the child

The read end is handed over explicitly, so this works with the 'spawn' and 'forkserver' start
methods. (A 'fork' child inherits every descriptor, the write end too, and would keep the
lifeline open.) A child that starts processes of its own gives them its own lifeline, so a
whole tree goes down with its root.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection

__all__ = ["exit_with_parent", "parent_lifeline"]

_lifeline: tuple[int, Connection, Connection] | None = None
"""(pid, read end, write end) of this process's lifeline; the write end is never written."""


def parent_lifeline() -> Connection:
    """The read end of this process's lifeline, to pass to the children it starts.

    Made once per process (the write end stays referenced here for the process's lifetime).
    """
    global _lifeline
    if _lifeline is None or _lifeline[0] != os.getpid():
        reader, writer = multiprocessing.Pipe(duplex=False)
        _lifeline = (os.getpid(), reader, writer)
    return _lifeline[1]


def exit_with_parent(lifeline: Connection) -> None:
    """In a child: end this process (``os._exit(1)``) as soon as ``lifeline``'s parent ends.

    A daemon thread waits for end-of-file on the lifeline; the process's other threads, its
    computation included, are not involved until then.
    """
    threading.Thread(target=_watch, args=(lifeline,), name="lifeline", daemon=True).start()


def _watch(lifeline: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        while True:  # nothing is ever sent: recv returns only at end-of-file
            lifeline.recv_bytes()
    os._exit(1)
