"""Results as data: run and sweep directories as pandas DataFrames.

``load_run(DIR)`` and ``load_sweep(DIR)`` give one row per method (per point and method for a
sweep, with every swept field as a column) holding the method's summary fields, and the columns
``reached`` (the target was reached, or the scenario has none) and ``time_to_target_censored``
(the time to target, a run that missed it counted at the end of its budget as the paper's plots
do). ``table="iterations"`` or ``"trace"`` gives those tables instead, one row per row of the
files, with the method (and the swept fields) in front. pandas is imported only here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from asyncsim.fitting import censored_time
from asyncsim.results import expect_results, is_readable, written_methods
from asyncsim.results import load_run as load_run_result
from asyncsim.scenario import load_yaml

if TYPE_CHECKING:
    import pandas as pd

    from asyncsim.runner import RunResult

__all__ = ["load_run", "load_sweep", "run_frame"]

Table = Literal["summary", "iterations", "trace"]
_TABLES = ("summary", "iterations", "trace")


def run_frame(run: RunResult, table: Table = "summary") -> pd.DataFrame:
    """A RunResult (in memory) as a DataFrame (see the module doc)."""
    import pandas as pd

    budget = run.scenario.budget.model_dump()
    frames = [
        _method_frame(key, result.summary, result.rows, result.trace, budget, table)
        for key, result in run.methods.items()
    ]
    return pd.concat(frames, ignore_index=True)


def load_run(path: str | Path, table: Table = "summary") -> pd.DataFrame:
    """A finished run directory as a DataFrame (see the module doc)."""
    _check_table(table)
    path = Path(path)
    if table != "summary":
        return run_frame(load_run_result(path), table)
    expect_results(path, "run")
    return _summary_frame(path)


def load_sweep(path: str | Path, table: Table = "summary") -> pd.DataFrame:
    """Every finished point of a sweep directory as one DataFrame, the swept fields (``seed``
    included) as the first columns, then ``hash``; a value that is not a number or a string
    (a list of methods, say) is given as its JSON text."""
    import pandas as pd

    from asyncsim.sweep import read_index

    _check_table(table)
    expect_results(path, "sweep")
    frames = []
    for row in read_index(path):
        directory = Path(path) / "points" / str(row["hash"])
        if row.get("status") != "done" or not is_readable(directory):
            continue
        frame = load_run(directory, table)
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
        rows.append(_summary_row(summary, budget))
    return pd.DataFrame(rows)


def _method_frame(
    key: str,
    summary: Mapping[str, Any],
    rows: list[dict[str, Any]],
    trace: list[tuple],
    budget: Mapping[str, Any],
    table: Table,
) -> pd.DataFrame:
    import pandas as pd

    if table == "summary":
        return pd.DataFrame([_summary_row(summary, budget)])
    if table == "iterations":
        frame = pd.DataFrame(rows)
    else:
        frame = pd.DataFrame(trace, columns=["time", "agent", "event", "iteration", "version"])
    frame.insert(0, "method", key)
    return frame


def _summary_row(summary: Mapping[str, Any], budget: Mapping[str, Any]) -> dict[str, Any]:
    """The summary fields, whether the target was reached and the censored time to target."""
    return {
        **summary,
        "reached": censored_time(summary, budget) is not None,
        "time_to_target_censored": censored_time(summary, budget, "budget"),
    }


def _scalar(value: Any) -> Any:
    plain = value is None or isinstance(value, str | int | float | bool)
    return value if plain else json.dumps(value)


def _check_table(table: str) -> None:
    if table not in _TABLES:
        raise ValueError(f"table must be one of {', '.join(_TABLES)}, got {table!r}")
