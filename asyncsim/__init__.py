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
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

__version__ = "0.1.0"

_API = {
    "simulate": "asyncsim.run.runner",
    "RunResult": "asyncsim.store.run_data",
    "load_run": "asyncsim.analysis.tables:load_run_frame",
    "load_sweep": "asyncsim.analysis.tables",
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
    "TimeModel": "asyncsim.timing.models",
    "ScaledTimeConfig": "asyncsim.timing.models",
    "check_oracle": "asyncsim.run.checks",
    "check_method": "asyncsim.run.checks",
    "load_plugin": "asyncsim.core.plugins",
}
"""Public name → the module that defines it, as ``module:attribute`` where the name there
differs (``asyncsim.load_run`` is the DataFrame of
:func:`asyncsim.analysis.tables.load_run_frame`)."""
__all__ = ["__version__", *_API]


MOVED = {
    "asyncsim.errors": "asyncsim.core.errors",
    "asyncsim.linalg": "asyncsim.core.linalg",
    "asyncsim.plugins": "asyncsim.core.plugins",
    "asyncsim.expressions": "asyncsim.timing.expressions",
    "asyncsim.config": "asyncsim.scenario.schema",
    "asyncsim.guards": "asyncsim.scenario.guards",
    "asyncsim.scenario_parts": "asyncsim.scenario.parts",
    "asyncsim.runner": "asyncsim.run.runner",
    "asyncsim.recorder": "asyncsim.run.recorder",
    "asyncsim.progress": "asyncsim.run.progress",
    "asyncsim.lifeline": "asyncsim.core.lifeline",
    "asyncsim.sweep": "asyncsim.run.sweep",
    "asyncsim.sweep_grid": "asyncsim.scenario.sweep_grid",
    "asyncsim.sweep_executors": "asyncsim.run.sweep_executors",
    "asyncsim.tune": "asyncsim.run.tune",
    "asyncsim.checks": "asyncsim.run.checks",
    "asyncsim.results": "asyncsim.store.runs",
    "asyncsim.csvtables": "asyncsim.core.csvtables",
    "asyncsim.files": "asyncsim.core.files",
    "asyncsim.locks": "asyncsim.store.locks",
    "asyncsim.recorded": "asyncsim.store.recorded",
    "asyncsim.run_data": "asyncsim.store.run_data",
    "asyncsim.sweep_index": "asyncsim.store.sweep_index",
    "asyncsim.bounds": "asyncsim.analysis.bounds",
    "asyncsim.fitting": "asyncsim.analysis.fitting",
    "asyncsim.tables": "asyncsim.analysis.tables",
    "asyncsim.report": "asyncsim.analysis.report",
    "asyncsim.plots": "asyncsim.analysis.plots",
    "asyncsim.intervals": "asyncsim.analysis.intervals",
    "asyncsim.registry": "asyncsim.core.registry",
    "asyncsim.oracles.base": "asyncsim.core.oracle",
    "asyncsim.engine.trace": "asyncsim.core.trace",
}
"""Module paths that scripts and plug-ins import → where the module lives now: importing the
old path gives the very same module object (its functions, and what a test patches on it)."""


class _MovedModuleLoader(importlib.abc.Loader):
    """Loads a moved path as the module at its new place (:data:`MOVED`)."""

    def __init__(self, place: str) -> None:
        self.place = place

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.place)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module at its new place is already imported; the import system
        has set its ``__spec__`` to the old path's, which is put back."""
        module.__spec__ = self.spec


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the paths of :data:`MOVED` (after the files, so nothing on disk is shadowed)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        place = MOVED.get(name)
        return (
            None
            if place is None
            else importlib.util.spec_from_loader(name, _MovedModuleLoader(place))
        )


sys.meta_path.append(_MovedModuleFinder())


def __getattr__(name: str) -> Any:
    if name in _API:
        module, _, attribute = _API[name].partition(":")
        return getattr(importlib.import_module(module), attribute or name)
    raise AttributeError(f"module 'asyncsim' has no attribute {name!r}")
