"""Tests of asyncsim.plots: each figure holds the runs' data, the theory and the labels."""

from __future__ import annotations

import copy
import csv
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.collections import PathCollection, PolyCollection

from asyncsim import plots, results
from asyncsim import theory as th
from asyncsim.config import validate_scenario
from asyncsim.results import load_run
from asyncsim.runner import MethodResult, RunResult, simulate

#: Fixed heterogeneous times τ_i = √i (H = 1); uplink κ_i = 0.2, downlink 0.3.
BASE: dict[str, Any] = {
    "name": "plots",
    "seed": 0,
    "oracle": {"kind": "quadratic", "dim": 4},
    "cluster": {
        "n": 4,
        "compute": {"kind": "fixed", "h": "sqrt(i)"},
        "uplink": {"kind": "fixed", "time": 0.2},
        "downlink": {"kind": "fixed", "time": 0.3},
    },
    "methods": [
        {"name": "rennala_nigt", "batch": 6, "initial_batch": 10},
        {"name": "malenia_nigt", "batch": 6},
        {"name": "synchronized_nigt"},
        {"name": "afedpg"},
    ],
    "budget": {"iterations": 12},
}
KEYS = ["rennala_nigt", "malenia_nigt", "synchronized_nigt", "afedpg"]
KAPPA = 0.2  # max uplink: the κ of the complexity shapes
KAPPA_ROUND = 0.3  # max of uplink and downlink: the κ of the round bounds


def scenario(**changes: Any) -> dict[str, Any]:
    """BASE with top-level keys replaced and ``cluster_*`` keys set in the cluster block."""
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key.startswith("cluster_"):
            data["cluster"][key.removeprefix("cluster_")] = value
        else:
            data[key] = value
    return data


def tau(n: int) -> np.ndarray:
    return np.sqrt(np.arange(1, n + 1))


@pytest.fixture(scope="module")
def run() -> RunResult:
    return simulate(scenario())


def column_pair(rows: list[dict], x: str, y: str) -> tuple[list, list]:
    return [r[x] for r in rows], [r[y] for r in rows]


def legend_texts(legend: Any) -> list[str]:
    return [text.get_text() for text in legend.get_texts()]


# ---------------------------------------------------------------- (a) progress


def test_progress_single_run_draws_the_rows(run: RunResult) -> None:
    ax = plots.plot_progress([run]).axes[0]
    assert ax.get_xlabel() == "simulated time (s)"
    assert "nabla" in ax.get_ylabel()
    assert ax.get_yscale() == "log"
    assert legend_texts(ax.figure.legends[0]) == KEYS
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no band, one seed
    for line, key in zip(ax.get_lines(), KEYS, strict=True):
        rows = run.methods[key].rows
        np.testing.assert_array_equal(line.get_xdata(), [r["time_end"] for r in rows])
        np.testing.assert_array_equal(line.get_ydata(), [r["grad_norm"] for r in rows])


@pytest.mark.parametrize("band", ["minmax", "std"])
def test_progress_seeds_mean_and_band(band: str) -> None:
    random = {"kind": "exponential", "h": "sqrt(i)"}
    runs = [simulate(scenario(seed=s, cluster_compute=random)) for s in range(3)]
    ax = plots.plot_progress(runs, band=band).axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(ax.get_lines()) == len(bands) == len(KEYS)
    for line, key in zip(ax.get_lines(), KEYS, strict=True):
        curves = [column_pair(run.methods[key].rows, "time_end", "grad_norm") for run in runs]
        x = np.asarray(line.get_xdata())
        assert x[0] == max(c[0][0] for c in curves) and x[-1] == max(c[0][-1] for c in curves)
        values = np.array([np.interp(x, times, ys) for times, ys in curves])
        mean = values.mean(axis=0)
        np.testing.assert_allclose(line.get_ydata(), mean)
        if band == "std":
            edges = np.concatenate([mean - values.std(axis=0), mean + values.std(axis=0)])
        else:
            edges = np.concatenate([values.min(axis=0), values.max(axis=0)])
        drawn = bands[KEYS.index(key)].get_paths()[0].vertices[:, 1]
        assert np.abs(drawn[None, :] - edges[:, None]).min(axis=1).max() < 1e-12


def test_progress_auto_metric_prefers_evaluation_return(run: RunResult) -> None:
    result = run.methods["rennala_nigt"]
    rows = [
        {**r, "return_mean": -r["iteration"], "eval_return": 2.0 * r["iteration"]}
        for r in result.rows
    ]
    rl = RunResult(run.scenario, {"rennala_nigt": MethodResult("rennala_nigt", rows, [], {})})
    ax = plots.plot_progress([rl]).axes[0]
    assert ax.get_yscale() == "linear" and "evaluation" in ax.get_ylabel()
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [r["eval_return"] for r in rows])
    ax = plots.plot_progress([rl], metric="return_mean").axes[0]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [r["return_mean"] for r in rows])


# ---------------------------------------------------------------- (b) scaling


def scaling_points(sizes: tuple[int, ...]) -> list[tuple[float, RunResult]]:
    methods = [{"name": "rennala_nigt", "batch": 4}, {"name": "afedpg"}]
    budget = {"iterations": 30, "target_grad_norm": 1.1}
    return [(n, simulate(scenario(cluster_n=n, methods=methods, budget=budget))) for n in sizes]


def oracle_constants(data: dict[str, Any]) -> dict[str, float]:
    """L_g, L_h, σ², Δ the scenario's synthetic oracle states about itself."""
    oracle = validate_scenario(data).oracle.build(data["cluster"]["n"], np.random.SeedSequence(0))
    try:
        return dict(oracle.constants)
    finally:
        oracle.close()


def test_scaling_fits_one_constant_per_method_in_log_space(tmp_path: Path) -> None:
    """The shape at τ_i = √i·H (H = 1), κ = max uplink, ε = the target and the oracle's own
    constants (as the theory check), one constant fitted over the runs that reached the
    target; the CSV beside the figure holds what is drawn."""
    points = scaling_points((2, 4, 8))
    fig = plots.plot_scaling(points, "n", out=tmp_path / "scaling")
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("n", "time to target (s)")
    texts = [t for t in legend_texts(ax.figure.legends[0]) if "not reached" not in t]
    lines = [line for line in ax.get_lines() if "not reached" not in line.get_label()]
    assert len(lines) == 4  # markers + theory line per method
    constants = oracle_constants(points[0][1].scenario.model_dump(mode="json"))
    with open(tmp_path / "scaling.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == list(plots.DATA_COLUMNS)
    for index, (key, shape) in enumerate(
        [("rennala_nigt", th.rennala_nigt_complexity), ("afedpg", th.afedpg_complexity)]
    ):
        summaries = [run.methods[key].summary for _, run in points]
        reached = np.array([s["time_to_target"] is not None for s in summaries])
        assert reached.any()
        measured = np.array([s["time_to_target"] or s["total_time"] for s in summaries])
        shapes = np.array([shape(tau(n), KAPPA, 1.1, **constants) for n, _ in points])
        scale = np.exp(np.mean(np.log(measured[reached]) - np.log(shapes[reached])))
        markers, theory = lines[2 * index], lines[2 * index + 1]
        assert markers.get_linestyle() == "None" and markers.get_label() == key
        np.testing.assert_array_equal(markers.get_xdata(), np.array([2, 4, 8])[reached])
        np.testing.assert_allclose(markers.get_ydata(), measured[reached])
        np.testing.assert_allclose(theory.get_ydata(), scale * shapes)
        assert texts[2 * index : 2 * index + 2] == [key, f"{key} theory ×{scale:.1e}"]
        rows = [row for row in table if row["series"] == f"{key} theory"]
        assert [float(row["x"]) for row in rows] == [2.0, 4.0, 8.0]
        assert [float(row["y"]) for row in rows] == list(theory.get_ydata())
        assert [float(row["constant"]) for row in rows] == [pytest.approx(scale, rel=1e-12)] * 3
        drawn = [float(row["y"]) for row in table if row["series"] == key]
        assert drawn == list(markers.get_ydata())


def test_scaling_in_alpha_has_linear_x_when_alpha_reaches_zero() -> None:
    methods = [{"name": "malenia_nigt", "batch": 4}, {"name": "synchronized_nigt"}]
    points = [
        (alpha, simulate(scenario(cluster_compute={"h": f"i**{alpha}"}, methods=methods)))
        for alpha in (0.0, 0.5, 1.0)
    ]
    ax = plots.plot_scaling(points, "α", eps=0.5).axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("linear", "log")
    theory = ax.get_lines()[3]
    shapes = [th.synchronized_nigt_complexity(np.arange(1, 5) ** a, KAPPA, 0.5) for a, _ in points]
    ratio = np.asarray(theory.get_ydata()) / shapes
    np.testing.assert_allclose(ratio, ratio[0])
    assert legend_texts(ax.figure.legends[0])[3].startswith("synchronized_nigt theory ×")


# ---------------------------------------------------------------- (c) round bounds


def test_round_bounds_match_the_lemmas_and_lie_below_the_diagonal(run: RunResult) -> None:
    ax = plots.plot_round_bounds(run).axes[0]
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert legend_texts(ax.figure.legends[0]) == [*KEYS[:3], "y = x"]  # asynchronous skipped
    assert "bound" in ax.get_xlabel() and "measured" in ax.get_ylabel()
    t = tau(4)
    expected = {
        "rennala_nigt": [th.rennala_collection_bound(t, KAPPA_ROUND, 10)]
        + [th.rennala_collection_bound(t, KAPPA_ROUND, 6)] * 12,
        "malenia_nigt": [th.malenia_collection_bound(t, KAPPA_ROUND, 6)] * 13,
        "synchronized_nigt": [th.synchronized_collection_bound(t, KAPPA_ROUND)] * 13,
    }
    for scatter, key in zip(scatters, KEYS[:3], strict=True):
        rows = run.methods[key].rows
        bound, measured = np.asarray(scatter.get_offsets()).T
        np.testing.assert_allclose(bound, expected[key])
        np.testing.assert_allclose(measured, [r["time_end"] - r["time_start"] for r in rows])
        assert np.all(measured <= bound + 1e-9)
    diagonal = ax.get_lines()[0]
    np.testing.assert_array_equal(diagonal.get_xdata(), diagonal.get_ydata())


# ---------------------------------------------------------------- (d) timeline, (e) utilization


def bars(ax: Any) -> dict[str, list[tuple[float, float]]]:
    """gid "<kind>:<agent>" → sorted (start, end) of the bars of that collection."""
    found = {}
    for collection in ax.collections:
        spans = [(p.vertices[:, 0].min(), p.vertices[:, 0].max()) for p in collection.get_paths()]
        found[collection.get_gid()] = sorted(spans)
    return found


def pairs(trace: list[tuple], agent: int, start: str, stops: set[str], end: float) -> list:
    """(start, stop) of the agent's intervals from the trace, starting before ``end``."""
    opened, spans = None, []
    for time, who, event, _, _ in trace:
        if who == agent and event == start:
            opened = time
        elif who == agent and event in stops and opened is not None:
            if opened <= end:
                spans.append((opened, min(time, end)))
            opened = None
    return spans


def test_timeline_follows_the_trace_with_lost_discarded_and_idle() -> None:
    outage = [{"agent": 2, "start": 1.0, "end": 3.0}]
    run = simulate(scenario(cluster_outages=outage))
    fig = plots.plot_timeline(run, "rennala_nigt", rounds=2)
    ax = fig.axes[0]
    end = run.methods["rennala_nigt"].rows[1]["time_end"]
    trace = run.methods["rennala_nigt"].trace
    found = bars(ax)
    assert ax.get_xlim() == (0.0, end)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("simulated time (s)", "agent")
    assert list(ax.get_yticks()) == [1, 2, 3, 4]
    kinds = ["downlink", "compute", "upload", "discarded", "lost", "idle"]
    assert legend_texts(fig.legends[0]) == kinds
    starts = [0.0, *(row["time_end"] for row in run.methods["rennala_nigt"].rows)]
    for agent in range(1, 5):
        computes = pairs(trace, agent, "compute_start", {"compute_end"}, end)
        uploads = pairs(trace, agent, "upload_start", {"upload_end"}, end)
        np.testing.assert_allclose(found[f"compute:{agent}"], computes)
        np.testing.assert_allclose(found[f"upload:{agent}"], uploads)
        received = [(t, it) for t, a, e, it, _ in trace if a == agent and e == "broadcast_received"]
        downlinks = [(starts[it], t) for t, it in received if t <= end and t > starts[it]]
        np.testing.assert_allclose(found[f"downlink:{agent}"], downlinks)
        covered = sum(
            b - a for gid, spans in found.items() if gid.endswith(f":{agent}") for a, b in spans
        )
        assert covered == pytest.approx(end)  # busy and idle tile [0, end]
    assert found["lost:2"] == [
        pytest.approx((0.3, 1.0))
    ]  # the outage at t = 1 kills agent 2's first gradient
    assert "discarded:3" in found


def test_timeline_of_an_asynchronous_method_spans_n_updates_per_round(run: RunResult) -> None:
    ax = plots.plot_timeline(run, "afedpg", rounds=2).axes[0]
    assert ax.get_xlim() == (0.0, run.methods["afedpg"].rows[2 * 4 - 1]["time_end"])
    assert {gid.split(":")[0] for gid in bars(ax)} == {"downlink", "compute", "upload", "idle"}


def test_utilization_stacks_used_and_wasted_computation(run: RunResult) -> None:
    axes = plots.plot_utilization(run).axes
    assert [ax.get_title() for ax in axes] == KEYS
    assert axes[0].get_ylabel() == "fraction of simulated time"
    for ax, key in zip(axes, KEYS, strict=True):
        used, wasted = np.array([p.get_height() for p in ax.patches]).reshape(2, 4)
        bottoms = [p.get_y() for p in ax.patches[4:]]
        np.testing.assert_allclose(bottoms, used)
        assert np.all(used + wasted <= 1.0 + 1e-12)
        if key == "synchronized_nigt":  # every round each agent computes exactly one τ_i
            result = run.methods[key]
            rounds = len(result.rows)
            np.testing.assert_allclose(used, rounds * tau(4) / result.rows[-1]["time_end"])
            np.testing.assert_array_equal(wasted, 0.0)
    assert legend_texts(axes[0].figure.legends[0]) == [
        "computing, used",
        "computing, wasted (discarded / lost)",
    ]
    rennala_wasted = np.array([p.get_height() for p in axes[0].patches[4:]])
    assert rennala_wasted.sum() > 0


# ---------------------------------------------------------------- run and sweep directories


def is_png_and_pdf(paths: list[Path]) -> bool:
    heads = {p.suffix: p.read_bytes()[:5] for p in paths}
    return heads == {".png": b"\x89PNG\r", ".pdf": b"%PDF-"}


def test_plot_run_writes_png_and_pdf(tmp_path: Path) -> None:
    methods = [
        {"name": "rennala_nigt", "batch": 4},
        {"name": "afedpg"},
        {"name": "asynchronous_pg"},
    ]
    run = simulate(scenario(methods=methods, budget={"iterations": 4}))
    paths = plots.plot_run(run, tmp_path)
    timelines = ["timeline_rennala_nigt", "timeline_afedpg", "timeline_asynchronous_pg"]
    names = ["progress", "round_bounds", *timelines, "utilization"]
    assert paths == [tmp_path / f"{name}.{ext}" for name in names for ext in ("png", "pdf")]
    for name in names:
        assert is_png_and_pdf([tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"])


def read_data(path: Path) -> dict[str, list[dict[str, str]]]:
    """A figure's CSV grouped by series."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        grouped.setdefault(row["series"], []).append(row)
    return grouped


def test_every_figure_writes_the_data_it_draws(tmp_path: Path, run: RunResult) -> None:
    """plots/NAME.csv beside every figure: its rows are the drawn lines, points and bars."""
    paths = plots.plot_run(run, tmp_path)
    for png in [p for p in paths if p.suffix == ".png"]:
        assert png.with_suffix(".csv").is_file(), png
    progress = read_data(tmp_path / "progress.csv")
    ax = plots.plot_progress([run]).axes[0]
    for line in ax.get_lines():
        rows = progress[line.get_label()]
        assert [float(r["x"]) for r in rows] == list(line.get_xdata())
        assert [float(r["y"]) for r in rows] == list(line.get_ydata())
    rounds = read_data(tmp_path / "round_bounds.csv")
    ax = plots.plot_round_bounds(run).axes[0]
    for scatter, key in zip(ax.collections, KEYS[:3], strict=True):
        xy = [(float(r["x"]), float(r["y"])) for r in rounds[key]]
        assert xy == [tuple(p) for p in np.asarray(scatter.get_offsets()).tolist()]
    timeline = read_data(tmp_path / "timeline_rennala_nigt.csv")
    drawn = bars(plots.plot_timeline(run, "rennala_nigt").axes[0])
    for gid, spans in drawn.items():
        kind, agent = gid.split(":")
        rows = [r for r in timeline[kind] if r["y"] == f"{float(agent)}"]
        written = sorted((float(r["x"]), float(r["x_end"])) for r in rows)
        np.testing.assert_allclose(written, spans, rtol=1e-12)
    used = read_data(tmp_path / "utilization.csv")
    axes = plots.plot_utilization(run).axes
    for ax, key in zip(axes, KEYS, strict=True):
        heights = [p.get_height() for p in ax.patches]
        written = used[f"{key}: computing, used"] + used[f"{key}: computing, wasted"]
        np.testing.assert_allclose([float(r["y"]) for r in written], heights, rtol=1e-12)


def test_plot_run_without_trace_skips_trace_figures(tmp_path: Path) -> None:
    run = simulate(scenario(methods=[{"name": "afedpg"}], output={"trace": False}))
    assert [p.name for p in plots.plot_run(run, tmp_path)] == ["progress.png", "progress.pdf"]


@pytest.fixture
def sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list]:
    """A sweep over cluster.compute.h (α) × seed, its runs served by stand-ins of
    asyncsim.results' readers."""
    methods = [{"name": "rennala_nigt", "batch": 4}]
    runs, rows = {}, []
    for alpha in ("sqrt(i)", "i**2"):
        for seed in (0, 1):
            key = f"h{len(runs)}"
            compute = {"kind": "exponential", "h": alpha}
            runs[key] = simulate(scenario(seed=seed, cluster_compute=compute, methods=methods))
            (tmp_path / "points" / key).mkdir(parents=True)
            rows.append(
                {
                    "hash": key,
                    "seed": seed,
                    "cluster.compute.h": alpha,
                    "status": "done",
                    "error": "",
                }
            )
    for bad, status, error in (("failed", "failed", "boom"), ("pending", "pending", "")):
        (tmp_path / "points" / bad).mkdir()  # unfinished points are skipped, dir or not
        rows.append(
            {"hash": bad, "seed": 0, "cluster.compute.h": "i", "status": status, "error": error}
        )
    with open(tmp_path / "index.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    monkeypatch.setattr(results, "load_run", lambda path: runs[Path(path).name])
    monkeypatch.setattr(results, "is_readable", lambda path: Path(path).name in runs)
    calls: list = []
    original = plots.plot_scaling

    def recording(points: list, parameter: str) -> Any:
        calls.append(points)
        return original(points, parameter)

    monkeypatch.setattr(plots, "plot_scaling", recording)
    return tmp_path, calls


def test_plot_sweep_groups_seeds_and_scales_in_alpha(sweep: tuple[Path, list]) -> None:
    sweep_dir, calls = sweep
    paths = plots.plot_sweep(sweep_dir, sweep_dir / "figures")
    assert sorted({p.stem for p in paths}) == [
        "progress_cluster.compute.h=i_2",
        "progress_cluster.compute.h=sqrt_i",
        "scaling_cluster.compute.h",
    ]
    assert is_png_and_pdf([p for p in paths if p.stem == "scaling_cluster.compute.h"])
    (points,) = calls  # unfinished points are left out; two seeds per α
    assert [x for x, _ in points] == [0.5, 0.5, 2.0, 2.0]
    assert [run.scenario.seed for _, run in points] == [0, 1, 0, 1]


# ---------------------------------------------------------------- figures a reader can trust


def overlaps(fig: Any) -> list[tuple[float, float]]:
    """Display coordinates of the data points (line vertices and scatter offsets) that fall
    inside a legend's box once the figure is drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    boxes = [legend.get_window_extent() for legend in fig.legends]
    inside = []
    for ax in fig.axes:
        points = [line.get_xydata() for line in ax.get_lines()]
        points += [collection.get_offsets() for collection in ax.collections]
        for xy in points:
            if len(xy) == 0:
                continue
            for x, y in ax.transData.transform(np.asarray(xy, dtype=float)):
                if any(box.contains(x, y) for box in boxes):
                    inside.append((x, y))
    return inside


def test_legends_never_cover_data(run: RunResult) -> None:
    points = [
        (n, simulate(scenario(cluster_n=n, cluster_compute={"kind": "fixed", "h": "sqrt(i)"})))
        for n in (2, 4, 8)
    ]
    for fig in (
        plots.plot_progress([run]),
        plots.plot_round_bounds(run),
        plots.plot_scaling(points, "n"),
        plots.plot_utilization(run),
    ):
        assert fig.legends, fig
        assert overlaps(fig) == []


@pytest.mark.usefixtures("restore_registries")
def test_no_theory_line_for_a_method_without_a_shape(tmp_path: Path) -> None:
    from asyncsim.plugins import load_plugin

    load_plugin(Path(__file__).resolve().parents[1] / "examples" / "plugins" / "fedbuff.py")
    methods = [{"name": "fedbuff", "buffer": 2}, {"name": "rennala_pg", "batch": 4}]
    points = [(n, simulate(scenario(cluster_n=n, methods=methods))) for n in (2, 4, 8)]
    ax = plots.plot_scaling(points, "n").axes[0]
    theory = [line.get_label() for line in ax.get_lines() if "theory" in line.get_label()]
    assert len(theory) == 1 and theory[0].startswith("rennala_pg theory ×")  # its own name


def made_up_run(seed: int, ends: list[float], target: float | None, reached: float | None):
    """A run of one method whose evaluation return rises linearly to 100 at each row end."""
    budget = {"time": 20000.0} if target is None else {"time": 20000.0, "target_return": target}
    data = scenario(seed=seed, methods=[{"name": "rennala_nigt", "batch": 4}], budget=budget)
    rows = [{"iteration": i, "time_start": 0.0, "time_end": t, "eval_return": 100.0 * t / ends[-1]}
            for i, t in enumerate(ends)]  # fmt: skip
    summary = {"time_to_target": reached, "total_time": ends[-1]}
    method = MethodResult("rennala_nigt", rows, [], summary)
    return RunResult(validate_scenario(data), {"rennala_nigt": method})


def test_progress_marks_each_seed_and_its_ticks_do_not_run_together(tmp_path: Path) -> None:
    """Issue reproducers: the quickstart's 20,000 s printed "10000125001500017500" (ticks every
    2,500 s on axes narrowed by the legend); a seed's time to target, or its miss, was not
    drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for target in (None, 80.0):  # without a target the legend is short and the axes wide
        runs = [
            made_up_run(0, [500.0, 12000.0, 14000.0], target, 12000.0 if target else None),
            made_up_run(1, [500.0, 15000.0, 20000.0], target, None),  # missed: ends at 20,000
        ]
        fig = plots.plot_progress(runs, out=tmp_path / "progress")
        ax = fig.axes[0]
        FigureCanvasAgg(fig).draw()
        labels = [label for label in ax.get_xticklabels() if label.get_text()]
        inside = [b for b in (label.get_window_extent() for label in labels)
                  if ax.bbox.x0 - 1 <= (b.x0 + b.x1) / 2 <= ax.bbox.x1 + 1]  # fmt: skip
        space = 0.5 * max(b.height for b in inside)  # about a character's width
        assert all(b.x0 - a.x1 >= space for a, b in itertools.pairwise(inside)), [
            label.get_text() for label in labels
        ]
    marks = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    reached, missed = (np.asarray(c.get_offsets()).tolist() for c in marks)
    assert reached == [[12000.0, pytest.approx(100.0 * 12000 / 14000)]]
    assert missed == [[20000.0, 100.0]]
    data = read_data(tmp_path / "progress.csv")
    assert [(float(r["x"]), float(r["y"])) for r in data["rennala_nigt: missed"]] == [
        (20000.0, 100.0)
    ]
    texts = legend_texts(fig.legends[0])
    assert "a seed reaches the target" in texts and "a seed missed it (end of its run)" in texts


def test_a_sweep_point_figure_is_titled_with_its_parameters(tmp_path: Path) -> None:
    import yaml

    from asyncsim.cli import main

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**scenario(), "sweep": {"cluster.n": [2, 3]}}))
    CliRunner().invoke(
        main, ["sweep", str(path), "--out", str(tmp_path / "sw"), "-q", "--workers", "1"]
    )
    fig = plots.plot_progress(
        [load_run(p.parent) for p in sorted((tmp_path / "sw").glob("points/*/COMPLETE"))][:1],
        title="cluster.n = 2",
    )
    assert fig.axes[0].get_title() == "cluster.n = 2 (1 seed)"
    written = plots.plot_sweep(tmp_path / "sw", tmp_path / "figures")
    assert any(p.name == "progress_cluster.n=2.png" for p in written)


@pytest.mark.parametrize(
    ("field", "value", "title"),
    [
        ("cluster.uplink.time", "sqrt(i)", "κ_i = √i"),
        ("cluster.uplink.time", "sqrt(i) * d**0.25", "κ_i = √i·d^(1/4)"),
        ("cluster.compute.h", "i**2", "h_i = i^2"),
        ("cluster.n", 16, "n = 16"),
        ("methods[0].lr", 0.01, "methods[0].lr = 0.01"),
    ],
)
def test_titles_name_the_regime(field: str, value: Any, title: str) -> None:
    """The quickstart's figures were titled "cluster.uplink.time = sqrt(i) * d**0.25"."""
    assert plots.regime(field, value) == title
