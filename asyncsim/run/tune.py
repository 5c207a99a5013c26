"""Step sizes tuned as the paper does: a grid of α per method over the scenario's seeds.

The paper tunes α per method in {2^-10, ..., 2^-1} and reports each method at its best. A tuning
run is a sweep (resumable, parallel, on the local pool or Ray): one axis of (method, α) pairs,
each point running that one method with that step, times the scenario's own sweep (its seeds,
and any other axis: one α is then tuned for the whole grid). The pick per method is the α with
the fewest runs that missed the target, then the smallest mean time to target over the runs (a
run that missed counted at the end of its budget, as the paper's plots do); ties (e.g. every
run missed) go to the larger mean final return, else the smaller mean final ||∇f||. A step with
a run that diverged is never picked (its run ended early, so its censored time says nothing
about its speed); a method all of whose steps diverged gets no pick. A pick at the smallest or
largest step of the grid is flagged (:func:`edge_warnings`): the best step may lie outside.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asyncsim.core.errors import ConfigError
from asyncsim.timing.expressions import parse_expression

__all__ = [
    "GridPoint",
    "edge_warnings",
    "parse_grid",
    "picks",
    "tuned_scenario",
    "tuning_sweep",
    "tuning_table",
]

_RANGE = re.compile(
    r"^(?P<formula>.+?)\s+for\s+k\s+in\s+(?P<first>-?\d+)\s*\.\.\s*(?P<last>-?\d+)$"
)


def parse_grid(text: str, field: str = "grid") -> list[float]:
    """The step sizes of ``"2**-k for k in 1..10"`` (an expression in k over an inclusive range
    of integers) or of ``"0.1, 0.01, 0.001"``; each must be a positive finite number."""
    match = _RANGE.match(text.strip())
    if match:
        first, last = int(match["first"]), int(match["last"])
        if not first <= last or last - first > 1000:
            raise ConfigError(field, f"range must go up and hold at most 1001 values, got {text!r}")
        k = np.arange(first, last + 1, dtype=float)
        values = np.broadcast_to(parse_expression(match["formula"], field, ("k",))({"k": k}),
                                 k.shape)  # fmt: skip
    else:
        try:
            values = np.array([float(item) for item in text.split(",")])
        except ValueError:
            raise ConfigError(
                field, f"expected 'EXPR for k in A..B' or numbers separated by commas, got {text!r}"
            ) from None
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ConfigError(field, f"step sizes must be finite and > 0, got {values.tolist()}")
    return [float(v) for v in values]


def tuning_sweep(data: Mapping[str, Any], grid: Sequence[float]) -> dict[str, Any]:
    """The sweep that tunes ``data``'s methods over ``grid``: axis ``methods`` (one method with
    one step per value), then the scenario's own axes (its seeds at least)."""
    axes = dict(data.get("sweep") or {})
    axes.setdefault("seed", [data.get("seed", 0)])
    if "methods" in axes:
        raise ConfigError("sweep.methods", "tune sweeps the methods itself; remove this axis")
    methods = data.get("methods")
    if not isinstance(methods, list) or not methods:
        raise ConfigError("methods", "must be a non-empty list of methods")
    candidates = [[{**method, "lr": lr}] for method in methods for lr in grid]
    base = {k: v for k, v in data.items() if k != "sweep"}
    name = f"{data.get('name', 'scenario')}-tune"
    return {**base, "name": name, "sweep": {"methods": candidates, **axes}}


@dataclass(frozen=True)
class GridPoint:
    """One (method, α) of the grid over the seeds."""

    method: str
    lr: float
    runs: int
    missed: int
    mean_time: float
    mean_return: float | None
    mean_grad_norm: float | None
    picked: bool = False
    diverged: int = 0

    def key(self) -> tuple[int, float, float, float]:
        """Smaller is better: runs that missed the target, mean time to target, −final return,
        final ||∇f||."""
        back = -self.mean_return if self.mean_return is not None else 0.0
        norm = self.mean_grad_norm if self.mean_grad_norm is not None else 0.0
        return self.missed, self.mean_time, back, norm


def tuning_table(sweep_dir: str | Path) -> list[GridPoint]:
    """Every grid point of a finished tuning sweep, the pick of each method marked."""
    from asyncsim.analysis.tables import load_sweep

    frame = load_sweep(sweep_dir)
    frame["lr"] = [json.loads(text)[0]["lr"] for text in frame["methods"]]
    points = []
    for (method, lr), part in frame.groupby(["method", "lr"], sort=False):
        points.append(
            GridPoint(
                method=method,
                lr=float(lr),
                runs=len(part),
                missed=int((~part["reached"]).sum()),
                mean_time=float(part["time_to_target_censored"].mean()),
                mean_return=_mean(part.get("final_return")),
                mean_grad_norm=_mean(part.get("final_grad_norm")),
                diverged=int((part["stop_reason"] == "diverged").sum()),
            )
        )
    usable = [p for p in points if not p.diverged]
    best = {p.method: p for p in sorted(usable, key=GridPoint.key, reverse=True)}
    return [GridPoint(**{**vars(p), "picked": best.get(p.method) is p}) for p in points]


def _mean(column: Any) -> float | None:
    if column is None or column.isna().all():
        return None
    return float(column.astype(float).mean())


def picks(table: Sequence[GridPoint]) -> dict[str, float]:
    """The picked α of each method (none for a method whose every step diverged)."""
    return {point.method: point.lr for point in table if point.picked}


def edge_warnings(table: Sequence[GridPoint]) -> list[str]:
    """One sentence per method whose pick is the smallest or the largest step of its grid
    (more than one step), or that has no pick because every step diverged."""
    warnings = []
    for method in dict.fromkeys(point.method for point in table):
        steps = sorted(point.lr for point in table if point.method == method)
        chosen = picks(table).get(method)
        if chosen is None:
            warnings.append(f"{method}: every step of the grid diverged; no step picked")
        elif len(steps) > 1 and chosen in (steps[0], steps[-1]):
            side = "smallest" if chosen == steps[0] else "largest"
            warnings.append(
                f"{method}: the pick lr = {chosen:g} is the {side} step of the grid; the best "
                "step may lie outside it: widen the grid"
            )
    return warnings


def tuned_scenario(data: Mapping[str, Any], chosen: Mapping[str, float]) -> dict[str, Any]:
    """``data`` with each method's ``lr`` set to its pick (by output key: label, else name)."""
    methods = [
        {**m, "lr": chosen.get(m.get("label") or m.get("name"), m.get("lr"))}
        for m in data["methods"]
    ]
    return {**data, "methods": methods}
