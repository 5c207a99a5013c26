"""``asyncsim emulate``: run a scenario's methods as real processes and compare them
with the simulation."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import click

from asyncsim.analysis.report import format_table
from asyncsim.cli import app
from asyncsim.store.runs import (
    EMULATION_FILE,
    atomic_write,
    check_run_dir,
    write_run,
)

# ---------------------------------------------------------------- emulate

#: table column of `asyncsim emulate` → key of a method's report in emulation.json
_EMULATE_COLUMNS = {
    "simulated time": "simulated_total_time",
    "emulated time": "emulated_total_time",
    "total error": "total_time_error",
    "closest events (s)": "closest_events_s",
    "same decisions": "same_decisions",
}


@app.scenario_command()
@app.out_option
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="S: real seconds per modelled second.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="A process per agent, or a Ray actor per agent.",
)
@click.option(
    "--address", metavar="HOST:PORT", help="Ray cluster [default: start a local Ray instance]."
)
@app.quiet_option
@click.option("--no-plots", is_flag=True, help="Do not write the figures.")
@app.overwrite_option
@click.option(
    "--force",
    is_flag=True,
    help="Start agents that may not fit this machine, or an emulation of more than a week.",
)
def emulate(
    scenario_path: str,
    overrides: Sequence[str],
    out: Path | None,
    time_scale: float,
    executor: str,
    address: str | None,
    quiet: bool,
    no_plots: bool,
    overwrite: bool,
    force: bool,
) -> None:
    """Run every method of SCENARIO on real asynchronous workers and measure the simulator's
    error.

    The server runs here with the method's own protocol code; each agent is a process (or a
    Ray actor) that computes real gradients and waits out its modelled times × S. Writes a run
    directory (default: results/<name>-emulated; times are real seconds ÷ S) with
    emulation.json, the comparison with the simulation of the same scenario, and prints it.

    Agents that cannot be started here (memory, descriptors, processes, more than 1,000) and
    an emulation of more than a week of real time (S × the simulated time) are refused unless
    --force; an S below the documented floor gets a warning.
    """
    from asyncsim.emulation import emulate as run_emulation
    from asyncsim.emulation import floor_warning
    from asyncsim.emulation.report import differences

    scenario = app.base_scenario(app.load_data(scenario_path, overrides))
    directory = out or Path("results") / f"{scenario.name}-emulated"
    check_run_dir(directory, overwrite, scenario, "emulation")
    warnings_due = [floor_warning(scenario, time_scale)]

    def announce(key: str, seconds: float) -> None:
        app.warn(list(filter(None, warnings_due)))  # once the refusals have passed
        warnings_due.clear()
        if not quiet:
            click.echo(f"emulating {key}: about {seconds:.3g} s of real time", err=True)

    with app.writing_to(directory, "emulate"):
        started = time.time()
        result = run_emulation(
            scenario, time_scale, executor, address, progress=announce, force=force
        )
        directory = write_run(
            result.emulated, directory, started, overwrite=overwrite, kind="emulation"
        )
        atomic_write(directory / EMULATION_FILE, json.dumps(result.report, indent=2) + "\n")
    methods = result.report["methods"]
    rows = [
        [key, *(report[k] for k in _EMULATE_COLUMNS.values())] for key, report in methods.items()
    ]
    click.echo(format_table(["method", *_EMULATE_COLUMNS], rows))
    for key, report in methods.items():
        for line in differences(report):
            click.echo(f"{key}: {line}")
    click.echo(f"results written to {directory} (comparison: {directory / 'emulation.json'})")
    if not no_plots:
        from asyncsim.analysis import plots

        plots.plot_run(directory, directory / "plots")
        click.echo(f"figures written to {directory / 'plots'}")
