"""Resource guards: the estimates are lower bounds of what runs really take, nothing shipped is
refused, the refusals name the field that drives them, and a stuck clock stops a run."""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY, deep_merge

from asyncsim import guards
from asyncsim.config import validate_scenario
from asyncsim.errors import AsyncSimError
from asyncsim.progress import Progress, throttled
from asyncsim.recorder import STUCK_MARGIN, watching
from asyncsim.results import write_run
from asyncsim.runner import simulate
from asyncsim.scenario import load_scenario_data
from asyncsim.sweep import expand_sweep

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted([*(ROOT / "scenarios").rglob("*.yaml"), *(ROOT / "examples").rglob("*.yaml")])
GIB = 2**30


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine of 24 GiB, whatever this one has."""
    monkeypatch.setattr(guards, "available_memory", lambda: (24.0 * GIB, "this machine's memory"))


def _scenario(**overrides: Any) -> Any:
    """TINY with ``overrides`` merged in; a given budget replaces TINY's whole."""
    data = deep_merge(TINY, overrides)
    data["budget"] = overrides.get("budget", TINY["budget"])
    return validate_scenario(data)


def _refusal(**overrides: Any) -> str:
    with pytest.raises(guards.ResourceError) as caught:
        guards.check(_scenario(**overrides))
    message = str(caught.value)
    assert "\n" not in message and len(message) <= 400
    return message


# ---------------------------------------------------------------- lower bounds


@pytest.mark.parametrize(
    ("method", "n", "trace"),
    [("rennala_nigt", 500, True), ("afedpg", 500, True), ("m_synchronous_sgd", 2000, False)],
)
def test_the_memory_bound_is_below_what_a_run_allocates(
    method: str, n: int, trace: bool, tmp_path: Path
) -> None:
    """Python's own allocations (tracemalloc, no allocator overhead) of a run, with and without
    a trace, are at least the bound and at most five times it; with its writing, more."""
    scenario = _scenario(
        cluster={"n": n, "compute": {"h": "sqrt(i)"}},
        methods=[{"name": method}],
        budget={"iterations": 10},
        output={"trace": trace},
    )
    bound = guards.estimate(scenario).bytes
    tracemalloc.start()
    try:
        result = simulate(scenario)
        _, running = tracemalloc.get_traced_memory()
        write_run(result, tmp_path / "run")  # orjson's buffers make writing look larger
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bound <= peak, (bound, peak)
    assert bound >= running / 5  # a lower bound, but not a vacuous one


def test_the_time_bound_is_below_the_real_time() -> None:
    scenario = _scenario(
        cluster={"n": 500, "compute": {"h": "sqrt(i)"}},
        methods=[{"name": "rennala_nigt", "batch": 100}, {"name": "afedpg"}],
        budget={"time": 300},
    )
    bound = guards.estimate(scenario).seconds
    start = time.perf_counter()
    simulate(scenario)
    assert bound <= time.perf_counter() - start


@pytest.mark.parametrize(
    ("hidden", "kind"), [([64, 64], "mlp"), ([3], "mlp"), ([], "mlp"), ([64], "linear")]
)
def test_the_parameter_bound_is_a_policy_with_one_input_and_one_action(
    hidden: list[int], kind: str
) -> None:
    from asyncsim.oracles.policy_gradient import PolicyConfig
    from asyncsim.rl.policy import make_policy

    policy = PolicyConfig(kind=kind, hidden=hidden)
    bound = guards.policy_parameters(policy)
    assert bound == make_policy(kind, 1, 1, hidden=hidden).num_params
    assert bound <= make_policy(kind, 11, 3, hidden=hidden).num_params


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_shipped_scenario_is_refused(
    path: Path, machine: None, restore_registries: None
) -> None:
    from asyncsim.plugins import trust_plugins

    trust_plugins()  # the examples' plug-ins are asyncsim's own files
    for point in expand_sweep(load_scenario_data(path)):
        estimate = guards.check(point.scenario)
        assert estimate.bytes < GIB and estimate.seconds < 60


def test_a_run_of_a_million_agents_is_allowed(machine: None) -> None:
    scenario = _scenario(cluster={"n": 10**6, "compute": {"h": 1}}, budget={"iterations": 10})
    estimate = guards.check(scenario)
    assert estimate.bytes > 10**6 * guards.AGENT_BYTES


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"methods": [{"name": "rennala_nigt", "batch": 10**10}]}, "methods[0].batch", "lists"),
        ({"methods": [{"name": "m_synchronous_sgd", "m": 4}]}, None, None),
        ({"oracle": {"dim": 10**9}}, "oracle.dim", "d = 1000000000"),
        ({"budget": {"iterations": 10**9}}, "budget.iterations", "iteration-table rows"),
        ({"budget": {"gradients": 10**13}, "output": {"trace": False}}, "budget.gradients",
         "simulation events"),
        ({"budget": {"time": 100}, "cluster": {"compute": {"h": 1e-300},
          "uplink": {"time": 0}}}, "budget.time", "1e-300 s per cycle"),
    ],
)  # fmt: skip
def test_the_refusal_names_the_field_that_drives_it(
    overrides: dict[str, Any], field: str | None, fragment: str | None, machine: None
) -> None:
    if field is None:
        guards.check(_scenario(**overrides))
        return
    message = _refusal(**overrides)
    assert message.startswith(f"{field}: ") and fragment in message
    assert "force=True runs it anyway" in message


def test_ten_million_agents_are_refused_before_anything_of_their_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guards, "available_memory", lambda: (4.0 * GIB, "this machine's memory"))
    scenario = _scenario()  # validating n = 10^7 would take seconds: set it afterwards
    many = scenario.model_copy(update={"cluster": scenario.cluster.model_copy(update={"n": 10**7})})
    with pytest.raises(guards.ResourceError) as caught:
        guards.check(many, "sweep point cluster.n=10000000")
    assert str(caught.value).startswith(
        "sweep point cluster.n=10000000: cluster.n: 10000000 agents at 800 B each: at least "
        "7.45 GiB; the run needs at least 7.45 GiB of memory, more than this machine's memory "
        "(4 GiB); force=True runs it anyway"
    )


def test_the_available_memory_respects_an_address_space_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = guards.resource.getrlimit
    limit = 6 * GIB
    monkeypatch.setattr(
        guards.resource,
        "getrlimit",
        lambda which: (limit, limit) if which == guards.resource.RLIMIT_AS else real(which),
    )
    available, source = guards.available_memory()
    assert source == "the address-space limit (ulimit -v)"
    assert 0 < available < limit


def test_agents_are_checked_before_validation_on_the_raw_value(machine: None) -> None:
    for raw in ("4e7", 4e7, 4 * 10**7):
        with pytest.raises(guards.ResourceError, match=r"^cluster\.n: 40000000 agents"):
            guards.check_agents(raw)
    for left_to_validation in (True, "many", None, [3], float("nan"), -5, 10**6):
        guards.check_agents(left_to_validation)


def test_the_sweep_size_is_checked_from_the_axes_alone() -> None:
    assert guards.check_sweep_size({"a": [0] * 1000, "b": [0] * 100}) == 100_000
    with pytest.raises(guards.ResourceError, match=r"^sweep: 100100 points \(1001 × 100\)"):
        guards.check_sweep_size({"a": [0] * 1001, "b": [0] * 100})


def test_a_clock_that_cannot_advance_is_refused_only_without_another_limit() -> None:
    still = {"cluster": {"compute": {"h": 0}, "uplink": {"time": 0}}}
    message = _refusal(budget={"time": 10}, **still)
    assert message.startswith("budget.time: the simulated clock cannot advance to 10 s")
    guards.check(_scenario(budget={"time": 10, "iterations": 5}, **still))


def test_outages_shorten_the_time_that_counts(machine: None) -> None:
    down = [{"agent": a, "start": 0, "end": 2e6} for a in (1, 2, 3, 4)]
    busy = guards.estimate(_scenario(budget={"time": 1e6}))
    idle = guards.estimate(
        _scenario(budget={"time": 1e6}, cluster={"outages": down, "uplink": {"time": 0.1}})
    )
    assert idle.seconds < busy.seconds / 1000


# ---------------------------------------------------------------- the clock at run time


@pytest.mark.parametrize(("method", "n"), [("rennala_nigt", 4), ("afedpg", 3)])
def test_a_stuck_clock_stops_the_run_with_one_line(method: str, n: int) -> None:
    scenario = _scenario(
        cluster={"n": n, "compute": {"h": 0}, "uplink": {"time": 0}},
        methods=[{"name": method}],
        budget={"time": 10},
    )
    with pytest.raises(AsyncSimError, match=r"^budget\.time: the simulated clock is stuck at 0 s"):
        simulate(scenario)  # the Python API does not guard; the recorder stops it
    rounds = method != "afedpg"
    stuck = STUCK_MARGIN + 1 + (0 if rounds else n)
    with pytest.raises(AsyncSimError, match=rf"\({stuck} updates in a row"):
        simulate(scenario)


def test_simultaneous_arrivals_of_many_agents_are_not_a_stuck_clock() -> None:
    n = 3 * STUCK_MARGIN  # all arrive at each instant: n - 1 updates in a row take no time
    result = simulate(
        _scenario(
            cluster={"n": n, "compute": {"h": 1.0}, "uplink": {"time": 0}},
            methods=[{"name": "afedpg"}],
            budget={"time": 3.5},
        )
    )
    assert result.methods["afedpg"].summary["iterations"] == 3 * n - 1


# ---------------------------------------------------------------- progress


def test_every_update_is_watched_and_progress_reaches_the_budget() -> None:
    seen: list[float] = []
    with watching(lambda recorder: seen.append(recorder.progress())):
        simulate(_scenario(budget={"iterations": 4}))
    assert seen == [0.0, 0.25, 0.5, 0.75, 1.0]
    simulate(_scenario())  # outside the block nothing is watched
    assert len(seen) == 5


def test_the_update_line_is_throttled() -> None:
    stream = io.StringIO()
    display = Progress(1, "methods", stream=stream, interval=0.0)
    with watching(throttled(lambda status: display.update("", status), 0.0)):
        simulate(_scenario(budget={"iterations": 2}))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1].startswith("0/1 methods | simulated 0 s | 0 iterations | running ")
    assert "rennala_nigt iteration 2, simulated " in lines[-1]
    assert " transitions, 100% of its budget, ETA 0:00 | real " in lines[-1]
    stream.truncate(0)
    quiet = Progress(1, "methods", stream=stream, interval=30.0)
    with watching(throttled(lambda status: quiet.update("", status), 0.0)):
        simulate(_scenario(budget={"iterations": 2}))  # none before the interval has passed
    assert stream.getvalue() == ""
