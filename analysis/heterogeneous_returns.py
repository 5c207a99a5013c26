"""Per-agent evaluation returns of a finished sweep of the heterogeneous H.3 scenario.

    python -m analysis.heterogeneous_returns DIR [--last K]

App. H.3 (docs/algorithms.md §6): agent 1 observes (s, 0), agent 2 observes (−s, 1).
Malenia NIGT weighs the
agents equally and should improve the average return of the two; AFedPG follows whichever agent
sends more gradients. For each method and seed this prints the average return (``eval_return``)
and each agent's return (``eval_return_agent_<i>``) at the first evaluation and as the mean of
the last K evaluations, as a markdown table. Exits 1 when Malenia NIGT's average return did not
improve on every seed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from analysis import read_or_refuse
from asyncsim.store.sweep_index import finished_runs

__all__ = ["evaluation_columns", "main", "start_and_end"]

MALENIA = "malenia_nigt"


def evaluation_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``eval_return`` then the per-agent evaluation columns present in ``rows``, in order."""
    agents = sorted(
        {key for row in rows for key in row if key.startswith("eval_return_agent_")},
        key=lambda key: int(key.rsplit("_", 1)[1]),
    )
    return ["eval_return", *agents]


def start_and_end(rows: Sequence[Mapping[str, Any]], column: str, last: int) -> tuple[float, float]:
    """``column`` at the first evaluated row, and its mean over the last ``last`` evaluated rows."""
    values = [row[column] for row in rows if row.get(column) is not None]
    if not values:
        raise ValueError(f"no evaluated rows with {column!r}")
    tail = values[-last:]
    return values[0], sum(tail) / len(tail)


def _table(sweep_dir: Path, last: int) -> tuple[list[str], list[bool]]:
    """The markdown rows per method, seed and evaluation column, and whether Malenia NIGT's
    average return rose on each seed."""
    lines = ["| method | seed | evaluation return | first | last |", "|---|---|---|---|---|"]
    malenia_improved = []
    for row, run in finished_runs(sweep_dir):
        for key, method in run.methods.items():
            for column in evaluation_columns(method.rows):
                first, end = start_and_end(method.rows, column, last)
                label = column.replace("eval_return_agent_", "agent ").replace(
                    "eval_return", "average"
                )
                lines.append(f"| {key} | {row['seed']} | {label} | {first:.1f} | {end:.1f} |")
                if key == MALENIA and column == "eval_return":
                    malenia_improved.append(end > first)
    return lines, malenia_improved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--last", type=int, default=5, help="evaluations averaged at the end")
    args = parser.parse_args(argv)
    lines, malenia_improved = read_or_refuse(_table, args.sweep_dir, args.last)
    print("\n".join(lines))
    verdict = bool(malenia_improved) and all(malenia_improved)
    print(f"\n- {'✓' if verdict else '✗'} Malenia NIGT improves the average return on every seed")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
