"""The ``asyncsim`` command group and what its commands share: one ``error:`` line and exit
status 2 for user errors (130 when interrupted), the common options, loading a scenario with
its overrides and plug-ins, the resource guards, warnings, the output directory's lock."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from asyncsim import __version__
from asyncsim.core.errors import AsyncSimError, quote, spell
from asyncsim.core.plugins import (
    TRUST_VARIABLE,
    PluginWarning,
    check_trusted,
    load_plugin,
    trust_plugins,
)
from asyncsim.run.sweep import SweepPoint, expand_sweep, sweep_axes
from asyncsim.scenario import guards
from asyncsim.scenario.loading import load_scenario_data, parse_override
from asyncsim.scenario.schema import Scenario, validate_scenario
from asyncsim.store.locks import locked

__all__ = ["main"]


CLI_SWITCHES = {
    "overwrite": "--overwrite",
    "force": "--force",
    "plugin": "--plugin FILE",
    "trust_plugins": "--trust-plugins",
    "out": "--out",
    "set": "--set",
    "address": "--address",
    "executor": "--executor",
    "time_scale": "--time-scale",
    "wait": "--wait",
}
"""The command line's spelling of the switches library messages ask for (errors.switch)."""


class _Group(click.Group):
    """Turns user errors into one ``error:`` line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except (AsyncSimError, OSError) as exc:
            text = exc.text(CLI_SWITCHES) if isinstance(exc, AsyncSimError) else str(exc)
            click.echo(f"error: {' '.join(text.split())}", err=True)
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
    warnings.showwarning = _show_warning


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
    """A broken installed plug-in's warning as one ``warning:`` line; others as Python does."""
    if issubclass(category, PluginWarning):
        click.echo(f"warning: {' '.join(str(message).split())}", err=True)
    else:
        _PYTHON_SHOW_WARNING(message, category, *args, **kw)


_PYTHON_SHOW_WARNING = warnings.showwarning


overrides_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a field, e.g. --set cluster.n=8 --set 'methods[0].lr=1e-3' (repeatable).",
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress display on stderr.")
out_option = click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Output dir."
)
force_option = click.option(
    "--force",
    is_flag=True,
    help="Accept a scenario even if its estimated memory or time says it cannot finish on "
    "this machine.",
)


def _load_plugins(ctx: click.Context, param: click.Parameter, paths: Sequence[str]) -> None:
    """Load the --plugin files; the command's scenario lists them too (``load_data``)."""
    ctx.meta["plugins"] = [str(load_plugin(path, "--plugin")) for path in paths]


def _trust(ctx: click.Context, param: click.Parameter, trusted: bool) -> None:
    """--trust-plugins: the scenario's plug-in files may be imported, by this command only."""
    if trusted:
        trust_plugins()
        ctx.call_on_close(lambda: trust_plugins(False))


plugin_option = click.option(
    "--plugin",
    multiple=True,
    metavar="FILE",
    is_eager=True,
    expose_value=False,
    callback=_load_plugins,
    help="Python file registering methods, oracles or time models (repeatable); imported.",
)
trust_option = click.option(
    "--trust-plugins",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_trust,
    help="Import the plug-in files the scenario names (Python code run on this machine; "
    f"without this, or {TRUST_VARIABLE}=1, a scenario naming plug-ins is refused).",
)
overwrite_option = click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the results of another scenario (or of the other command) in --out, or "
    "write into a non-empty --out that holds no asyncsim results (its other files are kept).",
)


def scenario_command(name: str | None = None) -> Callable[[Callable[..., Any]], click.Command]:
    """A command of a SCENARIO file: ``--plugin``, ``--trust-plugins``, the SCENARIO argument
    (``scenario_path``) and ``--set`` (``overrides``), in that order in its help."""

    def decorate(function: Callable[..., Any]) -> click.Command:
        scenario = click.argument("scenario_path", metavar="SCENARIO")
        for option in (overrides_option, scenario, trust_option, plugin_option):
            function = option(function)
        return main.command(name=name)(function)

    return decorate


def load_data(path: str, overrides: Sequence[str]) -> dict[str, Any]:
    data = load_scenario_data(path, [parse_override(text) for text in overrides])
    given = click.get_current_context().meta.get("plugins")
    if given:  # recorded in the scenario, so that sweep workers load them
        data["plugins"] = [*given, *(data.get("plugins") or [])]
    check_trusted(data.get("plugins") or [], "plugins")  # before anything else is validated
    return data


def base_scenario(data: dict[str, Any], force: bool = True) -> Scenario:
    """The scenario without its sweep block, validated. Unless ``force``, one that cannot
    finish on this machine is refused first (the number of agents before validating:
    validation itself builds arrays of n values)."""
    if not force:
        for value in _raw_agents(data)[:1]:
            guards.check_agents(value)
    scenario = validate_scenario({key: value for key, value in data.items() if key != "sweep"})
    if not force:
        guards.check(scenario)
    return scenario


# ---------------------------------------------------------------- resource guards


def _raw_agents(data: Mapping[str, Any]) -> list[Any]:
    """The values ``cluster.n`` takes in the data and its sweep, as written (not validated)."""
    cluster = data.get("cluster")
    values = [cluster.get("n")] if isinstance(cluster, Mapping) else []
    axes = data.get("sweep")
    if isinstance(axes, Mapping):
        values += axes.get("cluster.n") or []
        values += [c.get("n") for c in axes.get("cluster") or [] if isinstance(c, Mapping)]
    return values


def guarded_points(data: dict[str, Any], force: bool) -> list[SweepPoint]:
    """Every point of the sweep, validated and, unless ``force``, checked: the number of points
    before they are expanded, then each distinct point."""
    if not force:
        guards.check_sweep_size(sweep_axes(data))
        for value in _raw_agents(data):
            guards.check_agents(value)
    points = expand_sweep(data)
    if not force:
        checked: set[str] = set()
        for point in points:
            if point.key not in checked:
                checked.add(point.key)
                where = ", ".join(f"{path}={quote(value)}" for path, value in point.values.items())
                guards.check(point.scenario, f"sweep point {where}" if where else "")
    return points


WATCH_SECONDS = 0.25
"""Seconds between two looks at the running method (the display decides what it shows)."""


def warn(warnings: Sequence[str]) -> None:
    """Valid, but probably not what was meant (:func:`scenario_warnings`): each once."""
    for warning in dict.fromkeys(warnings):
        click.echo(f"warning: {spell(warning, CLI_SWITCHES)}", err=True)


def warn_diverged(summaries: Sequence[dict[str, Any]]) -> None:
    for summary in summaries:
        if summary["stop_reason"] == "diverged":
            click.echo(
                f"warning: {summary['method']} diverged at iteration {summary['iterations']} "
                "(its gradient estimate, iterate or ||∇f|| stopped being finite); its tables "
                "end there",
                err=True,
            )


@contextlib.contextmanager
def writing_to(directory: Path, command: str) -> Iterator[None]:
    """Hold the lock of the output directory (created if needed) while ``command`` writes
    there: a second command writing there refuses with one line."""
    directory.mkdir(parents=True, exist_ok=True)
    with locked(directory, command):
        yield
