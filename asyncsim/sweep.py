"""Sweeps: grid expansion, content-hashed point directories, resume, executors.

A scenario's ``sweep:`` block maps field paths to value lists::

    sweep:
      cluster.n: [1, 2, 4, 8]
      cluster.compute.h: ["i**0", "i**0.5"]
      methods: [[{name: rennala_nigt}], [{name: afedpg}]]
    seeds: [0, 1, 2]          # shorthand for a last axis ``seed: [0, 1, 2]``

The points are the cartesian product of the axes in the file's key order (the last axis varies
fastest); each is the base scenario with that point's values set as overrides, validated up
front (a bad value fails the whole sweep before anything runs). Layout of a sweep directory::

    SWEEP_DIR/sweep.yaml              the sweep as given (after --set and shorthands)
    SWEEP_DIR/index.csv               hash, one column per axis, status, error
    SWEEP_DIR/results.csv             one row per finished point × method: the swept values,
                                      hash, then the method's summary (asyncsim.tables)
    SWEEP_DIR/points/<hash>/          a run directory (asyncsim.results), or error.txt

``<hash>`` is :func:`asyncsim.results.scenario_hash` of the resolved point, so a point that was
finished by any earlier sweep (its completion marker exists) is never run again, and a sweep
interrupted in any way resumes where it stopped. A point that raises is recorded as failed
(index.csv and ``error.txt``) and the sweep goes on; a re-run retries it.

Faults: a sweep holds ``SWEEP_DIR/.lock`` (flock) while it runs, so a second sweep on the
directory refuses (or waits); pool workers exit when the driver dies, even by SIGKILL
(:mod:`asyncsim.lifeline`); a worker that dies fails only the point it was running; results
that cannot be written (a full disk) stop the sweep with one line naming the file, every
finished point kept.

Executors: ``local`` (a pool of worker processes that is started once and reused, so no process
start-up per point; one worker runs in-process) and ``ray`` (one remote task per point on a
local Ray instance or the cluster at ``address``; results come back to the driver, which writes
them, so the cluster needs no shared file system but must have asyncsim installed). When several
points run at once, a policy-gradient point whose ``oracle.workers`` is unset rolls out with the
cores left to it (:func:`rollout_workers`) instead of a pool over all cores per point.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import itertools
import json
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, BinaryIO, Literal

from asyncsim.config import Scenario, validate_scenario
from asyncsim.csvtables import table_text
from asyncsim.errors import AsyncSimError, ConfigError
from asyncsim.lifeline import exit_with_parent, parent_lifeline
from asyncsim.locks import LOCK_FILE, locked
from asyncsim.progress import Progress, Status, throttled
from asyncsim.recorder import watching
from asyncsim.results import (
    COMPLETE,
    atomic_write,
    finished_methods,
    is_complete,
    is_readable,
    load_run,
    scenario_hash,
    write_method,
    write_run,
)
from asyncsim.runner import MethodResult, RunResult, simulate
from asyncsim.scenario import (
    apply_overrides,
    check_distinct,
    dump_yaml,
    load_yaml,
    plugins_relative_to,
    value_at,
)

__all__ = [
    "PointOutcome",
    "StorageError",
    "SweepIndex",
    "SweepPoint",
    "check_sweep_dir",
    "default_workers",
    "expand_sweep",
    "finished_runs",
    "index_records",
    "init_ray",
    "read_index",
    "rollout_workers",
    "run_point",
    "run_sweep",
    "sweep_axes",
]

Executor = Literal["local", "ray"]


# ---------------------------------------------------------------- expansion


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its content hash, its axis values and the resolved scenario."""

    key: str
    values: dict[str, Any]
    scenario: Scenario


def sweep_axes(data: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The ``sweep`` block of scenario data, checked: field path → non-empty list of values."""
    axes = data.get("sweep") or {}
    if not isinstance(axes, Mapping):
        raise ConfigError("sweep", f"must be a mapping of field path to values, got {axes!r}")
    for path, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"sweep.{path}", f"must be a non-empty list of values, got {values!r}"
            )
        if str(path).split(".")[0] == "sweep":
            raise ConfigError(f"sweep.{path}", "the sweep block cannot itself be swept")
        check_distinct(f"sweep.{path}", values)
    return {str(path): values for path, values in axes.items()}


def expand_sweep(data: Mapping[str, Any]) -> list[SweepPoint]:
    """All points of the sweep in ``data`` (one point if it has none), each validated.

    Raises:
        ConfigError: naming the point and the field, e.g.
            ``sweep point cluster.n=0: cluster.n: must be >= 1, got 0``.
    """
    axes = sweep_axes(data)
    base = {key: value for key, value in data.items() if key != "sweep"}
    points = []
    for combination in itertools.product(*axes.values()):
        values = dict(zip(axes, combination, strict=True))
        try:
            scenario = validate_scenario(apply_overrides(base, values.items()))
        except ConfigError as exc:
            if not values:
                raise
            where = ", ".join(f"{path}={value!r}" for path, value in values.items())
            raise ConfigError(f"sweep point {where}", str(exc)) from None
        points.append(SweepPoint(scenario_hash(scenario), values, scenario))
    return points


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


class StorageError(AsyncSimError):
    """The sweep's results cannot be written (a full disk, a read-only file system): it stops,
    keeping every finished point, and resumes when re-run."""


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, AsyncSimError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


@contextmanager
def _writing(path: str | Path) -> Iterator[None]:
    """Turn an OSError of writing ``path`` into a :class:`StorageError` naming the file (the
    error's own file name if it has one: a failed write(2) names none)."""
    try:
        yield
    except OSError as exc:
        remedy = "free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "fix this"
        raise StorageError(
            f"cannot write {exc.filename or path}: [Errno {exc.errno}] {exc.strerror}; the "
            f"sweep stopped and kept its finished points: {remedy} and re-run it to resume"
        ) from exc


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
        with _writing(point_dir):
            write_method(point_dir, scenario, method, started)

    try:
        result = simulate(
            _with_rollout_workers(scenario, rollout_workers),
            progress=None if point_dir is None else save,
            skip=done,
        )
        result.scenario = scenario  # the point as given: its hash names the directory
        if point_dir is not None:
            with _writing(point_dir):
                write_run(result, point_dir, started, time.time(), kept=list(done))
    except StorageError as exc:
        return PointOutcome(started, time.time(), unwritable=str(exc))
    except Exception as exc:
        return PointOutcome(started, time.time(), error=_one_line(exc), details=_traceback(exc))
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


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


# ---------------------------------------------------------------- the index


def _index_cell(value: Any) -> Any:
    return value if isinstance(value, str) else json.dumps(value)


_INDEX_FIXED = ("hash", "status", "error")


def read_index(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``index.csv`` (:func:`index_records`); axis values parsed back from JSON where
    they were encoded."""
    records = index_records(sweep_dir)
    return [{k: v if k in _INDEX_FIXED else _from_cell(v) for k, v in r.items()} for r in records]


def index_records(sweep_dir: str | Path) -> list[dict[str, str]]:
    """Rows of ``index.csv`` as text, column → cell.

    A damaged index (cut short, not UTF-8, rows of the wrong width; atomic writes never leave
    one, a copy can) is rebuilt from ``points/``: its intact rows, then every finished point
    they do not list, its swept values read from its stored scenario.

    Raises:
        OSError: there is no index.csv.
    """
    sweep = Path(sweep_dir)
    header, rows, damaged = _index_file(sweep / "index.csv")
    if damaged:
        axes = [name for name in header if name not in _INDEX_FIXED] or _sweep_axes(sweep)
        listed = {row["hash"] for row in rows}
        rows += [_rebuilt_row(sweep / "points" / key, axes) for key in _finished_keys(sweep)
                 if key not in listed]  # fmt: skip
    return rows


def _index_file(path: Path) -> tuple[list[str], list[dict[str, str]], bool]:
    """(header, intact rows, whether the file was damaged) of an index file."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], [], True
    damaged = not text.endswith("\n")
    lines = list(csv.reader(io.StringIO(text, newline="")))
    if damaged and lines:
        lines.pop()  # the last row was cut
    header = lines[0] if lines else []
    if "hash" not in header or "status" not in header:
        return [], [], True
    rows = [dict(zip(header, line, strict=True)) for line in lines[1:] if len(line) == len(header)]
    return header, rows, damaged or len(rows) != len(lines) - 1


def _sweep_axes(sweep: Path) -> list[str]:
    """The swept field paths named by ``sweep.yaml`` ([] if it cannot be read)."""
    try:
        data = load_yaml((sweep / "sweep.yaml").read_text(encoding="utf-8"), "sweep.yaml")
        return [str(path) for path in sweep_axes(data)]
    except (OSError, ValueError, AsyncSimError):
        return []


def _finished_keys(sweep: Path) -> list[str]:
    """The names of the readable finished points under ``sweep/points``."""
    with contextlib.suppress(OSError):
        return sorted(p.name for p in (sweep / "points").iterdir() if is_readable(p))
    return []


def _rebuilt_row(point: Path, axes: Sequence[str]) -> dict[str, str]:
    """The index row of a finished point: its values of ``axes`` from its stored scenario."""
    data = load_yaml((point / "scenario.yaml").read_text(encoding="utf-8"), str(point))
    values = {axis: _index_cell(value_at(data, axis)) for axis in axes}
    return {"hash": point.name, **values, "status": "done", "error": ""}


def finished_runs(sweep_dir: str | Path) -> Iterator[tuple[dict[str, Any], RunResult]]:
    """(index row, loaded run) of every finished point of a sweep directory, in index order."""
    for row in read_index(sweep_dir):
        directory = Path(sweep_dir) / "points" / str(row["hash"])
        if row.get("status") == "done" and is_readable(directory):
            yield row, load_run(directory)


def _from_cell(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class SweepIndex:
    """Status of every point of a sweep, mirrored to ``index.csv``.

    A point is ``done`` when its completion marker exists (now or from an earlier sweep),
    ``failed`` when it raised in this sweep, else ``pending``.
    """

    def __init__(self, out_dir: Path, points: Sequence[SweepPoint]) -> None:
        self.out_dir = out_dir
        self.points = list(points)
        self.axes = list(points[0].values) if points else []
        self.status: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self._unmark_damaged()
        self.refresh()
        self.skipped = self.count("done")
        self._write_cost = 0.0
        self._last_write = -float("inf")

    def point_dir(self, point: SweepPoint) -> Path:
        """Run directory of ``point``."""
        return self.out_dir / "points" / point.key

    def unique_pending(self) -> list[SweepPoint]:
        """Points still to run, one per distinct hash, in sweep order."""
        unique: dict[str, SweepPoint] = {}
        for point in self.points:
            if self.status[point.key] != "done":
                unique.setdefault(point.key, point)
        return list(unique.values())

    def _unmark_damaged(self) -> None:
        """Make unfinished (to be run again) every point whose completion marker exists but
        whose results cannot be read (a corrupt summary.json): its marker is removed."""
        for key in {point.key for point in self.points}:
            directory = self.out_dir / "points" / key
            if is_complete(directory) and not is_readable(directory):
                (directory / COMPLETE).unlink()

    def refresh(self) -> None:
        """Mark as done every point whose completion marker now exists."""
        for point in self.points:
            if is_complete(self.point_dir(point)):
                self.status[point.key] = "done"
                self.errors.pop(point.key, None)
            else:
                self.status.setdefault(point.key, "pending")

    def record(self, point: SweepPoint, error: str | None) -> None:
        """Set the status of a finished point and rewrite the index (throttled, see write)."""
        self.status[point.key] = "failed" if error else "done"
        if error:
            self.errors[point.key] = error
        self.write(force=False)

    def write(self, force: bool = True) -> None:
        """Rewrite ``index.csv`` atomically; unforced writes come at most once a second and take
        at most ~1% of the time (the completion markers, not the index, say what is done)."""
        now = time.perf_counter()
        if not force and now - self._last_write < max(1.0, 100 * self._write_cost):
            return
        columns = ["hash", *self.axes, "status", "error"]
        rows = [self._row(point) for point in self.points]
        path = self.out_dir / "index.csv"
        with _writing(path):
            atomic_write(path, table_text(columns, rows))
        self._last_write = time.perf_counter()
        self._write_cost = self._last_write - now

    def _row(self, point: SweepPoint) -> list[Any]:
        values = [_index_cell(point.values[axis]) for axis in self.axes]
        return [point.key, *values, self.status[point.key], self.errors.get(point.key, "")]

    def count(self, status: str) -> int:
        """Number of points (not distinct hashes) with ``status``."""
        return sum(self.status[p.key] == status for p in self.points)


# ---------------------------------------------------------------- executors


OnDone = Callable[[SweepPoint, PointOutcome], None]
OnStatus = Callable[[SweepPoint, Status], None]

STATUS_SECONDS = 1.0
"""Seconds between two reports of where a running point stands."""


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
    with watching(throttled(lambda status: on_status(point, status), STATUS_SECONDS)):
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
    Every worker exits when the driver dies (:func:`asyncsim.lifeline.exit_with_parent`).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["asyncsim.sweep"])
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
                with watching(throttled(conn.send, STATUS_SECONDS)):
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
        raise AsyncSimError("--executor ray needs Ray: pip install 'asyncsim[ray]'") from None
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
                f"--address {address}: Ray could not connect ({reason[:200]}); the cluster must "
                f"run Ray {ray.__version__}, as here, and if it uses token authentication this "
                "machine needs its token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or "
                "~/.ray/auth_token) with RAY_AUTH_MODE unset or 'token'"
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
        raise AsyncSimError(f"--address: expected HOST:PORT of a Ray cluster, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise AsyncSimError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); start "
            f"one on that machine with `ray start --head --port={port}`, or leave out --address "
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
        return PointOutcome(now, now, error=_one_line(exc), details=_traceback(exc))


# ---------------------------------------------------------------- the sweep


def run_sweep(
    data: Mapping[str, Any],
    out_dir: str | Path,
    executor: Executor = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: Callable[[int], Progress] | None = None,
    wait: bool = False,
    overwrite: bool = False,
) -> SweepIndex:
    """Run every unfinished point of the sweep in ``data`` and write the sweep directory.

    The local pool starts its workers with ``forkserver``, which imports the caller's main
    module in each worker: a script calling this must guard its entry point with
    ``if __name__ == "__main__":`` (as for any multiprocessing code).

    Args:
        data: scenario data with a ``sweep`` block (after overrides and shorthands).
        out_dir: the sweep directory (created; finished points there are kept and skipped).
        executor: ``"local"`` (process pool) or ``"ray"``.
        workers: parallel points (default: all cores; 1 runs in this process).
        address: Ray cluster address HOST:PORT (default: start a local instance).
        progress: makes the display of a given number of points to run (advanced per point).
        wait: if another sweep is using ``out_dir``, wait for it to end instead of refusing.
        overwrite: run in a directory that holds another sweep (whose points this one would
            no longer list; they stay in ``points/``) or files of no sweep (kept).

    Returns:
        The final index (statuses of all points).

    Raises:
        AsyncSimError: another sweep is using ``out_dir`` (without ``wait``), or it holds
            another sweep or no sweep (without ``overwrite``, see :func:`check_sweep_dir`).
        StorageError: results could not be written (the finished points are kept).
    """
    points = expand_sweep(data)
    out = Path(out_dir)
    check_sweep_dir(out, points, overwrite)
    with _writing(out):
        out.mkdir(parents=True, exist_ok=True)
    with locked(out, "sweep", wait):
        check_sweep_dir(out, points, overwrite)  # as it is now that no one else writes there
        return _run_locked(data, points, out, executor, workers, address, progress)


_SWEEP_FILES = frozenset({"sweep.yaml", "index.csv", "points"})
"""What makes a directory a sweep's (it also holds results.csv, tune.csv, plots)."""


def check_sweep_dir(out: Path, points: Sequence[SweepPoint], overwrite: bool = False) -> None:
    """Refuse, unless ``overwrite``, to run the sweep of ``points`` in ``out`` when it holds
    files but no sweep (as ``asyncsim run`` refuses a foreign directory), or another sweep: one
    whose index lists points that are not points of this sweep (writing this sweep's index
    would no longer list them). The same sweep, or one that extends it (more seeds), resumes.

    Raises:
        AsyncSimError: one line saying what ``out`` holds and what to do.
    """
    if overwrite or not out.is_dir():
        return
    entries = sorted(path.name for path in out.iterdir() if not _leftover(path.name))
    if entries and not _SWEEP_FILES & set(entries):
        shown = ", ".join(repr(name) for name in entries[:3]) + (", …" if len(entries) > 3 else "")
        raise AsyncSimError(
            f"{out}: refusing to run a sweep in a non-empty directory that holds no sweep (it "
            f"holds {shown}); choose another --out, or give --overwrite to write into it "
            "(other files are kept)"
        )
    if not (out / "index.csv").is_file():
        return
    listed = {record["hash"] for record in index_records(out)}
    others = listed - {point.key for point in points}
    if others:
        raise AsyncSimError(
            f"{out}: holds another sweep: {len(others)} of the {len(listed)} points its index "
            "lists are not points of this one and would no longer be listed; choose another "
            "--out, or give --overwrite to list this sweep's points instead (the points "
            "computed before stay in points/)"
        )


def _leftover(name: str) -> bool:
    """Whether a directory entry is a sweep's lock or a temporary file of its writes."""
    return name == LOCK_FILE or (name.startswith(".") and name.endswith(".tmp"))


def _run_locked(
    data: Mapping[str, Any],
    points: list[SweepPoint],
    out: Path,
    executor: Executor,
    workers: int | None,
    address: str | None,
    progress: Callable[[int], Progress] | None,
) -> SweepIndex:
    """:func:`run_sweep` once the sweep directory is locked."""
    with _writing(out / "sweep.yaml"):
        (out / "points").mkdir(exist_ok=True)
        atomic_write(out / "sweep.yaml", dump_yaml(plugins_relative_to(data, out)))
    index = SweepIndex(out, points)
    pending = index.unique_pending()
    workers = max(1, min(workers or default_workers(), len(pending) or 1))
    _remove_leftovers(index, pending)
    index.write()
    display = progress(len(pending)) if progress is not None else None
    try:
        ready = display.restart if display is not None else lambda: None
        on_done, on_status = _recorder(index, display), _status_display(display)
        _execute(index, pending, on_done, executor, workers, address, ready, on_status)
    except BaseException:
        index.refresh()
        with contextlib.suppress(StorageError):  # the markers say what is done; a resume
            index.write()  # rewrites the index
        raise
    finally:
        if display is not None:
            display.close()
    index.refresh()
    index.write()
    _write_results(out)
    return index


def _write_results(out: Path) -> None:
    """``results.csv``: every finished point × method, its swept values and summary fields
    (:func:`asyncsim.tables.load_sweep`)."""
    from asyncsim.tables import load_sweep

    frame = load_sweep(out)
    with _writing(out / "results.csv"):
        atomic_write(out / "results.csv", frame.to_csv(index=False, lineterminator="\n"))


def _remove_leftovers(index: SweepIndex, pending: Sequence[SweepPoint]) -> None:
    """Remove what an earlier, killed sweep left: temporary files of the index and sweep.yaml,
    and the error file of every point to run again (another sweep cannot be writing them:
    the directory is locked)."""
    for name in ("index.csv", "sweep.yaml"):
        for temporary in index.out_dir.glob(f".{name}.*.tmp"):
            temporary.unlink(missing_ok=True)
    for point in pending:
        directory = index.point_dir(point)
        (directory / "error.txt").unlink(missing_ok=True)
        for temporary in directory.glob(".error.txt.*.tmp"):
            temporary.unlink(missing_ok=True)


def _execute(
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


def _recorder(index: SweepIndex, progress: Progress | None) -> OnDone:
    """The callback that stores a finished point (result, error.txt) and updates the index;
    it raises :class:`StorageError` when the point's results could not be written."""

    def on_done(point: SweepPoint, outcome: PointOutcome) -> None:
        directory = index.point_dir(point)
        if outcome.unwritable:
            raise StorageError(outcome.unwritable)
        if outcome.result is not None:
            try:
                with _writing(directory):
                    write_run(outcome.result, directory, outcome.started, outcome.finished)
            except StorageError:
                raise
            except AsyncSimError as exc:
                outcome.error, outcome.details = _one_line(exc), _traceback(exc)
        if outcome.error:
            with _writing(directory / "error.txt"):
                directory.mkdir(parents=True, exist_ok=True)
                atomic_write(directory / "error.txt", outcome.details or outcome.error)
        index.record(point, outcome.error)
        if progress is not None:
            failed = bool(outcome.error)
            progress.advance(outcome.simulated, outcome.iterations, failed, point_label(point))

    return on_done


def _status_display(progress: Progress | None) -> OnStatus | None:
    """The callback that shows where a running point stands, if there is a display."""
    if progress is None:
        return None
    return lambda point, status: progress.update(point_label(point), status)


def point_label(point: SweepPoint) -> str:
    """A point as progress names it: its swept values (``cluster.n=8, seed=0``), else its
    hash."""
    return ", ".join(f"{path}={value}" for path, value in point.values.items()) or point.key
