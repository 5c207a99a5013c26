"""``asyncsim plot``, ``report``, ``bounds``, ``validate``, ``list``, ``schema``: read results or
scenarios, simulate nothing."""

from __future__ import annotations

import functools
import json
import math
import re
import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from asyncsim import theory
from asyncsim.analysis import bounds
from asyncsim.analysis.report import format_table, report_text, report_warnings
from asyncsim.cli import app
from asyncsim.core.errors import ConfigError
from asyncsim.core.registry import METHODS, ORACLES, TIME_MODELS, TOPOLOGIES
from asyncsim.scenario.schema import Scenario, scenario_json_schema, scenario_warnings
from asyncsim.store.runs import (
    results_kind,
)

# ---------------------------------------------------------------- plot


@app.main.command()
@app.plugin_option
@click.argument("directory", type=click.Path(path_type=Path))
@app.out_option
def plot(directory: Path, out: Path | None) -> None:
    """Plot a run directory or a sweep directory.

    Figures (PNG and PDF) go to --out (default: DIRECTORY/plots).
    """
    from asyncsim.analysis import plots

    out = out or directory / "plots"
    if results_kind(directory) == "sweep":
        paths = plots.plot_sweep(directory, out)
    else:
        paths = plots.plot_run(directory, out)
    for path in paths:
        click.echo(str(path))


# ---------------------------------------------------------------- report


@app.main.command()
@app.plugin_option
@click.argument("directory", type=click.Path(path_type=Path))
def report(directory: Path) -> None:
    """Paper-style table of a sweep or run directory.

    Per method and per value of the swept fields other than seed: time to target (total time
    without a target), mean ± standard error over the seeds (a run that missed the target counts
    at the end of its budget, marked "≥ ... (k/n missed)"), the closed-form cost per gradient,
    gradients used and uploads, and whether the measured order agrees with the closed forms
    (only where the runs reached a common target or used the same number of gradients).
    """
    results_kind(directory)  # one line for anything else
    app.warn(report_warnings(directory))
    click.echo(report_text(directory))


# ---------------------------------------------------------------- bounds


def _bounds_row(scenario: Scenario, index: int) -> list[Any]:
    method = scenario.methods[index]
    row = bounds.method_bounds(scenario, method)
    batch = getattr(method.params, "batch", None)
    return [
        method.key,
        method.spec.protocol,
        batch,
        row.round_bound,
        row.first_round,
        row.round_time,
        row.total,
        row.gradient_cost,
    ]


@app.scenario_command("bounds")
@click.option(
    "--eps", type=float, multiple=True, default=(0.1, 0.01), show_default=True, help="Target ε."
)
@click.option(
    "--constants",
    type=click.Choice(list(bounds.CONSTANTS_MODES)),
    default="oracle",
    show_default=True,
    help="L_g, L_h, σ², Δ of the shapes: "
    + "; ".join(f"{mode}: {text}" for mode, text in bounds.CONSTANTS_MODES.items()),
)
def bounds_(
    scenario_path: str, overrides: Sequence[str], eps: Sequence[float], constants: str
) -> None:
    """Closed-form round times, costs per gradient and complexity shapes (no simulation)."""
    for value in eps:
        if not 0 < value < math.inf:  # nan fails too
            raise ConfigError("--eps", f"must be a finite number > 0, got {value}")
    scenario = app.base_scenario(app.load_data(scenario_path, overrides))
    fixed = bounds.fixed_times(scenario)
    times = fixed if isinstance(fixed, theory.AgentTimes) else bounds.mean_times(scenario)
    kind = (
        "fixed times" if fixed is times else f"means of the time models ({fixed}; no exact forms)"
    )
    click.echo(
        f"n = {scenario.cluster.n}, H = {scenario.horizon}, τ_i = h_i·H from {kind}; "
        f"κ = max uplink = {times.kappa:.6g}, max(uplink, downlink) = {times.kappa_round:.6g}"
    )
    rows = [_bounds_row(scenario, index) for index in range(len(scenario.methods))]
    headers = [
        "method",
        "protocol",
        "M",
        "round bound",
        "exact t(M_init)",
        "exact t(M)",
        "total",
        "s/gradient",
    ]
    click.echo(format_table(headers, rows))
    if scenario.cluster.topology_spec.decentralized:
        click.echo(
            "agents on a graph (cluster.graph): messages relayed along shortest-time paths "
            "τ_i→j; no closed-form rounds ('-'); the shapes fragile_sgd and ad_psgd take τ_i→j"
        )
    elif times.links is not None:
        click.echo(
            "shared links (cluster.network): b_i = the broadcast's shared arrivals, κ_i = an "
            "upload alone; exact rounds share the links max-min fairly where they have a closed "
            "form (the uploads of a round start together), '-' otherwise; no round bounds "
            "(the lemmas are of private wires)"
        )
    cost = "exact" if fixed is times else "at mean times"
    click.echo(
        "round bound: the protocol's (Lemma C.1 rennala, Lemma C.2 malenia, max τ + 2κ "
        "synchronized), κ = max(uplink, downlink); total = t(M_init) + T·t(M) for an iteration "
        f"budget; s/gradient ({cost}): a round's time over its gradients, or the asynchronous "
        "steady state (Σ_i 1/(b_i + τ_i + κ_i))^-1; '-': the protocol has no closed form"
    )
    values = bounds.shape_constants(scenario, constants, {})
    click.echo(
        f"\nε-complexity shapes (logs dropped, O-constants 1; at τ_i = h_i·H and κ = max "
        f"uplink; {bounds.constants_text(values, constants)}):"
    )
    rows = [[label, *cells] for label, cells in bounds.shape_table(scenario, eps, values)]
    click.echo(format_table(["shape", *(f"eps={e:g}" for e in eps)], rows))


# ---------------------------------------------------------------- validate, list, schema


@app.scenario_command()
@app.force_option
def validate(scenario_path: str, overrides: Sequence[str], force: bool) -> None:
    """Check SCENARIO and every point of its sweep, and that each can finish on this machine
    (memory and time estimated from the fields; --force skips that check)."""
    data = app.load_data(scenario_path, overrides)
    if data.get("sweep"):
        points = app.guarded_points(data, force)
        distinct = len({point.key for point in points})
        what = f"sweep of {len(points)} points ({distinct} distinct)"
        scenario = points[0].scenario
        warnings = [w for point in points for w in scenario_warnings(point.scenario)]
    else:
        scenario = app.base_scenario(data, force)
        what = f"{len(scenario.methods)} method(s), n = {scenario.cluster.n}"
        warnings = scenario_warnings(scenario)
    app.warn(warnings)
    click.echo(f"OK: {scenario_path}: scenario {scenario.name!r} is valid; {what}")


def _environments() -> str:
    """The Gymnasium ids the policy-gradient oracle can use here, those of them on the MuJoCo
    fast path, then the others grouped by why not (a missing dependency, a discrete space)."""
    try:
        from asyncsim.rl.envs import buildable_env_ids
        from asyncsim.rl.mujoco_batch import fast_env_ids
    except ImportError as exc:
        return f"environments: none ({exc})"
    usable, unusable = buildable_env_ids()
    fast = [env_id for env_id in fast_env_ids() if env_id in usable]
    width = max(40, shutil.get_terminal_size().columns - 2)
    fill = functools.partial(textwrap.fill, width=width, subsequent_indent="    ")
    lines = [f"environments (Gymnasium ids for oracle.env, {len(usable)}):",
             fill(", ".join(usable), initial_indent="  "),
             f"  on the MuJoCo fast path (the others step through Gymnasium, {len(fast)}):",
             fill(", ".join(fast) or "none here", initial_indent="    ")]  # fmt: skip
    reasons: dict[str, list[str]] = {}
    for env_id, reason in unusable.items():
        reasons.setdefault(re.sub(r"Discrete\(\d+\)", "Discrete", reason), []).append(env_id)
    lines.append(f"not usable here ({len(unusable)}):")
    lines += [
        fill(f"{', '.join(ids)}: {reason}", initial_indent="  ") for reason, ids in reasons.items()
    ]
    return "\n".join(lines)


def _entries(entries: dict[str, str]) -> str:
    width = max(map(len, entries))
    return "\n".join(f"  {name.ljust(width)}  {text}" for name, text in entries.items())


@app.main.command(name="list")
@app.plugin_option
def list_() -> None:
    """List methods (with their parameters), time models, oracles, topologies and
    environments."""
    methods = {}
    for name, spec in METHODS.items():
        aliases = METHODS.aliases_of(name)
        also = f"; also {', '.join(aliases)}" if aliases else ""
        fields = ", ".join(spec.params.model_fields)
        methods[name] = (
            f"{spec.title}: {spec.description} [{spec.protocol} × {spec.optimizer}{also}]"
            f" ({fields or 'no parameters'})"
        )
    click.echo("methods:\n" + _entries(methods))
    time_models = {kind: spec.description for kind, spec in TIME_MODELS.items()}
    click.echo("time models (cluster.compute/uplink/downlink kind):\n" + _entries(time_models))
    click.echo(
        "oracles (oracle.kind):\n" + _entries({k: s.description for k, s in ORACLES.items()})
    )
    topologies = {name: spec.description for name, spec in TOPOLOGIES.items()}
    click.echo("topologies (cluster.topology):\n" + _entries(topologies))
    click.echo(_environments())


@app.main.command()
@app.plugin_option
def schema() -> None:
    """Print the JSON schema of a scenario file."""
    click.echo(json.dumps(scenario_json_schema(), indent=2))
