"""The scenario schema (pydantic v2, frozen): the only module that knows what a scenario holds.

``validate_scenario(data)`` turns a plain mapping into a resolved :class:`Scenario` in three steps:

1. the blocks chosen by a registry name are validated by that entry's own model: the
   ``oracle`` by its ``kind``, each time model (``cluster.compute``/``uplink``/``downlink``) by
   its ``kind``, each method by its ``name`` (its protocol's and optimizer's parameters, with
   ``method_defaults`` filled in where the method declares the field);
2. the rest of the scenario is validated;
3. cross-field checks run and every default is resolved once (the horizon, the downlink, each
   method's own defaults such as M ← n and M_init ← M), so no other code re-derives them.

Every failure becomes a one-line :class:`~asyncsim.core.errors.ConfigError` naming the field path
and the offending value. Time models and oracles register their own blocks (the built-ins beside
their implementations, :mod:`asyncsim.timing.models`, :mod:`asyncsim.oracles`; plug-ins alike)
through :mod:`asyncsim.core.registry`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from asyncsim.core.errors import ConfigError, quote
from asyncsim.core.files import check_method_key, check_output_name
from asyncsim.core.plugins import origin_of
from asyncsim.core.registry import (
    METHODS,
    ORACLES,
    TIME_MODELS,
    TOPOLOGIES,
    Context,
    MethodSpec,
    Params,
    TopologySpec,
)
from asyncsim.timing.models import (
    FixedTimeConfig,
    TimeModel,
    check_clock_scale,
    check_model_times,
    value_name,
)
from asyncsim.topology.allreduce import COLLECTIVE_TIMES
from asyncsim.topology.graph import GraphConfig, GraphLinks, build_links
from asyncsim.topology.network import Links, NetworkConfig

__all__ = [
    "BudgetConfig",
    "ClusterConfig",
    "EvaluationConfig",
    "MethodConfig",
    "OutputConfig",
    "Scenario",
    "scenario_hash",
    "scenario_json_schema",
    "scenario_warnings",
    "validate_scenario",
]

SCHEMA_VERSION = 1
PositiveInt = Annotated[int, Field(ge=1)]
NonNegative = Annotated[float, Field(ge=0)]


# ---------------------------------------------------------------- time models


TimeModelBlock = SerializeAsAny[Params]
"""A validated time-model config (the model registered for its ``kind``)."""


# ---------------------------------------------------------------- oracles


OracleBlock = SerializeAsAny[Params]
"""A validated oracle config (the model registered for its ``kind``)."""


# ---------------------------------------------------------------- cluster


class OutageConfig(Params):
    """Agent ``agent`` (1-based) is unavailable during [start, end)."""

    agent: PositiveInt = Field(description="1-based agent index")
    start: NonNegative = Field(description="simulated seconds")
    end: NonNegative = Field(description="simulated seconds, > start")

    @model_validator(mode="after")
    def _ordered(self) -> OutageConfig:
        if self.end <= self.start:
            raise ValueError(f"end must be > start ({self.start}), got {self.end}")
        return self


class ClusterConfig(Params):
    """n agents, their compute and communication time models, and the topology."""

    n: PositiveInt = Field(description="number of agents")
    horizon: PositiveInt | None = Field(
        None, description="H, transitions per gradient (τ_i = h_i·H); default: the oracle's"
    )
    timing: Literal["per_trajectory", "per_step"] = Field(
        "per_trajectory", description="τ = h·H, or h × the trajectory's actual length"
    )
    compute: TimeModelBlock = Field(FixedTimeConfig(h=1.0), description="h_i, s/transition")
    uplink: TimeModelBlock = Field(FixedTimeConfig(time=0.0), description="κ_i, s/vector")
    downlink: TimeModelBlock | None = Field(
        None, description="broadcast time per agent (default: the uplink model)"
    )
    topology: str = Field("server", description="star or collective")
    allreduce: Literal[tuple(COLLECTIVE_TIMES)] = Field(  # type: ignore[valid-type]
        "max", description="collective time: max_i κ_i, or 2(n-1)/n · max_i κ_i"
    )
    outages: list[OutageConfig] = Field([], description="intervals an agent cannot compute")
    network: NetworkConfig | None = Field(
        None, description="shared links with capacities (replaces uplink and downlink)"
    )
    graph: GraphConfig | None = Field(
        None, description="topology graph: the agents' communication graph"
    )

    _topology_spec: TopologySpec | None = PrivateAttr(None)

    @property
    def topology_spec(self) -> TopologySpec:
        """The record of ``topology`` (:mod:`asyncsim.topology`), kept by validation: the
        stand-in of results whose plug-in topology is not loaded outlives the validation."""
        return self._topology_spec or TOPOLOGIES.get(self.topology, "cluster.topology")

    @field_validator("topology", mode="before")
    @classmethod
    def _registered(cls, topology: Any) -> Any:
        """A registered topology (:mod:`asyncsim.topology`, or a plug-in's)."""
        if topology not in TOPOLOGIES:
            raise ValueError(f"must be one of {_one_of(TOPOLOGIES.names())}, got {quote(topology)}")
        return topology

    @model_serializer(mode="wrap")
    def _without_graph(self, handler: Any) -> dict[str, Any]:
        """A cluster that is not a graph dumps as it did before graphs existed."""
        data = handler(self)
        if data.get("graph") is None:
            data.pop("graph", None)
        return data

    def links(self, dim: int = 1) -> Links | GraphLinks | None:
        """The shared links of ``network`` for vectors of d = ``dim`` parameters: a graph's
        edges under ``topology: graph``, else the star's and ring's links; None without
        ``network``. A bad value raises a one-line ConfigError naming its field."""
        if self.network is None:
            return None
        if self.graph is None:
            return self.network.build(self.n, dim)
        self.network.check_fields(graph=True)
        size = self.network.message_size(dim)
        graph = self.graph.build(self.n)
        return build_links(graph, size, self.network.link, self.network.latency)

    def time_models(self, dim: int = 1) -> dict[str, TimeModel]:
        """The ``compute``, ``uplink`` and ``downlink`` models (d = ``dim`` for expressions and
        bandwidth models); call on a resolved scenario (downlink set)."""
        return {
            role: getattr(self, role).build(self.n, f"cluster.{role}", _ROLES[role], dim)
            for role in _ROLES
        }


_ROLES = {"compute": "compute", "uplink": "communication", "downlink": "communication"}


def _one_of(names: list[str]) -> str:
    """``'a', 'b' or 'c'``: the alternatives as a literal field's message lists them."""
    quoted = [repr(name) for name in names]
    return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)


# ---------------------------------------------------------------- methods, budget, output


class MethodConfig(Params):
    """One method by registry name (``asyncsim list``), with its own parameters.

    In YAML a method is one flat mapping ``{name, label, <parameters>}``; the parameters are
    those its protocol and optimizer declare (``asyncsim list`` shows them).
    """

    name: str = Field(description="registry name or alias of the method")
    label: str | None = Field(None, description="output name (default: the name)")
    params: SerializeAsAny[Params] = Field(Params(), description="the method's parameters")

    @model_serializer(mode="wrap")
    def _flat(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {"name": data["name"], "label": data["label"], **data["params"]}

    @property
    def key(self) -> str:
        """Output name of the method: its label, else its name as written."""
        return self.label or self.name

    @property
    def spec(self) -> MethodSpec:
        """The registry entry (aliases resolved); for a method read back from results whose
        plug-in is not loaded, its recorded stand-in (:mod:`asyncsim.store.recorded`)."""
        recorded = getattr(type(self.params), "recorded_spec", None)
        return recorded if recorded is not None else METHODS.get(self.name)


class BudgetConfig(Params):
    """Stop a run at whichever limit comes first. ``iterations`` counts updates after the
    initial one; ``time`` is simulated seconds; targets stop once reached."""

    iterations: Annotated[int, Field(ge=0)] | None = Field(None, description="updates")
    time: Annotated[float, Field(gt=0)] | None = Field(None, description="simulated seconds")
    transitions: PositiveInt | None = Field(None, description="environment transitions")
    gradients: PositiveInt | None = Field(None, description="gradients used")
    target_return: float | None = Field(None, description="stop at this (evaluation) return")
    target_grad_norm: Annotated[float, Field(gt=0)] | None = Field(
        None, description="ε: stop once ||∇f(θ)|| <= ε"
    )

    @model_validator(mode="after")
    def _bounded(self) -> BudgetConfig:
        if all(v is None for v in (self.iterations, self.time, self.transitions, self.gradients)):
            raise ValueError("set at least one of iterations, time, transitions, gradients")
        return self


class EvaluationConfig(Params):
    """Evaluation of the model θ (not the query point θ̃ where NIGT takes gradients), not
    charged simulated time: ``episodes`` episodes every ``every`` iterations, or, with
    ``period``, at the first update after each multiple of ``period`` simulated seconds (fair
    between methods whose updates differ in cost, e.g. AFedPG against Rennala NIGT)."""

    episodes: Annotated[int, Field(ge=0)] = Field(0, description="episodes per evaluation")
    every: PositiveInt = Field(10, description="iterations between evaluations")
    period: Annotated[float, Field(gt=0)] | None = Field(
        None, description="simulated seconds between evaluations (replaces `every`)"
    )


class OutputConfig(Params):
    """What a run writes besides the iteration table and summary."""

    trace: bool = Field(True, description="write trace.csv (one row per event)")


class Scenario(Params):
    """A complete, validated scenario with every default resolved."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(description="name of the run (its default output directory)")
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = Field(0, description="root of all randomness")
    plugins: list[str] = Field([], description="plug-in files (paths relative to this file)")
    oracle: OracleBlock = Field(description="gradient oracle, by kind")
    cluster: ClusterConfig
    method_defaults: dict[str, Any] = Field(
        {}, description="parameters given to every method that declares them"
    )
    methods: Annotated[list[MethodConfig], Field(min_length=1)]
    budget: BudgetConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    output: OutputConfig = OutputConfig()
    sweep: dict[str, list[Any]] | None = None

    @property
    def horizon(self) -> int:
        """Transitions per gradient H (resolved: cluster.horizon, else the oracle's, else 1)."""
        return self.cluster.horizon

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickled as its data and validated again when unpickled (in a sweep worker): the
        parameter models of methods are built at run time and plug-ins define their own, so
        they travel as data; validation loads the scenario's plug-ins first, as trusted when
        this process loaded every one of them (a scenario read back from results names files
        it did not load: unpickled, it asks for the user's word again)."""
        from asyncsim.core.plugins import all_loaded

        rebuild = _trusted_scenario if all_loaded(self.plugins) else validate_scenario
        return rebuild, (self.model_dump(mode="json"),)


# ---------------------------------------------------------------- validation


PluginMode = Literal["load", "trusted", "recorded"]


def scenario_hash(scenario: Scenario) -> str:
    """First 12 hex digits of the sha256 of the scenario's canonical JSON (sorted keys)."""
    canonical = json.dumps(
        scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def validate_scenario(data: Mapping[str, Any], *, plugins: PluginMode = "load") -> Scenario:
    """Validate a plain mapping into a resolved Scenario, or raise a one-line ConfigError.

    ``plugins`` says what happens to the files the scenario's ``plugins:`` names: ``load``
    imports them if the user allowed it (:func:`asyncsim.core.plugins.check_trusted`), else
    refuses; ``trusted`` imports them (a scenario unpickled from a process that did);
    ``recorded`` imports nothing (a scenario read back from results: its plug-in entries come
    from this process's registry or the run's record, :mod:`asyncsim.store.recorded`).
    """
    if not isinstance(data, Mapping):
        raise ConfigError("scenario", f"must be a mapping of fields, got {type(data).__name__}")
    from asyncsim.core.plugins import load_plugins

    if plugins != "recorded":
        load_plugins(data.get("plugins") or [], "plugins", trusted=plugins == "trusted")
    data = _registered_blocks(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _to_config_error(exc, _static_field_names()) from None
    _reject_booleans(data, scenario, [])
    return _resolve(scenario)


def _trusted_scenario(data: Mapping[str, Any]) -> Scenario:
    """A scenario unpickled from a process that loaded its plug-ins (see Scenario.__reduce__)."""
    return validate_scenario(data, plugins="trusted")


# ---- step 1: blocks chosen by a registry name


def _registered_blocks(data: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(data)
    if isinstance(data.get("oracle"), Mapping):
        data["oracle"] = _by_kind(ORACLES, data["oracle"], "oracle", default=None)
    if isinstance(data.get("cluster"), Mapping):
        cluster = dict(data["cluster"])
        for role in _ROLES:
            if isinstance(cluster.get(role), Mapping):
                cluster[role] = _by_kind(TIME_MODELS, cluster[role], f"cluster.{role}", "fixed")
        data["cluster"] = cluster
    if isinstance(data.get("methods"), list):
        data["methods"] = _methods(data["methods"], data.get("method_defaults"))
    return data


def _by_kind(registry: Any, block: Mapping[str, Any], field: str, default: str | None) -> Params:
    """Validate ``block`` with the model registered for its ``kind``."""
    kind = block.get("kind", default)
    if kind is None:
        raise ConfigError(f"{field}.kind", "required field is missing")
    model = registry.get(kind, f"{field}.kind").config
    return _validated(model, {**block, "kind": kind}, field)


def _validated(model: type[Params], data: Mapping[str, Any], field: str) -> Params:
    try:
        params = model.model_validate(data)
    except ValidationError as exc:
        raise _to_config_error(exc, _field_names(model), prefix=field) from None
    _reject_booleans(data, params, [field])
    return params


def _reject_booleans(raw: Any, value: Any, loc: list[Any]) -> None:
    """Raise where a boolean of the input became a number: pydantic's lax mode reads ``true``
    as 1 in a number field (``h: true``, ``batch: true``). Walks the input beside what it
    was validated into (blocks validated earlier are models in the input, and are skipped)."""
    if isinstance(raw, bool):
        if not isinstance(value, bool):
            raise ConfigError(_format_path(loc), f"must be a number, not a boolean, got {raw}")
    elif isinstance(raw, Mapping):
        for key, item in raw.items():
            if isinstance(value, BaseModel) and key in type(value).model_fields:
                _reject_booleans(item, getattr(value, key), [*loc, key])
            elif isinstance(value, dict) and key in value:
                _reject_booleans(item, value[key], [*loc, key])
    elif isinstance(raw, list) and isinstance(value, list | tuple) and len(raw) == len(value):
        for index, (item, result) in enumerate(zip(raw, value, strict=True)):
            _reject_booleans(item, result, [*loc, index])


def _methods(methods: list[Any], defaults: Any) -> list[Any]:
    """Each method's parameters validated by its own model; ``method_defaults`` fill the
    fields a method declares and does not set itself. A default no registered method declares
    is a typo: an error."""
    defaults = dict(defaults) if isinstance(defaults, Mapping) else {}
    result: list[Any] = []
    for index, raw in enumerate(methods):
        if not isinstance(raw, Mapping) or "name" not in raw:
            result.append(raw)  # the schema reports it
            continue
        field = f"methods[{index}]"
        model = METHODS.get(raw["name"], f"{field}.name").params
        given = {k: v for k, v in defaults.items() if k in model.model_fields and v is not None}
        own = {k: v for k, v in raw.items() if k not in ("name", "label")}
        params = _validated(model, {**given, **own}, field)
        result.append({"name": raw["name"], "label": raw.get("label"), "params": params})
    declared = {name for _, spec in METHODS.items() for name in spec.params.model_fields}
    for key in defaults:
        if key not in declared:
            raise ConfigError(f"method_defaults.{key}", _unknown_key(str(key), declared))
    return result


# ---- step 3: cross-field checks and defaults


def _resolve(scenario: Scenario) -> Scenario:
    check_output_name(scenario.name, "name")
    cluster, tau = _resolved_cluster(scenario)
    oracle = scenario.oracle.resolve(Context(cluster.n, scenario.oracle, scenario.budget, "oracle"))
    methods = [
        _resolved_method(scenario, cluster, m, i, tau) for i, m in enumerate(scenario.methods)
    ]
    _check_unique_keys(methods)
    return scenario.model_copy(update={"cluster": cluster, "oracle": oracle, "methods": methods})


def _resolved_cluster(scenario: Scenario) -> tuple[ClusterConfig, np.ndarray | None]:
    """The cluster with its defaults resolved, every time checked, and the fixed compute
    times τ_i = h_i·H (None unless fixed and per trajectory)."""
    cluster, n = scenario.cluster, scenario.cluster.n
    oracle_horizon = getattr(scenario.oracle, "horizon", None)
    if cluster.horizon is not None and oracle_horizon not in (None, cluster.horizon):
        raise ConfigError(
            "cluster.horizon",
            f"must equal oracle.horizon ({oracle_horizon}) or be omitted, got {cluster.horizon}",
        )
    resolved = cluster.model_copy(
        update={
            "horizon": cluster.horizon or oracle_horizon or 1,
            "downlink": cluster.downlink or cluster.uplink,
        }
    )
    resolved._topology_spec = TOPOLOGIES.get(resolved.topology, "cluster.topology")
    _check_graph(resolved)
    if cluster.network is not None:
        _check_network(cluster, getattr(scenario.oracle, "dim", 1))
    # building the models validates every per-agent value
    models = resolved.time_models(getattr(scenario.oracle, "dim", 1))
    for index, outage in enumerate(cluster.outages):
        if outage.agent > n:
            raise ConfigError(
                f"cluster.outages[{index}].agent", f"must be in 1..{n}, got {outage.agent}"
            )
    agents = getattr(scenario.oracle, "agents", None)
    if agents is not None and len(agents) != n:
        raise ConfigError("oracle.agents", f"list has {len(agents)} entries but n = {n}")
    durations = _checked_durations(resolved, models)
    instants = {} if scenario.budget.time is None else {"budget.time": scenario.budget.time}
    jumps = {f"cluster.outages[{i}].end": o.end for i, o in enumerate(cluster.outages)}
    check_clock_scale(durations, instants, jumps)
    fixed = models["compute"].fixed_values()
    per_trajectory = fixed is not None and resolved.timing == "per_trajectory"
    return resolved, (np.asarray(fixed, dtype=float) * resolved.horizon if per_trajectory else None)


def _check_graph(cluster: ClusterConfig) -> None:
    """``graph`` and ``network`` come with ``topology: graph`` (its record says
    ``decentralized``), and ``graph`` with nothing else."""
    if not cluster.topology_spec.decentralized:
        if cluster.graph is not None:
            message = (
                f"must be omitted under topology {cluster.topology!r} (it needs topology graph)"
            )
            raise ConfigError("cluster.graph", message)
        return
    for name in ("graph", "network"):
        if getattr(cluster, name) is None:
            raise ConfigError(f"cluster.{name}", f"is required under topology {cluster.topology!r}")


def _check_network(cluster: ClusterConfig, dim: int) -> None:
    """Under ``network`` the links' capacities time every transfer: the uplink and downlink
    time models would contradict them (the default, no time, is what a resolved scenario read
    back holds). Building the links checks every value of the block."""
    for role in ("uplink", "downlink"):
        block = getattr(cluster, role)
        if role in cluster.model_fields_set and block != FixedTimeConfig(time=0.0):
            raise ConfigError(
                f"cluster.{role}",
                f"must be omitted under cluster.network (give cluster.network.{role} in "
                f"bytes/s), got a {block.kind!r} time model",
            )
    cluster.links(dim)


def _checked_durations(cluster: ClusterConfig, models: Mapping[str, TimeModel]) -> dict:
    """Field → per-agent seconds of every time model (its fixed times, else its means;
    compute times × H), checked finite and >= 0: a plug-in's model is checked and named here,
    before a run draws from it."""
    durations = {}
    for role, model in models.items():
        block = getattr(cluster, role)
        name = value_name(_ROLES[role])
        field = f"cluster.{role}.{name}" if getattr(block, name, None) is not None else ""
        field = field or f"cluster.{role}"
        source = origin_of(model)
        try:
            fixed = model.fixed_values()
            values = fixed if fixed is not None else model.means(cluster.n)
        except Exception as exc:
            raise ConfigError(
                field,
                f"the time model of plug-in {source or block.kind} failed: "
                f"{' '.join(str(exc).split()) or type(exc).__name__}",
            ) from None
        values = check_model_times(values, cluster.n, field, source)
        durations[field] = values * (cluster.horizon if role == "compute" else 1.0)
    return durations


def _resolved_method(
    scenario: Scenario,
    cluster: ClusterConfig,
    method: MethodConfig,
    index: int,
    tau: np.ndarray | None,
) -> MethodConfig:
    protocol, topology = method.spec.protocol_spec, cluster.topology_spec
    if protocol.server_only and not topology.has_server:
        raise ConfigError(
            "cluster.topology",
            f"method {method.name!r} (methods[{index}]) needs a server, got {cluster.topology!r}",
        )
    if protocol.decentralized != topology.decentralized:
        needs = "topology graph" if protocol.decentralized else "a server or a collective"
        raise ConfigError(
            "cluster.topology",
            f"method {method.name!r} (methods[{index}]) needs {needs}, got {cluster.topology!r}",
        )
    context = Context(cluster.n, scenario.oracle, scenario.budget, f"methods[{index}]", tau)
    return method.model_copy(update={"params": method.params.resolve(context)})


def _check_unique_keys(methods: list[MethodConfig]) -> None:
    """Every method's key names its own directory of the run directory."""
    seen: dict[str, int] = {}
    for index, method in enumerate(methods):
        check_method_key(method.key, f"methods[{index}].{'label' if method.label else 'name'}")
        if method.key in seen:
            raise ConfigError(
                f"methods[{index}]",
                f"duplicate method {method.key!r} (also methods[{seen[method.key]}]); "
                "give one of them a distinct label",
            )
        seen[method.key] = index


# ---- errors


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "finite_number": "must be a finite number",
    "missing": "required field is missing",
    "too_short": "must have at least {min_length} item(s)",
}


def _to_config_error(
    exc: ValidationError, field_names: Iterable[str], prefix: str = ""
) -> ConfigError:
    error = _most_specific(exc.errors())
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    path = _format_path([*([prefix] if prefix else []), *loc])
    kind, ctx = error["type"], error.get("ctx", {})
    value = error.get("input")
    if kind == "extra_forbidden":
        return ConfigError(path, _unknown_key(str(loc[-1]), field_names))
    if kind == "literal_error":
        return ConfigError(path, f"must be one of {ctx.get('expected')}, got {quote(value)}")
    if kind == "missing":
        return ConfigError(path, _MESSAGES["missing"])
    template = _MESSAGES.get(kind)
    message = template.format(**ctx) if template else error["msg"].removeprefix("Value error, ")
    if kind == "value_error" and ", got " in message:  # the validator already named the value
        return ConfigError(path, message)
    return ConfigError(path, f"{message}, got {quote(value)}")


def _unknown_key(key: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(valid), n=1)
    return "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")


def _most_specific(errors: list[Any]) -> Any:
    """The first error, unless it is a type mismatch of one branch of a union (``h: float | str |
    list[float]``) and another branch of the same field reports a real problem, such as a NaN in
    ``h[1]``: then that one, so that the message names the element and says what is wrong."""
    first = errors[0]
    if not first["type"].endswith("_type"):
        return first
    field = [part for part in first["loc"] if not _is_union_tag(part)]
    for error in errors[1:]:
        loc = [part for part in error["loc"] if not _is_union_tag(part)]
        if loc[: len(field)] == field and not error["type"].endswith("_type"):
            return error
    return first


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part.startswith(("function-", "int", "float", "str", "list["))


def _format_path(loc: list[object]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "scenario"


def _field_names(model: type[BaseModel]) -> set[str]:
    """Field names of ``model`` and of the models nested in it (for "did you mean")."""
    names = set(model.model_fields)
    for info in model.model_fields.values():
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel) and nested is not Params:
            names |= _field_names(nested)
    return names


def _static_field_names() -> set[str]:
    return _field_names(Scenario) | _field_names(BudgetConfig) | _field_names(OutageConfig)


def scenario_warnings(scenario: Scenario) -> list[str]:
    """What is valid but probably not what the user meant, one sentence each."""
    budget = scenario.budget.model_dump(exclude_none=True)
    kinds = {m.spec.protocol_spec.round_based for m in scenario.methods}
    if set(budget) == {"iterations"} and kinds == {True, False}:
        return [
            "budget.iterations counts rounds of the round-based methods but single updates of "
            "the asynchronous ones, so their runs are not comparable: give budget.time or a "
            "target to compare them"
        ]
    return []


# ---------------------------------------------------------------- JSON schema


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file: the static fields, and for the oracle, the time
    models and the methods every registered alternative with its own parameters."""
    schema = Scenario.model_json_schema()
    defs = schema.setdefault("$defs", {})

    def one_of(models: dict[str, type[BaseModel]]) -> dict[str, Any]:
        alternatives = []
        for name, model in models.items():
            sub = model.model_json_schema(ref_template="#/$defs/{model}")
            defs.update(sub.pop("$defs", {}))
            defs[name] = sub
            alternatives.append({"$ref": f"#/$defs/{name}"})
        return {"oneOf": alternatives}

    oracles = one_of({f"oracle_{k}": s.config for k, s in ORACLES.items()})
    times = one_of({f"time_model_{k}": s.config for k, s in TIME_MODELS.items()})
    methods = one_of(
        {f"method_{name}": _method_schema_model(spec) for name, spec in METHODS.items()}
    )
    properties = schema["properties"]
    properties["oracle"] = oracles
    properties["methods"] = {"type": "array", "minItems": 1, "items": methods}
    cluster = defs["ClusterConfig"]["properties"]
    for role in _ROLES:
        cluster[role] = times
    cluster["topology"] = dict(sorted({**cluster["topology"], "enum": TOPOLOGIES.names()}.items()))
    return schema


def _method_schema_model(spec: MethodSpec) -> type[BaseModel]:
    """The flat YAML form of a method: name, label and its parameters."""
    from pydantic import create_model

    return create_model(
        f"method_{spec.name}",
        __base__=spec.params,
        name=(Literal[(spec.name, *METHODS.aliases_of(spec.name))], ...),  # type: ignore[valid-type]
        label=(str | None, None),
    )
