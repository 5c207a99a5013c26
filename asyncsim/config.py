"""The scenario schema (pydantic v2, frozen): the only module that knows what a scenario holds.

``validate_scenario(data)`` turns a plain mapping into a :class:`Scenario`, converting every
validation failure into a one-line :class:`~asyncsim.errors.ConfigError` that names the field path
and the offending value, and runs the checks that need several fields at once (list lengths
against n, expressions, horizons). ``build_time_model`` turns a time-model block into a
:mod:`asyncsim.timing` model.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from asyncsim.errors import ConfigError
from asyncsim.timing import (
    DISTRIBUTIONS,
    FixedTimes,
    RandomTimes,
    TimeModel,
    VaryingTimes,
    bandwidth_times,
    per_agent_values,
    read_trace,
)

__all__ = [
    "TIME_MODEL_KINDS",
    "BudgetConfig",
    "ClusterConfig",
    "MethodConfig",
    "Scenario",
    "build_time_model",
    "validate_scenario",
]

SCHEMA_VERSION = 1
PerAgent = float | str | list[float]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegative = Annotated[float, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---------------------------------------------------------------- time models

TIME_MODEL_KINDS: dict[str, str] = {
    "fixed": "per-agent value: number, list of n numbers, or expression in i (and d for comms)",
    **DISTRIBUTIONS,
    "varying": "iteration-varying h_{i,k}: expression in i and k (Theorem 4.3)",
    "trace": "CSV file with columns agent, k, duration",
    "bandwidth": "communication only: latency_i + 4·d / bandwidth_i",
}
_SHAPE_DEFAULTS = {"lognormal": 0.5, "uniform": 0.5, "truncated_normal": 0.5, "gamma": 2.0}


class TimeModelConfig(_Model):
    """One time model. Compute models give ``h`` (seconds per transition); communication models
    give ``time`` (seconds per vector). Distribution parameters: ``sigma`` (lognormal),
    ``spread`` (uniform), ``cv`` (truncated_normal), ``shape`` (gamma)."""

    kind: Literal[
        "fixed",
        "exponential",
        "lognormal",
        "uniform",
        "truncated_normal",
        "gamma",
        "varying",
        "trace",
        "bandwidth",
    ] = "fixed"
    h: PerAgent | None = None
    time: PerAgent | None = None
    sigma: NonNegative | None = None
    spread: Annotated[float, Field(ge=0, le=1)] | None = None
    cv: NonNegative | None = None
    shape: Annotated[float, Field(gt=0)] | None = None
    path: str | None = None
    latency: PerAgent | None = None
    bandwidth: PerAgent | None = None

    def shape_parameter(self) -> float:
        """The one shape parameter of the distribution (its default where not given)."""
        given = {"lognormal": self.sigma, "uniform": self.spread}.get(self.kind)
        given = given if given is not None else {"truncated_normal": self.cv}.get(self.kind)
        given = given if given is not None else (self.shape if self.kind == "gamma" else None)
        return given if given is not None else _SHAPE_DEFAULTS.get(self.kind, 0.5)


def build_time_model(
    config: TimeModelConfig, n: int, field: str, role: str, dim: int = 1
) -> TimeModel:
    """Build the timing model of ``config`` for n agents.

    Args:
        config: the validated block.
        n: number of agents.
        field: its path in the scenario, for error messages (``cluster.compute``).
        role: ``"compute"`` (reads ``h``) or ``"communication"`` (reads ``time``).
        dim: vector dimension d, for the bandwidth model.
    """
    name = "h" if role == "compute" else "time"
    if config.kind == "trace":
        if config.path is None:
            raise ConfigError(f"{field}.path", "required for kind 'trace'")
        return read_trace(config.path, n, f"{field}.path")
    if config.kind == "bandwidth":
        return _bandwidth_model(config, n, field, role, dim)
    value = config.h if role == "compute" else config.time
    wrong = "time" if role == "compute" else "h"
    if getattr(config, wrong) is not None:
        raise ConfigError(f"{field}.{wrong}", f"not used by {role} models; give {name!r}")
    if value is None:
        raise ConfigError(f"{field}.{name}", f"required for kind {config.kind!r}")
    if config.kind == "varying":
        if not isinstance(value, str):
            raise ConfigError(f"{field}.{name}", f"must be an expression in i and k, got {value!r}")
        return VaryingTimes(value, n, f"{field}.{name}")
    constants = {"d": float(dim)} if role == "communication" else None
    values = per_agent_values(value, n, f"{field}.{name}", constants)
    if config.kind == "fixed":
        return FixedTimes(values)
    return RandomTimes(config.kind, values, config.shape_parameter())


def _bandwidth_model(config: TimeModelConfig, n: int, field: str, role: str, dim: int) -> TimeModel:
    if role == "compute":
        raise ConfigError(f"{field}.kind", "'bandwidth' is a communication model only")
    if config.bandwidth is None:
        raise ConfigError(f"{field}.bandwidth", "required for kind 'bandwidth' (bytes/s)")
    bandwidth = per_agent_values(config.bandwidth, n, f"{field}.bandwidth")
    if (bandwidth <= 0).any():
        raise ConfigError(f"{field}.bandwidth", f"must be > 0, got {bandwidth.min()}")
    latency = per_agent_values(config.latency or 0.0, n, f"{field}.latency")
    return bandwidth_times(latency, bandwidth, dim)


# ---------------------------------------------------------------- oracles


class QuadraticOracleConfig(_Model):
    """f(x) = ½ (x − c_i)ᵀ A (x − c_i) per agent, A diagonal with eigenvalues log-spaced in
    [min_curvature, smoothness]; centres c_i average to 0, with RMS norm ``heterogeneity``."""

    kind: Literal["quadratic"]
    dim: PositiveInt = 10
    noise: NonNegative = 1.0
    noise_distribution: Literal["gaussian", "student_t"] = "gaussian"
    df: Annotated[float, Field(gt=2)] = 3.0
    smoothness: Annotated[float, Field(gt=0)] = 1.0
    min_curvature: Annotated[float, Field(gt=0)] = 0.1
    init_scale: float = 1.0
    heterogeneity: NonNegative = 0.0


class NonconvexOracleConfig(_Model):
    """f(x) = Σ_j (c/2) x_j² + a sin²(x_j): L = c + 2a, L_h = 4a, nonconvex if 2a > c."""

    kind: Literal["nonconvex"]
    dim: PositiveInt = 10
    noise: NonNegative = 1.0
    noise_distribution: Literal["gaussian", "student_t"] = "gaussian"
    df: Annotated[float, Field(gt=2)] = 3.0
    curvature: Annotated[float, Field(gt=0)] = 1.0
    ripple: NonNegative = 2.0
    init_scale: float = 3.0


class PolicyConfig(_Model):
    """The policy network: the paper's Gaussian MLP or a linear Gaussian policy."""

    kind: Literal["mlp", "linear"] = "mlp"
    hidden: list[PositiveInt] = [64, 64]
    action_scale: Annotated[float, Field(gt=0)] | None = None


class AgentEnvConfig(_Model):
    """Per-agent environment override (heterogeneous environments)."""

    env: str | None = None
    env_kwargs: dict[str, Any] = {}


class PolicyGradientOracleConfig(_Model):
    """Real policy gradients (GPOMDP) on a Gymnasium environment."""

    kind: Literal["policy_gradient"]
    env: str = "Pendulum-v1"
    env_kwargs: dict[str, Any] = {}
    heterogeneity: Literal["none", "inverted_observation"] = "none"
    agents: list[AgentEnvConfig] | None = None
    horizon: PositiveInt = 1000
    discount: Annotated[float, Field(gt=0, le=1)] = 0.99
    policy: PolicyConfig = PolicyConfig()
    baseline: bool = False
    workers: PositiveInt | None = None


OracleConfig = Annotated[
    QuadraticOracleConfig | NonconvexOracleConfig | PolicyGradientOracleConfig,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- cluster


class OutageConfig(_Model):
    """Agent ``agent`` (1-based) is unavailable during [start, end)."""

    agent: PositiveInt
    start: NonNegative
    end: NonNegative

    @model_validator(mode="after")
    def _ordered(self) -> OutageConfig:
        if self.end <= self.start:
            raise ValueError(f"end must be > start ({self.start}), got {self.end}")
        return self


class ClusterConfig(_Model):
    """n agents, their compute and communication time models, and the topology (SPEC §4)."""

    n: PositiveInt
    horizon: PositiveInt | None = None
    timing: Literal["per_trajectory", "per_step"] = "per_trajectory"
    compute: TimeModelConfig = TimeModelConfig(h=1.0)
    uplink: TimeModelConfig = TimeModelConfig(time=0.0)
    downlink: TimeModelConfig | None = None
    topology: Literal["server", "allreduce"] = "server"
    allreduce: Literal["max", "ring"] = "max"
    outages: list[OutageConfig] = []


# ---------------------------------------------------------------- methods, budget, output


class MethodDefaults(_Model):
    """Method fields shared by every method of a scenario unless a method overrides them."""

    lr: Annotated[float, Field(gt=0)] | None = None
    momentum: Annotated[float, Field(gt=0, le=1)] | None = None
    batch: PositiveInt | None = None
    initial_batch: PositiveInt | None = None


class MethodConfig(_Model):
    """One method = aggregation protocol × optimizer, by registry name (``asyncsim list``)."""

    name: str
    label: str | None = None
    lr: Annotated[float, Field(gt=0)] = 0.01
    momentum: Annotated[float, Field(gt=0, le=1)] = 0.1
    batch: PositiveInt | None = None
    initial_batch: PositiveInt | None = None

    @property
    def key(self) -> str:
        """Output name of the method: its label, else its registry name."""
        return self.label or self.name


class BudgetConfig(_Model):
    """Stop a run at whichever limit comes first. ``iterations`` counts updates after the
    initial one; ``time`` is simulated seconds; targets stop once reached."""

    iterations: Annotated[int, Field(ge=0)] | None = None
    time: Annotated[float, Field(gt=0)] | None = None
    transitions: PositiveInt | None = None
    gradients: PositiveInt | None = None
    target_return: float | None = None
    target_grad_norm: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> BudgetConfig:
        if all(v is None for v in (self.iterations, self.time, self.transitions, self.gradients)):
            raise ValueError("set at least one of iterations, time, transitions, gradients")
        return self


class EvaluationConfig(_Model):
    """Evaluation of the model θ (not the query point θ̃ where NIGT takes gradients), not
    charged simulated time: ``episodes`` episodes every ``every`` iterations, or, with
    ``period``, at the first update after each multiple of ``period`` simulated seconds (fair
    between methods whose updates differ in cost, e.g. AFedPG against Rennala NIGT)."""

    episodes: Annotated[int, Field(ge=0)] = 0
    every: PositiveInt = 10
    period: Annotated[float, Field(gt=0)] | None = None


class OutputConfig(_Model):
    """What a run writes besides the iteration table and summary."""

    trace: bool = True


class Scenario(_Model):
    """A complete, validated scenario."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    oracle: OracleConfig
    cluster: ClusterConfig
    method_defaults: MethodDefaults = MethodDefaults()
    methods: Annotated[list[MethodConfig], Field(min_length=1)]
    budget: BudgetConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    output: OutputConfig = OutputConfig()
    sweep: dict[str, list[Any]] | None = None

    @property
    def horizon(self) -> int:
        """Transitions per gradient H (cluster.horizon, else the oracle's, else 1)."""
        return self.cluster.horizon or getattr(self.oracle, "horizon", 1)


# ---------------------------------------------------------------- validation


def validate_scenario(data: Mapping[str, Any]) -> Scenario:
    """Validate a plain mapping into a Scenario, or raise a one-line ConfigError."""
    if not isinstance(data, Mapping):
        raise ConfigError("scenario", f"must be a mapping of fields, got {type(data).__name__}")
    data = _apply_method_defaults(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _to_config_error(exc) from None
    _check_cluster(scenario)
    _check_methods(scenario)
    return scenario


def _apply_method_defaults(data: Mapping[str, Any]) -> Mapping[str, Any]:
    defaults = data.get("method_defaults")
    methods = data.get("methods")
    if not isinstance(defaults, Mapping) or not isinstance(methods, list):
        return data
    given = {k: v for k, v in defaults.items() if v is not None}
    merged = [{**given, **m} if isinstance(m, Mapping) else m for m in methods]
    return {**data, "methods": merged}


def _check_cluster(scenario: Scenario) -> None:
    cluster, n = scenario.cluster, scenario.cluster.n
    oracle_horizon = getattr(scenario.oracle, "horizon", None)
    if cluster.horizon is not None and oracle_horizon not in (None, cluster.horizon):
        raise ConfigError(
            "cluster.horizon",
            f"must equal oracle.horizon ({oracle_horizon}) or be omitted, got {cluster.horizon}",
        )
    dim = getattr(scenario.oracle, "dim", 1)
    build_time_model(cluster.compute, n, "cluster.compute", "compute")
    build_time_model(cluster.uplink, n, "cluster.uplink", "communication", dim)
    if cluster.downlink is not None:
        build_time_model(cluster.downlink, n, "cluster.downlink", "communication", dim)
    for index, outage in enumerate(cluster.outages):
        if outage.agent > n:
            raise ConfigError(
                f"cluster.outages[{index}].agent", f"must be in 1..{n}, got {outage.agent}"
            )
    agents = getattr(scenario.oracle, "agents", None)
    if agents is not None and len(agents) != n:
        raise ConfigError("oracle.agents", f"list has {len(agents)} entries but n = {n}")


def _check_methods(scenario: Scenario) -> None:
    seen: dict[str, int] = {}
    for index, method in enumerate(scenario.methods):
        if method.key in seen:
            raise ConfigError(
                f"methods[{index}]",
                f"duplicate method {method.key!r} (also methods[{seen[method.key]}]); "
                "give one of them a distinct label",
            )
        seen[method.key] = index


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "finite_number": "must be a finite number",
    "missing": "required field is missing",
    "too_short": "must have at least {min_length} item(s)",
}


def _to_config_error(exc: ValidationError) -> ConfigError:
    error = _most_specific(exc.errors())
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    path = _format_path(loc)
    kind, ctx = error["type"], error.get("ctx", {})
    value = error.get("input")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _all_field_names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return ConfigError(path, f"unknown key{hint}")
    if kind == "union_tag_invalid":
        return ConfigError(
            f"{path}.kind", f"unknown kind {ctx.get('tag')!r}; valid: {ctx.get('expected_tags')}"
        )
    if kind == "literal_error":
        return ConfigError(path, f"must be one of {ctx.get('expected')}, got {value!r}")
    if kind == "missing":
        return ConfigError(path, _MESSAGES["missing"])
    template = _MESSAGES.get(kind)
    message = template.format(**ctx) if template else error["msg"].removeprefix("Value error, ")
    if kind == "value_error" and ", got " in message:  # the validator already named the value
        return ConfigError(path, message)
    return ConfigError(path, f"{message}, got {value!r}")


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
    return isinstance(part, str) and (
        part in {"quadratic", "nonconvex", "policy_gradient"}
        or part.startswith(("function-", "int", "float", "str", "list["))
    )


def _format_path(loc: list[object]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "scenario"


def _all_field_names() -> list[str]:
    models: list[type[BaseModel]] = [
        Scenario, TimeModelConfig, QuadraticOracleConfig, NonconvexOracleConfig,
        PolicyGradientOracleConfig, PolicyConfig, AgentEnvConfig, OutageConfig, ClusterConfig,
        MethodDefaults, MethodConfig, BudgetConfig, EvaluationConfig, OutputConfig,
    ]  # fmt: skip
    return sorted({name for model in models for name in model.model_fields})
