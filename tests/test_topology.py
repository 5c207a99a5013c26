"""Topologies computed right: an AllReduce is a collective of all n agents (agents without a
gradient take part with a zero vector), no event of a round precedes the end of its reduce, and
server-only protocols are refused under ``topology: allreduce``."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from asyncsim.cli import main
from asyncsim.config import validate_scenario
from asyncsim.errors import ConfigError
from asyncsim.runner import simulate


def reproducer(allreduce: str, **overrides: Any) -> dict[str, Any]:
    """n = 2, h = (1, 10), H = 1, κ = (1, 1), Rennala with M = M_init = 1: only agent 1 ever
    contributes, yet the collective involves both agents."""
    return {
        "name": "allreduce",
        "oracle": {"kind": "quadratic", "dim": 2},
        "cluster": {
            "n": 2,
            "horizon": 1,
            "compute": {"kind": "fixed", "h": [1.0, 10.0]},
            "uplink": {"kind": "fixed", "time": [1.0, 1.0]},
            "topology": "allreduce",
            "allreduce": allreduce,
        },
        "methods": [{"name": "rennala_nigt", "batch": 1, "initial_batch": 1}],
        "budget": {"iterations": 4},
        **overrides,
    }


@pytest.mark.parametrize(("allreduce", "reduce"), [("ring", 2 * (2 - 1) / 2 * 1.0), ("max", 1.0)])
def test_a_round_with_one_participant_reduces_over_all_n(allreduce: str, reduce: float) -> None:
    rows = simulate(reproducer(allreduce)).methods["rennala_nigt"].rows
    for row in rows:  # agent 1 finishes after 1 s; the collective of both agents takes `reduce`
        assert row["participants"] == 1
        assert row["time_end"] - row["time_start"] == pytest.approx(1.0 + reduce, rel=1e-12)
        assert row["uploads"] == 2
    assert rows[0]["time_end"] == 2.0


@pytest.mark.parametrize(
    "topology", [("allreduce", "ring"), ("allreduce", "max"), ("server", "max")]
)
@pytest.mark.parametrize(
    "method", ["rennala_nigt", "malenia_nigt", "synchronized_nigt", "m_synchronous_sgd"]
)
def test_no_event_of_a_round_precedes_the_end_of_its_reduce(topology, method) -> None:
    scenario = reproducer(topology[1])
    scenario["cluster"] = {
        **scenario["cluster"],
        "n": 5,
        "topology": topology[0],
        "compute": {"kind": "fixed", "h": "sqrt(i)"},
        "uplink": {"kind": "fixed", "time": "0.3 * i"},
    }
    scenario["methods"] = [{"name": method, **({"m": 3} if method == "m_synchronous_sgd" else {})}]
    result = next(iter(simulate(scenario).methods.values()))
    for row in result.rows:
        t, end = row["iteration"], row["time_end"]
        uploads = [
            time for time, _, event, it, _ in result.trace if event == "upload_end" and it == t
        ]
        update = next(
            time for time, agent, event, it, _ in result.trace if event == "update" and it == t
        )
        assert max(uploads) <= update == end
        later = [time for time, agent, _, it, _ in result.trace if it > t and agent > 0]
        assert min(later, default=end) >= end


@pytest.mark.parametrize(
    "method", ["afedpg", "asynchronous_pg", "ringmaster_asgd", "delay_adaptive_asgd"]
)
def test_server_only_protocols_are_refused_under_allreduce(method: str) -> None:
    scenario = reproducer(
        "max",
        methods=[
            {"name": method, "max_delay": 2} if method == "ringmaster_asgd" else {"name": method}
        ],
    )
    with pytest.raises(ConfigError, match=rf"cluster.topology: method '{method}' .*needs a server"):
        validate_scenario(scenario)


def test_server_only_refusal_is_one_line_on_the_cli(tmp_path) -> None:
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(reproducer("ring", methods=[{"name": "afedpg"}])))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "cluster.topology: method 'afedpg' (methods[0]) needs a server" in result.stderr
