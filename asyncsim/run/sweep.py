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
                                      hash, then the method's summary (asyncsim.analysis.tables)
    SWEEP_DIR/points/<hash>/          a run directory (asyncsim.store.runs), or error.txt

``<hash>`` is :func:`asyncsim.store.runs.scenario_hash` of the resolved point, so a point that was
finished by any earlier sweep (its completion marker exists) is never run again, and a sweep
interrupted in any way resumes where it stopped. A point that raises is recorded as failed
(index.csv and ``error.txt``) and the sweep goes on; a re-run retries it.

Faults: a sweep holds ``SWEEP_DIR/.lock`` (flock) while it runs, so a second sweep on the
directory refuses (or waits); pool workers exit when the driver dies, even by SIGKILL
(:mod:`asyncsim.core.lifeline`); a worker that dies fails only the point it was running; results
that cannot be written (a full disk) stop the sweep with one line naming the file, every
finished point kept.

Executors (``local``: a pool of worker processes; ``ray``): :mod:`asyncsim.run.sweep_executors`.
The expansion of the axes is :mod:`asyncsim.scenario.sweep_grid`, the index and the finished points
:mod:`asyncsim.store.sweep_index`; their public names are importable from here too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from asyncsim.core.errors import AsyncSimError, switch
from asyncsim.run.progress import Progress
from asyncsim.run.sweep_executors import (
    Executor,
    OnDone,
    OnStatus,
    PointOutcome,
    default_workers,
    execute,
    init_ray,
    one_line,
    rollout_workers,
    run_point,
    traceback_text,
)
from asyncsim.scenario.loading import dump_yaml, plugins_relative_to
from asyncsim.scenario.sweep_grid import SweepPoint, expand_sweep, point_label, sweep_axes
from asyncsim.store.locks import LOCK_FILE, locked
from asyncsim.store.runs import atomic_write, write_run
from asyncsim.store.sweep_index import (
    StorageError,
    SweepIndex,
    finished_runs,
    index_records,
    read_index,
    writing,
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
    "point_label",
    "read_index",
    "rollout_workers",
    "run_point",
    "run_sweep",
    "sweep_axes",
]


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
    with writing(out):
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
            f"holds {shown}); choose another {switch('out')}, or give {switch('overwrite')} "
            "to write into it (other files are kept)"
        )
    if not (out / "index.csv").is_file():
        return
    listed = {record["hash"] for record in index_records(out)}
    others = listed - {point.key for point in points}
    if others:
        raise AsyncSimError(
            f"{out}: holds another sweep: {len(others)} of the {len(listed)} points its index "
            "lists are not points of this one and would no longer be listed; choose another "
            f"{switch('out')}, or give {switch('overwrite')} to list this sweep's points instead "
            "(the points "
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
    with writing(out / "sweep.yaml"):
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
        execute(index, pending, on_done, executor, workers, address, ready, on_status)
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
    (:func:`asyncsim.analysis.tables.load_sweep`)."""
    from asyncsim.analysis.tables import load_sweep

    frame = load_sweep(out)
    with writing(out / "results.csv"):
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


def _recorder(index: SweepIndex, progress: Progress | None) -> OnDone:
    """The callback that stores a finished point (result, error.txt) and updates the index;
    it raises :class:`StorageError` when the point's results could not be written."""

    def on_done(point: SweepPoint, outcome: PointOutcome) -> None:
        directory = index.point_dir(point)
        if outcome.unwritable:
            raise StorageError(outcome.unwritable)
        if outcome.result is not None:
            try:
                with writing(directory):
                    write_run(outcome.result, directory, outcome.started, outcome.finished)
            except StorageError:
                raise
            except AsyncSimError as exc:
                outcome.error, outcome.details = one_line(exc), traceback_text(exc)
        if outcome.error:
            with writing(directory / "error.txt"):
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
