"""The figure of the shared-ingress sweep (README, "Shared links"; docs/shared_links.png).

    python -m analysis.shared_links DIR [--out docs/shared_links.png]

DIR is a finished sweep of ``scenarios/sweeps/shared_ingress_synthetic.yaml``. One panel per
method: the time to ε (mean over seeds, the rows ``asyncsim report DIR`` prints) against n,
one line per server ingress capacity; a point where some run missed ε within its budget is
drawn hollow, at the end of its budget (censored). Also writes the drawn numbers next to the
figure (``.csv``).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure

from asyncsim.analysis.report import ReportRow, report_rows

__all__ = ["INGRESS", "figure", "main", "series"]

INGRESS = "cluster.network.server.ingress"
N = "cluster.n"


def series(rows: list[ReportRow]) -> dict[str, dict[float, list[tuple[int, float, bool]]]]:
    """method → ingress → [(n, mean time to ε, missed by some seed)], n ascending."""
    lines: dict[str, dict[float, list]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        group = dict(row.group)
        lines[row.method][float(group[INGRESS])].append((int(group[N]), row.mean, row.missed > 0))
    return {m: {c: sorted(points) for c, points in by.items()} for m, by in lines.items()}


def figure(rows: list[ReportRow]) -> Figure:
    """Time to ε against n, a panel per method, a line per ingress capacity."""
    data = series(rows)
    fig = Figure(figsize=(3.2 * len(data), 3.4), layout="constrained")
    axes = fig.subplots(1, len(data), sharey=True, squeeze=False)[0]
    for ax, (method, by_capacity) in zip(axes, data.items(), strict=True):
        for capacity in sorted(by_capacity, reverse=True):
            points = by_capacity[capacity]
            label = "private wires" if capacity >= 1e8 else f"ingress {capacity:g} B/s"
            (line,) = ax.plot([n for n, _, _ in points], [t for _, t, _ in points], label=label)
            for n, time, missed in points:
                ax.plot([n], [time], "o", color=line.get_color(),
                        markerfacecolor="none" if missed else line.get_color())  # fmt: skip
        ax.set(xscale="log", yscale="log", title=method, xlabel="n")
    axes[0].set_ylabel("time to ε (s); hollow: ε missed, end of budget")
    axes[-1].legend(fontsize=7)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/shared_links.png"))
    args = parser.parse_args()
    rows = report_rows(args.sweep)
    figure(rows).savefig(args.out, dpi=110)
    lines = ["method,ingress,n,time_to_target,missed"]
    for method, by_capacity in series(rows).items():
        for capacity, points in by_capacity.items():
            lines += [f"{method},{capacity:g},{n},{t:.6g},{int(m)}" for n, t, m in points]
    args.out.with_suffix(".csv").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
