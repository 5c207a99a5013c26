"""The policy-gradient oracle: its scenario block (``oracle: {kind: policy_gradient, ...}``),
registered through the call a plug-in uses, beside its implementation (:mod:`.oracle`, GPOMDP on
Gymnasium environments). Validating a scenario imports no torch: the implementation is imported
when an oracle is built (or one of its names is asked for here).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from asyncsim.core.oracle import GradientOracle
from asyncsim.core.registry import Context, Params, register_oracle

__all__ = [
    "AgentEnvConfig",
    "PolicyConfig",
    "PolicyGradientOracle",
    "PolicyGradientOracleConfig",
    "RewardsToGo",
]

PositiveInt = Annotated[int, Field(ge=1)]

_IMPLEMENTATION = ("BASELINES", "PolicyGradientOracle", "RewardsToGo")
"""Names of :mod:`.oracle` that this module hands on (importing torch on first use)."""


def __getattr__(name: str) -> Any:
    if name in _IMPLEMENTATION:
        from asyncsim.oracles.policy_gradient import oracle

        return getattr(oracle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class PolicyConfig(Params):
    """The policy network: the paper's Gaussian MLP or a linear Gaussian policy."""

    kind: Literal["mlp", "linear"] = Field("mlp", description="network")
    hidden: list[PositiveInt] = Field([64, 64], description="hidden widths of the MLP")
    action_scale: Annotated[float, Field(gt=0)] | None = Field(
        None, description="c in a = c·tanh(u) (default: the action space's bound)"
    )


class AgentEnvConfig(Params):
    """Per-agent environment override (heterogeneous environments)."""

    env: str | None = Field(None, description="Gymnasium id of this agent's environment")
    env_kwargs: dict[str, Any] = Field({}, description="gymnasium.make keyword arguments")


class PolicyGradientOracleConfig(Params):
    """Real policy gradients (GPOMDP) on a Gymnasium environment."""

    kind: Literal["policy_gradient"]
    env: str = Field("Pendulum-v1", description="Gymnasium id")
    env_kwargs: dict[str, Any] = Field({}, description="gymnasium.make keyword arguments")
    heterogeneity: Literal["none", "inverted_observation"] = Field(
        "none", description="App. H.3: odd agents see (s, 0), even ones (−s, 1)"
    )
    agents: list[AgentEnvConfig] | None = Field(None, description="one entry per agent")
    horizon: PositiveInt = Field(1000, description="H, transitions per trajectory")
    discount: Annotated[float, Field(gt=0, le=1)] = Field(0.99, description="γ")
    policy: PolicyConfig = PolicyConfig()
    baseline: bool | Literal["none", "batch", "running"] = Field(
        "none",
        description="subtracted from the rewards-to-go: none (the paper's estimator), batch "
        "(leave-one-out mean of the request's other trajectories; true), running (the server's "
        "running mean, sent with the point; docs/algorithms.md §1)",
    )
    baseline_window: PositiveInt = Field(
        20, description="W: each trajectory the server takes moves the running baseline 1/W"
    )
    normalize_observations: bool = Field(
        False,
        description="policy inputs clip((s − m)/σ, ±10), m and σ of the states of 20 "
        "episodes of θ_0 (fixed for the run)",
    )
    workers: PositiveInt | None = Field(None, description="rollout processes (default: cores)")
    fast_path: bool = Field(
        True,
        description="step the MuJoCo tasks `asyncsim list` marks in MuJoCo's batch API "
        "(same trajectories; false: every environment through Gymnasium)",
    )

    sigma2: ClassVar[None] = None
    """The variance bound of a policy gradient is not known in closed form."""

    def resolve(self, context: Context) -> PolicyGradientOracleConfig:
        """Check, once per process and environment, that every agent's environment can be built
        here with its kwargs and that the Gaussian policy can act in it (1-D Box spaces)."""
        from asyncsim.rl.envs import agent_env_specs

        arguments = (
            context.n,
            self.env,
            self.env_kwargs,
            self.heterogeneity,
            self.agent_overrides,
            context.field,
            "agents",
        )
        if repr(arguments) not in _CHECKED_ENVS:  # a sweep validates every point
            agent_env_specs(*arguments)
            _CHECKED_ENVS.add(repr(arguments))
        return self

    @property
    def agent_overrides(self) -> list[dict[str, Any]] | None:
        """``agents`` as the oracle takes them (unset keys left out)."""
        if self.agents is None:
            return None
        return [agent.model_dump(exclude_none=True) for agent in self.agents]

    def build(self, n_agents: int, seed: np.random.SeedSequence) -> GradientOracle:
        from asyncsim.oracles.policy_gradient.oracle import PolicyGradientOracle

        return PolicyGradientOracle(
            self.env,
            n_agents,
            seed,
            horizon=self.horizon,
            discount=self.discount,
            policy=self.policy.kind,
            hidden=tuple(self.policy.hidden),
            action_scale=self.policy.action_scale,
            baseline=self.baseline,
            baseline_window=self.baseline_window,
            normalize_observations=self.normalize_observations,
            env_kwargs=self.env_kwargs,
            heterogeneity=self.heterogeneity,
            agent_overrides=self.agent_overrides,
            workers=self.workers,
            fast_path=self.fast_path,
        )


_CHECKED_ENVS: set[str] = set()
"""The environment checks already passed in this process: a check builds, resets and steps
each environment (2-6 ms warm for Pendulum, Hopper, Humanoid here, ~25 ms the first time), and
a sweep validates every point."""


register_oracle(
    "policy_gradient",
    PolicyGradientOracleConfig,
    "GPOMDP policy gradients on a Gymnasium/MuJoCo environment",
)
