"""asyncsim: exact wall-clock simulation of asynchronous distributed RL and optimization methods.

``asyncsim.simulate(scenario)`` runs a scenario (a YAML path, a mapping or a Scenario) and
returns a RunResult. Plug-ins extend asyncsim through the names below (see README, "Extending"):
``register_method``, ``register_protocol``, ``register_optimizer``, ``register_oracle``,
``register_time_model`` and ``register_topology`` (with ``TopologyContext``), the bases
``Params``, ``CollectionRule``, ``GradientOracle`` and ``TimeModel``, and the checkers
``check_oracle`` and ``check_method``. The package imports lazily, so ``import asyncsim.theory``
stays free of simpy, torch and gymnasium.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "simulate": "asyncsim.runner",
    "RunResult": "asyncsim.runner",
    "load_run": "asyncsim.tables",
    "load_sweep": "asyncsim.tables",
    "register_method": "asyncsim.core.registry",
    "register_protocol": "asyncsim.core.registry",
    "register_optimizer": "asyncsim.core.registry",
    "register_oracle": "asyncsim.core.registry",
    "register_time_model": "asyncsim.core.registry",
    "register_topology": "asyncsim.core.registry",
    "TopologyContext": "asyncsim.core.registry",
    "Params": "asyncsim.core.registry",
    "Context": "asyncsim.core.registry",
    "Training": "asyncsim.core.training",
    "CollectionRule": "asyncsim.core.engine",
    "BatchParams": "asyncsim.methods.protocol",
    "rounds": "asyncsim.methods.protocol",
    "batch_exact_round": "asyncsim.methods.protocol",
    "Optimizer": "asyncsim.core.optimizer",
    "nigt": "asyncsim.methods.optimizers",
    "sgd": "asyncsim.methods.optimizers",
    "GradientOracle": "asyncsim.core.oracle",
    "GradientJob": "asyncsim.core.oracle",
    "GradientRequest": "asyncsim.core.oracle",
    "GradientResult": "asyncsim.core.oracle",
    "average": "asyncsim.core.oracle",
    "GradientNoise": "asyncsim.oracles.synthetic",
    "TimeModel": "asyncsim.timing",
    "ScaledTimeConfig": "asyncsim.timing",
    "check_oracle": "asyncsim.checks",
    "check_method": "asyncsim.checks",
    "load_plugin": "asyncsim.plugins",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'asyncsim' has no attribute {name!r}")
