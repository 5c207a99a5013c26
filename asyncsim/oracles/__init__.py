"""Gradient oracles: the built-in kinds, each a scenario block beside its implementation
(:mod:`.synthetic`, :mod:`.policy_gradient`), and the factory that builds one from a scenario's
``oracle`` block (the model registered for its ``kind`` builds it). The contract is
:mod:`asyncsim.core.oracle`; its checker :func:`asyncsim.run.checks.check_oracle`."""

from __future__ import annotations

from typing import Any

import numpy as np

from asyncsim.core.oracle import GradientOracle

__all__ = ["build_oracle"]


def build_oracle(config: Any, n_agents: int, seed: np.random.SeedSequence) -> GradientOracle:
    """The oracle of a validated ``oracle`` block for n agents (torch is imported only for RL)."""
    return config.build(n_agents, seed)
