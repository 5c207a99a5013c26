"""One method's run as its protocol sees it: the engine, the update rule, the parameters, and
where updates are reported.

A protocol ``train(run)`` receives a :class:`Training`; it drives ``run.sim`` (an
:class:`~asyncsim.core.engine.Engine`) and reports every update with :meth:`Training.updated`,
which also says when the budget is spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from numpy import ndarray

from asyncsim.core.engine import Engine
from asyncsim.core.optimizer import Optimizer
from asyncsim.core.oracle import GradientResult

__all__ = ["Recorder", "Training"]


class Recorder(Protocol):
    """Where updates go (the iteration table and the budget,
    :class:`asyncsim.run.recorder.IterationRecorder`)."""

    def record(
        self, iteration: int, start: float, gradient: GradientResult, model: ndarray, **columns: Any
    ) -> bool:
        """Append update ``iteration``'s row; True when the run ends."""
        ...


@dataclass
class Training:
    """One method's run as its protocol sees it.

    Attributes:
        sim: the engine (``collect`` for rounds; ``dispatch``/``next_arrival`` for servers;
            ``now``, ``cluster.n``, ``oracle.initial_point()``).
        optimizer: the method's update rule, hyper-parameters bound.
        params: the method's resolved parameters (protocol and optimizer fields).
        recorder: the iteration table and budget.
    """

    sim: Engine
    optimizer: Optimizer
    params: Any
    recorder: Recorder

    def updated(
        self, iteration: int, start: float, gradient: GradientResult, model: ndarray, **columns: Any
    ) -> bool:
        """Report update ``iteration`` (applied now, begun at ``start``, from ``gradient``, giving
        ``model``): trace it, append its row (with protocol ``columns``); True when the run ends."""
        self.sim.record_update(iteration)
        return self.recorder.record(iteration, start, gradient, model, **columns)
