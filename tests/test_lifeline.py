"""Processes given a lifeline exit when the process that started them is killed with SIGKILL,
down a whole tree; a process without one survives (the control that shows the test can fail)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import alive

SCRIPT = """
import multiprocessing, sys, time
from asyncsim.lifeline import exit_with_parent, parent_lifeline

def grandchild(lifeline):
    exit_with_parent(lifeline)
    time.sleep(600)

def child(lifeline, pids):
    exit_with_parent(lifeline)
    process = multiprocessing.get_context("spawn").Process(
        target=grandchild, args=(parent_lifeline(),)
    )
    process.start()
    pids.put(process.pid)
    time.sleep(600)

def unprotected():
    time.sleep(600)

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    pids = context.Queue()
    protected = context.Process(target=child, args=(parent_lifeline(), pids))
    control = context.Process(target=unprotected)
    protected.start()
    control.start()
    print(protected.pid, pids.get(), control.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_tree_with_lifelines_dies_with_its_root(tmp_path: Path, method: str) -> None:
    script = tmp_path / "tree.py"
    script.write_text(SCRIPT)
    root = subprocess.Popen(
        [sys.executable, str(script), method], stdout=subprocess.PIPE, text=True
    )
    child, grandchild, control = map(int, root.stdout.readline().split())
    try:
        assert all(map(alive, (child, grandchild, control)))
        root.kill()
        root.wait()
        deadline = time.monotonic() + 5
        while (alive(child) or alive(grandchild)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(child)
        assert not alive(grandchild)
        assert alive(control)
    finally:
        for pid in (child, grandchild, control):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


POOL_SCRIPT = """
import time
import numpy as np
from asyncsim.oracles.base import GradientJob, GradientRequest
from asyncsim.oracles.policy_gradient import PolicyGradientOracle

if __name__ == "__main__":
    oracle = PolicyGradientOracle(
        n_agents=2, env="Pendulum-v1", horizon=5, hidden=[4], seed=0, workers=2, threads=False
    )
    point = oracle.initial_point()
    oracle.compute([GradientRequest(point, (GradientJob(0, 0, 2, 1.0), GradientJob(1, 0, 2, 1.0)))])
    print(*(p.pid for p in oracle._pool._executor._processes.values()), flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_rollout_workers_die_with_their_oracle(tmp_path: Path) -> None:
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    root = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = list(map(int, root.stdout.readline().split()))
    try:
        assert len(workers) == 2 and all(map(alive, workers))
        root.kill()
        root.wait()
        deadline = time.monotonic() + 5
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(map(alive, workers))
    finally:
        for pid in filter(alive, workers):
            os.kill(pid, signal.SIGKILL)
