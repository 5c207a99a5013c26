"""Where a sweep's points run: one point (:func:`run_point`), and the executors that run many.

Executors: ``local`` (a pool of worker processes that is started once and reused, so no process
start-up per point; one worker runs in-process) and ``ray`` (one remote task per point on a
local Ray instance or the cluster at ``address``; results come back to the driver, which writes
them, so the cluster needs no shared file system but must have asyncsim installed). When several
points run at once, a policy-gradient point whose ``oracle.workers`` is unset rolls out with the
cores left to it (:func:`rollout_workers`) instead of a pool over all cores per point.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import re
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, BinaryIO, Literal

from asyncsim.core.errors import AsyncSimError, switch
from asyncsim.core.lifeline import exit_with_parent, parent_lifeline
from asyncsim.run.progress import Status, log_seconds, throttled
from asyncsim.run.recorder import watching
from asyncsim.run.runner import simulate
from asyncsim.scenario.schema import Scenario
from asyncsim.scenario.sweep_grid import SweepPoint
from asyncsim.store.run_data import MethodResult, RunResult
from asyncsim.store.runs import finished_methods, write_method, write_run
from asyncsim.store.sweep_index import StorageError, SweepIndex, writing

__all__ = [
    "Executor",
    "PointOutcome",
    "default_workers",
    "execute",
    "init_ray",
    "one_line",
    "rollout_workers",
    "run_point",
    "traceback_text",
]

Executor = Literal["local", "ray"]


# ---------------------------------------------------------------- one point


@dataclass
class PointOutcome:
    """What running one point produced; ``result`` only when the caller writes it.

    ``error`` is the point's own failure (recorded; the sweep goes on); ``unwritable`` says that
    its results could not be stored (a full disk: the sweep stops).
    """

    started: float
    finished: float
    simulated: float = 0.0
    iterations: int = 0
    error: str | None = None
    details: str | None = None
    result: RunResult | None = None
    unwritable: str | None = None


def one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, AsyncSimError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def run_point(
    scenario: Scenario, point_dir: str | None, rollout_workers: int | None = None
) -> PointOutcome:
    """Simulate one point; write its run directory there, or return the result if None.

    Each method is written to the point directory as soon as it finishes, so a point that
    was interrupted resumes from its finished methods (each method × seed is a resumable
    unit). ``rollout_workers`` sets ``oracle.workers`` of a policy-gradient point that leaves
    it unset (see :func:`rollout_workers`); the point's results and its recorded scenario do
    not depend on it. Never raises for a failing simulation: the error is returned in the
    outcome.
    """
    started = time.time()
    done = finished_methods(point_dir, scenario) if point_dir is not None else {}

    def save(_: str, method: MethodResult) -> None:
        with writing(point_dir):
            write_method(point_dir, scenario, method, started)

    try:
        result = simulate(
            _with_rollout_workers(scenario, rollout_workers),
            progress=None if point_dir is None else save,
            skip=done,
        )
        result.scenario = scenario  # the point as given: its hash names the directory
        if point_dir is not None:
            with writing(point_dir):
                write_run(result, point_dir, started, time.time(), kept=list(done))
    except StorageError as exc:
        return PointOutcome(started, time.time(), unwritable=str(exc))
    except Exception as exc:
        return PointOutcome(started, time.time(), error=one_line(exc), details=traceback_text(exc))
    summaries = [*done.values(), *(method.summary for method in result.methods.values())]
    return PointOutcome(
        started,
        time.time(),
        simulated=sum(s["total_time"] for s in summaries),
        iterations=sum(s["iterations"] for s in summaries),
        result=None if point_dir is not None else result,
    )


def rollout_workers(parallel: int) -> int | None:
    """Rollout processes of a policy-gradient point (``oracle.workers`` left unset) when
    ``parallel`` points run at once: the cores left to each, at least 1 (in-process); None,
    the oracle's own default of all cores, for one point at a time.

    A rollout pool per point on top of a point per core oversubscribes the machine: the
    reduced Fig. 3 Reacher sweep (3 points, ``--workers 2``, 2 cores) took 74-83 s with a pool
    of 2 rollout processes per point and 11-18 s with rollouts in-process, for the same results.
    """
    return None if parallel <= 1 else max(1, default_workers() // parallel)


def _with_rollout_workers(scenario: Scenario, workers: int | None) -> Scenario:
    """``scenario`` with ``oracle.workers = workers`` if it is a policy-gradient scenario that
    leaves it unset (the user's choice, in the file or a sweep axis, is kept)."""
    oracle = scenario.oracle
    if workers is None or "workers" not in type(oracle).model_fields or oracle.workers is not None:
        return scenario
    return scenario.model_copy(update={"oracle": oracle.model_copy(update={"workers": workers})})


def traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


# ---------------------------------------------------------------- executors


OnDone = Callable[[SweepPoint, PointOutcome], None]
OnStatus = Callable[[SweepPoint, Status], None]

STATUS_SECONDS = 1.0
"""Seconds between two reports of where a running point stands (less where the log's lines
are asked more often: :func:`status_seconds`)."""


def status_seconds() -> float:
    """Seconds between two reports of a running point: :data:`STATUS_SECONDS`, or the log's
    interval where ``ASYNCSIM_PROGRESS_SECONDS`` asks for lines more often (a point that runs
    for less than a second still reports where it stands)."""
    return min(STATUS_SECONDS, log_seconds())


def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _run_in_process(
    index: SweepIndex, points: list[SweepPoint], on_done: OnDone, on_status: OnStatus | None
) -> None:
    for point in points:
        with _watched(on_status, point):
            outcome = run_point(point.scenario, str(index.point_dir(point)))
        on_done(point, outcome)


@contextmanager
def _watched(on_status: OnStatus | None, point: SweepPoint) -> Iterator[None]:
    """Report the status of the point run inside the block, if anyone listens."""
    if on_status is None:
        yield
        return
    with watching(throttled(lambda status: on_status(point, status), status_seconds())):
        yield


def _run_pool(
    index: SweepIndex,
    points: list[SweepPoint],
    on_done: OnDone,
    on_status: OnStatus | None,
    workers: int,
) -> None:
    """Run ``points`` on ``workers`` processes. Ctrl-C lets the running points finish (they
    write their own directories); any other exception stops the workers at once."""
    pool = _Pool(workers)
    rollout = rollout_workers(workers)
    watch = on_status is not None
    try:
        pool.run(
            points,
            lambda p: ((p.scenario, str(index.point_dir(p)), rollout), watch),
            on_done,
            on_status,
        )
    except BaseException as exc:
        pool.close(wait=isinstance(exc, KeyboardInterrupt))
        raise
    pool.close(wait=True)


@dataclass
class _Worker:
    """A pool process, its end of the task pipe and the point it runs (None: idle)."""

    process: BaseProcess
    conn: Connection
    point: SweepPoint | None = None


class _Pool:
    """``size`` worker processes that run one point at a time each, started with
    'forkserver' (asyncsim is imported once, in the fork server; a worker is a fork of it).

    Unlike :class:`concurrent.futures.ProcessPoolExecutor`, which fails every pending point
    (BrokenProcessPool) when one worker dies and cannot tell which point it was running, a
    worker that dies here fails only its own point, and a fresh process takes its place.
    Every worker exits when the driver dies (:func:`asyncsim.core.lifeline.exit_with_parent`).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["asyncsim.run.sweep_executors"])
        self._lifeline = parent_lifeline()
        self._workers: list[_Worker] = []

    def run(
        self,
        points: Sequence[SweepPoint],
        job: Callable[[SweepPoint], tuple[Any, ...]],
        on_done: OnDone,
        on_status: OnStatus | None = None,
    ) -> None:
        """Run :func:`run_point` with the arguments ``job(point)`` for every point; call
        ``on_done`` in the driver as each one ends, ``on_status`` as its worker reports where
        it stands."""
        todo = deque(points)
        while todo or self._busy():
            while todo and (worker := self._idle_worker()) is not None:
                try:
                    worker.conn.send(job(todo[0]))
                except OSError:  # it died while idle: the point goes to another worker
                    self._drop(worker)
                    continue
                worker.point = todo.popleft()
            for worker, outcome in self._wait(on_status):
                point, worker.point = worker.point, None
                on_done(point, outcome)

    def _busy(self) -> list[_Worker]:
        return [worker for worker in self._workers if worker.point is not None]

    def _idle_worker(self) -> _Worker | None:
        """A live idle worker, started if fewer than ``size`` run; None if all are busy."""
        for worker in [w for w in self._workers if w.point is None]:
            if worker.process.is_alive():
                return worker
            self._drop(worker)
        if len(self._workers) == self.size:
            return None
        here, there = self._context.Pipe()
        # not a daemon: a point may start processes of its own (a rollout pool)
        process = self._context.Process(
            target=_serve, args=(there, self._lifeline), name="asyncsim-sweep"
        )
        process.start()
        there.close()
        self._workers.append(_Worker(process, here))
        return self._workers[-1]

    def _wait(self, on_status: OnStatus | None) -> list[tuple[_Worker, PointOutcome]]:
        """Block until a busy worker sends something or dies; the outcomes of the workers
        that finished (statuses go to ``on_status``)."""
        busy = self._busy()
        waited = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(multiprocessing.connection.wait(waited))
        finished = []
        for worker in busy:
            if worker.conn in ready or worker.process.sentinel in ready:
                outcome = self._outcome(worker, on_status)
                if outcome is not None:
                    finished.append((worker, outcome))
        return finished

    def _outcome(self, worker: _Worker, on_status: OnStatus | None) -> PointOutcome | None:
        """The outcome a worker sent (the statuses before it go to ``on_status``); None while
        it runs; if it died first, a failure of its point (and the worker is dropped, to be
        replaced by a fresh process)."""
        with contextlib.suppress(EOFError, OSError, pickle.UnpicklingError):
            while worker.conn.poll():
                message = worker.conn.recv()
                if not isinstance(message, Status):
                    return message
                if on_status is not None and worker.point is not None:
                    on_status(worker.point, message)
            if worker.process.is_alive():
                return None
        self._drop(worker)
        now = time.time()
        error = f"the worker process running this point died ({_death(worker.process.exitcode)})"
        return PointOutcome(now, now, error=error)

    def _drop(self, worker: _Worker) -> None:
        """Forget a dead worker (a fresh process takes its place when one is needed)."""
        worker.process.join()
        worker.conn.close()
        self._workers.remove(worker)

    def close(self, wait: bool) -> None:
        """Stop every worker: after its running point (``wait``), or at once."""
        for worker in self._workers:
            if wait:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                worker.process.kill()
        for worker in self._workers:
            worker.process.join()
            worker.conn.close()
        self._workers.clear()


def _serve(conn: Connection, lifeline: Connection) -> None:
    """A pool worker: run the points the driver sends until it sends None."""
    exit_with_parent(lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's (see _run_pool)
    with contextlib.suppress(EOFError):
        while (job := conn.recv()) is not None:
            arguments, watch = job
            if watch:  # the driver shows where the point stands
                with watching(throttled(conn.send, status_seconds())):
                    outcome = run_point(*arguments)
            else:
                outcome = run_point(*arguments)
            conn.send(outcome)


def _death(exitcode: int | None) -> str:
    """How a process ended, from its exit code (-N: killed by signal N)."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return f"killed by {name}" + (", e.g. out of memory" if name == "SIGKILL" else "")
    return f"exit code {exitcode}"


def _run_ray(
    points: list[SweepPoint],
    on_done: OnDone,
    workers: int,
    address: str | None,
    on_ready: Callable[[], None],
) -> None:
    try:
        import ray
    except ImportError:
        raise AsyncSimError(
            f"{switch('executor')} ray needs Ray: pip install 'asyncsim[ray]'"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        init_ray(ray, workers, address)
    on_ready()
    task = ray.remote(num_cpus=1)(run_point)
    # each task holds one CPU, so its rollouts run in-process (rollout_workers(many) = 1)
    refs = {task.remote(point.scenario, None, 1): point for point in points}
    remaining = list(refs)
    try:
        while remaining:
            ready, remaining = ray.wait(remaining, num_returns=1)
            on_done(refs[ready[0]], _ray_outcome(ray, ready[0]))
    finally:
        for ref in remaining:
            ray.cancel(ref)
        if started_here:
            ray.shutdown()


def init_ray(ray: Any, workers: int, address: str | None) -> None:
    """Start a local Ray instance of ``workers`` CPUs, or connect to the cluster at ``address``
    (reachable first, this machine's token sent); a failure is one AsyncSimError line."""
    options = {"logging_level": logging.WARNING, "log_to_driver": False}
    if not address:
        ray.init(num_cpus=workers, include_dashboard=False, **options)
        return
    _check_reachable(address)
    _send_token_if_any()
    with tempfile.TemporaryFile() as log:
        try:
            with _stderr_to(log):  # Ray's C++ client logs every failed attempt (20 in 20 s)
                ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
            reason = _last_log_line(log) or " ".join(str(exc).split())
            raise AsyncSimError(
                f"{switch('address')} {address}: Ray could not connect ({reason[:200]}); the "
                f"cluster must run Ray {ray.__version__}, as here, and if it uses token "
                "authentication this machine needs its token (RAY_AUTH_TOKEN, "
                "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) with RAY_AUTH_MODE unset or 'token'"
            ) from None
        log.seek(0)  # connected: what Ray said is shown as it would have been
        sys.stderr.write(log.read().decode(errors="replace"))


@contextmanager
def _stderr_to(file: BinaryIO) -> Iterator[None]:
    """Send what this process writes to its standard error (C++ code included) to ``file``."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _last_log_line(log: BinaryIO) -> str:
    """The last line of a Ray log without its ``[time level pid tid] file.cc:N:`` prefix."""
    log.seek(0)
    lines = log.read().decode(errors="replace").strip().splitlines()
    return re.sub(r"^\[[^]]*\]\s*[\w.]+:\d+:\s*", "", lines[-1]) if lines else ""


def _check_reachable(address: str) -> None:
    """Fail at once, saying what to do, when nothing listens at ``address`` (HOST:PORT): Ray
    itself would retry for minutes."""
    host, _, port = address.rpartition(":")
    if not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AsyncSimError(
            f"{switch('address')}: expected HOST:PORT of a Ray cluster, got {address!r}"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise AsyncSimError(
            f"{switch('address')} {address}: no Ray cluster answers there ({exc.strerror or exc}); "
            f"start one on that machine with `ray start --head --port={port}`, or leave out "
            f"{switch('address')} "
            "to start a local Ray instance"
        ) from None


def _send_token_if_any() -> None:
    """Use token authentication if this machine has a Ray token and RAY_AUTH_MODE is unset.

    From Ray 2.59 on, ``ray start`` turns token authentication on when the head node has a
    token (``~/.ray/auth_token`` is written by any local ``ray.init()``), but a driver given
    an explicit address never turns it on by itself: the cluster answers InvalidAuthToken for
    20 s and ray.init fails with "Failed to connect". A cluster without token authentication
    accepts a driver that sends one. This is what Ray does itself for ``address="auto"``.
    """
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # before 2.59, Ray never turns token authentication on by itself
        return
    # its warning ("Token authentication is enabled for this Ray cluster") is about a head
    logger = logging.getLogger(maybe_enable_token_auth_if_token_available.__module__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        logger.setLevel(level)


def _ray_outcome(ray: Any, ref: Any) -> PointOutcome:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        now = time.time()
        return PointOutcome(now, now, error=one_line(exc), details=traceback_text(exc))


def execute(
    index: SweepIndex,
    points: list[SweepPoint],
    on_done: OnDone,
    executor: Executor,
    workers: int,
    address: str | None,
    on_ready: Callable[[], None],
    on_status: OnStatus | None = None,
) -> None:
    """Run ``points`` on the executor; ``on_ready`` once it can start (Ray starts slowly);
    ``on_status`` as a running point reports where it stands (in this process and in pool
    workers; Ray tasks do not report)."""
    if not points:
        return
    if executor == "ray":
        _run_ray(points, on_done, workers, address, on_ready)
    elif workers == 1:
        _run_in_process(index, points, on_done, on_status)
    else:
        _run_pool(index, points, on_done, on_status, workers)
