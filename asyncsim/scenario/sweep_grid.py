"""Sweep grids: a scenario's ``sweep:`` block expanded into its points.

The points are the cartesian product of the axes in the file's key order (the last axis varies
fastest); each is the base scenario with that point's values set as overrides, validated up
front, and named by its content hash (:func:`asyncsim.scenario.schema.scenario_hash`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asyncsim.core.errors import ConfigError
from asyncsim.scenario.loading import apply_overrides, check_distinct
from asyncsim.scenario.schema import Scenario, scenario_hash, validate_scenario

__all__ = ["SweepPoint", "expand_sweep", "point_label", "sweep_axes"]


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


def point_label(point: SweepPoint) -> str:
    """A point as progress names it: its swept values (``cluster.n=8, seed=0``), else its
    hash."""
    return ", ".join(f"{path}={value}" for path, value in point.values.items()) or point.key
