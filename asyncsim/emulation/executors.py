"""Where the emulated agents run: local processes or Ray actors, seen by the driver as channels.

Both executors give the driver the same three operations: send a command to agent i, receive
the notices that arrived (waiting up to a timeout for the first), and close. Each notice comes
with the wall time at which the driver received it (the messaging latency is that minus the
agent's own time stamp). A batch of notices that arrived together is returned in the order of
the agents' time stamps (ties in agent order): the driver cannot know in which order they
reached it, and the time stamps say in which order they were sent.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import secrets
import select
import struct
import threading
import time
from abc import ABC, abstractmethod
from multiprocessing.connection import Connection, Listener
from multiprocessing.reduction import ForkingPickler
from typing import Any, NoReturn

from asyncsim.core.errors import AsyncSimError, switch
from asyncsim.core.lifeline import parent_lifeline
from asyncsim.emulation.agent import RayAgent, no_delay, serve_process
from asyncsim.emulation.messages import Quit

__all__ = ["Agents", "LocalAgents", "RayAgents", "start_agents"]

Received = tuple[int, Any, float]
"""(agent, notice, wall time of receipt)."""

_RAY_START_S = 300.0
"""How long the Ray actors may take to start and connect (a cluster may have to scale up)."""


class Agents(ABC):
    """n agents the driver talks to, on ``executor`` (at the Ray cluster ``address``)."""

    n: int
    executor: str
    address: str | None = None

    @abstractmethod
    def send(self, agent: int, command: Any) -> None:
        """Send ``command`` to ``agent`` (0-based)."""

    @abstractmethod
    def receive(self, timeout: float | None) -> list[Received]:
        """Notices received, waiting at most ``timeout`` seconds (None: no limit) for the
        first; [] when none came."""

    @abstractmethod
    def close(self) -> None:
        """Stop every agent."""

    def __enter__(self) -> Agents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _in_send_order(batch: list[Received]) -> list[Received]:
    return sorted(batch, key=lambda item: (getattr(item[1], "time", 0.0), item[0]))


class _Connected(Agents):
    """Agents reached through one :class:`~multiprocessing.connection.Connection` each (a
    pipe or a socket); an agent whose connection closes has died.

    Sending never waits on an agent that is itself waiting to send: a point and a gradient of
    a large model each fill a pipe's buffer (about 200 kB, 25,000 parameters), and a driver
    blocked sending a new point to an agent blocked uploading its gradient would wait for
    ever. While an agent's end is full, the notices that arrive are read and kept.
    """

    def __init__(self, conns: list[Connection]) -> None:
        self.n = len(conns)
        self._conns = conns
        self._agent_of = {id(conn): agent for agent, conn in enumerate(conns)}
        self._backlog: list[Received] = []  # notices read while a send waited

    def send(self, agent: int, command: Any) -> None:
        conn = self._conns[agent]
        fd = conn.fileno()
        data = memoryview(_framed(ForkingPickler.dumps(command)))
        while data:
            os.set_blocking(fd, False)
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:
                pass
            except OSError:
                self._died(agent)
            finally:
                os.set_blocking(fd, True)
            if data:  # the agent's end is full: read what agents send until it takes more
                readable, _, _ = select.select(self._conns, [fd], [])
                self._backlog += self._read([c for c in self._conns if c in readable])

    def receive(self, timeout: float | None) -> list[Received]:
        batch, self._backlog = self._backlog, []
        ready = _readable(self._conns, 0 if batch else timeout)
        return _in_send_order(batch + self._read(ready))

    def _read(self, ready: list[Any]) -> list[Received]:
        """Every notice waiting on the ``ready`` connections, with its time of receipt."""
        batch: list[Received] = []
        dead = []
        for conn in ready:
            agent = self._agent_of[id(conn)]
            try:
                while conn.poll():
                    batch.append((agent, conn.recv(), time.time()))
            except (EOFError, OSError):
                dead.append(agent)
        if dead and not batch:  # what it sent before it died comes first (a Failure says why)
            self._died(dead[0])
        return batch

    @abstractmethod
    def _died(self, agent: int) -> NoReturn:
        """Raise the error saying that ``agent`` ended unexpectedly."""

    def _quit(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.send(Quit())

    def _close_connections(self) -> None:
        for conn in self._conns:
            conn.close()
        self._conns.clear()


class LocalAgents(_Connected):
    """One process per agent ('forkserver': asyncsim is imported once, in the fork server),
    each with a duplex pipe. Every agent exits when the driver dies (a lifeline)."""

    executor = "local"

    def __init__(self, n: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["asyncsim.emulation.agent"])
        lifeline = parent_lifeline()
        conns, self._processes = [], []
        for agent in range(n):
            here, there = context.Pipe()
            process = context.Process(
                target=serve_process, args=(there, lifeline), name=f"asyncsim-agent-{agent + 1}"
            )
            process.start()
            there.close()
            conns.append(here)
            self._processes.append(process)
        super().__init__(conns)

    def _died(self, agent: int) -> NoReturn:
        process = self._processes[agent]
        process.join(1.0)
        raise AsyncSimError(
            f"agent {agent + 1}'s process ended unexpectedly (exit code {process.exitcode})"
        )

    def close(self) -> None:
        self._quit()
        for process in self._processes:
            process.join(5.0)
            if process.is_alive():
                process.kill()
                process.join()
        self._processes.clear()
        self._close_connections()


class RayAgents(_Connected):
    """One Ray actor (:class:`~asyncsim.emulation.agent.RayAgent`) per agent, on a local Ray
    instance or the cluster at ``address``; actors reserve no CPU (they mostly wait), so n
    agents fit on any cluster.

    Ray places and runs the agents; messages go over a socket from each actor to the driver
    (authenticated with a random key): a Ray actor call took 1.2 ms (Start) to 1.5 ms (Stop)
    from the driver to an actor, median, and 1.0 ms back, on a loaded 2-core machine, about 5
    ms per round of four messages, against 0.2-0.3 ms per message on a socket (a 5-7% error of
    150 ms rounds at S = 1 through actor calls, under 2% through sockets).
    """

    executor = "ray"

    def __init__(self, n: int, address: str | None) -> None:
        self.address = address
        try:
            import ray
        except ImportError:
            raise AsyncSimError(
                f"{switch('executor')} ray needs Ray: pip install 'asyncsim[ray]'"
            ) from None
        from asyncsim.run.sweep_executors import default_workers, init_ray

        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            init_ray(ray, default_workers(), address)
        authkey = secrets.token_bytes(32)
        host = ray.util.get_node_ip_address()
        with Listener((host, 0), backlog=n, authkey=authkey) as listener:
            accepted: list[Connection] = []
            accepting = threading.Thread(target=_accept, args=(listener, n, accepted), daemon=True)
            accepting.start()
            actor = ray.remote(RayAgent).options(num_cpus=0)
            niceness = os.getpriority(os.PRIO_PROCESS, 0)
            self._actors = [actor.remote(listener.address, authkey, a, niceness) for a in range(n)]
            self._wait_started(accepting)
        conns: list[Any] = [None] * n
        for conn in accepted:
            conns[conn.recv()] = conn  # each actor first says which agent it is
        super().__init__(conns)

    def _wait_started(self, accepting: threading.Thread) -> None:
        """Wait until every actor has connected; one that failed to start is an error."""
        ray = self._ray
        refs = [actor.ready.remote() for actor in self._actors]
        deadline = time.monotonic() + _RAY_START_S
        while accepting.is_alive():
            accepting.join(0.2)
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            try:
                ray.get(done)
            except ray.exceptions.RayError as exc:
                self.close()
                reason = " ".join(str(exc).split())[:200]
                raise AsyncSimError(f"an agent's Ray actor failed to start ({reason})") from None
            if time.monotonic() > deadline:
                self.close()
                raise AsyncSimError(
                    f"the agents' Ray actors did not all start within {_RAY_START_S:.0f} s "
                    f"({len(done)} of {len(refs)} did)"
                )

    def _died(self, agent: int) -> NoReturn:
        raise AsyncSimError(f"agent {agent + 1}'s Ray actor ended unexpectedly")

    def close(self) -> None:
        self._quit()
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self._ray.kill(actor)
        self._actors.clear()
        self._close_connections()
        if self._started_here:
            self._ray.shutdown()


def _readable(conns: list[Connection], timeout: float | None) -> list[Connection]:
    """The connections with something to read, waiting at most ``timeout`` seconds.

    select() wakes with microsecond resolution; multiprocessing's wait() (poll) rounds a
    timeout up to whole milliseconds, which made uploads held until their modelled end up to
    1 ms late (Rennala, n = 8, S = 0.03: a 12% error against 6% with select). select() takes
    descriptors below 1024 only: past that, wait() serves.
    """
    if max(conn.fileno() for conn in conns) >= 1024:
        return multiprocessing.connection.wait(conns, timeout)
    return select.select(conns, [], [], timeout)[0]


def _framed(payload: bytes) -> bytes:
    """What :meth:`Connection.send` writes for a pickled ``payload``: its length (4 bytes, or
    -1 and 8 bytes past 2 GiB), then the payload; :meth:`Connection.recv` reads it."""
    size = len(payload)
    header = struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size)
    return header + payload


def _accept(listener: Listener, n: int, accepted: list[Connection]) -> None:
    for _ in range(n):
        conn = listener.accept()
        no_delay(conn)
        accepted.append(conn)


def start_agents(executor: str, n: int, address: str | None = None) -> Agents:
    """n agents on ``executor`` (``local`` or ``ray``; ``address``: a Ray cluster)."""
    if executor == "local":
        if address:
            raise AsyncSimError(f"{switch('address')}: only used with {switch('executor')} ray")
        return LocalAgents(n)
    if executor == "ray":
        return RayAgents(n, address)
    raise AsyncSimError(f"{switch('executor')}: expected 'local' or 'ray', got {executor!r}")
