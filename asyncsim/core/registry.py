"""Registries of everything a scenario names: protocols, optimizers, methods, oracles, time
models and topologies, with the public functions that add to them.

A scenario refers to methods by registry name (``rennala_nigt``), to oracles and time models by
``kind``, to its topology by ``cluster.topology``; nothing else in asyncsim hard-codes those
names. Built-in entries are registered by the
modules that define them (:mod:`asyncsim.methods.registry`, :mod:`asyncsim.oracles`,
:mod:`asyncsim.scenario.schema`); plug-ins add theirs with the ``register_*`` functions below, from
a file named by a scenario's ``plugins:``, ``--plugin FILE`` or an installed package's entry point
in the group ``asyncsim.core.plugins`` (see :mod:`asyncsim.core.plugins`). Lookups load the
built-ins and the installed entry points once, on first use.

Every entry knows where it comes from (:meth:`Registry.origin`): None for asyncsim's own, else
the plug-in that registered it (:func:`registering_from`), which error messages name and which
decides what a run directory records of it (:mod:`asyncsim.store.recorded`). Results read back from
disk may name entries of plug-ins that are not loaded: :func:`recorded_entries` supplies
stand-ins for those while a stored scenario is validated (entries registered here win).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, create_model

from asyncsim.core.errors import AsyncSimError, UnknownNameError

if TYPE_CHECKING:
    from asyncsim.core.training import Training

__all__ = [
    "ENTRY_POINT_GROUP",
    "METHODS",
    "OPTIMIZERS",
    "ORACLES",
    "PROTOCOLS",
    "TIME_MODELS",
    "TOPOLOGIES",
    "Context",
    "MethodSpec",
    "OptimizerSpec",
    "OracleSpec",
    "Params",
    "PluginWarning",
    "ProtocolSpec",
    "Registry",
    "TimeModelSpec",
    "TopologyContext",
    "TopologySpec",
    "describe_failure",
    "load_builtins",
    "load_entry_points",
    "recorded_entries",
    "register_method",
    "register_optimizer",
    "register_oracle",
    "register_protocol",
    "register_time_model",
    "register_topology",
    "registering_from",
]

T = TypeVar("T")

_ORIGIN: ContextVar[str | None] = ContextVar("asyncsim_registering_plugin", default=None)
_RECORDED: ContextVar[Mapping[str, Mapping[str, Any]] | None] = ContextVar(
    "asyncsim_recorded_entries", default=None
)


@dataclass(frozen=True)
class Context:
    """What a method's parameters may depend on when their defaults are resolved.

    Attributes:
        n: number of agents.
        oracle: the validated oracle config (``sigma2`` is its variance bound σ² where known).
        budget: the validated budget (``target_grad_norm`` is ε where given).
        field: the method's path in the scenario (``methods[2]``), for error messages.
        tau: the agents' compute times τ_i = h_i·H when they are fixed (per trajectory),
            else None.
    """

    n: int
    oracle: Any
    budget: Any
    field: str = ""
    tau: Any = None


class Params(BaseModel):
    """Base of every parameter model (protocols, optimizers, oracles, time models): frozen,
    unknown keys rejected, no NaN or infinity. Give each field a ``Field(description=...)``:
    ``asyncsim schema`` and ``asyncsim list`` show it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def resolve(self, context: Context) -> Params:
        """These parameters with every default that depends on the scenario filled in (e.g.
        M ← n). Overrides call ``super().resolve(context)`` and return a copy
        (``model_copy(update=...)``); the default has nothing to resolve."""
        return self

    def gradients_per_update(self) -> tuple[int, int, str]:
        """A method's resolved parameters: the gradients its first update and each later one
        take at least, and the field (under the method) that sets them; the resource guards
        read it. The default: one gradient, set by the method's name."""
        return 1, 1, "name"


class Registry(Generic[T]):
    """Entries by name, with aliases; an unknown name is an error listing the valid ones."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._origins: dict[str, str] = {}
        _REGISTRIES.append(self)

    def add(self, name: str, entry: T, aliases: tuple[str, ...] = ()) -> T:
        """Register ``entry`` as ``name`` (and its aliases); a name may be taken only once."""
        for key in (name, *aliases):
            if not isinstance(key, str) or not key.isidentifier():
                raise AsyncSimError(f"{self.what} name must be an identifier, got {key!r}")
            if key in self._entries or key in self._aliases:
                raise AsyncSimError(f"{self.what} {key!r} is already registered")
        self._entries[name] = entry
        self._aliases.update(dict.fromkeys(aliases, name))
        origin = _ORIGIN.get()
        if origin is not None:
            self._origins[name] = origin
        return entry

    def origin(self, name: str) -> str | None:
        """The plug-in that registered ``name`` (a file, or an installed package); None for
        asyncsim's own entries and for names not registered here."""
        return self._origins.get(self.canonical(name))

    def is_builtin(self, name: str) -> bool:
        """Whether ``name`` is one of asyncsim's own entries (registered, by no plug-in)."""
        key = self.canonical(name)
        return key in self._entries and key not in self._origins

    def _remove_origin(self, origin: str) -> None:
        for name in [name for name, where in self._origins.items() if where == origin]:
            del self._entries[name], self._origins[name]
            for alias in [a for a, target in self._aliases.items() if target == name]:
                del self._aliases[alias]

    def _recorded(self) -> Mapping[str, T]:
        return (_RECORDED.get() or {}).get(self.what, {})

    def canonical(self, name: str) -> str:
        """The registered name behind ``name`` (itself, or the entry an alias stands for)."""
        load_builtins()
        return self._aliases.get(name, name)

    def get(self, name: str, field: str = "") -> T:
        """The entry of ``name`` or alias; UnknownNameError (with close matches) otherwise."""
        key = self.canonical(name) if isinstance(name, str) else name
        if key in self._entries:
            return self._entries[key]
        recorded = self._recorded()
        if isinstance(key, str) and key in recorded:
            return recorded[key]
        raise UnknownNameError(field, name, self.names(aliases=True), what=self.what)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = self.canonical(name)
        return key in self._entries or key in self._recorded()

    def names(self, aliases: bool = False) -> list[str]:
        """Registered names in registration order (and the aliases after them), then the
        recorded stand-ins in use (:func:`recorded_entries`)."""
        load_builtins()
        recorded = [name for name in self._recorded() if name not in self._entries]
        return [*self._entries, *(self._aliases if aliases else ()), *recorded]

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, entry) pairs in registration order, then the recorded stand-ins in use."""
        load_builtins()
        recorded = {k: v for k, v in self._recorded().items() if k not in self._entries}
        return iter([*self._entries.items(), *recorded.items()])

    def aliases_of(self, name: str) -> list[str]:
        """The aliases registered for ``name``."""
        return [alias for alias, target in self._aliases.items() if target == name]


_REGISTRIES: list[Registry[Any]] = []


@contextmanager
def registering_from(origin: str) -> Iterator[None]:
    """Entries registered inside the block come from the plug-in ``origin`` (a file path, or
    ``installed package NAME``); if the block raises, every entry it registered is removed
    again, so that a plug-in that fails to load leaves nothing half-registered."""
    token = _ORIGIN.set(origin)
    try:
        yield
    except BaseException:
        for registry in _REGISTRIES:
            registry._remove_origin(origin)
        raise
    finally:
        _ORIGIN.reset(token)


@contextmanager
def recorded_entries(entries: Mapping[str, Mapping[str, Any]]) -> Iterator[None]:
    """Inside the block, a name no plug-in of this process registered is looked up in
    ``entries`` (registry ``what`` → name → stand-in entry): the stand-ins a run directory's
    record gives for the plug-ins it used (:mod:`asyncsim.store.recorded`)."""
    token = _RECORDED.set(entries)
    try:
        yield
    finally:
        _RECORDED.reset(token)


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ProtocolSpec:
    """Everything asyncsim needs to know about an aggregation protocol, in one record.

    Attributes:
        name: registry name (``rennala``).
        description: one line, with the paper's algorithm number.
        train: the SimPy process of the server (or AllReduce coordinator), ``train(run)``,
            given a :class:`~asyncsim.core.training.Training`; it returns when
            ``run.record(...)`` says the budget is spent.
        params: the protocol's own parameters (a :class:`Params` subclass).
        round_based: rows of the iteration table are rounds (columns ``stop_time``,
            ``participants``) rather than single asynchronous updates (``agent``, ``delay``).
        server_only: needs a server; rejected on a topology without one
            (:attr:`TopologySpec.has_server`, e.g. ``topology: allreduce``).
        family: short name shared by related methods, for plot colours and legends.
        exact_round: ``exact_round(times, params, iteration, start)``: the exact
            :class:`~asyncsim.theory.Collection` of round ``iteration`` that starts at absolute
            time ``start`` for fixed times (:class:`~asyncsim.theory.FixedTimes`); None: none.
            It may return None where a round has no closed form (over shared links).
        round_bound: ``round_bound(times, params, iteration)``: an upper bound on one round
            from the mean times (:class:`~asyncsim.theory.FixedTimes` of the means); None: none.
        gradient_cost: ``gradient_cost(times, params)``: seconds per gradient in the steady
            state of fixed times, for protocols without rounds; round-based protocols derive it
            from ``exact_round``. None: none.
        shapes: ε-complexity shape per optimizer name: a key of
            :data:`asyncsim.theory.COMPLEXITY_SHAPES` (the time to an ε-stationary point up to
            constants); an optimizer without an entry has no shape.
        shape_arguments: ``shape_arguments(params)``: further keyword arguments of the shape
            that come from the method's parameters (``{"m": params.m}``); None: none.
        scaling: how the shape scales with heterogeneity in words (``harmonic-like``).
        decentralized: runs on agents on a graph (a topology whose record says
            ``decentralized``) and only there.
    """

    name: str
    description: str
    train: Callable[[Training], Any]
    params: type[Params] = Params
    round_based: bool = True
    server_only: bool = False
    family: str = ""
    exact_round: Callable[..., Any] | None = None
    round_bound: Callable[..., float] | None = None
    gradient_cost: Callable[..., float] | None = None
    shapes: Mapping[str, str] = field(default_factory=dict)
    shape_arguments: Callable[[Any], dict[str, Any]] | None = None
    scaling: str = ""
    decentralized: bool = False


@dataclass(frozen=True)
class OptimizerSpec:
    """An update rule: its parameters and the factory that binds them (optax style).

    ``build(params)`` returns an :class:`~asyncsim.methods.optimizers.Optimizer`.
    """

    name: str
    description: str
    params: type[Params]
    build: Callable[[Any], Any]


@dataclass(frozen=True)
class MethodSpec:
    """A method: (aggregation protocol) × (optimizer), by their registry names, with its
    display title and those of its aliases (the literature's names)."""

    name: str
    protocol: str
    optimizer: str
    description: str
    title: str = ""
    alias_titles: Mapping[str, str] = field(default_factory=dict)

    def title_of(self, written: str) -> str:
        """The display title of the method as a scenario names it (itself or an alias)."""
        return self.alias_titles.get(written) or self.title or self.name

    @property
    def starts_every_agent(self) -> bool:
        """Whether every round starts every agent (a protocol built with ``asyncsim.rounds``
        says so on its ``train``)."""
        return bool(getattr(self.protocol_spec.train, "starts_every_agent", False))

    @property
    def protocol_spec(self) -> ProtocolSpec:
        return PROTOCOLS.get(self.protocol)

    @property
    def optimizer_spec(self) -> OptimizerSpec:
        return OPTIMIZERS.get(self.optimizer)

    @cached_property
    def params(self) -> type[Params]:
        """The method's parameter model: the protocol's fields and the optimizer's."""
        parts = (self.protocol_spec.params, self.optimizer_spec.params)
        bases = tuple(b for b in parts if not any(o is not b and issubclass(o, b) for o in parts))
        return create_model(f"{self.name}_parameters", __base__=bases, __doc__=self.description)

    @property
    def shape(self) -> str | None:
        """Name of the method's ε-complexity shape (its protocol's, for its optimizer)."""
        return self.protocol_spec.shapes.get(self.optimizer)


@dataclass(frozen=True)
class OracleSpec:
    """A gradient oracle kind: its config model, which builds the oracle
    (``config.build(n_agents, seed)``), and a one-line description."""

    kind: str
    config: type[Params]
    description: str


@dataclass(frozen=True)
class TimeModelSpec:
    """A time-model kind: its config model, which builds the model
    (``config.build(n, field, role, dim)``), and a one-line description."""

    kind: str
    config: type[Params]
    description: str


@dataclass(frozen=True)
class TopologyContext:
    """What a topology's reduce may depend on besides the senders' uplink times κ_i: the
    cluster's size and its options (``cluster.allreduce``, the AllReduce collective model).

    Attributes:
        n: number of agents.
        allreduce: the collective-time model named by ``cluster.allreduce`` (``max``, ``ring``);
            topologies without a collective ignore it.
    """

    n: int
    allreduce: str = "max"


@dataclass(frozen=True)
class TopologySpec:
    """How agents and aggregate meet (docs/algorithms.md §4, "Topologies"), in one record.

    A round starts when the point reaches agent i, b_i after the round's start (its downlink
    time where the topology ``broadcasts``, else 0), and ends when the aggregate is held: the
    reduce of the ``senders`` after the collection stops. Without a ``collective`` each sender
    uploads its vector on its own link (κ_i; an agent that computes one gradient a round sends it
    as soon as it is done) and the reduce ends when the last vector arrives, max_i κ_i over the
    senders (a star); with one, the senders' vectors are combined by one collective that starts
    when the collection stops and ends for all at once, ``collective(κ, context)`` seconds later.

    Attributes:
        name: registry name (``cluster.topology``).
        description: one line, with the reduce-time formula.
        senders: ``senders(counts)``: which agents send in a reduce (a boolean mask) given the
            gradients B_i each agent contributes (an integer array of n); on a star only agents
            with a gradient (B_i > 0) have something to send.
        broadcasts: a server sends each point, agent i holds it after its downlink time b_i;
            False: the reduce leaves the aggregate on every node (b_i = 0).
        collective: ``collective(uplink, context)``: the seconds of one collective of the senders
            whose uplink times are ``uplink``; None: a star (each sender uploads on its own).
        has_server: server-only protocols (:attr:`ProtocolSpec.server_only`) may run on it.
        decentralized: agents on a graph (``cluster.graph``): only the protocols that say
            ``decentralized`` run on it, and they run nowhere else.
    """

    name: str
    description: str
    senders: Callable[[Any], Any]
    broadcasts: bool = True
    collective: Callable[[Any, TopologyContext], float] | None = None
    has_server: bool = True
    decentralized: bool = False

    def reduce_time(self, uplink: Any, context: TopologyContext) -> float:
        """Seconds from the stop of a collection until the aggregate is held, for senders with
        uplink times ``uplink`` (a float array): max_i κ_i on a star (0.0 when nobody sends),
        else the collective's time."""
        if self.collective is not None:
            return self.collective(uplink, context)
        return float(uplink.max()) if uplink.size else 0.0


PROTOCOLS: Registry[ProtocolSpec] = Registry("protocol")
OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimizer")
METHODS: Registry[MethodSpec] = Registry("method")
ORACLES: Registry[OracleSpec] = Registry("oracle kind")
TIME_MODELS: Registry[TimeModelSpec] = Registry("time model kind")
TOPOLOGIES: Registry[TopologySpec] = Registry("topology")


# ---------------------------------------------------------------- the public API


def register_protocol(name: str, train: Callable[[Training], Any], **record: Any) -> ProtocolSpec:
    """Register an aggregation protocol; ``record`` holds the other :class:`ProtocolSpec` fields
    (``description`` is required)."""
    return PROTOCOLS.add(name, ProtocolSpec(name=name, train=train, **record))


def register_optimizer(
    name: str, build: Callable[[Any], Any], params: type[Params], description: str
) -> OptimizerSpec:
    """Register an update rule: ``build(params)`` returns an Optimizer."""
    return OPTIMIZERS.add(name, OptimizerSpec(name, description, params, build))


def register_method(
    name: str,
    protocol: str,
    optimizer: str,
    description: str,
    title: str = "",
    aliases: Mapping[str, str] | None = None,
) -> MethodSpec:
    """Register a method (protocol × optimizer, both registered already) under ``name``, with
    a display ``title`` and ``aliases``: other names of the same method → their titles."""
    PROTOCOLS.get(protocol, f"method {name!r}")
    OPTIMIZERS.get(optimizer, f"method {name!r}")
    aliases = dict(aliases or {})
    spec = MethodSpec(name, protocol, optimizer, description, title, aliases)
    return METHODS.add(name, spec, tuple(aliases))


def register_oracle(kind: str, config: type[Params], description: str) -> OracleSpec:
    """Register an oracle kind; ``config`` has a field ``kind: Literal[kind]`` and a method
    ``build(n_agents, seed) -> GradientOracle``."""
    return ORACLES.add(kind, OracleSpec(kind, config, description))


def register_time_model(kind: str, config: type[Params], description: str) -> TimeModelSpec:
    """Register a time-model kind; ``config`` has a field ``kind: Literal[kind]`` and a method
    ``build(n, field, role, dim) -> TimeModel``."""
    return TIME_MODELS.add(kind, TimeModelSpec(kind, config, description))


def register_topology(
    name: str, senders: Callable[[Any], Any], description: str, **record: Any
) -> TopologySpec:
    """Register a topology; ``record`` holds the other :class:`TopologySpec` fields
    (``broadcasts``, ``collective``, ``has_server``)."""
    return TOPOLOGIES.add(name, TopologySpec(name, description, senders, **record))


# ---------------------------------------------------------------- built-ins

ENTRY_POINT_GROUP = "asyncsim.plugins"
"""The entry-point group of installed plug-ins."""

BUILTIN_MODULES = (
    "asyncsim.timing.models",
    "asyncsim.oracles.synthetic",
    "asyncsim.oracles.policy_gradient",
    "asyncsim.methods.registry",
    "asyncsim.topology.server",
    "asyncsim.topology.allreduce",
    "asyncsim.topology.graph",
)
"""The modules that register asyncsim's own entries (each beside its implementation), imported
by name like an installed plug-in."""


class PluginWarning(UserWarning):
    """An installed plug-in failed to load and was left out."""


_builtins_loaded = False


def load_builtins() -> None:
    """Import the modules that register the built-in entries (as asyncsim's own, whatever
    plug-in is being loaded), then the installed plug-ins (entry-point group
    ``asyncsim.core.plugins``), once. Lookups call it; so does loading a plug-in file, first."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    token = _ORIGIN.set(None)
    try:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
    finally:
        _ORIGIN.reset(token)
    load_entry_points()


def describe_failure(exc: BaseException) -> str:
    """A plug-in's failure in one line (``sys.exit(3)`` and Ctrl-C in its code included)."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}) while being imported"
    if isinstance(exc, KeyboardInterrupt):
        return "it raised KeyboardInterrupt while being imported"
    return " ".join(str(exc).split()) or type(exc).__name__


def load_entry_points() -> None:
    """Load the installed plug-ins (entry-point group ``asyncsim.core.plugins``). One that fails to
    load is left out (whatever it registered is removed) with one :class:`PluginWarning`."""
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            with registering_from(f"installed plug-in {point.name!r} ({point.value})"):
                loaded = point.load()
                if callable(loaded):
                    loaded()
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            warnings.warn(
                f"installed plug-in {point.name!r} ({point.value}) failed to load and is "
                f"left out: {describe_failure(exc)}",
                PluginWarning,
                stacklevel=2,
            )
