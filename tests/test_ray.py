"""The Ray executor gives the same sweep directory as the local process pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncsim.sweep import read_index, run_sweep

SWEEP = {
    "name": "ray",
    "oracle": {"kind": "quadratic", "dim": 4},
    "cluster": {"n": 2, "compute": {"kind": "exponential", "h": "i**0.5"}},
    "methods": [{"name": "rennala_nigt"}, {"name": "afedpg"}],
    "budget": {"iterations": 20},
    "sweep": {"cluster.n": [2, 4], "seed": [0, 1]},
}


@pytest.mark.slow
def test_ray_sweep_equals_the_local_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    run_sweep(SWEEP, tmp_path / "local", executor="local", workers=2)
    index = run_sweep(SWEEP, tmp_path / "ray", executor="ray", workers=2)
    assert index.count("done") == 4
    assert [row["status"] for row in read_index(tmp_path / "ray")] == ["done"] * 4
    local = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.csv"))
    assert len(local) == 1 + 4 * 2 * 2
    for table in local:
        assert (tmp_path / "ray" / table).read_bytes() == (tmp_path / "local" / table).read_bytes()
