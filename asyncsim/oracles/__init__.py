"""Gradient oracles: the contract (:mod:`asyncsim.core.oracle`), its checker
(:mod:`asyncsim.oracles.check`), and the factory that builds one from a scenario's ``oracle``
block (the model registered for its ``kind`` builds it; see :mod:`asyncsim.config`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from asyncsim.core.oracle import GradientOracle

__all__ = ["build_oracle"]


def build_oracle(config: Any, n_agents: int, seed: np.random.SeedSequence) -> GradientOracle:
    """The oracle of a validated ``oracle`` block for n agents (torch is imported only for RL)."""
    return config.build(n_agents, seed)
