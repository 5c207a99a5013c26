"""Per-agent figures beyond plots.AGENT_ROWS agents: a summary, said in the figure and its CSV,
drawn with a number of artists that does not grow with n, and its data recomputed here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from test_plots import read_data

from asyncsim import plots
from asyncsim.runner import RunResult, simulate

ROWS = plots.AGENT_ROWS


def large(n: int) -> RunResult:
    """Rennala NIGT (batch 6) and AFedPG on n agents with exponential times h_i = 1 + i/n, and
    an outage that loses some work."""
    return simulate(
        {
            "name": "plots-scale",
            "seed": 1,
            "oracle": {"kind": "quadratic", "dim": 2},
            "cluster": {
                "n": n,
                "compute": {"kind": "exponential", "h": f"1 + i/{n}"},
                "uplink": {"kind": "fixed", "time": 0.2},
                "outages": [{"agent": a, "start": 0.5, "end": 1.5} for a in range(1, n, 9)],
            },
            "methods": [{"name": "rennala_nigt", "batch": 6}, {"name": "afedpg"}],
            "budget": {"iterations": 6},
        }
    )


@pytest.fixture(scope="module")
def run() -> RunResult:
    return large(400)


def intervals_of(trace: list[tuple], agent: int, end: float) -> dict[str, list[tuple]]:
    """The agent's compute and wasted (discarded, abandoned, lost) intervals, from one walk over
    the trace, clipped to [0, end]; a computation starting after ``end`` is left out."""
    found: dict[str, list[tuple]] = {"compute": [], "wasted": []}
    opened = None
    for time, who, event, _, _ in trace:
        if who != agent:
            continue
        if event == "compute_start":
            opened = time if time <= end else None
        elif event in ("compute_end", "discarded", "abandoned", "lost") and opened is not None:
            if time > opened:
                kind = "compute" if event == "compute_end" else "wasted"
                found[kind].append((opened, min(time, end)))
            opened = None
    return found


def test_timeline_shows_evenly_spaced_agents_in_one_collection(
    run: RunResult, tmp_path: Path
) -> None:
    fig = plots.plot_timeline(run, "rennala_nigt", out=tmp_path / "timeline")
    ax = fig.axes[0]
    expected = sorted({int(np.round(1 + k * 399 / (ROWS - 1))) for k in range(ROWS)})
    assert expected[0] == 1 and expected[-1] == 400 and len(expected) == ROWS
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(a) for a in expected]
    assert "40 of 400 agents, evenly spaced" in ax.get_title()
    assert [c.get_gid() for c in ax.collections] == ["bars"]
    assert isinstance(ax.collections[0], PolyCollection)
    data = read_data(tmp_path / "timeline.csv")
    assert [float(r["y"]) for r in data["summary: 40 of 400 agents, evenly spaced"]] == [40.0]
    assert {float(r["y"]) for r in data["compute"]} <= {float(a) for a in expected}
    end = run.methods["rennala_nigt"].rows[plots.TIMELINE_ROUNDS - 1]["time_end"]
    trace = run.methods["rennala_nigt"].trace
    drawn = [p.vertices for p in ax.collections[0].get_paths()]
    for row, agent in enumerate(expected, start=1):
        computes = intervals_of(trace, agent, end)["compute"]
        written = [(float(r["x"]), float(r["x_end"])) for r in data["compute"]]
        mine = [w for w, r in zip(written, data["compute"], strict=True) if r["y"] == f"{agent}.0"]
        np.testing.assert_allclose(sorted(mine), sorted(computes), rtol=1e-12)
        bars = [
            (v[:, 0].min(), v[:, 0].max()) for v in drawn if abs(v[:, 1].min() + 0.4 - row) < 1e-9
        ]
        covered = sum(b - a for a, b in bars)
        assert covered == pytest.approx(end)  # busy and idle tile [0, end] on every row


def test_utilization_bins_agents_and_records_mean_and_range(run: RunResult, tmp_path: Path) -> None:
    fig = plots.plot_utilization(run, out=tmp_path / "utilization")
    data = read_data(tmp_path / "utilization.csv")
    summaries = [s for s in data if s.startswith("summary: ")]
    assert len(summaries) == 1 and "40 bins" in summaries[0]
    assert fig.get_suptitle() == summaries[0].removeprefix("summary: ")
    for ax, key in zip(fig.axes, run.methods, strict=True):
        result = run.methods[key]
        total = result.rows[-1]["time_end"]
        used, wasted = np.zeros(400), np.zeros(400)
        for agent in range(1, 401):
            spans = intervals_of(result.trace, agent, total)
            used[agent - 1] = sum(b - a for a, b in spans["compute"]) / total
            wasted[agent - 1] = sum(b - a for a, b in spans["wasted"]) / total
        rows = data[f"{key}: computing, used"]
        first = np.array([float(r["x"]) for r in rows], dtype=int)
        last = np.array([float(r["x_end"]) for r in rows], dtype=int)
        assert len(rows) == ROWS and first[0] == 1 and last[-1] == 400
        np.testing.assert_array_equal(first[1:], last[:-1] + 1)  # bins tile 1..n
        sizes = last - first + 1
        assert sizes.max() - sizes.min() <= 1
        bins = [slice(a - 1, b) for a, b in zip(first, last, strict=True)]
        expected = {
            "computing, used": [used[s].mean() for s in bins],
            "computing, wasted": [wasted[s].mean() for s in bins],
            "computing, used + wasted, min of bin": [(used + wasted)[s].min() for s in bins],
            "computing, used + wasted, max of bin": [(used + wasted)[s].max() for s in bins],
        }
        for series, values in expected.items():
            written = [float(r["y"]) for r in data[f"{key}: {series}"]]
            np.testing.assert_allclose(written, values, rtol=1e-9, atol=1e-12)
        heights = [p.get_height() for p in ax.patches]
        np.testing.assert_allclose(heights[:ROWS], expected["computing, used"], rtol=1e-9)
        assert wasted.sum() > 0 or key == "afedpg"  # Rennala discards and loses work


def data_artists(fig: Any) -> int:
    """Collections, patches and lines of the figure's axes."""
    return sum(len(ax.collections) + len(ax.patches) + len(ax.lines) for ax in fig.axes)


def test_per_agent_figures_draw_as_many_artists_at_any_large_n(run: RunResult) -> None:
    """Beyond AGENT_ROWS agents, the figures hold the same number of artists whatever n."""
    small = large(120)
    for figure in (
        lambda r: plots.plot_timeline(r, "rennala_nigt"),
        lambda r: plots.plot_timeline(r, "afedpg"),
        plots.plot_utilization,
    ):
        figures = [figure(r) for r in (small, run)]
        per_axes = (2 * ROWS + 1) * len(figures[0].axes)  # bars of 40 bins, one line set
        assert data_artists(figures[0]) == data_artists(figures[1]) <= per_axes
        assert all(len(f.findobj()) < 1000 for f in figures)
