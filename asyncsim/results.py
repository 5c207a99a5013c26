"""Durable run directories: atomic writes, metadata, a completion marker, loading back.

Layout of a run directory (the output contract; scripts outside asyncsim read it)::

    DIR/scenario.yaml            resolved scenario (model_dump(mode="json"))
    DIR/metadata.json            asyncsim version, git commit, seed, host, python, start/end
    DIR/<method>/iterations.csv  recorder.COLUMNS first, then other keys in first-appearance order
    DIR/<method>/trace.csv       time, agent, event, iteration, version
    DIR/<method>/summary.json    total_time, iterations, gradients_used, ... (runner.method_summary)
    DIR/COMPLETE                 written last: a directory without it is an unfinished run

metadata.json is written first and names the method directories: it is what marks a directory
as asyncsim's. Rewriting a run directory removes only files asyncsim recognises as its own (the
earlier run's COMPLETE, its temporary files, the method files of a method dropped since);
writing into a non-empty directory that holds no asyncsim run is refused unless ``overwrite``
is given, and even then no other file is removed.

Every file is written to a temporary file in the same directory and renamed over the target
(``os.replace``), so a killed process leaves either the old file or the new one, never half a
file. Every CSV table goes through one path (:func:`table_text`) with one float format,
orjson's shortest round-trip decimals (:func:`_float_text`): the same seed gives byte-identical
tables, and :func:`load_run` parses them back to the same numbers. Files are not
fsynced: the guarantee is against a killed process, not against power loss.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import math
import os
import platform
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from asyncsim import __version__
from asyncsim.config import Scenario, validate_scenario
from asyncsim.errors import AsyncSimError, ConfigError, quote
from asyncsim.files import check_method_key
from asyncsim.recorder import COLUMNS
from asyncsim.runner import MethodResult, RunResult
from asyncsim.scenario import dump_yaml, load_yaml

__all__ = [
    "COMPLETE",
    "TRACE_COLUMNS",
    "atomic_write",
    "check_run_dir",
    "finished_methods",
    "is_complete",
    "load_run",
    "method_dir_name",
    "read_run_scenario",
    "read_table",
    "scenario_hash",
    "table_text",
    "write_method",
    "write_run",
]

COMPLETE = "COMPLETE"
"""Name of the completion marker, the last file a finished run directory receives."""

TRACE_COLUMNS = ("time", "agent", "event", "iteration", "version")

_RUN_FILES = ("metadata.json", "scenario.yaml", COMPLETE)
_METHOD_FILES = ("iterations.csv", "trace.csv", "summary.json")
_LEFTOVERS = ("error.txt",)
"""Files that do not make a directory foreign: the sweep's error file of a failed point."""
_MAX_METADATA_BYTES = 2**20


# ---------------------------------------------------------------- atomic files and tables


def atomic_write(path: str | Path, data: str | bytes | bytearray) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` via a temporary file in the same directory
    (named after the file and this process) and a rename."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        if exc.filename is None:  # a full disk on write(): name the file, not nothing
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _float_text(value: float) -> str:
    """A float as every table writes it: orjson's shortest round-trip decimal (the fast path's
    spelling, e.g. ``1e-5``), or ``nan`` / ``inf`` / ``-inf`` where JSON has none."""
    return orjson.dumps(value).decode() if math.isfinite(value) else repr(value)


def _slow_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _float_text(float(value))
    return str(value)


_FAST_CELLS = {float: _float_text, int: int.__repr__, str: str, bool: str}


def _cell(value: Any) -> str:
    """CSV text of one value: floats by :func:`_float_text`, '' for None, str otherwise (NumPy
    scalars too)."""
    fast = _FAST_CELLS.get(type(value))
    return fast(value) if fast is not None else _slow_cell(value)


def _parse(text: str) -> Any:
    """Inverse of :func:`_cell`: None, bool, int, float, else the text itself."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    if "_" in text:  # int() and float() would accept it as a digit separator
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


_NUMBERS = {float, int, type(None)}


def table_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (header + rows, ``\\n`` line ends): floats as shortest round-trip decimals,
    None as '', other values by :func:`_cell`."""
    return _table_csv(columns, list(chain.from_iterable(rows))).decode()


def _table_csv(names: Sequence[str], flat: list[Any]) -> bytes | bytearray:
    """:func:`table_text` (as UTF-8) of a table flattened row by row into ``flat``.

    Tables of numbers (and None) take :func:`_flat_csv`; anything else, or a float that is not
    finite, goes through the csv module.
    """
    types = set(map(type, flat))
    if types <= _NUMBERS:
        if type(None) in types:
            flat = ["" if v is None else v for v in flat]
        text = _flat_csv(flat, len(names), names)
        if _NULL not in text:
            return text
    width = len(names)
    rows = [[_cell(v) for v in flat[i : i + width]] for i in range(0, len(flat), width)]
    return _csv_text([names, *rows]).encode()


def _csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """Rows written by the csv module (floats with repr, None as '', ``\\n`` line ends)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _flat_csv(flat: list[Any], width: int, header: Sequence[str]) -> bytearray:
    """CSV (``header``, then the rows) of a table flattened row by row into ``flat`` (``width``
    values a row) of ints, floats and plain identifiers (no quote, comma, backslash or newline),
    made in C. A float that is not finite comes out as ``null`` (JSON has no inf or nan): callers
    check for it and take the csv module instead.

    orjson writes ``flat`` as one JSON array; as no value holds a comma, every ``width``-th
    comma ends a row and becomes a newline (found with NumPy), and deleting the brackets and the
    quotes leaves CSV. A flat list instead of one tuple per row spares the garbage collector a
    pass over every row. Floats come out as :func:`_float_text` writes them.
    """
    head = ",".join(header).encode() + b"\n"
    if not flat:
        return bytearray(head)
    text = bytearray(head) + orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)
    codes = np.frombuffer(text, np.uint8, offset=len(head))
    codes[np.flatnonzero(codes == _COMMA)[width - 1 :: width]] = _NEWLINE
    codes[0], codes[-1] = _QUOTE, _NEWLINE  # the brackets: the opening one is deleted too
    return text.translate(None, b'"')


_COMMA, _NEWLINE, _QUOTE = ord(","), ord("\n"), ord('"')
_NULL = b"null"
"""How orjson writes a float that is not finite (a name holding it only costs the slow path)."""


def _trace_csv(flat: list[Any]) -> bytes | bytearray:
    """trace.csv from the flattened trace rows (traces are the bulk of a run's output, so they
    skip :func:`_table_csv`'s type scan: their events are plain identifiers)."""
    text = _flat_csv(flat, len(TRACE_COLUMNS), TRACE_COLUMNS)
    return _table_csv(TRACE_COLUMNS, flat) if _NULL in text else text  # a time not finite


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV file written by :func:`table_text`, values parsed back to numbers."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        return [
            {key: _parse(text) for key, text in zip(header, row, strict=True) if text != ""}
            for row in reader
        ]


def _iteration_table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[Any]]:
    """Columns (recorder.COLUMNS first, then any other key in order of first appearance) and
    the rows flattened in that order, None where a row lacks a column."""
    names = list(dict.fromkeys(chain(COLUMNS, *rows)))
    flat: list[Any] = [None] * (len(rows) * len(names))
    for j, name in enumerate(names):
        flat[j :: len(names)] = map(dict.get, rows, repeat(name))
    return names, flat


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# ---------------------------------------------------------------- identity and metadata


def scenario_hash(scenario: Scenario) -> str:
    """First 12 hex digits of the sha256 of the scenario's canonical JSON (sorted keys)."""
    canonical = json.dumps(
        scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def method_dir_name(key: str, field: str = "methods") -> str:
    """``key`` if it can name a method directory (see files.check_method_key), else a
    ConfigError (labels become directory names)."""
    check_method_key(key, field)
    return key


@functools.cache
def _git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout holding asyncsim; (None, None) outside git."""
    where = str(Path(__file__).resolve().parent)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", where, *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def _metadata(
    scenario: Scenario, methods: Iterable[str], started: float, finished: float
) -> dict[str, Any]:
    commit, dirty = _git_state()
    return {
        "asyncsim_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "seed": scenario.seed,
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started": _timestamp(started),
        "finished": _timestamp(finished),
        "real_seconds": round(finished - started, 6),
        "methods": list(methods),
    }


# ---------------------------------------------------------------- run directories


def is_complete(path: str | Path) -> bool:
    """Whether ``path`` is a finished run directory (its completion marker exists)."""
    return (Path(path) / COMPLETE).is_file()


def check_run_dir(out_dir: str | Path, overwrite: bool = False) -> bool:
    """Whether ``out_dir`` holds an earlier asyncsim run, which :func:`write_run` replaces.

    Call it before a long simulation to refuse an unusable directory at once.

    Args:
        out_dir: the run directory to be written.
        overwrite: accept a non-empty directory that holds no asyncsim run (its files are kept,
            files of the names asyncsim writes are replaced).

    Returns:
        True if ``out_dir`` is a run directory (its metadata.json is asyncsim's); False if it
        is missing, empty (but for asyncsim's temporary files), or foreign with ``overwrite``.

    Raises:
        AsyncSimError: ``out_dir`` is not a directory, or holds other files and ``overwrite``
            is False.
    """
    return _earlier_run(Path(out_dir), overwrite) is not None


def _earlier_run(out: Path, overwrite: bool) -> list[str] | None:
    """The method directories of the run in ``out``, None where there is none (see
    :func:`check_run_dir`, which raises as this does)."""
    if "\0" in str(out):  # os.stat raises ValueError on it
        raise AsyncSimError(f"{quote(str(out))}: not a usable path (it holds a NUL byte)")
    if not out.exists():
        return None
    if not out.is_dir():
        raise AsyncSimError(f"{out}: exists and is not a directory; choose another output")
    methods = _run_methods(out)
    if methods is not None:
        return methods
    foreign = sorted(path.name for path in out.iterdir() if not _is_leftover(path.name))
    if foreign and not overwrite:
        raise AsyncSimError(
            f"{out}: refusing to write into a non-empty directory that holds no asyncsim run "
            f"(it holds {', '.join(quote(name, 60) for name in foreign[:3])}"
            f"{', …' if len(foreign) > 3 else ''}); "
            "choose another output directory, or give --overwrite to write into it "
            "(other files are kept)"
        )
    return None


def _run_methods(out: Path) -> list[str] | None:
    """Method directories named by ``out/metadata.json``, or None if that file is not an
    asyncsim run's metadata ([] for a run written before metadata named its methods)."""
    try:
        with open(out / "metadata.json", "rb") as handle:
            data = json.loads(handle.read(_MAX_METADATA_BYTES))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "asyncsim_version" not in data:
        return None
    methods = data.get("methods", [])
    return [key for key in methods if isinstance(key, str) and _is_method_key(key)]


def _is_method_key(key: str) -> bool:
    try:
        check_method_key(key, "methods")
    except ConfigError:
        return False
    return True


def _is_leftover(name: str) -> bool:
    """Whether a directory entry is asyncsim's own temporary file or the sweep's error file."""
    return name in _LEFTOVERS or _is_temporary(name, (*_RUN_FILES, *_LEFTOVERS))


def _is_temporary(name: str, targets: Iterable[str]) -> bool:
    """Whether ``name`` is an :func:`atomic_write` temporary file of one of ``targets``."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    target, _, pid = name[1 : -len(".tmp")].rpartition(".")
    return pid.isdigit() and target in targets


def write_run(
    result: RunResult,
    out_dir: str | Path,
    started: float | None = None,
    finished: float | None = None,
    *,
    overwrite: bool = False,
    kept: Sequence[str] = (),
) -> Path:
    """Write ``result`` as a run directory: metadata.json first, the completion marker last.

    An earlier run in ``out_dir`` is replaced: its marker is removed first, then its temporary
    files and the files of its methods that this run does not have (a method directory is
    removed only once empty). Nothing else is removed.

    Args:
        result: the run to write.
        out_dir: the run directory: missing, empty, holding an earlier run (a sweep's point
            directory is always one of these), or any directory with ``overwrite``.
        started: Unix time the run started (default: ``finished`` minus the methods' real time).
        finished: Unix time the run ended (default: now).
        overwrite: write into a non-empty directory that holds no asyncsim run.
        kept: keys of methods already written in ``out_dir`` by :func:`write_method` (a
            resumed sweep point), which ``result`` leaves out: their files stay as they are.

    Returns:
        The run directory.

    Raises:
        AsyncSimError: ``out_dir`` is unusable (see :func:`check_run_dir`).
    """
    out = Path(out_dir)
    earlier = _earlier_run(out, overwrite)
    present = {*kept, *result.methods}
    keys = [method_dir_name(m.key) for m in result.scenario.methods if m.key in present]
    if earlier is not None:  # unfinished from now on; its metadata.json still names its methods
        (out / COMPLETE).unlink(missing_ok=True)
        for key in set(earlier) - set(keys):
            _remove_method(out / key)
    if out.is_dir():  # drop what a killed writer left
        _remove_temporary(out, _RUN_FILES)
    else:
        out.mkdir(parents=True)
    finished = time.time() if finished is None else finished
    if started is None:
        real = sum(method.summary.get("real_seconds", 0.0) for method in result.methods.values())
        started = finished - real
    metadata = _metadata(result.scenario, keys, started, finished)
    atomic_write(out / "metadata.json", _json(metadata))
    atomic_write(out / "scenario.yaml", dump_yaml(result.scenario.model_dump(mode="json")))
    for key, method in result.methods.items():
        _write_method(out / method_dir_name(key), method)
    atomic_write(out / COMPLETE, _timestamp(finished) + "\n")
    return out


def write_method(
    out_dir: str | Path, scenario: Scenario, method: MethodResult, started: float
) -> None:
    """Write one finished method of a run of ``scenario`` that is still going (begun at Unix
    time ``started``) into ``out_dir``, its summary.json last; the directory is the run's
    (metadata.json first, no completion marker) from the first method on, so a resumed run
    finds the finished methods with :func:`finished_methods`."""
    out = Path(out_dir)
    if _earlier_run(out, overwrite=False) is None:
        out.mkdir(parents=True, exist_ok=True)
        keys = [method_dir_name(m.key) for m in scenario.methods]
        atomic_write(out / "metadata.json", _json(_metadata(scenario, keys, started, time.time())))
    (out / COMPLETE).unlink(missing_ok=True)
    _write_method(out / method_dir_name(method.key), method)


def finished_methods(out_dir: str | Path, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The summaries of the methods among ``keys`` that :func:`write_method` finished in an
    unfinished run directory (none in a finished or missing one)."""
    out = Path(out_dir)
    if is_complete(out) or not out.is_dir():
        return {}
    done = {}
    for key in keys:
        summary = out / method_dir_name(key) / "summary.json"
        try:
            done[key] = json.loads(summary.read_text())
        except (OSError, ValueError):
            continue
    return done


def _write_method(directory: Path, method: MethodResult) -> None:
    if directory.is_symlink():  # it could lead out of the run directory
        raise AsyncSimError(f"{directory}: is a symbolic link; a method directory must not be")
    if directory.is_dir():  # a fresh run directory skips the look for an earlier writer's files
        _remove_temporary(directory, _METHOD_FILES)
    else:
        directory.mkdir()
    atomic_write(directory / "iterations.csv", _table_csv(*_iteration_table(method.rows)))
    atomic_write(directory / "trace.csv", _trace_csv(method.trace_flat()))
    atomic_write(directory / "summary.json", _json(method.summary))


def _remove_temporary(directory: Path, targets: Iterable[str]) -> None:
    """Remove the temporary files a killed :func:`atomic_write` of ``targets`` left."""
    targets = tuple(targets)
    for path in directory.glob(".*.tmp"):
        if _is_temporary(path.name, targets):
            path.unlink(missing_ok=True)


def _remove_method(directory: Path) -> None:
    """Remove an earlier run's method files from ``directory``, and the directory if that
    leaves it empty (another file in it is not asyncsim's and stays)."""
    if directory.is_symlink() or not directory.is_dir():
        return
    for name in _METHOD_FILES:
        (directory / name).unlink(missing_ok=True)
    _remove_temporary(directory, _METHOD_FILES)
    with contextlib.suppress(OSError):
        directory.rmdir()


def load_run(path: str | Path) -> RunResult:
    """Read a finished run directory back into a RunResult (numbers parsed back).

    Raises:
        AsyncSimError: the directory is missing or unfinished (no completion marker).
    """
    path = Path(path)
    if not is_complete(path):
        what = "an unfinished run directory" if path.is_dir() else "not a directory"
        raise AsyncSimError(f"{path}: {what} (no {COMPLETE} marker)")
    scenario = read_run_scenario(path)
    result = RunResult(scenario)
    for method in scenario.methods:
        result.methods[method.key] = _load_method(path / method.key, method.key)
    return result


def read_run_scenario(path: str | Path) -> Scenario:
    """The scenario a run directory was run with (``DIR/scenario.yaml``), also when an earlier
    release wrote it (:func:`_earlier_release_scenario`)."""
    path = Path(path)
    data = load_yaml((path / "scenario.yaml").read_text(encoding="utf-8"), str(path))
    try:
        return validate_scenario(data)
    except ConfigError as exc:
        try:
            return validate_scenario(_earlier_release_scenario(data))
        except (ConfigError, AttributeError, KeyError, TypeError):
            raise exc from None


def _earlier_release_scenario(data: dict[str, Any]) -> dict[str, Any]:
    """A scenario.yaml of the releases before method parameters, made valid: they dumped every
    field (null where unset) and gave every method ``batch`` and ``initial_batch``. The nulls
    and the parameters a method does not declare are dropped (they had no effect on the run)."""
    from asyncsim.registry import METHODS

    def without_nulls(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_nulls(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [without_nulls(v) for v in value]
        return value

    data = without_nulls(data)
    methods = []
    for method in data.get("methods", []):
        declared = {"name", "label", *METHODS.get(method["name"]).params.model_fields}
        methods.append({k: v for k, v in method.items() if k in declared})
    return {**data, "methods": methods}


def _load_method(directory: Path, key: str) -> MethodResult:
    trace = [
        (float(r["time"]), int(r["agent"]), str(r["event"]), int(r["iteration"]), int(r["version"]))
        for r in read_table(directory / "trace.csv")
    ]
    summary = json.loads((directory / "summary.json").read_text())
    return MethodResult(key, read_table(directory / "iterations.csv"), trace, summary)
