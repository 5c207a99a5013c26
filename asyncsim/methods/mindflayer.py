"""MindFlayer SGD (Maranjyan, Omar, Richtárik, arXiv 2410.04285; docs/algorithms.md §7).

For random compute times. Rounds as in Rennala SGD (Algorithm 2), but every agent has a
patience t_i:

    broadcast θ; every agent starts computing at θ
    a computation still running t_i seconds after it started is abandoned (its work is lost) and
        the agent starts a new one at θ
    when M gradients are in: stop (running computations are discarded); ĝ = (1/M) Σ_i g_i

[choice] The paper gives each agent a quota of B_i tries per round and waits for all of them;
asyncsim keeps Rennala's stop at the M-th gradient, so that infinite patience is exactly Rennala
SGD and a finite one only adds the abandoning. For fixed times an agent with τ_i > t_i never
delivers; the others behave as in Rennala: the exact round is Rennala's without those agents.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from asyncsim import theory
from asyncsim.methods.protocol import BatchParams, rounds
from asyncsim.methods.rennala import RennalaRule
from asyncsim.registry import Context, ProtocolSpec
from asyncsim.timing import per_agent_values

__all__ = ["PROTOCOL", "MindFlayerParams", "MindFlayerRule"]


class MindFlayerParams(BatchParams):
    """Rennala's batches and every agent's patience."""

    patience: float | str | list[float] | None = Field(
        None,
        description="t_i: seconds after which agent i abandons a computation; a number, a list "
        "of n, or an expression in i (default: never)",
    )

    def resolve(self, context: Context) -> MindFlayerParams:
        params = super().resolve(context)
        if params.patience is not None:  # checked once here, with the field's path
            per_agent_values(params.patience, context.n, f"{context.field}.patience")
        return params

    def patience_of(self, n: int) -> np.ndarray:
        """t_i for the n agents (infinite without a patience)."""
        if self.patience is None:
            return np.full(n, np.inf)
        return per_agent_values(self.patience, n, "patience")


class MindFlayerRule(RennalaRule):
    """Rennala's stop and weights; agent i gives up after t_i seconds."""

    def __init__(self, n: int, params: MindFlayerParams, iteration: int) -> None:
        super().__init__(n, params, iteration)
        self._patience = params.patience_of(n)

    def patience(self, agent: int) -> float | None:
        value = float(self._patience[agent])
        return None if value == np.inf else value


def exact_round(
    times: theory.AgentTimes, params: MindFlayerParams, iteration: int, start: float = 0.0
) -> theory.Collection:
    """Rennala's round among the agents with τ_i <= t_i, for fixed times."""
    tau = np.where(times.tau <= params.patience_of(times.tau.size), times.tau, np.inf)
    return theory.rennala_collection_exact(
        tau, params.batch_of(iteration), start + times.offsets, times.uplink,
        times.topology, times.allreduce,
    )  # fmt: skip


PROTOCOL = ProtocolSpec(
    name="mindflayer",
    description="Rennala rounds where agent i abandons a computation after t_i seconds",
    train=rounds(MindFlayerRule),
    params=MindFlayerParams,
    family="MindFlayer",
    exact_round=exact_round,
    shapes={"sgd": "rennala_sgd"},
    scaling="harmonic-like (fixed times)",
)
