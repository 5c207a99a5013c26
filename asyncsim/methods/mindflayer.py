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
from asyncsim.core.errors import ConfigError
from asyncsim.core.registry import Context, ProtocolSpec
from asyncsim.methods.protocol import BatchParams, closed_form_round, rounds
from asyncsim.methods.rennala import RennalaRule
from asyncsim.timing.models import per_agent_values

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
            patience = per_agent_values(params.patience, context.n, f"{context.field}.patience")
            _check_some_finish(patience, context)
        return params

    def patience_of(self, n: int) -> np.ndarray:
        """t_i for the n agents (infinite without a patience)."""
        if self.patience is None:
            return np.full(n, np.inf)
        return per_agent_values(self.patience, n, "patience")


def _check_some_finish(patience: np.ndarray, context: Context) -> None:
    """Refuse a patience under which no computation ever finishes, so that no round would end:
    every t_i = 0 (a computation is abandoned as it starts), or, for fixed compute times,
    τ_i > t_i for every agent i."""
    tau = context.tau
    hopeless = not patience.any() or (tau is not None and bool(np.all(tau > patience)))
    if not hopeless:
        return
    times = "" if tau is None else f"; the shortest compute time τ_i = h_i·H is {tau.min():g} s"
    raise ConfigError(
        f"{context.field}.patience",
        f"every agent abandons every computation (largest patience {patience.max():g} s"
        f"{times}), so no round would ever end; give some agent a patience of at least its "
        "compute time",
    )


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
    batch = params.batch_of(iteration)
    return closed_form_round(theory.rennala_collection_exact, times, start, batch, tau=tau)


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
