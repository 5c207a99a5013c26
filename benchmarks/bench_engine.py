"""Engine throughput: Rennala rounds with (nearly) free synthetic gradients versus bare SimPy.

For n = 100 and n = 10,000 agents: simulated gradient events per second of the full engine
(Rennala protocol, trace on, batch M = 10·n so a round's O(n) broadcast is amortised) and the
ratio to a bare SimPy loop of the same number of timeouts over n processes, measured in the same
process. Target: ratio >= 0.3 at both n; peak memory < 2 GB at n = 10,000.
"""

from __future__ import annotations

import resource
import time

import simpy

from asyncsim.run.runner import simulate

EVENTS = 1_000_000


def bare_simpy_rate(n: int, events: int) -> float:
    """Timeouts per second of n processes that only wait (h_i = sqrt(i))."""
    env = simpy.Environment()
    per_agent = events // n

    def agent(delay: float):
        for _ in range(per_agent):
            yield env.timeout(delay)

    for i in range(1, n + 1):
        env.process(agent(i**0.5))
    start = time.perf_counter()
    env.run()
    return per_agent * n / (time.perf_counter() - start)


def engine_rate(n: int, events: int) -> tuple[float, int]:
    """Gradient events (used + discarded) per second of a Rennala NIGT run; and events run."""
    batch = 10 * n
    scenario = {
        "name": f"bench-engine-{n}",
        "oracle": {"kind": "quadratic", "dim": 1, "noise": 0.0},
        "cluster": {"n": n, "compute": {"kind": "fixed", "h": "sqrt(i)"}},
        "methods": [{"name": "rennala_nigt", "batch": batch}],
        "budget": {"iterations": events // batch - 1},
    }
    start = time.perf_counter()
    result = simulate(scenario)
    elapsed = time.perf_counter() - start
    summary = result.methods["rennala_nigt"].summary
    return summary["gradients_computed"] / elapsed, summary["gradients_computed"]


def peak_memory_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


TRIALS = 3


def main() -> None:
    print(
        f"== engine: Rennala rounds, synthetic gradients, 1e6 gradient events, {TRIALS} trials =="
    )
    print("   (bare and engine alternate; the median ratio is robust to a busy machine)")
    for n in (100, 10_000):
        ratios = []
        for _ in range(TRIALS):
            bare = bare_simpy_rate(n, EVENTS)
            rate, events = engine_rate(n, EVENTS)
            ratios.append(rate / bare)
            print(
                f"n={n:>6}: engine {rate:,.0f} gradient events/s ({events:,} events), "
                f"bare SimPy {bare:,.0f} timeouts/s, ratio {rate / bare:.2f}"
            )
        print(f"n={n:>6}: median ratio {sorted(ratios)[TRIALS // 2]:.2f} (target >= 0.3)")
    print(f"peak memory {peak_memory_gb():.2f} GB (target < 2 GB)")


if __name__ == "__main__":
    main()
