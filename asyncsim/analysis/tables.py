"""Results as data: run and sweep directories as pandas DataFrames.

``load_run_frame(DIR)`` and ``load_sweep(DIR)`` give one row per method (per point and method
for a sweep, with every swept field as a column) holding the method's summary fields, and the
columns ``reached`` (the target was reached, or the scenario has none) and
``time_to_target_censored`` (the time to target, a run that missed it counted at the end of its
budget as the paper's plots do). ``table="iterations"`` or ``"trace"`` gives those tables
instead, one row per row of the files, with the method (and the swept fields) in front. A run in
memory becomes the same DataFrames through :func:`asyncsim.store.run_data.run_frame`. pandas is
imported only when a frame is made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncsim.scenario.loading import load_yaml
from asyncsim.store.run_data import TABLES, Table, run_frame, summary_row
from asyncsim.store.runs import expect_results, is_readable, load_run, written_methods
from asyncsim.store.sweep_index import read_index

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_run_frame", "load_sweep", "run_frame"]


def load_run_frame(path: str | Path, table: Table = "summary") -> pd.DataFrame:
    """A finished run directory as a DataFrame (see the module doc; ``asyncsim.load_run``).
    :func:`asyncsim.store.runs.load_run` reads it back as a RunResult instead."""
    _check_table(table)
    path = Path(path)
    if table != "summary":
        return run_frame(load_run(path), table)
    expect_results(path, "run")
    return _summary_frame(path)


def load_sweep(path: str | Path, table: Table = "summary") -> pd.DataFrame:
    """Every finished point of a sweep directory as one DataFrame, the swept fields (``seed``
    included) as the first columns, then ``hash``; a value that is not a number or a string
    (a list of methods, say) is given as its JSON text."""
    import pandas as pd

    _check_table(table)
    expect_results(path, "sweep")
    frames = []
    for row in read_index(path):
        directory = Path(path) / "points" / str(row["hash"])
        if row.get("status") != "done" or not is_readable(directory):
            continue
        frame = load_run_frame(directory, table)
        axes = {k: _scalar(v) for k, v in row.items() if k not in ("hash", "status", "error")}
        swept = {**axes, "hash": row["hash"]}
        for position, (name, value) in enumerate(swept.items()):
            if name in frame:  # seed: also a summary field; moved to the front
                frame.pop(name)
            frame.insert(position, name, [value] * len(frame))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _summary_frame(path: Path) -> pd.DataFrame:
    """The summary table of a run directory from its small files (no trace is read)."""
    import pandas as pd

    scenario = load_yaml((path / "scenario.yaml").read_text(encoding="utf-8"), str(path))
    budget = scenario["budget"]
    keys = written_methods(path, scenario["methods"])
    rows = []
    for key in keys:
        summary = json.loads((path / key / "summary.json").read_text(encoding="utf-8"))
        rows.append(summary_row(summary, budget))
    return pd.DataFrame(rows)


def _scalar(value: Any) -> Any:
    plain = value is None or isinstance(value, str | int | float | bool)
    return value if plain else json.dumps(value)


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"table must be one of {', '.join(TABLES)}, got {table!r}")
