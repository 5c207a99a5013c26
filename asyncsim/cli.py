"""The ``asyncsim`` command (the composition root): run, sweep, plot, bounds, validate, list,
schema.

User errors (:class:`~asyncsim.errors.AsyncSimError`, unusable paths) print one line
``error: <message>`` on stderr and exit with status 2; an interrupted command exits with 130.
Progress goes to stderr, tables and result locations to stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from asyncsim import __version__, theory
from asyncsim.config import (
    TIME_MODEL_KINDS,
    MethodConfig,
    Scenario,
    validate_scenario,
)
from asyncsim.errors import AsyncSimError
from asyncsim.methods.registry import METHODS, lookup_method
from asyncsim.oracles import ORACLES
from asyncsim.progress import Progress
from asyncsim.results import is_complete, write_run
from asyncsim.runner import MethodResult, build_cluster, simulate, vector_dimension
from asyncsim.scenario import load_scenario_data, parse_override
from asyncsim.sweep import check_scenario, expand_sweep, run_sweep

__all__ = ["main"]


class _Group(click.Group):
    """Turns user errors into one ``error:`` line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except (AsyncSimError, OSError) as exc:
            click.echo(f"error: {' '.join(str(exc).split())}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: finished work is kept; re-run to resume a sweep", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asyncsim")
def main() -> None:
    """Simulate the wall-clock time of asynchronous distributed RL methods."""
    # SIGTERM (a batch scheduler, `kill`) stops like Ctrl-C: finished work is kept, a sweep's
    # pool is shut down instead of being left running without its driver
    signal.signal(signal.SIGTERM, signal.default_int_handler)


_overrides = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a field, e.g. --set cluster.n=8 --set 'methods[0].lr=1e-3' (repeatable).",
)
_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress display on stderr.")
_out = click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output dir.")


def _load(path: str, overrides: Sequence[str]) -> dict[str, Any]:
    return load_scenario_data(path, [parse_override(text) for text in overrides])


def _base_scenario(data: dict[str, Any]) -> Scenario:
    """The scenario without its sweep block, validated and checked against the registry."""
    scenario = validate_scenario({key: value for key, value in data.items() if key != "sweep"})
    check_scenario(scenario)
    return scenario


# ---------------------------------------------------------------- tables


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    cells = [list(headers), *([_fmt(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    return "\n".join(line(row) for row in cells)


# ---------------------------------------------------------------- run and sweep

#: table column of `asyncsim run` → summary.json key
_RUN_COLUMNS = {
    "simulated time": "total_time",
    "time to target": "time_to_target",
    "iterations": "iterations",
    "gradients used": "gradients_used",
    "uploads": "uploads",
}


@main.command()
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
@_out
@_quiet
@click.option("--no-plots", is_flag=True, help="Do not write the figures.")
def run(
    scenario_path: str, overrides: Sequence[str], out: Path | None, quiet: bool, no_plots: bool
) -> None:
    """Simulate every method of SCENARIO.

    Prints a summary table and writes a run directory (default: results/<name>) with its
    figures in DIRECTORY/plots.
    """
    data = _load(scenario_path, overrides)
    scenario = _base_scenario(data)
    if data.get("sweep"):
        click.echo(
            "note: running the base scenario only; `asyncsim sweep` runs the sweep", err=True
        )
    display = Progress(len(scenario.methods), "methods", quiet=quiet)

    def advance(key: str, method: MethodResult) -> None:
        display.advance(method.summary["total_time"], method.summary["iterations"])

    started = time.time()
    result = simulate(scenario, progress=advance)
    display.close()
    directory = write_run(result, out or Path("results") / scenario.name, started)
    rows = [[s["method"], *(s[k] for k in _RUN_COLUMNS.values())] for s in result.summary_table()]
    click.echo(_table(["method", *_RUN_COLUMNS], rows))
    click.echo(f"results written to {directory}")
    if not no_plots:
        from asyncsim import plots

        plots.plot_run(result, directory / "plots")
        click.echo(f"figures written to {directory / 'plots'}")


@main.command()
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
@_out
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Local process pool, or Ray.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Parallel points [default: all cores].")
@click.option("--address", help="Ray cluster address [default: start a local Ray instance].")
@_quiet
def sweep(
    scenario_path: str,
    overrides: Sequence[str],
    out: Path | None,
    executor: str,
    workers: int | None,
    address: str | None,
    quiet: bool,
) -> None:
    """Run the sweep of SCENARIO (resumable).

    Points already finished in the output directory (default: results/<name>-sweep) are
    skipped, so an interrupted sweep resumes where it stopped.
    """
    data = _load(scenario_path, overrides)
    out = out or Path("results") / f"{data.get('name', Path(scenario_path).stem)}-sweep"
    display = None if quiet else (lambda total: Progress(total, "points"))
    index = run_sweep(data, out, executor, workers, address, progress=display)
    total, failed = len(index.points), index.count("failed")
    click.echo(
        f"{total} points: {index.count('done')} done ({index.skipped} already finished before), "
        f"{failed} failed"
    )
    click.echo(f"results written to {out} (index: {out / 'index.csv'})")
    if failed:
        click.echo(f"error: {failed} of {total} points failed; see {out / 'index.csv'}", err=True)
        raise SystemExit(1)


# ---------------------------------------------------------------- plot


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@_out
def plot(directory: Path, out: Path | None) -> None:
    """Plot a run directory or a sweep directory.

    Figures (PNG and PDF) go to --out (default: DIRECTORY/plots).
    """
    from asyncsim import plots

    out = out or directory / "plots"
    if (directory / "index.csv").is_file():
        paths = plots.plot_sweep(directory, out)
    elif is_complete(directory):
        paths = plots.plot_run(directory, out)
    else:
        raise AsyncSimError(
            f"{directory}: not a finished run directory (no COMPLETE marker) "
            "nor a sweep directory (no index.csv)"
        )
    for path in paths:
        click.echo(str(path))


# ---------------------------------------------------------------- bounds


@dataclass(frozen=True)
class _Times:
    """Per-agent means of a scenario's time models (agents 0-based), as theory.py takes them."""

    h: np.ndarray
    tau: np.ndarray
    uplink: np.ndarray
    offsets: np.ndarray
    topology: tuple[str, str]
    fixed: bool

    @property
    def kappa(self) -> float:
        """κ = max_i κ_i (uplink), the κ of the complexity shapes."""
        return float(self.uplink.max())

    @property
    def kappa_round(self) -> float:
        """κ of the round bounds: the slower of uplink and broadcast, so that 2κ covers both."""
        return max(self.kappa, float(self.offsets.max()))


def _times(scenario: Scenario) -> _Times:
    cluster, n = scenario.cluster, scenario.cluster.n
    models = build_cluster(scenario, vector_dimension(scenario), np.random.SeedSequence(0)).models
    compute, uplink, downlink = models["compute"], models["uplink"], models["downlink"]
    per_step = cluster.timing == "per_step" and scenario.oracle.kind == "policy_gradient"
    fixed = not (cluster.outages or per_step) and all(
        model.fixed_values() is not None for model in (compute, uplink, downlink)
    )
    h = compute.means(n)
    offsets = np.zeros(n) if cluster.topology == "allreduce" else downlink.means(n)
    topology = (cluster.topology, cluster.allreduce)
    return _Times(h, h * scenario.horizon, uplink.means(n), offsets, topology, fixed)


def _round_bound(protocol: str, times: _Times, batch: int) -> float | None:
    """Upper bound on one round: Lemma C.1, Lemma C.2, or max τ + 2κ (synchronized)."""
    if protocol == "rennala":
        return theory.rennala_collection_bound(times.tau, times.kappa_round, batch)
    if protocol == "malenia":
        return theory.malenia_collection_bound(times.tau, times.kappa_round, batch)
    if protocol == "synchronized":
        return theory.synchronized_collection_bound(times.tau, times.kappa_round)
    return None


def _exact_round(protocol: str, times: _Times, batch: int) -> float | None:
    """Exact round time for fixed times (what the simulator gives), None where there is none."""
    if not times.fixed:
        return None
    if protocol == "synchronized":
        return theory.synchronized_round_time(
            times.tau, times.offsets, times.uplink, *times.topology
        )
    exact = {"rennala": theory.rennala_collection_exact, "malenia": theory.malenia_collection_exact}
    if protocol not in exact:
        return None
    return exact[protocol](
        times.tau, batch, times.offsets, times.uplink, *times.topology
    ).round_time


def _iterations_only(scenario: Scenario) -> int | None:
    """T when the budget is a pure iteration count (then total time = t(M_init) + T·t(M))."""
    budget = scenario.budget.model_dump(exclude_none=True)
    return scenario.budget.iterations if set(budget) == {"iterations"} else None


def _bounds_row(method: MethodConfig, index: int, times: _Times, scenario: Scenario) -> list:
    protocol = lookup_method(method.name, f"methods[{index}].name").protocol
    batch = method.batch or scenario.cluster.n
    first = _exact_round(protocol, times, method.initial_batch or batch)
    later = _exact_round(protocol, times, batch)
    iterations = _iterations_only(scenario)
    total = None
    if first is not None and later is not None and iterations is not None:
        total = theory.total_time(first, later, iterations)
    shown_batch = batch if protocol in ("rennala", "malenia") else None
    bound = _round_bound(protocol, times, batch)
    return [method.key, protocol, shown_batch, bound, first, later, total]


def _shapes_table(times: _Times, discount: float, eps: Sequence[float]) -> str:
    rows = [
        [name, *(shape(times.h, times.kappa, e, discount=discount) for e in eps)]
        for name, shape in theory.COMPLEXITY_SHAPES.items()
    ]
    return _table(["shape", *(f"eps={e:g}" for e in eps)], rows)


@main.command()
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
@click.option(
    "--eps", type=float, multiple=True, default=(0.1, 0.01), show_default=True, help="Target ε."
)
def bounds(scenario_path: str, overrides: Sequence[str], eps: Sequence[float]) -> None:
    """Closed-form round times and complexity shapes (no simulation)."""
    scenario = _base_scenario(_load(scenario_path, overrides))
    times = _times(scenario)
    kind = "fixed times" if times.fixed else "means of the time models (no exact forms)"
    click.echo(
        f"n = {scenario.cluster.n}, H = {scenario.horizon}, τ_i = h_i·H from {kind}; "
        f"κ = max uplink = {times.kappa:.6g}, max(uplink, downlink) = {times.kappa_round:.6g}"
    )
    rows = [_bounds_row(m, i, times, scenario) for i, m in enumerate(scenario.methods)]
    headers = ["method", "protocol", "M", "round bound", "exact t(M_init)", "exact t(M)", "total"]
    click.echo(_table(headers, rows))
    sync = f"max τ_i + 2κ = {_round_bound('synchronized', times, 1):.6g}"
    exact = _exact_round("synchronized", times, 1)
    sync += "" if exact is None else f", exact = {exact:.6g}"
    click.echo(
        "round bound: Lemma C.1 (rennala), Lemma C.2 (malenia), max τ + 2κ (synchronized), "
        "κ = max(uplink, downlink); total = t(M_init) + T·t(M) for an iteration budget\n"
        f"synchronized round: {sync}"
    )
    discount = getattr(scenario.oracle, "discount", 0.0)
    click.echo(
        f"\nε-complexity shapes (logs dropped; O-constants and L_g = L_h = σ² = Δ = 1; "
        f"ḣ_i = h_i/(1-γ), γ = {discount:g}):"
    )
    click.echo(_shapes_table(times, discount, eps))


# ---------------------------------------------------------------- validate, list, schema


@main.command()
@click.argument("scenario_path", metavar="SCENARIO")
@_overrides
def validate(scenario_path: str, overrides: Sequence[str]) -> None:
    """Check SCENARIO and every point of its sweep."""
    data = _load(scenario_path, overrides)
    if data.get("sweep"):
        points = expand_sweep(data)
        distinct = len({point.key for point in points})
        what = f"sweep of {len(points)} points ({distinct} distinct)"
        name = points[0].scenario.name
    else:
        scenario = _base_scenario(data)
        what = f"{len(scenario.methods)} method(s), n = {scenario.cluster.n}"
        name = scenario.name
    click.echo(f"OK: {scenario_path}: scenario {name!r} is valid; {what}")


def _environment_ids() -> list[str] | None:
    try:
        import gymnasium
    except ImportError:
        return None
    return sorted(gymnasium.envs.registry.keys())


def _entries(entries: dict[str, str]) -> str:
    width = max(map(len, entries))
    return "\n".join(f"  {name.ljust(width)}  {text}" for name, text in entries.items())


@main.command(name="list")
def list_() -> None:
    """List methods, time models, oracles and Gymnasium environments."""
    methods = {
        name: f"{spec.description} [{spec.protocol} × {spec.optimizer}]"
        for name, spec in METHODS.items()
    }
    click.echo("methods:\n" + _entries(methods))
    click.echo("time models (cluster.compute/uplink/downlink kind):\n" + _entries(TIME_MODEL_KINDS))
    click.echo("oracles (oracle.kind):\n" + _entries(ORACLES))
    ids = _environment_ids()
    if ids is None:
        click.echo("environments: gymnasium is not installed")
        return
    width = max(40, shutil.get_terminal_size().columns - 2)
    wrapped = textwrap.fill(", ".join(ids), width, initial_indent="  ", subsequent_indent="  ")
    click.echo(f"environments (Gymnasium ids for oracle.env, {len(ids)}):\n{wrapped}")


@main.command()
def schema() -> None:
    """Print the JSON schema of a scenario file."""
    click.echo(json.dumps(Scenario.model_json_schema(), indent=2))
