"""Both engines implement the engine port that protocols are written against."""

from __future__ import annotations

import inspect

import pytest

from asyncsim.core.engine import Engine
from asyncsim.core.training import Training
from asyncsim.emulation.engine import EmulatedEngine
from asyncsim.engine.simulation import Simulation
from asyncsim.runner import run_method, simulation

PORT_METHODS = sorted(
    name for name, value in vars(Engine).items() if not name.startswith("_") and callable(value)
)


def test_the_port_names_what_protocols_use() -> None:
    assert PORT_METHODS == [
        "collect",
        "dispatch",
        "drive",
        "next_arrival",
        "record_update",
        "restart",
    ]
    assert {"cluster", "oracle", "trace", "counters"} <= set(Engine.__annotations__)
    assert inspect.get_annotations(Training)["sim"] == "Engine"


@pytest.mark.parametrize("engine", [Simulation, EmulatedEngine])
def test_each_engine_implements_the_port(engine: type) -> None:
    for name in [*PORT_METHODS, "now"]:
        assert hasattr(engine, name), f"{engine.__name__} lacks {name}"
    for name in PORT_METHODS:
        port = list(inspect.signature(getattr(Engine, name)).parameters)
        ours = list(inspect.signature(getattr(engine, name)).parameters)
        assert ours == port, f"{engine.__name__}.{name}{ours} differs from the port's {port}"


def test_run_method_takes_any_engine() -> None:
    """One wiring: the engine is a parameter; a wrapper engine sees the whole run."""
    from asyncsim.config import validate_scenario

    scenario = validate_scenario(
        {
            "name": "port",
            "oracle": {"kind": "quadratic", "dim": 3},
            "cluster": {"n": 3, "compute": {"kind": "fixed", "h": 1}},
            "methods": [{"name": "rennala_nigt"}],
            "budget": {"iterations": 4},
        }
    )
    made = []

    def counting(scenario, cluster, oracle):  # type: ignore[no-untyped-def]
        made.append(simulation(scenario, cluster, oracle))
        return made[-1]

    ours, default = run_method(scenario, 0, counting), run_method(scenario, 0)
    assert len(made) == 1 and made[0].now == ours.summary["total_time"]
    assert ours.rows == default.rows and ours.trace == default.trace
    assert ours.model is not None
