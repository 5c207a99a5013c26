"""`make bench`: run every benchmark (or those named: `python -m benchmarks engine rl workloads`).

Each benchmark prints what it measured as ratios against a baseline run in the same process.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("engine", "rl", "workloads", "sweep", "emulation", "figures", "network")


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}")
        importlib.import_module(f"benchmarks.bench_{name}").main()
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
