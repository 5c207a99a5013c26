"""One emulated agent: a real worker that computes real gradients and waits out modelled times.

The agent runs the commands of :mod:`asyncsim.emulation.messages`. For a job it waits its
modelled broadcast time, then computes gradients at the point with the scenario's oracle, each
ending ``τ·S`` real seconds after it began (S the time scale; the gradient is computed first, so
a gradient slower than its modelled time ends late), and uploads after its uplink time. It owns
its agent's random time streams (a replica of the run's cluster, drawn in the same per-agent
order as the simulation), except the AllReduce collective, whose duration the driver sends.

Every wait is cut short by the next command, so the driver can stop work at any moment: a
Stop of the running job drops it (or uploads the job's first gradients), a Start begins new
work, a Setup begins a new method. Consecutive phases are chained on their modelled deadlines,
not on when the timer woke, so timer overshoot does not accumulate along one agent's work.
A broadcast ends its modelled time after the driver sent the point, and an upload is sent as
it starts, stamped with its modelled end (:mod:`asyncsim.emulation.messages`).

The same :class:`AgentWorker` runs in a process (``--executor local``: commands and notices on
a pipe) or in a Ray actor (:class:`RayAgent`: on a socket to the driver).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Client, Connection
from typing import Any, Protocol

import numpy as np

from asyncsim.core.lifeline import exit_with_parent
from asyncsim.core.oracle import GradientJob, GradientRequest, GradientResult, sum_reports
from asyncsim.core.trace import TraceEvent
from asyncsim.emulation.messages import (
    Event,
    Failure,
    Quit,
    Ready,
    Setup,
    Start,
    Stop,
    Upload,
)
from asyncsim.oracles import build_oracle
from asyncsim.run.runner import seeds
from asyncsim.scenario.parts import build_cluster

__all__ = [
    "AgentWorker",
    "RayAgent",
    "combine_stats",
    "no_delay",
    "serve_process",
]

Command = Setup | Start | Stop | Quit


class Inbox(Protocol):
    """Commands for one agent, in the order the driver sent them."""

    def get(self, timeout: float | None) -> Command | None:
        """The next command; None if none came within ``timeout`` seconds (None: wait)."""


class AgentWorker:
    """The command loop of one agent (see the module docstring).

    Args:
        inbox: where commands come from.
        send: sends a notice to the driver.
    """

    def __init__(self, inbox: Inbox, send: Callable[[Any], None]) -> None:
        self.inbox = inbox
        self.send = send
        self.agent = 0
        self.scale = 1.0
        self.oracle: Any = None
        self.cluster: Any = None
        self.per_step = False
        self.job = 0
        self.version = 0
        self.results: list[GradientResult] = []
        # wall time = monotonic time + offset: waits use the monotonic clock, notices the wall
        # clock, which the driver (another process, possibly another machine) can compare
        self._offset = time.time() - time.monotonic()

    def serve(self) -> None:
        """Run commands until Quit (or the driver's end of the channel closes)."""
        command = self.inbox.get(None)
        while not isinstance(command, Quit):
            try:
                command = self._handle(command)
            except Exception as exc:  # the driver reports it and stops the emulation
                self.send(Failure(" ".join(f"{type(exc).__name__}: {exc}".split())))
                command = self.inbox.get(None)
        self._close_oracle()

    def _handle(self, command: Command) -> Command | None:
        """Carry out ``command``; returns the next command (one that cut it short, or the
        next one from the inbox)."""
        if isinstance(command, Setup):
            self._setup(command)
            self.send(Ready())
        elif isinstance(command, Start):
            return self._run(command)
        elif isinstance(command, Stop) and command.job == self.job and command.upload:
            return self._upload(command.used, time.monotonic(), command.duration)
        return self.inbox.get(None)

    # ---------------------------------------------------------------- a method's set-up

    def _setup(self, setup: Setup) -> None:
        """This method's oracle and time streams, seeded as the simulation seeds them."""
        scenario = setup.scenario
        self._close_oracle()
        timing_seed, oracle_seed = seeds(scenario.seed)
        self.oracle = build_oracle(scenario.oracle, scenario.cluster.n, oracle_seed)
        self.oracle.horizon = scenario.horizon  # as the runner does for synthetic oracles
        self.cluster = build_cluster(scenario, self.oracle.dim, timing_seed)
        self.per_step = scenario.cluster.timing == "per_step"
        self.agent, self.scale, self.job = setup.agent, setup.scale, 0

    def _close_oracle(self) -> None:
        if self.oracle is not None:
            self.oracle.close()
            self.oracle = None

    # ---------------------------------------------------------------- a job

    def _run(self, start: Start) -> Command | None:
        """Job ``start`` until it ends by itself or a command cuts it short."""
        self.job, self.version, self.results = start.job, start.version, []
        broadcast = self.scale * self.cluster.broadcast_delay(self.agent, start.version)
        deadline = max(start.sent - self._offset + broadcast, time.monotonic())
        interrupted = self._wait(deadline)
        if interrupted is not None:
            return interrupted
        self._event(TraceEvent.BROADCAST_RECEIVED, deadline)
        index = start.first_index
        while True:
            deadline, used = self._compute(start, deadline, index)
            interrupted = self._wait(deadline)
            if interrupted is not None:
                return interrupted
            self._event(TraceEvent.COMPUTE_END if used else TraceEvent.ABANDONED, deadline)
            index += 1
            if not used or start.keeps_computing:
                continue
            if start.upload_when_done:
                return self._upload(len(self.results), deadline, None)
            return self.inbox.get(None)  # the gradient waits for the Stop that collects it

    def _compute(self, start: Start, begin: float, index: int) -> tuple[float, bool]:
        """Begin gradient ``index`` at monotonic time ``begin``: (when it ends, whether it is
        completed rather than abandoned after the patience). The gradient is computed now and
        kept; the end is ``begin + τ·S``, or the end of a computation that took longer."""
        point, agent = start.point, self.agent
        transitions = (
            self.oracle.trajectory_length(point, agent, index)
            if self.per_step
            else self.oracle.horizon
        )
        tau = self.cluster.compute_time(agent, start.version, transitions)
        if start.patience is not None and tau > start.patience:
            return begin + self.scale * start.patience, False
        request = GradientRequest(point, (GradientJob(agent, index, 1, 1.0),), start.context)
        self.results.append(self.oracle.compute([request])[0])
        return max(begin + self.scale * tau, time.monotonic()), True

    def _upload(self, used: int, begin: float, duration: float | None) -> Command | None:
        """Upload the sum of the job's first ``used`` gradients from monotonic time ``begin``
        for the upload time (the agent's uplink time when ``duration`` is None): sent now,
        stamped with when the upload ends, which is not before now (the agent's notices are
        taken in the order of their stamps)."""
        if duration is None:
            duration = self.cluster.uplink_time(self.agent, self.version)
        result = _sum(self.results[:used]) if used else None
        end = max(begin + self.scale * duration, time.monotonic())
        self.send(Upload(self.job, result, used, begin + self._offset, end + self._offset))
        return self.inbox.get(None)

    def _wait(self, deadline: float) -> Command | None:
        """Sleep until monotonic time ``deadline``; a command that arrives first is returned
        (a Stop of another job than the running one is stale and dropped)."""
        while True:
            command = self.inbox.get(max(0.0, deadline - time.monotonic()))
            if command is None:
                return None
            if not (isinstance(command, Stop) and command.job != self.job):
                return command

    def _event(self, kind: str, deadline: float) -> None:
        now = time.monotonic()
        self.send(Event(self.job, kind, now + self._offset, now - deadline))


def _sum(results: list[GradientResult]) -> GradientResult:
    """Σ of gradients, with their statistics combined by :func:`combine_stats` and their
    reports added."""
    vector = np.sum([result.vector for result in results], axis=0)
    stats = combine_stats([(result, 1) for result in results])
    return GradientResult(vector, stats, sum_reports(results))


def combine_stats(parts: list[tuple[GradientResult, int]]) -> dict[str, float]:
    """Statistics of several results, each standing for ``count`` gradients: ``transitions``
    summed, every other statistic averaged over the gradients (weighted by the counts)."""
    keys = [key for key in parts[0][0].stats if all(key in r.stats for r, _ in parts)]
    total = sum(count for _, count in parts)
    stats = {}
    for key in keys:
        if key == "transitions":
            stats[key] = float(sum(r.stats[key] for r, _ in parts))
        else:
            stats[key] = float(sum(r.stats[key] * count for r, count in parts) / total)
    return stats


# ---------------------------------------------------------------- a connection to the driver


class _ConnectionInbox:
    """Commands from the driver's end of a pipe or socket; a closed one reads as Quit."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, timeout: float | None) -> Command | None:
        # select() sleeps with microsecond resolution (Connection.poll rounds up to whole
        # milliseconds through epoll): waits end 0.05-0.1 ms late on an idle machine. A reader
        # thread feeding a queue instead added 1.5-4.9 ms (median) in some runs, against
        # 0.013 ms for a command to reach this loop directly
        if timeout is not None and not select.select([self.conn.fileno()], [], [], timeout)[0]:
            return None
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return Quit()


def serve_process(conn: Connection, lifeline: Connection) -> None:
    """Entry point of an agent's process (``--executor local``)."""
    exit_with_parent(lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _serve(conn)


def _serve(conn: Connection) -> None:
    """Serve the driver's commands arriving on ``conn`` until it says Quit or closes."""
    with contextlib.suppress(OSError, EOFError):  # the driver is gone
        AgentWorker(_ConnectionInbox(conn), conn.send).serve()


# ---------------------------------------------------------------- a Ray actor


def no_delay(conn: Connection) -> None:
    """Send each message on the TCP connection ``conn`` at once (TCP_NODELAY): with Nagle's
    algorithm a small message sent while the previous one is unacknowledged waits for the
    acknowledgement, which the receiver may delay by up to 40 ms."""
    with socket.socket(fileno=os.dup(conn.fileno())) as handle:
        handle.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class RayAgent:
    """A Ray actor hosting one agent: it connects to the driver's listener at ``address``
    (authenticated with ``authkey``), says which agent it is, and serves the driver's commands
    on that connection in a thread of its own.

    Ray starts its workers at niceness 15; the actor takes the driver's ``niceness`` back
    where it may (as root, or within RLIMIT_NICE). At niceness 15 on a busy 2-core machine
    (two busy processes besides), agents woke so late that rounds took up to 25% longer than
    modelled at S = 1 with 50-200 ms times, against at most 3.4% at the driver's niceness.
    """

    def __init__(self, address: tuple[str, int], authkey: bytes, agent: int, niceness: int) -> None:
        with contextlib.suppress(OSError):  # not permitted: the agent runs at Ray's niceness
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
        conn = Client(address, authkey=authkey)
        no_delay(conn)
        conn.send(agent)
        threading.Thread(target=_serve, args=(conn,), name="agent", daemon=True).start()

    def ready(self) -> bool:
        """True (the actor has started and connected)."""
        return True
