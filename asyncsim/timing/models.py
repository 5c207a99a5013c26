"""Time models: how long agent i needs for one unit of work at iteration k
(docs/algorithms.md, "Time model"), each beside its scenario block (``FixedTimeConfig`` ...),
which is registered for its ``kind`` through the call a plug-in uses (``register_time_model``).

A time model is frozen and stateless: ``sample(agent, k, rng)`` draws one duration from the
caller's random stream (one stream per agent and role gives common random numbers across
methods) and ``mean(agent)`` is its analytic mean. For compute models a "duration" is h_i, the
seconds per environment transition; for communication models it is the seconds per vector.
Agents are 0-based here; formulas see the 1-based index ``i`` of the paper.
"""

from __future__ import annotations

import csv
import io
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal, get_args

import numpy as np
from pydantic import Field

from asyncsim.core.errors import AsyncSimError, ConfigError, clip, quote
from asyncsim.core.files import read_text_file
from asyncsim.core.registry import Params, register_time_model
from asyncsim.timing.expressions import parse_expression

__all__ = [
    "CLOCK_BITS",
    "MAX_SECONDS",
    "BandwidthTimeConfig",
    "ExponentialTimeConfig",
    "ExponentialTimes",
    "FixedTimeConfig",
    "FixedTimes",
    "GammaTimeConfig",
    "GammaTimes",
    "LogNormalTimeConfig",
    "LogNormalTimes",
    "NonNegative",
    "Outage",
    "PerAgent",
    "ScaledTimeConfig",
    "TimeModel",
    "TraceTimeConfig",
    "TraceTimes",
    "TruncatedNormalTimeConfig",
    "TruncatedNormalTimes",
    "UniformTimeConfig",
    "UniformTimes",
    "VaryingTimeConfig",
    "VaryingTimes",
    "bandwidth_times",
    "check_clock_scale",
    "check_model_times",
    "check_time",
    "per_agent_values",
    "read_trace",
    "value_name",
]


def check_time(value: float, field: str, agent: int, k: int, source: str | None = None) -> float:
    """Return ``value`` if it is a finite duration >= 0, else raise naming the field, the agent
    and the plug-in ``source`` whose time model drew it (a string or None is no duration)."""
    try:
        valid = 0.0 <= value < math.inf
    except TypeError:
        valid = False
    if not valid or isinstance(value, bool):
        plugin = f" (drawn by the time model of plug-in {source})" if source else ""
        shown = value if isinstance(value, int | float) else quote(value)
        raise AsyncSimError(
            f"{field}: sampled time for agent {agent + 1} at iteration {k} must be a finite "
            f"number >= 0, got {shown}{plugin}"
        )
    return value


MAX_SECONDS = 1e12
"""Largest time a scenario may give (a duration, an outage's bounds, the time budget): about
31,700 years. A clock below it resolves 0.12 ms (its last bit), and sums of such times are far
from overflowing (a compute time of 1e308 made rounds of infinite length)."""

CLOCK_BITS = 42
"""The largest instant the clock jumps to (an outage's end) may be at most 2^42 times the
shortest positive duration, so that every duration added to the clock there keeps 10 of its 52
bits (a relative error under 0.1%): with outages to 1e17 s, rounds of a few seconds were
recorded as rounds of 0 s (the clock's last bit there is 16 s)."""


def check_model_times(values: object, n: int, field: str, source: str | None) -> np.ndarray:
    """The n mean (or fixed) times a time model gives, checked: finite numbers >= 0 (a
    plug-in's model, ``source``, is named when they are not)."""
    plugin = f" (the time model of plug-in {source})" if source else ""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(
            field, f"mean times must be numbers{plugin}, got {quote(values)}"
        ) from None
    if array.shape != (n,):
        raise ConfigError(field, f"gave {array.size} mean times for {n} agents{plugin}")
    bad = np.flatnonzero(~((array >= 0.0) & (array < math.inf)))
    if bad.size:
        agent = int(bad[0])
        raise ConfigError(
            field,
            f"mean time of agent {agent + 1} must be finite and >= 0{plugin}, got "
            f"{float(array[agent])}",
        )
    return array


def check_clock_scale(
    durations: Mapping[str, np.ndarray],
    instants: Mapping[str, float],
    jumps: Mapping[str, float],
) -> None:
    """Refuse times a simulated clock cannot add up: any duration (field → per-agent seconds),
    instant or jump (field → seconds) above :data:`MAX_SECONDS`, and a jump (an instant the
    clock goes to at once: an outage's end) more than 2^:data:`CLOCK_BITS` times the shortest
    positive duration.

    Raises:
        ConfigError: naming the field, the value and the limit.
    """
    for where, values in durations.items():
        if values.size and float(values.max()) > MAX_SECONDS:
            agent = int(np.argmax(values))
            raise ConfigError(
                where,
                f"agent {agent + 1} takes {float(values[agent]):g} s, more than "
                f"{MAX_SECONDS:g} s: a simulated clock cannot add such times up",
            )
    for where, instant in {**instants, **jumps}.items():
        if instant > MAX_SECONDS:
            raise ConfigError(
                where,
                f"must be at most {MAX_SECONDS:g} s (a clock beyond it cannot add "
                f"durations up), got {instant:g}",
            )
    positive = [float(v[v > 0].min()) for v in durations.values() if (v > 0).any()]
    if not positive or not jumps:
        return
    shortest = min(positive)
    where, latest = max(jumps.items(), key=lambda item: item[1])
    if latest > shortest * 2.0**CLOCK_BITS:
        raise ConfigError(
            where,
            f"the clock at {latest:g} s resolves {math.ulp(latest):.3g} s, too coarse "
            f"for durations of {shortest:g} s (they would lose their precision, or be "
            f"recorded as 0 s); keep instants within {2.0**CLOCK_BITS:.3g} times the shortest "
            "duration",
        )


def per_agent_values(
    value: float | str | Sequence[float],
    n: int,
    field: str,
    constants: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Expand a number, a list of n numbers, or an expression in ``i`` into n checked values.

    ``constants`` are further names an expression may use (communication times may use ``d``,
    the vector dimension, as in the paper's κ_i = √i · d^{1/4}).

    Raises:
        ConfigError: wrong list length, malformed expression, or a value that is negative,
            NaN or infinite (the message names ``field[index]`` and the value).
    """
    if isinstance(value, str):
        constants = dict(constants or {})
        expression = parse_expression(value, field, ("i", *constants))
        values = expression({"i": np.arange(1, n + 1, dtype=float), **constants})
        values = np.broadcast_to(values, (n,)).astype(float)
    elif isinstance(value, int | float):
        values = np.full(n, float(value))
    else:
        values = np.asarray(list(value), dtype=float)
        if values.shape != (n,):
            raise ConfigError(field, f"list has {len(values)} values but n = {n}")
    bad = np.flatnonzero(~((values >= 0.0) & (values < math.inf)))  # NaN fails both
    if bad.size:
        index, v = int(bad[0]), float(values[bad[0]])
        where = field if isinstance(value, int | float) else f"{field}[{index}]"
        raise ConfigError(where, f"must be finite and >= 0, got {_show(value, index, v)}")
    return values


def _show(value: object, index: int, v: float) -> str:
    return f"{v} (agent {index + 1} of {value!r})" if isinstance(value, str) else f"{v}"


class TimeModel(ABC):
    """A per-agent duration model."""

    @abstractmethod
    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        """Duration for ``agent`` (0-based) at iteration ``k``, drawn from ``rng`` if random."""

    @abstractmethod
    def mean(self, agent: int) -> float:
        """Analytic mean duration of ``agent`` (iteration 0 for iteration-varying models)."""

    def fixed_values(self) -> np.ndarray | None:
        """The per-agent durations if they never vary (lets the engine skip sampling)."""
        return None

    def sample_block(self, agent: int, count: int, rng: np.random.Generator) -> np.ndarray | None:
        """The agent's next ``count`` durations at once, exactly those ``count`` calls of
        :meth:`sample` would draw from ``rng`` in turn, when they do not depend on the iteration
        k; None otherwise (the default: the engine then calls :meth:`sample` for each)."""
        return None

    def means(self, n: int) -> np.ndarray:
        """Vector of the n agents' mean durations."""
        return np.array([self.mean(a) for a in range(n)])


@dataclass(frozen=True)
class FixedTimes(TimeModel):
    """Deterministic duration ``values[i]`` for agent i at every iteration."""

    values: np.ndarray

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        return float(self.values[agent])

    def mean(self, agent: int) -> float:
        return float(self.values[agent])

    def means(self, n: int) -> np.ndarray:
        return np.asarray(self.values[:n], dtype=float)

    def fixed_values(self) -> np.ndarray:
        return self.values


def bandwidth_times(latency: np.ndarray, bandwidth: np.ndarray, dim: int) -> FixedTimes:
    """κ_i = latency_i + bytes(d) / bandwidth_i with bytes(d) = 4·d (float32 vectors)."""
    return FixedTimes(latency + 4.0 * dim / bandwidth)


@dataclass(frozen=True)
class _ScaledRandomTimes(TimeModel):
    """Independent random durations with per-agent ``scale`` (the mean, unless said otherwise);
    each agent draws from its own stream."""

    scale: np.ndarray

    def mean(self, agent: int) -> float:
        return float(self.scale[agent])

    def means(self, n: int) -> np.ndarray:
        return np.asarray(self.scale[:n], dtype=float)


@dataclass(frozen=True)
class ExponentialTimes(_ScaledRandomTimes):
    """Exp with mean ``scale``."""

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        return float(rng.exponential(float(self.scale[agent])))

    def sample_block(self, agent: int, count: int, rng: np.random.Generator) -> np.ndarray:
        return rng.exponential(float(self.scale[agent]), count)


@dataclass(frozen=True)
class LogNormalTimes(_ScaledRandomTimes):
    """LogNormal with mean ``scale`` and log-standard-deviation ``sigma``:
    exp(N(log s − σ²/2, σ²)), whose mean is s."""

    sigma: float = 0.5

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        s = float(self.scale[agent])
        if s == 0.0:
            return 0.0
        return float(rng.lognormal(math.log(s) - 0.5 * self.sigma**2, self.sigma))

    def sample_block(self, agent: int, count: int, rng: np.random.Generator) -> np.ndarray:
        s = float(self.scale[agent])
        if s == 0.0:
            return np.zeros(count)
        return rng.lognormal(math.log(s) - 0.5 * self.sigma**2, self.sigma, count)


@dataclass(frozen=True)
class UniformTimes(_ScaledRandomTimes):
    """U[s(1 − spread), s(1 + spread)], mean s."""

    spread: float = 0.5

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        s = float(self.scale[agent])
        return float(rng.uniform(s * (1 - self.spread), s * (1 + self.spread)))

    def sample_block(self, agent: int, count: int, rng: np.random.Generator) -> np.ndarray:
        s = float(self.scale[agent])
        return rng.uniform(s * (1 - self.spread), s * (1 + self.spread), count)


@dataclass(frozen=True)
class TruncatedNormalTimes(_ScaledRandomTimes):
    """N(s, (cv·s)²) conditioned on >= 0 (drawn by rejection, accepted with probability >= 1/2
    since s >= 0); its mean is μ + σ φ(a)/(1 − Φ(a)) with a = −μ/σ."""

    cv: float = 0.5

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        s = float(self.scale[agent])
        while True:
            x = rng.normal(s, self.cv * s)
            if x >= 0.0:
                return float(x)

    def mean(self, agent: int) -> float:
        mu = float(self.scale[agent])
        sigma = self.cv * mu
        if sigma == 0.0:
            return max(mu, 0.0)
        a = -mu / sigma
        pdf = math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
        tail = 0.5 * math.erfc(a / math.sqrt(2))
        return mu + sigma * pdf / tail

    def means(self, n: int) -> np.ndarray:
        return TimeModel.means(self, n)  # its mean is not its scale


@dataclass(frozen=True)
class GammaTimes(_ScaledRandomTimes):
    """Gamma(shape, s/shape), mean s."""

    shape: float = 2.0

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        return float(rng.gamma(self.shape, float(self.scale[agent]) / self.shape))

    def sample_block(self, agent: int, count: int, rng: np.random.Generator) -> np.ndarray:
        return rng.gamma(self.shape, float(self.scale[agent]) / self.shape, count)


@dataclass(frozen=True)
class VaryingTimes(TimeModel):
    """Iteration-varying durations h_{i,k} given as an expression in ``i`` (1-based) and ``k``
    (Theorem 4.3's time-varying model). Rows are evaluated once per iteration and cached."""

    formula: str
    n: int
    field: str
    _rows: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.row(0)  # validates the formula and the first iteration's values up front

    def row(self, k: int) -> np.ndarray:
        """All agents' durations at iteration k."""
        if k not in self._rows:
            expression = parse_expression(self.formula, self.field, ("i", "k"))
            values = expression({"i": np.arange(1, self.n + 1, dtype=float), "k": float(k)})
            self._rows[k] = np.broadcast_to(values, (self.n,)).astype(float)
        return self._rows[k]

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        return check_time(float(self.row(k)[agent]), self.field, agent, k)

    def mean(self, agent: int) -> float:
        return float(self.row(0)[agent])

    def means(self, n: int) -> np.ndarray:
        return np.asarray(self.row(0)[:n], dtype=float)


@dataclass(frozen=True)
class TraceTimes(TimeModel):
    """Durations read from a trace: agent i at iteration k takes the duration of the row with the
    largest k' <= k for that agent (the first row before it is reached)."""

    iterations: tuple[np.ndarray, ...]
    durations: tuple[np.ndarray, ...]

    def sample(self, agent: int, k: int, rng: np.random.Generator) -> float:
        position = int(np.searchsorted(self.iterations[agent], k, side="right")) - 1
        return float(self.durations[agent][max(position, 0)])

    def mean(self, agent: int) -> float:
        return float(np.mean(self.durations[agent]))


def read_trace(path: str | Path, n: int, field: str, max_bytes: int = 256 * 2**20) -> TraceTimes:
    """Load a CSV with columns ``agent, k, duration`` (agents 1..n); every agent needs a row and
    has at most one row per k. The file must be UTF-8 text of at most ``max_bytes`` bytes
    (256 MiB: about 10^7 rows)."""
    name = f"trace file {quote(str(path))}"
    text = read_text_file(path, field, name, max_bytes)
    rows: list[list[tuple[int, int, float]]] = [[] for _ in range(n)]  # (k, line, duration)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            where = f"{field} ({clip(str(path))}:{reader.line_num})"
            agent, k, duration = _trace_row(record, n, where)
            rows[agent].append((k, reader.line_num, duration))
    except csv.Error as exc:
        raise ConfigError(field, f"{name} is not CSV (line {reader.line_num}: {exc})") from None
    missing = [a + 1 for a, r in enumerate(rows) if not r]
    if missing:
        raise ConfigError(field, f"{name} has no rows for agents {quote(missing)}")
    ordered = [sorted(r) for r in rows]
    iterations = tuple(np.array([k for k, _, _ in r]) for r in ordered)
    for agent, ks in enumerate(iterations):
        repeated = np.flatnonzero(np.diff(ks) == 0)  # sorted, so a repeated k is adjacent
        if repeated.size:
            (k, first, _), (_, second, _) = ordered[agent][repeated[0] : repeated[0] + 2]
            raise ConfigError(
                field,
                f"{name} has two rows for agent {agent + 1} at k = {k} "
                f"(lines {first} and {second}); give each (agent, k) once",
            )
    return TraceTimes(iterations, tuple(np.array([d for _, _, d in r]) for r in ordered))


def _trace_row(record: dict[str, str], n: int, where: str) -> tuple[int, int, float]:
    try:
        agent, k, duration = int(record["agent"]), int(record["k"]), float(record["duration"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            where, f"expected columns agent, k, duration with numbers, got {quote(record)}"
        ) from None
    if not 1 <= agent <= n:
        raise ConfigError(where, f"agent must be in 1..{n}, got {agent}")
    if not (0.0 <= duration < math.inf):
        raise ConfigError(where, f"duration must be finite and >= 0, got {duration}")
    return agent - 1, k, duration


@dataclass(frozen=True)
class Outage:
    """Agent ``agent`` (0-based) is down during [start, end): its running computation is lost."""

    agent: int
    start: float
    end: float


# ---------------------------------------------------------------- scenario blocks
# Each built-in time model's config (the ``kind`` a scenario's cluster.compute, cluster.uplink or
# cluster.downlink names), registered through the call a plug-in uses.

PerAgent = float | str | list[float]
"""A per-agent value as a scenario writes it."""
NonNegative = Annotated[float, Field(ge=0)]
_PER_AGENT = "a number, a list of n numbers, or an expression in i (1-based agent index)"


class ScaledTimeConfig(Params):
    """A per-agent value: ``h`` for compute models (seconds per transition), ``time`` for
    communication models (seconds per vector, where expressions may also use d).

    A subclass either names its :attr:`time_model` or writes its own :meth:`build`."""

    h: PerAgent | None = Field(None, description=f"compute models: h_i, {_PER_AGENT}")
    time: PerAgent | None = Field(
        None, description=f"communication models: κ_i, {_PER_AGENT} (and d, the dimension)"
    )

    time_model: ClassVar[type[TimeModel]]
    """The model :meth:`build` makes: ``time_model(values, *parameters)``, the n per-agent
    values and the subclass's own fields (besides ``kind``), in their order (e.g.
    ``LogNormalTimes(s, sigma)``)."""

    def build(self, n: int, field: str, role: str, dim: int = 1) -> TimeModel:
        shared = {*ScaledTimeConfig.model_fields, "kind"}
        parameters = [getattr(self, name) for name in type(self).model_fields if name not in shared]
        return self.time_model(self.values(n, field, role, dim), *parameters)

    def values(self, n: int, field: str, role: str, dim: int) -> np.ndarray:
        """The n per-agent values of the field this role reads, checked."""
        return per_agent_values(
            self.value(field, role), n, f"{field}.{value_name(role)}", _constants(role, dim)
        )

    def value(self, field: str, role: str) -> PerAgent:
        """``h`` (compute) or ``time`` (communication); the other one must be absent."""
        name = value_name(role)
        wrong = "time" if name == "h" else "h"
        if getattr(self, wrong) is not None:
            raise ConfigError(f"{field}.{wrong}", f"not used by {role} models; give {name!r}")
        value = getattr(self, name)
        if value is None:
            raise ConfigError(f"{field}.{name}", f"required for kind {self.kind!r}")
        return value


def value_name(role: str) -> str:
    """The field a time model of ``role`` reads: ``h`` (compute) or ``time`` (communication)."""
    return "h" if role == "compute" else "time"


def _constants(role: str, dim: int) -> dict[str, float] | None:
    """Names an expression may use besides i: d for communication models (κ_i = √i·d^{1/4})."""
    return {"d": float(dim)} if role == "communication" else None


class FixedTimeConfig(ScaledTimeConfig):
    """Deterministic per-agent times."""

    kind: Literal["fixed"] = "fixed"
    time_model = FixedTimes


class ExponentialTimeConfig(ScaledTimeConfig):
    """Exp with mean = the per-agent value."""

    kind: Literal["exponential"]
    time_model = ExponentialTimes


class LogNormalTimeConfig(ScaledTimeConfig):
    """LogNormal with mean = the per-agent value."""

    kind: Literal["lognormal"]
    sigma: NonNegative = Field(0.5, description="standard deviation of the log")
    time_model = LogNormalTimes


class UniformTimeConfig(ScaledTimeConfig):
    """U[s(1 − spread), s(1 + spread)], s the per-agent value."""

    kind: Literal["uniform"]
    spread: Annotated[float, Field(ge=0, le=1)] = Field(0.5, description="half-width / mean")
    time_model = UniformTimes


class TruncatedNormalTimeConfig(ScaledTimeConfig):
    """N(s, (cv·s)²) truncated at 0, s the per-agent value."""

    kind: Literal["truncated_normal"]
    cv: NonNegative = Field(0.5, description="coefficient of variation before truncation")
    time_model = TruncatedNormalTimes


class GammaTimeConfig(ScaledTimeConfig):
    """Gamma(shape, s/shape), mean s the per-agent value."""

    kind: Literal["gamma"]
    shape: Annotated[float, Field(gt=0)] = Field(2.0, description="shape parameter k")
    time_model = GammaTimes


class VaryingTimeConfig(ScaledTimeConfig):
    """Iteration-varying h_{i,k}: an expression in i and k (Theorem 4.3)."""

    kind: Literal["varying"]

    def build(self, n: int, field: str, role: str, dim: int = 1) -> TimeModel:
        value = self.value(field, role)
        where = f"{field}.{value_name(role)}"
        if not isinstance(value, str):
            raise ConfigError(where, f"must be an expression in i and k, got {value!r}")
        return VaryingTimes(value, n, where)


class TraceTimeConfig(Params):
    """Durations from a CSV file with columns agent, k, duration."""

    kind: Literal["trace"]
    path: str = Field(description="CSV file with columns agent (1..n), k, duration")

    def build(self, n: int, field: str, role: str, dim: int = 1) -> TimeModel:
        return read_trace(self.path, n, f"{field}.path")


class BandwidthTimeConfig(Params):
    """Communication only: κ_i = latency_i + 4·d / bandwidth_i (float32 vectors)."""

    kind: Literal["bandwidth"]
    latency: PerAgent = Field(0.0, description=f"seconds per message, {_PER_AGENT}")
    bandwidth: PerAgent = Field(description=f"bytes per second, {_PER_AGENT}")

    def build(self, n: int, field: str, role: str, dim: int = 1) -> TimeModel:
        if role == "compute":
            raise ConfigError(f"{field}.kind", "'bandwidth' is a communication model only")
        bandwidth = per_agent_values(self.bandwidth, n, f"{field}.bandwidth")
        if (bandwidth <= 0).any():
            raise ConfigError(f"{field}.bandwidth", f"must be > 0, got {bandwidth.min()}")
        return bandwidth_times(
            per_agent_values(self.latency, n, f"{field}.latency"), bandwidth, dim
        )


for _config, _text in (
    (
        FixedTimeConfig,
        "per-agent value: number, list of n numbers, or expression in i (and d for communication)",
    ),
    (ExponentialTimeConfig, "Exp with mean = the value"),
    (LogNormalTimeConfig, "LogNormal with mean = the value and log-std `sigma` (default 0.5)"),
    (UniformTimeConfig, "U[s·(1-spread), s·(1+spread)], spread in [0, 1] (default 0.5)"),
    (TruncatedNormalTimeConfig, "N(s, (cv·s)²) truncated at 0, cv default 0.5"),
    (GammaTimeConfig, "Gamma(shape, s/shape), mean = s, shape default 2"),
    (VaryingTimeConfig, "iteration-varying h_{i,k}: expression in i and k (Theorem 4.3)"),
    (TraceTimeConfig, "CSV file with columns agent, k, duration"),
    (BandwidthTimeConfig, "communication only: latency_i + 4·d / bandwidth_i"),
):
    register_time_model(get_args(_config.model_fields["kind"].annotation)[0], _config, _text)
