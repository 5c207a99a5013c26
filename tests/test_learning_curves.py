"""analysis.learning_curves: the figures of a run's learning curve, recomputed by hand."""

from __future__ import annotations

import json
import math

import pytest

from analysis.learning_curves import curve, finished_methods, main, summarize


def _rows(returns, lengths, transitions=100.0):
    rows = []
    for k, (value, length) in enumerate(zip(returns, lengths, strict=True)):
        rows.append({"iteration": 2 * k, "transitions": transitions})  # not evaluated
        rows.append(
            {"iteration": 2 * k + 1, "transitions": transitions, "eval_return": value,
             "eval_episode_length": length}
        )  # fmt: skip
    return rows


def test_fifths_ratio_and_z_by_hand():
    returns = [10, 12, 20, 30, 40, 50, 60, 80, 90, 100]
    lengths = [5, 7, 9, 11, 13, 15, 17, 19, 21, 23]
    run = curve(_rows(returns, lengths))
    assert run.transitions == tuple(200.0 * (k + 1) for k in range(10))
    s = summarize(run, initial=8.0)
    # 2000 transitions in all: the first fifth is t <= 400 (10, 12), the last t >= 1600
    # (80, 90, 100)
    assert s.first == 11 and s.last == 90
    assert s.error == pytest.approx(math.sqrt(2 / 2 + 100 / 3))  # sample variances 2 and 100
    assert s.ratio == pytest.approx(90 / 8)
    assert s.z == pytest.approx(79 / math.sqrt(1 + 100 / 3))
    assert s.length_first == 6 and s.length_last == 21
    assert s.length_start == 5 and s.length_growth == pytest.approx(21 / 5)
    assert s.learns


def test_a_flat_run_does_not_learn():
    returns = [300, 290, 310, 305, 295, 300, 310, 290, 305, 300]
    s = summarize(curve(_rows(returns, [60] * 10)), initial=90.0)
    assert s.ratio > 3 and not s.learns  # it rose at once, then stayed flat: z is small
    assert abs(s.z) < 1


def test_a_run_without_evaluations_is_an_error():
    with pytest.raises(ValueError, match="no evaluated rows"):
        curve([{"iteration": 0, "transitions": 10.0}])


def test_methods_finished_in_an_unfinished_sweep_point_are_read(tmp_path, capsys):
    """A point still running (no completion marker, no scenario.yaml) shows the methods it has
    written; a method directory without its summary is not finished and is left out."""
    sweep = tmp_path / "sweep"
    point = sweep / "points" / "abc123"
    (sweep / "index.csv").parent.mkdir(parents=True)
    (sweep / "index.csv").write_text("hash,seed,status,error\nabc123,4,pending,\n")
    point.mkdir(parents=True)
    metadata = {"asyncsim_version": "0", "methods": ["rennala_nigt", "afedpg"]}
    (point / "metadata.json").write_text(json.dumps(metadata))
    (point / "rennala_nigt").mkdir()
    (point / "rennala_nigt" / "iterations.csv").write_text(
        "iteration,transitions,eval_return,eval_episode_length\n"
        + "".join(f"{k},100,{10 * (k + 1)},{k + 5}\n" for k in range(10))
    )
    (point / "rennala_nigt" / "summary.json").write_text('{"initial_return": 2.0}')
    (point / "afedpg").mkdir()
    (point / "afedpg" / "iterations.csv").write_text("iteration,transitions\n0,1\n")
    ((key, seed, rows, summary),) = finished_methods(sweep)
    assert (key, seed, summary) == ("rennala_nigt", 4, {"initial_return": 2.0})
    assert [r["eval_return"] for r in rows] == [10 * (k + 1) for k in range(10)]
    # first fifth (t <= 200) 10, 20; last (t >= 800) 80, 90, 100: 90 ± √(50/2 + 100/3)
    assert main([str(sweep)]) == 0
    assert "| rennala_nigt | 4 | 2.0 | 15.0 | 90.0 ± 7.6 |" in capsys.readouterr().out


def _sweep(directory, runs):
    """A sweep directory of finished methods: ``runs`` maps (method, seed) to the returns of
    its 10 evaluations (one point per seed)."""
    seeds = sorted({seed for _, seed in runs})
    directory.mkdir()
    index = "".join(f"p{seed},{seed},done,\n" for seed in seeds)
    (directory / "index.csv").write_text("hash,seed,status,error\n" + index)
    for seed in seeds:
        point = directory / "points" / f"p{seed}"
        point.mkdir(parents=True)
        methods = [key for key, s in runs if s == seed]
        metadata = {"asyncsim_version": "0", "methods": methods}
        (point / "metadata.json").write_text(json.dumps(metadata))
        for key in methods:
            (point / key).mkdir()
            (point / key / "iterations.csv").write_text(
                "iteration,transitions,eval_return\n"
                + "".join(f"{k},100,{value}\n" for k, value in enumerate(runs[key, seed]))
            )
            (point / key / "summary.json").write_text('{"initial_return": 1.0}')


def test_a_later_sweep_replaces_the_runs_it_repeats(tmp_path, capsys):
    """Two sweeps read in turn: the second's run of (afedpg, 1) replaces the first's, and the
    rows are listed by method, then seed."""
    flat, rising = [50.0] * 10, [10.0 * (k + 1) for k in range(10)]
    _sweep(tmp_path / "a", {("rennala_nigt", 0): rising, ("afedpg", 0): rising,
                            ("rennala_nigt", 1): rising, ("afedpg", 1): flat})  # fmt: skip
    _sweep(tmp_path / "b", {("afedpg", 1): rising})
    assert main([str(tmp_path / "a")]) == 1  # the flat run does not learn
    capsys.readouterr()
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    rows = [line.split(" | ")[:2] for line in capsys.readouterr().out.splitlines()[2:6]]
    assert rows == [["| rennala_nigt", "0"], ["| rennala_nigt", "1"], ["| afedpg", "0"],
                    ["| afedpg", "1"]]  # fmt: skip
