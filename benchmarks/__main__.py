"""`make bench`: run every benchmark (or those named: `python -m benchmarks engine rl workloads`).

Numbers after a benchmark's name are its sizes (`python -m benchmarks scale 10000 100000`), for
the benchmarks whose ``main`` takes them (scale, figures).

Each benchmark prints what it measured as ratios against a baseline run in the same process.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("engine", "rl", "workloads", "sweep", "emulation", "figures", "network", "scale")


def requested(arguments: list[str]) -> list[tuple[str, tuple[int, ...]]]:
    """The benchmarks named in ``arguments`` (all when none is), each with the sizes after it."""
    runs: list[tuple[str, list[int]]] = []
    for argument in arguments:
        if argument.isdigit() and runs:
            runs[-1][1].append(int(argument))
        elif argument in BENCHMARKS:
            runs.append((argument, []))
        else:
            raise SystemExit(f"unknown benchmark {argument!r}; valid: {', '.join(BENCHMARKS)}")
    return [(name, tuple(sizes)) for name, sizes in runs] or [(name, ()) for name in BENCHMARKS]


def main(arguments: list[str]) -> None:
    for name, sizes in requested(arguments):
        benchmark = importlib.import_module(f"benchmarks.bench_{name}").main
        if sizes:
            benchmark(sizes)
        else:
            benchmark()
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
