"""A sweep directory as a store of points: its ``index.csv`` (read back, rebuilt from
``points/`` when damaged, rewritten as points finish) and its finished runs.

Layout (written by :func:`asyncsim.run.sweep.run_sweep`)::

    SWEEP_DIR/index.csv               hash, one column per axis, status, error
    SWEEP_DIR/points/<hash>/          a run directory (asyncsim.store.runs), or error.txt

The tables, the report and the figures read a sweep through here, never through the sweep
driver.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asyncsim.core.csvtables import table_text
from asyncsim.core.errors import AsyncSimError
from asyncsim.scenario.loading import load_yaml, value_at
from asyncsim.scenario.sweep_grid import SweepPoint, sweep_axes
from asyncsim.store.run_data import RunResult
from asyncsim.store.runs import COMPLETE, atomic_write, is_complete, is_readable, load_run

__all__ = [
    "StorageError",
    "SweepIndex",
    "finished_runs",
    "index_records",
    "read_index",
    "writing",
]


class StorageError(AsyncSimError):
    """The sweep's results cannot be written (a full disk, a read-only file system): it stops,
    keeping every finished point, and resumes when re-run."""


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
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
        with writing(path):
            atomic_write(path, table_text(columns, rows))
        self._last_write = time.perf_counter()
        self._write_cost = self._last_write - now

    def _row(self, point: SweepPoint) -> list[Any]:
        values = [_index_cell(point.values[axis]) for axis in self.axes]
        return [point.key, *values, self.status[point.key], self.errors.get(point.key, "")]

    def count(self, status: str) -> int:
        """Number of points (not distinct hashes) with ``status``."""
        return sum(self.status[p.key] == status for p in self.points)
