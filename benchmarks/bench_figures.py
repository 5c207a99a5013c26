"""Figures against simulation: seconds in a run's figures per second of its simulation.

The scenario of issue 25: Rennala SGD with batch M = n, exponential times h_i = 1 + i/n, 20
rounds, trace on. For each n, in one process: the seconds of ``simulate`` and of ``plot_run``
(every figure of ``asyncsim run``, PNG + PDF + CSV), and their ratio. Target: ratio <= 1 at
n = 10^5. The machine may be busy: each n runs ``TRIALS`` times and prints min / median / max.

``python -m benchmarks figures``; ``python -m benchmarks.bench_figures N [N ...] [--trials T]``
for other sizes.
"""

from __future__ import annotations

import sys
import tempfile
import time

from asyncsim.analysis import plots
from asyncsim.run.runner import simulate

SIZES = (1_000, 10_000, 100_000)
TRIALS = 3


def scenario(n: int) -> dict:
    """Rennala SGD, M = n, exponential times h_i = 1 + i/n, 20 rounds, trace on."""
    return {
        "name": f"bench-figures-{n}",
        "seed": 0,
        "oracle": {"kind": "quadratic", "dim": 1},
        "cluster": {"n": n, "compute": {"kind": "exponential", "h": f"1 + i/{n}"}},
        "methods": [{"name": "rennala_sgd", "batch": n}],
        "budget": {"iterations": 20},
    }


def seconds(n: int) -> tuple[float, float]:
    """(seconds simulating, seconds writing the figures) of one run at ``n`` agents."""
    start = time.perf_counter()
    result = simulate(scenario(n))
    simulated = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        plots.plot_run(result, out)
    return simulated - start, time.perf_counter() - simulated


def spread(values: list[float]) -> str:
    """min / median / max of ``values``."""
    ordered = sorted(values)
    return " / ".join(f"{v:.2f}" for v in (ordered[0], ordered[len(ordered) // 2], ordered[-1]))


def main(sizes: tuple[int, ...] = SIZES, trials: int = TRIALS) -> None:
    print(f"== figures: seconds in figures per second of simulation, {trials} trials ==")
    print("   (Rennala SGD, M = n, h_i = 1 + i/n exponential, 20 rounds; min / median / max)")
    for n in sizes:
        timings = [seconds(n) for _ in range(trials)]
        simulation, figures = ([t[k] for t in timings] for k in (0, 1))
        ratios = [f / s for s, f in timings]
        print(
            f"n={n:>7}: simulation {spread(simulation)} s, figures {spread(figures)} s, "
            f"ratio {spread(ratios)} (target <= 1 at n = 100,000)",
            flush=True,
        )


def sizes_and_trials(
    arguments: list[str], sizes: tuple[int, ...], trials: int
) -> tuple[tuple[int, ...], int]:
    """``N [N ...] [--trials T]`` read from ``arguments``, with defaults."""
    arguments = list(arguments)
    if "--trials" in arguments:
        at = arguments.index("--trials")
        trials = int(arguments[at + 1])
        del arguments[at : at + 2]
    return tuple(int(a) for a in arguments) or sizes, trials


if __name__ == "__main__":
    main(*sizes_and_trials(sys.argv[1:], SIZES, TRIALS))
