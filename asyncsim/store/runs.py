"""Durable run directories: atomic writes, metadata, a completion marker, loading back.

Layout of a run directory (the output contract; scripts outside asyncsim read it)::

    DIR/scenario.yaml            resolved scenario (model_dump(mode="json"))
    DIR/metadata.json            asyncsim version, git commit, seed, host, python, start/end
    DIR/<method>/iterations.csv  run_data.COLUMNS first, then other keys in first-appearance order
    DIR/<method>/trace.csv       time, agent, event, iteration, version
    DIR/<method>/summary.json    total_time, iterations, gradients_used, ... (runner.method_summary)
    DIR/plugins.json             what reading needs of the plug-ins used (store.recorded)
    DIR/COMPLETE                 written last: a directory without it is an unfinished run

metadata.json is written first and names the method directories and the scenario (its hash)
and kind of results (``run``, or ``emulation``) they hold: it is what marks a directory as
asyncsim's. Rewriting a run directory removes only files asyncsim recognises as its own (the
earlier run's COMPLETE, its temporary files, the method files of a method dropped since);
writing into a non-empty directory that holds no asyncsim run, or that holds the results of
another scenario or kind, is refused unless ``overwrite`` is given, and even then no other file
is removed. Rerunning the same scenario into its own directory needs no ``overwrite``.

Reading a run directory imports no code: plug-in paths are stored relative to the stored
scenario, and what the figures and the report need of plug-in entries comes from the record
(:mod:`asyncsim.store.recorded`).

Every file is written to a temporary file in the same directory and renamed over the target
(``os.replace``), so a killed process leaves either the old file or the new one, never half a
file. The tables are written block by block in bounded memory, with one float format
(:mod:`asyncsim.core.csvtables`): the same seed gives byte-identical tables, and :func:`load_run`
parses them back to the same numbers. Files are not fsynced: the guarantee is against a killed
process, not against power loss.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import platform
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np

from asyncsim import __version__
from asyncsim.core.csvtables import BLOCK_ROWS, read_table, temporary_path, write_table
from asyncsim.core.errors import AsyncSimError, ConfigError, quote, switch
from asyncsim.core.files import check_method_key
from asyncsim.core.registry import recorded_entries
from asyncsim.scenario.loading import dump_yaml, load_yaml, plugins_relative_to
from asyncsim.scenario.schema import Scenario, scenario_hash, validate_scenario
from asyncsim.store import recorded
from asyncsim.store.locks import LOCK_FILE
from asyncsim.store.run_data import COLUMNS, MethodResult, RunResult

__all__ = [
    "COMPLETE",
    "EMULATION_FILE",
    "RESULT_KINDS",
    "TRACE_COLUMNS",
    "atomic_write",
    "check_run_dir",
    "expect_results",
    "finished_methods",
    "is_complete",
    "is_readable",
    "load_run",
    "method_dir_name",
    "method_tables",
    "read_run_scenario",
    "results_kind",
    "scenario_hash",
    "write_method",
    "write_run",
    "written_methods",
]

COMPLETE = "COMPLETE"
"""Name of the completion marker, the last file a finished run directory receives."""

TRACE_COLUMNS = ("time", "agent", "event", "iteration", "version")

_RUN_FILES = ("metadata.json", "scenario.yaml", recorded.RECORD_FILE, COMPLETE)
_METHOD_FILES = ("iterations.csv", "trace.csv", "summary.json")
_LEFTOVERS = ("error.txt", LOCK_FILE)
"""Files that do not make a directory foreign: the sweep's error file of a failed point, the
lock of the command writing it."""
_MAX_METADATA_BYTES = 2**20


# ---------------------------------------------------------------- atomic files and tables


def atomic_write(path: str | Path, data: str | bytes | bytearray) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` via a temporary file in the same directory
    (named after the file and this process) and a rename."""
    path = Path(path)
    temp = temporary_path(path)
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


def _iteration_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """run_data.COLUMNS first, then any other key of the rows in order of first appearance."""
    return list(dict.fromkeys(chain(COLUMNS, *rows)))


def _iteration_blocks(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> Iterator[list]:
    """The rows flattened in the order of ``names``, None where a row lacks a column, in blocks
    of :data:`~asyncsim.core.csvtables.BLOCK_ROWS` rows."""
    for start in range(0, len(rows), BLOCK_ROWS):
        block = rows[start : start + BLOCK_ROWS]
        flat: list[Any] = [None] * (len(block) * len(names))
        for j, name in enumerate(names):
            flat[j :: len(names)] = map(dict.get, block, repeat(name))
        yield flat


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# ---------------------------------------------------------------- identity and metadata


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


def results_kind(path: str | Path) -> str:
    """``run`` for a finished run directory, ``sweep`` for a sweep directory; anything else
    (a missing path, a loop of symbolic links, a file, a directory of other files, an
    unfinished run) is one AsyncSimError line saying what it is."""
    path = Path(path)
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AsyncSimError(
                f"{path}: a loop of symbolic links, not a results directory"
            ) from None
        raise AsyncSimError(f"{path}: cannot be read ({exc.strerror})") from None
    if not path.is_dir():
        raise AsyncSimError(f"{path}: not a directory of results")
    if (path / "index.csv").is_file():
        return "sweep"
    if is_complete(path):
        return "run"
    if _read_earlier(path) is not None:
        raise AsyncSimError(
            f"{path}: an unfinished run directory (no {COMPLETE} marker); run it again"
        )
    raise AsyncSimError(
        f"{path}: holds no asyncsim results (neither a finished run directory, with its "
        f"{COMPLETE} marker, nor a sweep directory, with its index.csv)"
    )


def expect_results(path: str | Path, kind: str) -> None:
    """Refuse, in one line saying what ``path`` is, anything but results of ``kind``."""
    found = results_kind(path)
    if found != kind:
        reader = "load_sweep (or asyncsim report)" if found == "sweep" else "load_run"
        raise AsyncSimError(
            f"{path}: a {found} directory, not a {kind} directory: {reader} reads it"
        )


def is_readable(path: str | Path) -> bool:
    """Whether ``path`` is a finished run directory whose metadata.json and summaries can be
    read: a sweep point that is not (a file damaged after it was written) is unfinished."""
    path = Path(path)
    earlier = _read_earlier(path) if is_complete(path) else None
    if earlier is None:
        return False
    for key in earlier.methods:
        try:
            summary = json.loads((path / key / "summary.json").read_bytes())
        except (OSError, ValueError):
            return False
        if not isinstance(summary, dict):
            return False
    return True


RESULT_KINDS = ("run", "emulation")
"""What a run directory holds: ``asyncsim run``'s results, or ``asyncsim emulate``'s."""

EMULATION_FILE = "emulation.json"
"""The comparison ``asyncsim emulate`` writes beside its run directory's files."""


@dataclass(frozen=True)
class EarlierRun:
    """What a directory's metadata.json says of the asyncsim run it holds."""

    methods: list[str]
    scenario: str
    scenario_hash: str | None
    kind: str
    failed: dict[str, str]


def check_run_dir(
    out_dir: str | Path,
    overwrite: bool = False,
    scenario: Scenario | None = None,
    kind: str = "run",
) -> bool:
    """Whether ``out_dir`` holds an earlier asyncsim run, which :func:`write_run` replaces.

    Call it before a long simulation to refuse an unusable directory at once.

    Args:
        out_dir: the run directory to be written.
        overwrite: accept a non-empty directory that holds no asyncsim run (its files are kept,
            files of the names asyncsim writes are replaced), or the results of another
            scenario or kind (replaced).
        scenario: the scenario to be written there; given, the results of another scenario
            (another :func:`scenario_hash`) are refused unless ``overwrite``.
        kind: the kind of results to be written (:data:`RESULT_KINDS`); results of another
            kind are refused unless ``overwrite``.

    Returns:
        True if ``out_dir`` is a run directory (its metadata.json is asyncsim's); False if it
        is missing, empty (but for asyncsim's temporary files and lock), or foreign with
        ``overwrite``.

    Raises:
        AsyncSimError: ``out_dir`` is not a directory, holds other files, or holds another
            scenario's or kind's results, and ``overwrite`` is False.
    """
    return _earlier_run(Path(out_dir), overwrite, scenario, kind) is not None


def _earlier_run(
    out: Path, overwrite: bool, scenario: Scenario | None = None, kind: str = "run"
) -> EarlierRun | None:
    """The run in ``out``, None where there is none (see :func:`check_run_dir`, which raises
    as this does)."""
    if "\0" in str(out):  # os.stat raises ValueError on it
        raise AsyncSimError(f"{quote(str(out))}: not a usable path (it holds a NUL byte)")
    if not out.exists():
        return None
    if not out.is_dir():
        raise AsyncSimError(f"{out}: exists and is not a directory; choose another output")
    earlier = _read_earlier(out)
    if earlier is not None:
        if not overwrite:
            _refuse_other_results(out, earlier, scenario, kind)
        return earlier
    foreign = sorted(path.name for path in out.iterdir() if not _is_leftover(path.name))
    if foreign and not overwrite:
        raise AsyncSimError(
            f"{out}: refusing to write into a non-empty directory that holds no asyncsim run "
            f"(it holds {', '.join(quote(name, 60) for name in foreign[:3])}"
            f"{', …' if len(foreign) > 3 else ''}); "
            f"choose another output directory, or give {switch('overwrite')} to write into it "
            "(other files are kept)"
        )
    return None


def _refuse_other_results(
    out: Path, earlier: EarlierRun, scenario: Scenario | None, kind: str
) -> None:
    """Refuse to replace the results of another kind or scenario without ``--overwrite``."""
    if earlier.kind != kind:
        what = f"the results of `asyncsim {'emulate' if earlier.kind == 'emulation' else 'run'}`"
    elif scenario is not None and earlier.scenario_hash != scenario_hash(scenario):
        what = f"the results of another scenario ({quote(earlier.scenario, 60)})"
        if earlier.scenario == scenario.name:
            what = f"the results of another version of scenario {quote(scenario.name, 60)}"
    else:
        return
    raise AsyncSimError(
        f"{out}: holds {what}; choose another output directory, or give {switch('overwrite')} to "
        "replace them"
    )


def _read_earlier(out: Path) -> EarlierRun | None:
    """The run described by ``out/metadata.json``, or None if that file is not an asyncsim
    run's metadata (no methods for a run written before metadata named its methods; the kind
    of a run written before metadata named it: ``emulation`` if it has emulation.json)."""
    try:
        with open(out / "metadata.json", "rb") as handle:
            data = json.loads(handle.read(_MAX_METADATA_BYTES))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "asyncsim_version" not in data:
        return None
    methods = data.get("methods", [])
    methods = methods if isinstance(methods, list) else []
    kind = data.get("results")
    if kind not in RESULT_KINDS:
        kind = "emulation" if (out / EMULATION_FILE).is_file() else "run"
    digest = data.get("scenario_hash")
    failed = data.get("failed")
    return EarlierRun(
        [key for key in methods if isinstance(key, str) and _is_method_key(key)],
        str(data.get("scenario", "")),
        digest if isinstance(digest, str) else None,
        kind,
        {str(k): str(v) for k, v in failed.items()} if isinstance(failed, dict) else {},
    )


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
    kind: str = "run",
    kept: Sequence[str] = (),
) -> Path:
    """Write ``result`` as a run directory: metadata.json first, the completion marker last.

    An earlier run in ``out_dir`` is replaced: its marker is removed first, then its temporary
    files, the files of its methods that this run does not have (a method directory is removed
    only once empty), its plug-in record and, when it was an emulation and this is not, its
    emulation.json. Nothing else is removed.

    Args:
        result: the run to write.
        out_dir: the run directory: missing, empty, holding an earlier run (a sweep's point
            directory is always one of these), or any directory with ``overwrite``.
        started: Unix time the run started (default: ``finished`` minus the methods' real time).
        finished: Unix time the run ended (default: now).
        overwrite: write into a non-empty directory that holds no asyncsim run, or the results
            of another scenario or kind.
        kind: ``run``, or ``emulation`` for ``asyncsim emulate`` (:data:`RESULT_KINDS`).
        kept: keys of methods already written in ``out_dir`` by :func:`write_method` (a
            resumed sweep point), which ``result`` leaves out: their files stay as they are.

    Returns:
        The run directory.

    Raises:
        AsyncSimError: ``out_dir`` is unusable (see :func:`check_run_dir`).
    """
    out = Path(out_dir)
    earlier = _earlier_run(out, overwrite, result.scenario, kind)
    present = {*kept, *result.methods}
    keys = [method_dir_name(m.key) for m in result.scenario.methods if m.key in present]
    if earlier is not None:  # unfinished from now on; its metadata.json still names its methods
        (out / COMPLETE).unlink(missing_ok=True)
        for key in set(earlier.methods) - set(keys):
            _remove_method(out / key)
        if earlier.kind == "emulation" and kind != "emulation":
            (out / EMULATION_FILE).unlink(missing_ok=True)
    if out.is_dir():  # drop what a killed writer left
        _remove_temporary(out, _RUN_FILES)
    else:
        out.mkdir(parents=True)
    finished = time.time() if finished is None else finished
    if started is None:
        real = sum(method.summary.get("real_seconds", 0.0) for method in result.methods.values())
        started = finished - real
    metadata = {**_metadata(result.scenario, keys, started, finished), "results": kind}
    if result.failed:
        metadata["failed"] = dict(result.failed)
    atomic_write(out / "metadata.json", _json(metadata))
    stored = plugins_relative_to(result.scenario.model_dump(mode="json"), out)
    atomic_write(out / "scenario.yaml", dump_yaml(stored))
    record = recorded.describe(result.scenario, out)
    if record is None:
        (out / recorded.RECORD_FILE).unlink(missing_ok=True)
    else:
        atomic_write(out / recorded.RECORD_FILE, _json(record))
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
    if _earlier_run(out, False, scenario) is None:
        out.mkdir(parents=True, exist_ok=True)
        keys = [method_dir_name(m.key) for m in scenario.methods]
        metadata = {**_metadata(scenario, keys, started, time.time()), "results": "run"}
        atomic_write(out / "metadata.json", _json(metadata))
    (out / COMPLETE).unlink(missing_ok=True)
    _write_method(out / method_dir_name(method.key), method)


def finished_methods(out_dir: str | Path, scenario: Scenario) -> dict[str, dict[str, Any]]:
    """The summaries of the methods of ``scenario`` that :func:`write_method` finished in an
    unfinished run of the same scenario in ``out_dir`` (none in a finished run, another
    scenario's or a missing one)."""
    out = Path(out_dir)
    if is_complete(out) or not out.is_dir():
        return {}
    earlier = _read_earlier(out)
    if earlier is None or earlier.scenario_hash != scenario_hash(scenario):
        return {}
    done = {}
    for method in scenario.methods:
        summary = out / method_dir_name(method.key) / "summary.json"
        try:
            done[method.key] = json.loads(summary.read_text())
        except (OSError, ValueError):
            continue
    return done


def method_tables(path: str | Path) -> Iterator[tuple[str, list[dict[str, Any]], dict[str, Any]]]:
    """(key, iteration rows, summary) of every method whose files a run directory holds, in
    the order its metadata.json names them: also in a run still going or interrupted, since
    :func:`write_method` writes each method as it finishes (the trace is not read)."""
    path = Path(path)
    earlier = _read_earlier(path)
    for key in earlier.methods if earlier is not None else []:
        directory = path / method_dir_name(key)
        if (directory / "summary.json").is_file() and (directory / "iterations.csv").is_file():
            summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
            yield key, read_table(directory / "iterations.csv"), summary


def _write_method(directory: Path, method: MethodResult) -> None:
    if directory.is_symlink():  # it could lead out of the run directory
        raise AsyncSimError(f"{directory}: is a symbolic link; a method directory must not be")
    if directory.is_dir():  # a fresh run directory skips the look for an earlier writer's files
        _remove_temporary(directory, _METHOD_FILES)
    else:
        directory.mkdir()
    names = _iteration_columns(method.rows)
    write_table(directory / "iterations.csv", names, _iteration_blocks(method.rows, names))
    trace = method.trace_blocks(BLOCK_ROWS)
    write_table(directory / "trace.csv", TRACE_COLUMNS, trace, identifiers=True)
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
    expect_results(path, "run")
    scenario = read_run_scenario(path)
    result = RunResult(scenario)
    for key in written_methods(path, scenario.methods):
        result.methods[key] = _load_method(path / key, key)
    earlier = _read_earlier(path)
    result.failed = dict(earlier.failed) if earlier is not None else {}
    return result


def written_methods(path: str | Path, methods: Iterable[Any]) -> list[str]:
    """The keys of the methods a run directory holds, in the scenario's order: those its
    metadata.json names (a method that failed is not written), else all of ``methods``
    (method configs, or the stored scenario's method mappings)."""
    keys = [m.key if hasattr(m, "key") else m.get("label") or m["name"] for m in methods]
    earlier = _read_earlier(Path(path))
    if earlier is None or not earlier.methods:
        return keys
    return [key for key in keys if key in earlier.methods]


def read_run_scenario(path: str | Path) -> Scenario:
    """The scenario a run directory was run with (``DIR/scenario.yaml``), also when an earlier
    release wrote it (:func:`_earlier_release_scenario`). No plug-in is imported: an entry of a
    plug-in not loaded here is the run's recorded stand-in (:mod:`asyncsim.store.recorded`)."""
    path = Path(path)
    data = load_yaml((path / "scenario.yaml").read_text(encoding="utf-8"), str(path))
    with recorded_entries(recorded.stand_ins(_read_record(path))):
        try:
            return validate_scenario(data, plugins="recorded")
        except ConfigError as exc:
            try:
                return validate_scenario(_earlier_release_scenario(data), plugins="recorded")
            except (ConfigError, AttributeError, KeyError, TypeError):
                pass
            if isinstance(data, dict) and data.get("plugins"):
                raise ConfigError(
                    str(path),
                    f"{exc}; these results name plug-ins but hold no record of them "
                    f"({recorded.RECORD_FILE}: written from this release on), so reading them "
                    f"needs the plug-in: give {switch('plugin')}",
                ) from None
            raise exc from None


def _read_record(path: Path) -> dict[str, Any]:
    """The run directory's plug-in record ({} without one)."""
    try:
        text = (path / recorded.RECORD_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    record = json.loads(text)
    if not isinstance(record, dict):
        raise AsyncSimError(f"{path / recorded.RECORD_FILE}: not a record of plug-ins")
    return record


def _earlier_release_scenario(data: dict[str, Any]) -> dict[str, Any]:
    """A scenario.yaml of the releases before method parameters, made valid: they dumped every
    field (null where unset) and gave every method ``batch`` and ``initial_batch``. The nulls
    and the parameters a method does not declare are dropped (they had no effect on the run)."""
    from asyncsim.core.registry import METHODS

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
