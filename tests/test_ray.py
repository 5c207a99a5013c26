"""The Ray executor gives the same sweep directory as the local process pool, on a local Ray
instance and on a cluster started as users start one (`ray start --head`, loopback addresses
only); a cluster that cannot be reached is one line saying what to do."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from processes import session_processes

from asyncsim.sweep import read_index, run_sweep

BIN = Path(sys.executable).parent
SWEEP = {
    "name": "ray",
    "oracle": {"kind": "quadratic", "dim": 4},
    "cluster": {"n": 2, "compute": {"kind": "exponential", "h": "i**0.5"}},
    "methods": [{"name": "rennala_nigt"}, {"name": "afedpg"}],
    "budget": {"iterations": 20, "time": 1e6},  # a time too: no warning on comparability
    "sweep": {"cluster.n": [2, 4], "seed": [0, 1]},
}


def assert_same_tables(out: Path, reference: Path) -> None:
    # results.csv holds each point's real_seconds: it is compared without them below
    tables = sorted(
        p.relative_to(reference) for p in reference.rglob("*.csv") if p.name != "results.csv"
    )
    assert len(tables) == 1 + 4 * 2 * 2  # index.csv, 4 points x 2 methods x 2 tables
    for table in tables:
        assert (out / table).read_bytes() == (reference / table).read_bytes(), table
    results = [
        pd.read_csv(d / "results.csv").drop(columns="real_seconds") for d in (out, reference)
    ]
    pd.testing.assert_frame_equal(*results)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SWEEP run by the local process pool."""
    out = tmp_path_factory.mktemp("local") / "sweep"
    run_sweep(SWEEP, out, executor="local", workers=2)
    return out


@pytest.mark.slow
def test_ray_sweep_equals_the_local_sweep(
    tmp_path: Path, local: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    index = run_sweep(SWEEP, tmp_path / "ray", executor="ray", workers=2)
    assert index.count("done") == 4
    assert [row["status"] for row in read_index(tmp_path / "ray")] == ["done"] * 4
    assert_same_tables(tmp_path / "ray", local)


# ---------------------------------------------------------------- a cluster at an address


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A Ray head started with `ray start --head --node-ip-address=127.0.0.1` on free ports, on
    a node that has a Ray token and RAY_AUTH_MODE unset (Ray 2.59 and later then turn token
    authentication on); yields (address, token file) and stops the head (only it) afterwards."""
    ray = pytest.importorskip("ray")
    token = tmp_path_factory.mktemp("head") / "token"
    token.write_text(secrets.token_hex(32))
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    port = free_port()
    command = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        f"--dashboard-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        "--num-cpus=2",
        f"--temp-dir={temp}",
        "--block",
    ]
    log = token.with_name("head.log")
    with open(log, "w") as output:
        head = subprocess.Popen(
            command, env=ray_env(token), start_new_session=True, stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        if _version(ray.__version__) >= (2, 59):  # the case that failed: a head with tokens
            assert "Token authentication is enabled" in log.read_text()
        yield f"127.0.0.1:{port}", token
    finally:
        head.terminate()  # `ray start --block` stops the processes it started
        head.wait(timeout=60)
        deadline = time.monotonic() + 30
        while session_processes(head.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = session_processes(head.pid)
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


def sweep_command(tmp_path: Path, out: Path, *options: str) -> list[str]:
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    command = [str(BIN / "asyncsim"), "sweep", str(scenario), "--out", str(out), "-q"]
    return [*command, "--executor", "ray", *options]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ray_sweep_on_a_started_cluster_equals_the_local_sweep(
    tmp_path: Path, local: Path, ray_head: tuple[str, Path]
) -> None:
    """As a user runs it: RAY_AUTH_MODE unset, the cluster's token on this machine."""
    address, token = ray_head
    out = tmp_path / "ray"
    command = sweep_command(tmp_path, out, "--address", address)
    result = subprocess.run(
        command, capture_output=True, text=True, env=ray_env(token), timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "4 points: 4 done (0 already finished before), 0 failed" in result.stdout
    assert_same_tables(out, local)


@pytest.mark.slow
def test_a_refused_token_is_one_line_with_the_cause(
    tmp_path: Path, ray_head: tuple[str, Path]
) -> None:
    if _version(pytest.importorskip("ray").__version__) < (2, 59):
        pytest.skip("a Ray before 2.59 does not turn token authentication on by itself")
    address, _ = ray_head
    wrong = tmp_path / "wrong"
    wrong.write_text(secrets.token_hex(32))
    # Ray's own retry budget (20 attempts a second apart), cut down for the test
    env = ray_env(wrong) | {"RAY_gcs_server_port_wait_time_s": "2"}
    command = sweep_command(tmp_path, tmp_path / "out", "--address", address)
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: --address {address}: Ray could not connect (Failed to get cluster ID from GCS "
        "server: Unauthenticated: RPC error: InvalidAuthToken: Authentication token is missing "
        "or incorrect); the cluster must run Ray "
    )
    assert result.stderr.count("\n") == 1


def ray_env(token: Path) -> dict[str, str]:
    """The environment of a user whose machine holds ``token`` (RAY_AUTH_MODE unset)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    return env | {"RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "127.0.0.1:{port}",
            "error: --address 127.0.0.1:{port}: no Ray cluster answers there (Connection "
            "refused); start one on that machine with `ray start --head --port={port}`, or "
            "leave out --address to start a local Ray instance",
        ),
        (
            "127.0.0.1",
            "error: --address: expected HOST:PORT of a Ray cluster, got '127.0.0.1'",
        ),
    ],
)
def test_an_unreachable_cluster_is_one_line_saying_what_to_do(
    tmp_path: Path, address: str, message: str
) -> None:
    pytest.importorskip("ray")
    port = free_port()  # nothing listens there
    command = sweep_command(tmp_path, tmp_path / "out", "--address", address.format(port=port))
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 30  # Ray itself retries for minutes
    assert result.returncode == 2
    assert result.stderr == message.format(port=port) + "\n"
