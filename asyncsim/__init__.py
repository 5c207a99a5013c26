"""asyncsim: exact wall-clock simulation of asynchronous distributed RL methods.

``asyncsim.simulate(scenario)`` runs a scenario (a YAML path, a mapping or a Scenario) and
returns a RunResult. The package imports lazily, so ``import asyncsim.theory`` stays free of
simpy, torch and gymnasium.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["RunResult", "__version__", "simulate"]


def __getattr__(name: str) -> Any:
    if name in ("simulate", "RunResult"):
        from asyncsim import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'asyncsim' has no attribute {name!r}")
