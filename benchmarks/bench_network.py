"""The cost of shared links: a run with ``cluster.network`` against the same run on private
wires, n = 1,000 agents.

Each method runs the same budget of updates twice, alternating: once with private wires of the
same speeds (κ_i = S/uplink_i, b_i = S/downlink_i) and once over shared links whose server
ingress and egress are contended, τ_i = √i. The ratio of the wall-clock times (network over
private wires) is printed per trial, then its min / median / max. Target: median <= 2 for every
method (docs/algorithms.md §4, "Shared links": on the star only the touched server link's level
changes, water-filling over sorted caps).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from asyncsim.run.runner import simulate

N = 1_000
TRIALS = 5
MESSAGE_BYTES = 40  # 4·d with d = 10
UPLINK, DOWNLINK = "40 * sqrt(i)", 400  # bytes/s
INGRESS, EGRESS = 4_000, 8_000  # bytes/s: ~100 uploads and 20 copies at full speed
METHODS = {  # name → (parameters, updates)
    "rennala_nigt": ({"batch": N}, 20),
    "synchronized_nigt": ({}, 20),
    "afedpg": ({}, 20_000),
}


def scenario(method: str, shared: bool) -> dict[str, Any]:
    """The benchmark's run of ``method``, over shared links or on private wires."""
    params, updates = METHODS[method]
    cluster: dict[str, Any] = {"n": N, "compute": {"kind": "fixed", "h": "sqrt(i)"}}
    if shared:
        cluster["network"] = {
            "message_bytes": "4*d",
            "server": {"ingress": INGRESS, "egress": EGRESS},
            "uplink": UPLINK,
            "downlink": DOWNLINK,
        }
    else:
        cluster["uplink"] = {"kind": "fixed", "time": f"{MESSAGE_BYTES} / ({UPLINK})"}
        cluster["downlink"] = {"kind": "fixed", "time": MESSAGE_BYTES / DOWNLINK}
    return {
        "name": f"bench-network-{method}",
        "oracle": {"kind": "quadratic", "dim": 10, "noise": 0.0},
        "cluster": cluster,
        "methods": [{"name": method, **params}],
        "budget": {"iterations": updates},
    }


def seconds(method: str, shared: bool) -> float:
    """Wall-clock seconds of one run."""
    start = time.perf_counter()
    simulate(scenario(method, shared))
    return time.perf_counter() - start


def main() -> None:
    print(f"== network: shared links vs private wires, n = {N:,}, {TRIALS} trials ==")
    print("   (private and shared runs alternate; ratio = shared / private wall-clock)")
    for method, (_, updates) in METHODS.items():
        ratios = []
        for _ in range(TRIALS):
            private, shared = seconds(method, False), seconds(method, True)
            ratios.append(shared / private)
            print(f"{method:>18}: private {private:.2f} s, shared {shared:.2f} s, "
                  f"ratio {shared / private:.2f}")  # fmt: skip
        print(
            f"{method:>18}: {updates:,} updates, ratio min {min(ratios):.2f} / median "
            f"{statistics.median(ratios):.2f} / max {max(ratios):.2f} (target: median <= 2)"
        )


if __name__ == "__main__":
    main()
