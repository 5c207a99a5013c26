"""The figures of the shared-link sweeps (README, "Shared links"): docs/shared_links.png (the
server's ingress swept), docs/shared_egress.png (its egress swept, unicast and multicast) and
docs/shared_ingress_humanoid.png (the ingress swept on Humanoid).

    python -m analysis.shared_links DIR [--out docs/shared_links.png]

DIR is a finished sweep of ``scenarios/sweeps/shared_ingress_synthetic.yaml``,
``scenarios/sweeps/shared_egress_synthetic.yaml`` or
``scenarios/sweeps/shared_ingress_humanoid.yaml``. One panel per method: the time to target
(ε, or the target return of an RL sweep; mean over seeds, the rows ``asyncsim report DIR``
prints) against n, one line per capacity of the swept server link (dashed: the broadcast as
one multicast, where ``cluster.network.multicast`` is swept), or, where the sweep has one n,
against the capacity, one line per method; a point where some run missed
the target within its budget is drawn hollow, at the end of its budget (censored). Also writes
the drawn numbers next to the figure (``.csv``).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure

from analysis import figure_arguments, read_or_refuse
from asyncsim.analysis.report import ReportRow, report_rows
from asyncsim.scenario.loading import load_scenario_data

__all__ = [
    "EGRESS",
    "INGRESS",
    "MULTICAST",
    "figure",
    "figure_by_capacity",
    "main",
    "series",
    "swept_link",
    "table",
    "target_name",
]

INGRESS = "cluster.network.server.ingress"
EGRESS = "cluster.network.server.egress"
MULTICAST = "cluster.network.multicast"
N = "cluster.n"

Line = tuple[float, bool]
"""A line of a panel: the swept link's capacity and whether the broadcast is a multicast."""


def swept_link(rows: list[ReportRow]) -> str:
    """The server link the sweep varies: ``INGRESS`` or ``EGRESS``."""
    groups = {key for row in rows for key, _ in row.group}
    return EGRESS if EGRESS in groups else INGRESS


def target_name(sweep: Path) -> str:
    """What the sweep's runs aim at, from its ``sweep.yaml`` budget: "return R" (an RL sweep's
    ``target_return``) or "ε" (a gradient-norm target)."""
    budget = load_scenario_data(sweep / "sweep.yaml").get("budget") or {}
    target = budget.get("target_return")
    return "ε" if target is None else f"return {float(target):g}"


def series(rows: list[ReportRow]) -> dict[str, dict[Line, list[tuple[int, float, bool]]]]:
    """method → (capacity, multicast) → [(n, mean time to ε, missed by some seed)], n
    ascending; multicast is False where the sweep does not vary it."""
    link = swept_link(rows)
    lines: dict[str, dict[Line, list]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        group = dict(row.group)
        line = (float(group[link]), str(group.get(MULTICAST, False)).lower() == "true")
        lines[row.method][line].append((int(group[N]), row.mean, row.missed > 0))
    return {m: {line: sorted(points) for line, points in by.items()} for m, by in lines.items()}


def figure(rows: list[ReportRow], target: str = "ε") -> Figure:
    """Time to ``target`` (:func:`target_name`) against n, a panel per method, a line per
    capacity (and multicast)."""
    data, link = series(rows), swept_link(rows).rsplit(".", 1)[1]
    fig = Figure(figsize=(3.2 * len(data), 3.4), layout="constrained")
    axes = fig.subplots(1, len(data), sharey=True, squeeze=False)[0]
    for ax, (method, by_line) in zip(axes, data.items(), strict=True):
        colors: dict[float, str] = {}
        for capacity, multicast in sorted(by_line, key=lambda line: (-line[0], line[1])):
            points = by_line[capacity, multicast]
            label = "private wires" if capacity >= 1e8 else f"{link} {capacity:g} B/s"
            (line,) = ax.plot(
                [n for n, _, _ in points], [t for _, t, _ in points],
                label=label + (", multicast" if multicast else ""),
                linestyle="--" if multicast else "-", color=colors.get(capacity),
            )  # fmt: skip
            colors[capacity] = line.get_color()
            for n, time, missed in points:
                ax.plot([n], [time], "o", color=line.get_color(),
                        markerfacecolor="none" if missed else line.get_color())  # fmt: skip
        ax.set(xscale="log", yscale="log", title=method, xlabel="n")
    axes[0].set_ylabel(f"time to {target} (s); hollow: missed, end of budget")
    axes[-1].legend(fontsize=7)
    return fig


def figure_by_capacity(rows: list[ReportRow], target: str = "ε") -> Figure:
    """A sweep of one n: time to ``target`` at each capacity of the swept link, from the
    uncontended one (≥ 10^8 B/s, labelled "private") down, evenly spaced; a line per method
    (and multicast)."""
    data, link = series(rows), swept_link(rows).rsplit(".", 1)[1]
    capacities = sorted({c for by_line in data.values() for c, _ in by_line}, reverse=True)
    place = {capacity: position for position, capacity in enumerate(capacities)}
    fig = Figure(figsize=(5.0, 3.6), layout="constrained")
    ax = fig.subplots()
    for method, by_line in data.items():
        for multicast in sorted({multicast for _, multicast in by_line}):
            points = sorted(
                (place[capacity], time, missed)
                for (capacity, m), [(_, time, missed)] in by_line.items()
                if m == multicast
            )
            (line,) = ax.plot(
                [x for x, _, _ in points], [t for _, t, _ in points],
                label=method + (", multicast" if multicast else ""),
                linestyle="--" if multicast else "-",
            )  # fmt: skip
            for x, time, missed in points:
                ax.plot([x], [time], "o", color=line.get_color(),
                        markerfacecolor="none" if missed else line.get_color())  # fmt: skip
    n = next(points[0][0] for by_line in data.values() for points in by_line.values())
    ax.set_xticks(range(len(capacities)), [_capacity_label(c) for c in capacities])
    ax.set(yscale="log", xlabel=f"server {link} (B/s), n = {n}")
    ax.set_ylabel(f"time to {target} (s)")
    ax.set_title("hollow: target missed, at the end of the budget", fontsize=8)
    ax.legend(fontsize=7)
    return fig


def _capacity_label(capacity: float) -> str:
    return "private" if capacity >= 1e8 else f"{capacity:,.0f}"


def table(rows: list[ReportRow]) -> str:
    """The drawn numbers, CSV: method, the link's capacity, (multicast,) n, time to ε, missed."""
    link = swept_link(rows)
    multicast_swept = any(key == MULTICAST for row in rows for key, _ in row.group)
    header = ["method", link.rsplit(".", 1)[1], *(["multicast"] if multicast_swept else [])]
    lines = [",".join([*header, "n", "time_to_target", "missed"])]
    for method, by_line in series(rows).items():
        for (capacity, multicast), points in by_line.items():
            line = [method, f"{capacity:g}", *([str(multicast).lower()] if multicast_swept else [])]
            lines += [",".join([*line, str(n), f"{t:.6g}", str(int(m))]) for n, t, m in points]
    return "\n".join(lines) + "\n"


def main() -> int:
    args = figure_arguments(__doc__.split("\n\n")[0], "docs/shared_links.png")
    rows = read_or_refuse(report_rows, args.sweep)
    target = read_or_refuse(target_name, args.sweep)
    one_n = len({dict(row.group)[N] for row in rows}) == 1
    (figure_by_capacity if one_n else figure)(rows, target).savefig(args.out, dpi=110)
    args.out.with_suffix(".csv").write_text(table(rows))
    print(f"wrote {args.out} and {args.out.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
