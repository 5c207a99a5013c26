"""The figure and theory check of the graph-families sweep (README, "Decentralized agents on a
graph"; docs/graph_families.png).

    python -m analysis.graph_families DIR [--out docs/graph_families.png]

DIR is a finished sweep of ``scenarios/sweeps/graph_families_synthetic.yaml``. One panel per
method: the time to ε against n (geometric mean over seeds), one colour per graph family, and
dashed the method's shape (Fragile SGD: Corollary 1; Amelie SGD: Corollary 2; AD-PSGD:
asyncsim's reading) times the constant fitted by least squares in log space. The fits and the
verdict lines are those of the theory check (:func:`asyncsim.analysis.fitting.fit_scaling`,
:func:`analysis.theory_check.verdict_line`), printed and written with the drawn numbers next
to the figure (``.csv``, ``.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from analysis import figure_arguments, read_or_refuse
from analysis.theory_check import load_points, verdict_line
from asyncsim.analysis.fitting import ScalingFit, fit_scaling

__all__ = ["KIND", "figure", "fits", "main"]

KIND = "cluster.graph.kind"


def fits(sweep: Path) -> list[ScalingFit]:
    """Every method's fit to its shape along n, one per graph family."""
    points, _ = load_points(sweep)
    return fit_scaling(points, "cluster.n")


def figure(found: list[ScalingFit]) -> Figure:
    """Time to ε against n, a panel per method, a colour per graph family; dashed: c·shape."""
    methods = list(dict.fromkeys(fit.method for fit in found))
    fig = Figure(figsize=(3.4 * len(methods), 3.4), layout="constrained")
    axes = fig.subplots(1, len(methods), sharey=True, squeeze=False)[0]
    for ax, method in zip(axes, methods, strict=True):
        for fit in (f for f in found if f.method == method):
            xs = [x for x, m in zip(fit.x, fit.measured, strict=True) if m is not None]
            ms = [m for m in fit.measured if m is not None]
            (line,) = ax.plot(xs, ms, "o-", label=str(fit.group[KIND]))
            theory = [fit.constant * t for t in fit.theory]
            ax.plot(fit.x, theory, "--", color=line.get_color(), linewidth=1)
        ax.set(xscale="log", yscale="log", title=method, xlabel="n")
        ticks = sorted({x for fit in found for x in fit.x})
        ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_ylabel("time to ε (s); dashed: fitted shape")
    axes[-1].legend(fontsize=7)
    return fig


def main() -> int:
    args = figure_arguments(__doc__.split("\n\n")[0], "docs/graph_families.png")
    found = read_or_refuse(fits, args.sweep)
    figure(found).savefig(args.out, dpi=110)
    lines = ["method,graph,n,time_to_target,fitted_shape"]
    for fit in found:
        for x, m, t in zip(fit.x, fit.measured, fit.theory, strict=True):
            shown = "" if m is None else f"{m:.6g}"
            lines.append(f"{fit.method},{fit.group[KIND]},{x:g},{shown},{fit.constant * t:.6g}")
    args.out.with_suffix(".csv").write_text("\n".join(lines) + "\n")
    verdicts = [f"- {fit.group[KIND]}: {verdict_line(fit)}" for fit in found]
    args.out.with_suffix(".md").write_text("\n".join(verdicts) + "\n")
    print("\n".join(verdicts))
    print(f"wrote {args.out}, {args.out.with_suffix('.csv')} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
