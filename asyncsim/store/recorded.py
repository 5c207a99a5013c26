"""What a run directory records of the plug-ins it used, so that reading it imports no code.

A scenario whose methods, protocols, optimizers, oracle or time models are registered by plug-ins
runs with the plug-ins' code, and its run directory also holds ``plugins.json``
(:func:`describe`, written by :func:`asyncsim.store.runs.write_run`): what reading the results
needs of those entries, as data.

- ``files``: each plug-in file, its path relative to the run directory and its sha256;
- ``methods``: per method name whose method, protocol or optimizer comes from a plug-in: its
  protocol and optimizer, title, family, whether it runs in rounds or needs a server, its
  ε-complexity shape and scaling, the plug-in it comes from, and, per set of parameters the
  scenario gives it, the numbers its protocol's code gives at the run's mean times: the round
  bound of round 0 and of round 1, the closed-form cost per gradient
  (:func:`asyncsim.scenario.closed_forms.method_bounds`) and the shape's arguments;
- ``time_models``: per role (``cluster.compute``, ...) whose kind is a plug-in's: the kind, the
  per-agent means and, when they never vary, the fixed values;
- ``oracle``: when its kind is a plug-in's: the kind and the dimension d;
- ``topology``: when ``cluster.topology`` is a plug-in's: its name, description, whether it
  broadcasts, has a collective and has a server.

:func:`stand_ins` turns a record back into registry entries that give those numbers (asyncsim's
own formulas do the rest); :func:`asyncsim.store.runs.read_run_scenario` validates a stored scenario
with them (:func:`asyncsim.core.registry.recorded_entries`). An entry a plug-in registered in this
process (``--plugin FILE``) takes precedence. A recorded round bound is the protocol's for round
0 and round 1; later rounds take round 1's (the rounds of a protocol with batches differ only by
M_init). A stand-in cannot run: drawing a time, building the oracle or training raise one line.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ConfigDict, create_model

from asyncsim.core.errors import AsyncSimError, switch
from asyncsim.core.registry import (
    METHODS,
    OPTIMIZERS,
    ORACLES,
    PROTOCOLS,
    TIME_MODELS,
    TOPOLOGIES,
    MethodSpec,
    OptimizerSpec,
    OracleSpec,
    Params,
    ProtocolSpec,
    TimeModelSpec,
    TopologySpec,
)
from asyncsim.scenario.closed_forms import mean_times, method_bounds
from asyncsim.scenario.parts import vector_dimension
from asyncsim.timing.models import TimeModel

__all__ = ["RECORD_FILE", "describe", "method_origin", "stand_ins"]

RECORD_FILE = "plugins.json"
"""The record's file name in a run directory."""

_ROLES = ("compute", "uplink", "downlink")


# ---------------------------------------------------------------- writing


def method_origin(method: Any) -> str | None:
    """The plug-in behind a method config (its method, protocol or optimizer entry), or None
    for one made of asyncsim's own entries; for error messages and the record."""
    spec = method.spec
    for registry, name in ((METHODS, spec.name), (PROTOCOLS, spec.protocol),
                           (OPTIMIZERS, spec.optimizer)):  # fmt: skip
        if not registry.is_builtin(name):
            return registry.origin(name) or getattr(spec, "origin", None) or "a plug-in"
    return None


def describe(scenario: Any, directory: str | Path) -> dict[str, Any] | None:
    """The record of the plug-in entries ``scenario`` uses, paths relative to ``directory``
    (the run directory); None when it uses none."""
    start = Path(directory).resolve()
    record: dict[str, Any] = {}
    methods: dict[str, Any] = {}
    for method in scenario.methods:
        origin = method_origin(method)
        if origin is not None:
            entry = methods.setdefault(method.spec.name, _method_entry(method, origin, start))
            entry["closed_forms"].append(_closed_forms(scenario, method))
    if methods:
        record["methods"] = methods
    cluster = scenario.cluster
    plugged = [role for role in _ROLES if not TIME_MODELS.is_builtin(getattr(cluster, role).kind)]
    if plugged:
        models = cluster.time_models(vector_dimension(scenario))
        record["time_models"] = {
            f"cluster.{role}": _time_model_entry(getattr(cluster, role).kind, models[role],
                                                 cluster.n, start)
            for role in plugged
        }  # fmt: skip
    oracle = scenario.oracle
    if not ORACLES.is_builtin(oracle.kind):
        origin = ORACLES.origin(oracle.kind) or getattr(oracle, "origin", None)
        record["oracle"] = {"kind": oracle.kind, "dim": vector_dimension(scenario),
                            "origin": _relative(origin, start)}  # fmt: skip
    if not TOPOLOGIES.is_builtin(cluster.topology):
        record["topology"] = _topology_entry(TOPOLOGIES.get(cluster.topology), start)
    if not record and not scenario.plugins:
        return None
    record["files"] = [_file_entry(path, start) for path in scenario.plugins]
    return record


def _relative(path: str | None, start: Path) -> str | None:
    if path is None or not os.path.isabs(path):
        return path
    return os.path.relpath(path, start)


def _file_entry(path: str, start: Path) -> dict[str, Any]:
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        digest = None
    return {"path": _relative(path, start), "sha256": digest}


def _method_entry(method: Any, origin: str, start: Path) -> dict[str, Any]:
    spec = method.spec
    protocol = spec.protocol_spec
    return {
        "protocol": spec.protocol,
        "optimizer": spec.optimizer,
        "title": spec.title,
        "description": spec.description,
        "family": protocol.family,
        "round_based": protocol.round_based,
        "server_only": protocol.server_only,
        "shape": spec.shape,
        "scaling": protocol.scaling,
        "origin": _relative(origin, start),
        "closed_forms": [],
    }


def _topology_entry(spec: TopologySpec, start: Path) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "broadcasts": spec.broadcasts,
        "collective": spec.collective is not None,
        "has_server": spec.has_server,
        "origin": _relative(TOPOLOGIES.origin(spec.name), start),
    }


def _closed_forms(scenario: Any, method: Any) -> dict[str, Any]:
    """The numbers the method's protocol code gives for this scenario (None where it has no
    such closed form, or its code failed)."""
    protocol, params = method.spec.protocol_spec, method.params
    times = _attempt(lambda: mean_times(scenario))
    bound = protocol.round_bound
    rounds = None
    if bound is not None and times is not None:
        rounds = [_attempt(lambda it=it: float(bound(times, params, it))) for it in (0, 1)]
    arguments = protocol.shape_arguments
    return {
        "params": params.model_dump(mode="json"),
        "round_bound": rounds,
        "gradient_cost": _attempt(lambda: method_bounds(scenario, method).gradient_cost),
        "shape_arguments": _attempt(lambda: dict(arguments(params))) if arguments else None,
    }


def _attempt(compute: Callable[[], Any]) -> Any:
    """``compute()``, or None if a plug-in's code raises there (the figure goes without it)."""
    try:
        return compute()
    except Exception:
        return None


def _time_model_entry(kind: str, model: TimeModel, n: int, start: Path) -> dict[str, Any]:
    fixed = model.fixed_values()
    return {
        "kind": kind,
        "means": np.asarray(model.means(n), dtype=float).tolist(),
        "fixed": None if fixed is None else np.asarray(fixed, dtype=float).tolist(),
        "origin": _relative(TIME_MODELS.origin(kind), start),
    }


# ---------------------------------------------------------------- reading


class RecordedParams(Params):
    """Parameters of a recorded entry: the fields as stored (any value)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    recorded_spec: ClassVar[MethodSpec | None] = None


def _cannot_run(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AsyncSimError(
            f"{what} comes from a plug-in that is not loaded (these results record it as "
            f"data): run it with the plug-in ({switch('plugin')}, or {switch('trust_plugins')})"
        )

    return refuse


@dataclass(frozen=True)
class RecordedTimes(TimeModel):
    """A plug-in's time model as recorded: its per-agent means and fixed values."""

    kind: str
    recorded_means: np.ndarray
    fixed: np.ndarray | None

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        return _cannot_run(f"time model {self.kind!r}")()

    def mean(self, agent: int) -> float:
        return float(self.recorded_means[agent])

    def means(self, n: int) -> np.ndarray:
        return self.recorded_means[:n]

    def fixed_values(self) -> np.ndarray | None:
        return self.fixed


class RecordedTimeConfig(RecordedParams):
    """A plug-in time model's block: its fields as stored; builds :class:`RecordedTimes`."""

    kind: str
    roles: ClassVar[Mapping[str, RecordedTimes]] = {}

    def build(self, n: int, field: str, role: str, dim: int = 1) -> TimeModel:
        if field not in self.roles:
            return _cannot_run(f"{field} ({self.kind!r})")()
        return self.roles[field]


class RecordedOracleConfig(RecordedParams):
    """A plug-in oracle's block: its fields as stored and its recorded dimension d."""

    kind: str
    recorded_dim: ClassVar[int] = 1

    @property
    def dim(self) -> int:
        return int((self.model_extra or {}).get("dim", self.recorded_dim))

    def build(self, n_agents: int, seed: Any) -> Any:
        return _cannot_run(f"oracle {self.kind!r}")()


@dataclass(frozen=True)
class RecordedMethodSpec(MethodSpec):
    """A method whose protocol or optimizer may be a recorded stand-in."""

    protocol_record: ProtocolSpec | None = None
    optimizer_record: OptimizerSpec | None = None
    param_names: tuple[str, ...] = ()
    origin: str | None = None

    @property
    def protocol_spec(self) -> ProtocolSpec:
        return self.protocol_record or PROTOCOLS.get(self.protocol)

    @property
    def optimizer_spec(self) -> OptimizerSpec:
        return self.optimizer_record or OPTIMIZERS.get(self.optimizer)

    @cached_property
    def params(self) -> type[Params]:
        """The protocol's and optimizer's own model where both are registered here, else the
        stored fields (any value); either way the model knows this spec (MethodConfig.spec)."""
        name = f"recorded_{self.name}_parameters"
        if self.protocol_record is None and self.optimizer_record is None:
            model = create_model(name, __base__=super().params)
        else:
            fields: Any = {field: (Any, None) for field in self.param_names}
            model = create_model(name, __base__=RecordedParams, **fields)
        model.recorded_spec = self
        return model


def stand_ins(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Registry stand-ins (registry ``what`` → name → entry) for the record of a run directory
    (:func:`describe`'s dictionary, as read back from JSON)."""
    entries: dict[str, dict[str, Any]] = {}
    for name, entry in (record.get("methods") or {}).items():
        entries.setdefault(METHODS.what, {})[name] = _method_stand_in(name, entry)
    roles = {
        field: RecordedTimes(entry["kind"], np.asarray(entry["means"], dtype=float),
                             None if entry.get("fixed") is None
                             else np.asarray(entry["fixed"], dtype=float))
        for field, entry in (record.get("time_models") or {}).items()
    }  # fmt: skip
    for kind in {model.kind for model in roles.values()}:
        config = type(f"recorded_{kind}", (RecordedTimeConfig,), {"roles": roles})
        entries.setdefault(TIME_MODELS.what, {})[kind] = TimeModelSpec(kind, config, "recorded")
    oracle = record.get("oracle")
    if oracle:
        config = type(f"recorded_{oracle['kind']}", (RecordedOracleConfig,),
                      {"recorded_dim": int(oracle.get("dim") or 1)})  # fmt: skip
        entries.setdefault(ORACLES.what, {})[oracle["kind"]] = OracleSpec(
            oracle["kind"], config, "recorded"
        )
    topology = record.get("topology")
    if topology:
        entries.setdefault(TOPOLOGIES.what, {})[topology["name"]] = _topology_stand_in(topology)
    return entries


def _topology_stand_in(entry: Mapping[str, Any]) -> TopologySpec:
    """The recorded topology: its flags as stored; its reduce cannot run."""
    refuse = _cannot_run(f"topology {entry['name']!r}")
    return TopologySpec(
        name=entry["name"],
        description=entry.get("description") or "recorded",
        senders=refuse,
        broadcasts=bool(entry.get("broadcasts", True)),
        collective=refuse if entry.get("collective") else None,
        has_server=bool(entry.get("has_server", True)),
    )


def _method_stand_in(name: str, entry: Mapping[str, Any]) -> RecordedMethodSpec:
    protocol, optimizer = entry["protocol"], entry["optimizer"]
    forms = {_params_key(form["params"]): form for form in entry.get("closed_forms") or []}
    names = tuple(dict.fromkeys(key for form in forms.values() for key in form["params"]))
    return RecordedMethodSpec(
        name=name,
        protocol=protocol,
        optimizer=optimizer,
        description=entry.get("description") or "",
        title=entry.get("title") or "",
        protocol_record=None if protocol in PROTOCOLS else _protocol_stand_in(entry, forms),
        optimizer_record=None
        if optimizer in OPTIMIZERS
        else OptimizerSpec(
            optimizer, "recorded", RecordedParams, _cannot_run(f"optimizer {optimizer!r}")
        ),
        param_names=names,
        origin=entry.get("origin"),
    )


def _protocol_stand_in(entry: Mapping[str, Any], forms: Mapping[str, Any]) -> ProtocolSpec:
    def form(params: Any) -> Mapping[str, Any]:
        return forms.get(_params_key(params.model_dump(mode="json")), {})

    def round_bound(times: Any, params: Any, iteration: int) -> float:
        values = form(params).get("round_bound") or [None, None]
        value = values[min(iteration, 1)]
        return float("nan") if value is None else value

    def gradient_cost(times: Any, params: Any) -> float | None:
        return form(params).get("gradient_cost")

    def shape_arguments(params: Any) -> dict[str, Any]:
        return dict(form(params).get("shape_arguments") or {})

    from asyncsim.theory import COMPLEXITY_SHAPES

    shape = entry.get("shape")
    return ProtocolSpec(
        name=entry["protocol"],
        description="recorded",
        train=_cannot_run(f"protocol {entry['protocol']!r}"),
        params=RecordedParams,
        round_based=bool(entry.get("round_based", True)),
        server_only=bool(entry.get("server_only", False)),
        family=entry.get("family") or "",
        round_bound=round_bound if any(f.get("round_bound") for f in forms.values()) else None,
        gradient_cost=gradient_cost,
        shapes={entry["optimizer"]: shape} if shape in COMPLEXITY_SHAPES else {},
        shape_arguments=shape_arguments,
        scaling=entry.get("scaling") or "",
    )


def _params_key(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)
