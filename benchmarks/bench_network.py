"""The cost of shared links: a run with ``cluster.network`` against the same run on private
wires, n = 1,000 agents.

Each method runs the same budget of updates twice, alternating: once with private wires of the
same speeds (κ_i = S/uplink_i, b_i = S/downlink_i) and once over shared links whose server
ingress and egress are contended, τ_i = √i. The ratio of the wall-clock times (network over
private wires) is printed per trial, then its min / median / max. Target: median <= 2 for every
method (docs/algorithms.md §4, "Shared links": on the star only the touched server link's level
changes, water-filling over sorted caps).

Then the workload users run: the contention sweep's scenario
(``scenarios/sweeps/shared_ingress_synthetic.yaml``, the paper's Fig. 1(c)/Fig. 7 shape) at
n = 1,000, 100 updates, with the ingress at 160 bytes/s (contended) and at 10^9 (not), against
the same private wires; each run's uploads are printed beside it (a contended asynchronous run
sends more in its longer simulated time).
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

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


SWEEP = Path(__file__).resolve().parents[1] / "scenarios/sweeps/shared_ingress_synthetic.yaml"
SWEEP_UPDATES, SWEEP_TRIALS = 100, 3
SWEEP_INGRESS = (160, 1e9)  # bytes/s: contended, and not


def sweep_scenario(method: str, ingress: float | None) -> dict[str, Any]:
    """The contention sweep's scenario of ``method`` at n = N: over shared links with the
    server's ``ingress``, or (None) on private wires of the same speeds, S/link."""
    data = yaml.safe_load(SWEEP.read_text(encoding="utf-8"))
    data.pop("sweep"), data.pop("seeds", None)
    data["methods"] = [entry for entry in data["methods"] if entry["name"] == method]
    data["budget"]["iterations"] = SWEEP_UPDATES
    cluster = data["cluster"]
    cluster["n"] = N
    network = cluster.pop("network")
    if ingress is not None:
        cluster["network"] = copy.deepcopy(network)
        cluster["network"]["server"]["ingress"] = ingress
        return data
    for link in ("uplink", "downlink"):
        time_of = f"({network['message_bytes']}) / ({network[link]})"
        cluster[link] = {"kind": "fixed", "time": time_of}
    return data


def seconds(method: str, shared: bool) -> float:
    """Wall-clock seconds of one run."""
    return timed(scenario(method, shared))[0]


def timed(data: dict[str, Any]) -> tuple[float, int]:
    """Wall-clock seconds of one run of ``data`` and its uploads."""
    start = time.perf_counter()
    result = simulate(data)
    elapsed = time.perf_counter() - start
    (method,) = result.methods.values()
    return elapsed, method.summary["uploads"]


def sweep_main() -> None:
    print(f"== network: the contention sweep's scenario, n = {N:,}, {SWEEP_UPDATES} updates, "
          f"{SWEEP_TRIALS} trials ==")  # fmt: skip
    for ingress in SWEEP_INGRESS:
        for entry in yaml.safe_load(SWEEP.read_text(encoding="utf-8"))["methods"]:
            method, ratios = entry["name"], []
            for _ in range(SWEEP_TRIALS):
                private, private_uploads = timed(sweep_scenario(method, None))
                shared, shared_uploads = timed(sweep_scenario(method, ingress))
                ratios.append(shared / private)
            print(
                f"ingress {ingress:g} B/s {method:>18}: ratio min {min(ratios):.2f} / median "
                f"{statistics.median(ratios):.2f} / max {max(ratios):.2f} (uploads: private "
                f"{private_uploads:,}, shared {shared_uploads:,})"
            )


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
    sweep_main()


if __name__ == "__main__":
    main()
