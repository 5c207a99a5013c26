"""The whole ``asyncsim run`` command at 10^4 to 10^6 agents against a bare SimPy loop.

The scenario of issue 25: Rennala SGD with batch M = n, exponential times h_i = 1 + i/n, trace
on, 20 rounds (10 at n >= 10^6). For each n, one child process runs ``asyncsim run SCENARIO
--out DIR --quiet --force`` (the command itself: simulate, write the run, draw the figures) and
then a bare SimPy loop of the same number of gradient events (n processes of timeouts only),
and prints:

* gradient events per second of the whole command (the summary's ``gradients_computed`` over
  the command's wall-clock seconds) and its ratio to the bare loop's timeouts per second,
  measured in the same process (target at n = 10^5: >= 0.5);
* the peak resident memory of the command (before the bare loop runs; target at n = 10^5:
  <= 1.5 GB);
* the seconds spent in the figures (``plot_run``, timed around the command's call).

The machine may be busy: each n runs ``TRIALS`` times (alternating with its bare loop; once
from :data:`ONE_TRIAL_FROM` agents) and prints min / median / max. ``python -m benchmarks
scale`` runs n = 10^4, 10^5 and 10^6 (about 10 minutes on 2 cores); ``python -m benchmarks
scale N [N ...]`` or ``python -m benchmarks.bench_scale N [N ...] [--trials T]`` other sizes.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks import bench_figures
from benchmarks.bench_engine import bare_simpy_rate
from benchmarks.bench_figures import sizes_and_trials, spread

SIZES = (10_000, 100_000, 1_000_000)
TRIALS = 3
ONE_TRIAL_FROM = 1_000_000
"""Sizes from which one trial is run: at n = 10^6 a trial (the command, then the bare loop of
its 2.2·10^7 events) takes about 5 minutes on 2 cores."""


def scenario(n: int) -> dict:
    """Rennala SGD, M = n, exponential h_i = 1 + i/n, trace on; 20 rounds (10 from 10^6)."""
    data = bench_figures.scenario(n)
    data["name"] = f"bench-scale-{n}"
    if n >= 1_000_000:
        data["budget"] = {"iterations": 10}
    return data


def measure(n: int) -> dict:
    """One trial at ``n`` agents, in this process: the command's seconds, its seconds in
    figures, its gradient events, its peak memory (GB), then the bare loop's rate."""
    from asyncsim.analysis import plots
    from asyncsim.cli import main as command

    drawing = [0.0]
    plot_run = plots.plot_run

    def timed_plot_run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return plot_run(*args, **kwargs)
        finally:
            drawing[0] += time.perf_counter() - start

    plots.plot_run = timed_plot_run
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario(n)))
        out = Path(tmp) / "run"
        start = time.perf_counter()
        try:
            arguments = ["run", str(path), "--out", str(out), "--quiet", "--force"]
            command(arguments, standalone_mode=False)
        finally:
            seconds = time.perf_counter() - start
            plots.plot_run = plot_run
        summary = json.loads((out / "rennala_sgd" / "summary.json").read_text())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    events = summary["gradients_computed"]
    bare = bare_simpy_rate(n, events)
    return {"seconds": seconds, "figures": drawing[0], "events": events, "peak_gb": peak,
            "bare": bare}  # fmt: skip


def trial(n: int) -> dict:
    """:func:`measure` in a fresh child process (its own peak memory)."""
    code = f"import json, benchmarks.bench_scale as b; print(json.dumps(b.measure({n})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"n={n}: the run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(sizes: tuple[int, ...] = SIZES, trials: int = TRIALS) -> None:
    print(f"== scale: the whole `asyncsim run` command against bare SimPy, {trials} trials "
          f"(1 from n = {ONE_TRIAL_FROM:,}) ==")  # fmt: skip
    print("   (Rennala SGD, M = n, h_i = 1 + i/n exponential, trace and figures on; "
          "min / median / max)")  # fmt: skip
    for n in sizes:
        results = [trial(n) for _ in range(1 if n >= ONE_TRIAL_FROM else trials)]
        rates = [r["events"] / r["seconds"] for r in results]
        ratios = [rate / r["bare"] for rate, r in zip(rates, results, strict=True)]
        shown_rates = " / ".join(f"{rate:,.0f}" for rate in sorted(rates))
        print(
            f"n={n:>9,}: {results[0]['events']:,} gradient events; "
            f"{shown_rates} events/s; ratio to bare SimPy {spread(ratios)}; "
            f"peak {spread([r['peak_gb'] for r in results])} GB; "
            f"command {spread([r['seconds'] for r in results])} s, "
            f"of which figures {spread([r['figures'] for r in results])} s",
            flush=True,
        )


if __name__ == "__main__":
    main(*sizes_and_trials(sys.argv[1:], SIZES, TRIALS))
