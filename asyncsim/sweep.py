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
    SWEEP_DIR/points/<hash>/          a run directory (asyncsim.results), or error.txt

``<hash>`` is :func:`asyncsim.results.scenario_hash` of the resolved point, so a point that was
finished by any earlier sweep (its completion marker exists) is never run again, and a sweep
interrupted in any way resumes where it stopped. A point that raises is recorded as failed
(index.csv and ``error.txt``) and the sweep goes on; a re-run retries it.

Executors: ``local`` (a process pool that is started once and reused, so no process start-up per
point; one worker runs in-process) and ``ray`` (one remote task per point on a local Ray instance
or the cluster at ``address``; results come back to the driver, which writes them, so the
cluster needs no shared file system but must have asyncsim installed).
"""

from __future__ import annotations

import csv
import itertools
import json
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from asyncsim.config import Scenario, validate_scenario
from asyncsim.errors import AsyncSimError, ConfigError
from asyncsim.methods.registry import lookup_method
from asyncsim.progress import Progress
from asyncsim.results import (
    atomic_write,
    is_complete,
    load_run,
    method_dir_name,
    scenario_hash,
    table_text,
    write_run,
)
from asyncsim.runner import RunResult, simulate
from asyncsim.scenario import apply_overrides, dump_yaml

__all__ = [
    "PointOutcome",
    "SweepIndex",
    "SweepPoint",
    "check_scenario",
    "default_workers",
    "expand_sweep",
    "finished_runs",
    "read_index",
    "run_point",
    "run_sweep",
    "sweep_axes",
]

Executor = Literal["local", "ray"]


# ---------------------------------------------------------------- expansion


def check_scenario(scenario: Scenario) -> None:
    """Checks that need the method registry: known method names, usable output names."""
    for index, method in enumerate(scenario.methods):
        lookup_method(method.name, f"methods[{index}].name")
        method_dir_name(method.key, f"methods[{index}].label")


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
            check_scenario(scenario)
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
    """What running one point produced; ``result`` only when the caller writes it."""

    started: float
    finished: float
    simulated: float = 0.0
    iterations: int = 0
    error: str | None = None
    details: str | None = None
    result: RunResult | None = None


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, AsyncSimError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def run_point(scenario: Scenario, point_dir: str | None) -> PointOutcome:
    """Simulate one point; write its run directory there, or return the result if None.

    Never raises for a failing simulation: the error is returned in the outcome.
    """
    started = time.time()
    try:
        result = simulate(scenario)
        if point_dir is not None:
            write_run(result, point_dir, started, time.time())
    except Exception as exc:
        return PointOutcome(started, time.time(), error=_one_line(exc), details=_traceback(exc))
    summaries = [method.summary for method in result.methods.values()]
    return PointOutcome(
        started,
        time.time(),
        simulated=sum(s["total_time"] for s in summaries),
        iterations=sum(s["iterations"] for s in summaries),
        result=None if point_dir is not None else result,
    )


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


# ---------------------------------------------------------------- the index


def _index_cell(value: Any) -> Any:
    return value if isinstance(value, str) else json.dumps(value)


def read_index(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``index.csv``; axis values parsed back from JSON where they were encoded."""
    with open(Path(sweep_dir) / "index.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    fixed = {"hash", "status", "error"}
    return [{k: v if k in fixed else _from_cell(v) for k, v in row.items()} for row in rows]


def finished_runs(sweep_dir: str | Path) -> Iterator[tuple[dict[str, Any], RunResult]]:
    """(index row, loaded run) of every finished point of a sweep directory, in index order."""
    for row in read_index(sweep_dir):
        directory = Path(sweep_dir) / "points" / str(row["hash"])
        if row.get("status") == "done" and is_complete(directory):
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
        atomic_write(self.out_dir / "index.csv", table_text(columns, rows))
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


def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _run_in_process(index: SweepIndex, points: list[SweepPoint], on_done: OnDone) -> None:
    for point in points:
        on_done(point, run_point(point.scenario, str(index.point_dir(point))))


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the driver, which lets running points finish."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_pool(index: SweepIndex, points: list[SweepPoint], on_done: OnDone, workers: int) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["asyncsim.sweep"])
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_ignore_sigint)
    try:
        futures = {
            pool.submit(run_point, point.scenario, str(index.point_dir(point))): point
            for point in points
        }
        for future in as_completed(futures):
            on_done(futures[future], _pool_outcome(future))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pool_outcome(future: Future) -> PointOutcome:
    try:
        return future.result()
    except Exception as exc:  # the pool broke (a worker was killed); the point did not run
        now = time.time()
        return PointOutcome(now, now, error=_one_line(exc), details=_traceback(exc))


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
        _init_ray(ray, workers, address)
    on_ready()
    task = ray.remote(num_cpus=1)(run_point)
    refs = {task.remote(point.scenario, None): point for point in points}
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


def _init_ray(ray: Any, workers: int, address: str | None) -> None:
    import logging

    options = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, **options)


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
        address: Ray cluster address (default: start a local instance).
        progress: makes the display of a given number of points to run (advanced per point).

    Returns:
        The final index (statuses of all points).
    """
    points = expand_sweep(data)
    out = Path(out_dir)
    (out / "points").mkdir(parents=True, exist_ok=True)
    atomic_write(out / "sweep.yaml", dump_yaml(dict(data)))
    index = SweepIndex(out, points)
    pending = index.unique_pending()
    workers = max(1, min(workers or default_workers(), len(pending) or 1))
    for point in pending:
        (index.point_dir(point) / "error.txt").unlink(missing_ok=True)
    index.write()
    display = progress(len(pending)) if progress is not None else None
    on_done = _recorder(index, display)
    try:
        ready = display.restart if display is not None else lambda: None
        _execute(index, pending, on_done, executor, workers, address, ready)
    finally:
        index.refresh()
        index.write()
        if display is not None:
            display.close()
    return index


def _execute(
    index: SweepIndex,
    points: list[SweepPoint],
    on_done: OnDone,
    executor: Executor,
    workers: int,
    address: str | None,
    on_ready: Callable[[], None],
) -> None:
    """Run ``points`` on the executor; ``on_ready`` once it can start (Ray starts slowly)."""
    if not points:
        return
    if executor == "ray":
        _run_ray(points, on_done, workers, address, on_ready)
    elif workers == 1:
        _run_in_process(index, points, on_done)
    else:
        _run_pool(index, points, on_done, workers)


def _recorder(index: SweepIndex, progress: Progress | None) -> OnDone:
    """The callback that stores a finished point (result, error.txt) and updates the index."""

    def on_done(point: SweepPoint, outcome: PointOutcome) -> None:
        directory = index.point_dir(point)
        if outcome.result is not None:
            try:
                write_run(outcome.result, directory, outcome.started, outcome.finished)
            except (OSError, AsyncSimError) as exc:
                outcome.error, outcome.details = _one_line(exc), _traceback(exc)
        if outcome.error:
            directory.mkdir(parents=True, exist_ok=True)
            atomic_write(directory / "error.txt", outcome.details or outcome.error)
        index.record(point, outcome.error)
        if progress is not None:
            progress.advance(outcome.simulated, outcome.iterations, failed=bool(outcome.error))

    return on_done
