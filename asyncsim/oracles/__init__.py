"""Gradient oracles and the factory that builds one from a scenario's ``oracle`` block."""

from __future__ import annotations

import numpy as np

from asyncsim.config import (
    NonconvexOracleConfig,
    PolicyGradientOracleConfig,
    QuadraticOracleConfig,
)
from asyncsim.oracles.base import GradientOracle

__all__ = ["ORACLES", "build_oracle"]

ORACLES: dict[str, str] = {
    "quadratic": "noisy quadratic with known L, σ², Δ (optional heterogeneous centres)",
    "nonconvex": "smooth nonconvex Σ (c/2)x² + a sin²(x) with known L, L_h, σ², Δ",
    "policy_gradient": "GPOMDP policy gradients on a Gymnasium/MuJoCo environment",
}


def build_oracle(
    config: QuadraticOracleConfig | NonconvexOracleConfig | PolicyGradientOracleConfig,
    n_agents: int,
    seed: np.random.SeedSequence,
) -> GradientOracle:
    """Instantiate the oracle of ``config`` for n agents (torch is imported only for RL)."""
    from asyncsim.oracles.synthetic import NonconvexOracle, QuadraticOracle

    if isinstance(config, PolicyGradientOracleConfig):
        from asyncsim.oracles.policy_gradient import PolicyGradientOracle

        return PolicyGradientOracle(
            config.env,
            n_agents,
            seed,
            horizon=config.horizon,
            discount=config.discount,
            policy=config.policy.kind,
            hidden=tuple(config.policy.hidden),
            action_scale=config.policy.action_scale,
            baseline=config.baseline,
            env_kwargs=config.env_kwargs,
            heterogeneity=config.heterogeneity,
            agent_overrides=None
            if config.agents is None
            else [a.model_dump(exclude_none=True) for a in config.agents],
            workers=config.workers,
        )
    params = config.model_dump(exclude={"kind"})
    cls = QuadraticOracle if isinstance(config, QuadraticOracleConfig) else NonconvexOracle
    return cls(n_agents=n_agents, seed=seed, **params)
