"""Sweep machinery: parallel speed-up of the local pool and per-point overhead.

A 64-point sweep of the synthetic oracle (4 heterogeneity exponents × 4 uplink times × 4 seeds;
n = 8, Rennala NIGT and AFedPG, trace on; ~0.2–0.5 s a point), measured in one process:

* overhead: the 64 points in 8 slices of 8; per slice, back to back, ``asyncsim.simulate`` in a
  loop (the baseline), the same loop plus ``write_run`` (what storing results costs by itself),
  and ``run_sweep`` with 1 worker (in-process) on that slice. Interleaving the variants slice by
  slice (in rotating order, every slice three times) keeps load from other processes on a shared
  machine from favouring one of them. Repeated on 2 slices with ``output.trace: false``:
  trace.csv is most of what a synthetic point writes.
* the same overhead within one window: the sweep's wall time over the time of the
  ``asyncsim.simulate`` calls it makes (timed around the call, the same call as the baseline's).
  The speed of a shared machine drifts by ±20% over seconds; this ratio is immune to it, as
  both sides are measured in the same seconds.
* speed-up: the whole 64-point sweep with 1 worker and with the 2-worker process pool,
  alternated three times; the best time of each counts.

Results are written where ``asyncsim sweep`` writes by default, under ``results/`` (in a
temporary directory removed afterwards; ``ASYNCSIM_BENCH_DIR`` overrides). Creating a file costs
far more in some directories than in others on the same disk (a long-used ``/tmp`` took ~0.3 ms
a file, other directories ~0.01 ms): a point creates 12 files and directories.

Targets: 2 workers vs 1 >= 1.7×; sweep (1 worker) vs the bare simulate loop <= 1.10.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncsim
import asyncsim.run.sweep_executors
from asyncsim.run.sweep import SweepPoint, expand_sweep, run_sweep
from asyncsim.scenario.loading import expand_shorthands
from asyncsim.store.runs import write_run

EXPONENTS = ["i**0", "i**0.5", "i**1", "i**1.5"]
UPLINKS = [0.0, 0.1, 1.0, 10.0]
BASE: dict[str, Any] = {
    "name": "bench-sweep",
    "oracle": {"kind": "quadratic", "dim": 20},
    "cluster": {"n": 8, "compute": {"kind": "exponential", "h": 1.0}},
    "methods": [{"name": "rennala_nigt"}, {"name": "afedpg"}],
    "budget": {"iterations": 400},
    "seeds": [0, 1, 2, 3],
}
SWEEP = expand_shorthands(
    {**BASE, "sweep": {"cluster.compute.h": EXPONENTS, "cluster.uplink.time": UPLINKS}}
)
PASSES = 3
RESULTS = Path(__file__).resolve().parent.parent / "results"
SLICES = [
    expand_shorthands(
        {**BASE, "sweep": {"cluster.compute.h": [h], "cluster.uplink.time": UPLINKS[i : i + 2]}}
    )
    for h in EXPONENTS
    for i in (0, 2)
]


def timed(action: Callable[..., object], *args: Any) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    action(*args)
    return time.perf_counter() - start


def simulate_all(points: list[SweepPoint]) -> None:
    """The baseline: ``asyncsim.simulate`` on every point."""
    for point in points:
        asyncsim.simulate(point.scenario)


def simulate_and_write(points: list[SweepPoint], out: Path) -> None:
    """The baseline plus writing each run directory."""
    for point in points:
        write_run(asyncsim.simulate(point.scenario), out / point.key)


def sweep_timing_simulate(data: dict[str, Any], out: Path, inside: list[float]) -> None:
    """``run_sweep`` with 1 worker (in-process), adding the wall seconds of each of its
    ``asyncsim.simulate`` calls to ``inside``."""
    simulate = asyncsim.run.sweep_executors.simulate

    def timed_simulate(*args: Any, **kwargs: Any) -> asyncsim.RunResult:
        start = time.perf_counter()
        try:
            return simulate(*args, **kwargs)
        finally:
            inside.append(time.perf_counter() - start)

    asyncsim.run.sweep_executors.simulate = timed_simulate
    try:
        run_sweep(data, out, "local", 1)
    finally:
        asyncsim.run.sweep_executors.simulate = simulate


def overhead(root: Path, slices: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per slice: seconds of the bare loop, the loop with writes, the 1-worker sweep, and the
    ``simulate`` calls inside that sweep ("inside").

    Every slice is measured ``PASSES`` times; the variant that goes first rotates from one
    measurement to the next, so that none of them always follows the same one.
    """
    times: dict[str, list[float]] = {"bare": [], "written": [], "sweep": [], "inside": []}
    for k, data in enumerate(slices * PASSES):
        points = expand_sweep(data)
        out = Path(tempfile.mkdtemp(dir=root))
        inside: list[float] = []
        calls = {
            "bare": (simulate_all, points),
            "written": (simulate_and_write, points, out / "loop"),
            "sweep": (sweep_timing_simulate, data, out / "sweep", inside),
        }
        names = list(calls)
        for name in names[k % 3 :] + names[: k % 3]:
            times[name].append(timed(*calls[name]))
        times["inside"].append(sum(inside))
    return times


def speed_up(root: Path) -> tuple[float, float]:
    """Best wall seconds of the whole sweep on 1 worker and on 2 (fresh directories)."""
    one, two = [], []
    for repeat in range(3):
        one.append(timed(run_sweep, SWEEP, root / f"one{repeat}", "local", 1))
        two.append(timed(run_sweep, SWEEP, root / f"two{repeat}", "local", 2))
    return min(one), min(two)


def report(label: str, times: dict[str, list[float]]) -> None:
    """Print the overhead ratios of one :func:`overhead` measurement."""
    bare, written, sweep, inside = (sum(times[k]) for k in ("bare", "written", "sweep", "inside"))
    per_slice = statistics.median(s / b for s, b in zip(times["sweep"], times["bare"], strict=True))
    points = 8 * len(times["bare"])
    print(f"{label}: {points // PASSES} points, {bare / points:.3f} s each (bare simulate)")
    print(f"  simulate + write_run loop / simulate loop: {written / bare:.3f}")
    print(f"  sweep, 1 worker / simulate + write loop:   {sweep / written:.3f}  (machinery only)")
    print(
        f"  sweep, 1 worker / simulate loop:           {sweep / bare:.3f}  "
        f"(median of slices {per_slice:.3f}; target <= 1.10)"
    )
    print(
        f"  sweep, 1 worker / its own simulate calls:  {sweep / inside:.3f}  "
        f"(same seconds; target <= 1.10)"
    )


def main() -> None:
    print("== sweep: 64 synthetic points, local pool and per-point overhead ==")
    asyncsim.simulate(expand_sweep(SWEEP)[0].scenario)  # warm caches and imports
    load = os.getloadavg()[0]
    untraced = [{**data, "output": {"trace": False}} for data in SLICES[::4]]
    parent = Path(os.environ.get("ASYNCSIM_BENCH_DIR", RESULTS))
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".bench-sweep-") as tmp:
        traced_times = overhead(Path(tmp), SLICES)
        untraced_times = overhead(Path(tmp), untraced)
        one, two = speed_up(Path(tmp))
    print(
        f"cores: {os.cpu_count()}; load average before/after: {load:.2f}/{os.getloadavg()[0]:.2f}"
        f"; results written under {parent}"
    )
    report("trace on (default)", traced_times)
    report("trace off (output.trace: false)", untraced_times)
    print(f"speed-up of the 64-point sweep, 2 workers vs 1: {one / two:.2f}x  (target >= 1.7)")


if __name__ == "__main__":
    main()
