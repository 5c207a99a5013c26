"""Byte-for-byte comparison of the results of two trees of asyncsim on every shipped scenario.

A change that only reorganises the code (a refactoring) must leave every result unchanged. This
script runs each scenario under ``scenarios/`` (the reduced variants of the paper's figures, the
sweeps' base scenarios, the quickstart, the emulation example) with ``asyncsim run`` in an old
tree and in the new one, and compares every method's ``iterations.csv``, ``trace.csv`` and
``summary.json`` byte for byte; in ``summary.json`` only ``real_seconds`` (the run's CPU time)
is left out. RL scenarios are cut to a short time budget with ``--set`` so that the whole
comparison takes minutes; every file is still run.

Usage (from the repository root)::

    python -m benchmarks.compare_outputs --old REV        # a commit: checked out in a temporary
                                                          # git worktree, removed afterwards
    python -m benchmarks.compare_outputs --old-tree DIR   # an existing checkout
    python -m benchmarks.compare_outputs --old REV --only quickstart

Both trees run with this interpreter (the packages they need are the same); each tree's own
``asyncsim`` is imported (it stands first on ``PYTHONPATH``). Exit status 0: every file equal;
1: a difference (each is listed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMPARED = ("iterations.csv", "trace.csv", "summary.json")
VARYING = ("real_seconds",)
"""Summary keys that measure the machine, not the run."""

RL_CUT = ("--set", "budget.time=6", "--set", "evaluation.episodes=1", "--set", "oracle.workers=1")
"""A few RL iterations: every part of the RL path runs, in seconds."""

SYNTHETIC_CUT = ("--set", "budget.time=200")

CASES: dict[str, tuple[str, ...]] = {
    "quickstart.yaml": (),
    "emulation_separated.yaml": (),
    "sweeps/n_agents_synthetic.yaml": SYNTHETIC_CUT,
    "sweeps/heterogeneity_synthetic.yaml": SYNTHETIC_CUT,
    "sweeps/async_sgd_baselines.yaml": SYNTHETIC_CUT,
    "sweeps/graph_families_synthetic.yaml": SYNTHETIC_CUT,
    "sweeps/shared_ingress_synthetic.yaml": SYNTHETIC_CUT,
    "sweeps/shared_egress_synthetic.yaml": SYNTHETIC_CUT,
    "sweeps/n_agents_mujoco.yaml": RL_CUT,
    "sweeps/heterogeneity_mujoco.yaml": RL_CUT,
    "sweeps/shared_ingress_humanoid.yaml": RL_CUT,
    **{
        f"paper/reduced/{name}": RL_CUT
        for name in (
            "fig1a_humanoid_equal_times.yaml",
            "fig1b_humanoid_heterogeneous.yaml",
            "fig1c_humanoid_large_communication.yaml",
            "fig3_hopper.yaml",
            "fig3_reacher.yaml",
            "fig3_walker2d.yaml",
            "h3_heterogeneous_environments.yaml",
        )
    },
    **{
        f"paper/reduced/{name}": ("--set", "budget.time=2000")
        for name in (
            "fig4_n100_equal_times.yaml",
            "fig5_n100_heterogeneous_compute.yaml",
            "fig6_n100_communication_equals_compute.yaml",
            "fig7_n100_large_communication.yaml",
            "fig8_n100_decreasing_compute.yaml",
        )
    },
}
"""Scenario (under scenarios/) → the overrides that keep it short."""


def shipped_scenarios() -> list[str]:
    """Every scenario file this comparison must cover: the reduced paper variants, the sweeps,
    the top-level examples (a full paper scenario is covered by its reduced variant)."""
    base = ROOT / "scenarios"
    files = [*base.glob("*.yaml"), *base.glob("sweeps/*.yaml"), *base.glob("paper/reduced/*.yaml")]
    return sorted(str(path.relative_to(base)) for path in files)


def run(tree: Path, scenario: str, extra: tuple[str, ...], out: Path) -> None:
    """``asyncsim run`` of ``scenarios/<scenario>`` with the asyncsim of ``tree``."""
    command = [
        sys.executable,
        "-c",
        "import sys; from asyncsim.cli import main; sys.argv[0] = 'asyncsim'; main()",
        "run",
        str(tree / "scenarios" / scenario),
        "--out",
        str(out),
        "--no-plots",
        "--quiet",
        "--force",
        "--trust-plugins",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(tree), "MPLBACKEND": "Agg"}
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{scenario} failed in {tree}:\n{done.stderr.strip()}")


def compared_files(out: Path) -> dict[str, bytes]:
    """Relative path → the bytes compared (summary.json without its varying keys)."""
    files = {}
    for path in sorted(out.rglob("*")):
        if path.name not in COMPARED:
            continue
        data = path.read_bytes()
        if path.name == "summary.json":
            summary = {k: v for k, v in json.loads(data).items() if k not in VARYING}
            data = json.dumps(summary, sort_keys=True).encode()
        files[str(path.relative_to(out))] = data
    return files


def differences(old: dict[str, bytes], new: dict[str, bytes]) -> list[str]:
    """One line per file missing on one side or differing."""
    lines = [f"only in the old tree: {name}" for name in sorted(old.keys() - new.keys())]
    lines += [f"only in the new tree: {name}" for name in sorted(new.keys() - old.keys())]
    both = sorted(old.keys() & new.keys())
    lines += [f"differs: {name}" for name in both if old[name] != new[name]]
    return lines


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """A temporary git worktree of ``revision``, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="asyncsim-old-") as parent:
        tree = Path(parent) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(tree), revision],
            cwd=ROOT,
            check=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)


def compare(old_tree: Path, only: list[str]) -> int:
    missing = [name for name in shipped_scenarios() if name not in CASES]
    if missing:
        raise SystemExit(f"scenarios without a comparison case: {', '.join(missing)}")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="asyncsim-compare-") as scratch:
        for scenario, extra in CASES.items():
            if only and not any(part in scenario for part in only):
                continue
            if not (old_tree / "scenarios" / scenario).is_file():
                print(f"{scenario}: not in the old tree, not compared", flush=True)
                continue
            outs = [Path(scratch) / side / scenario.replace("/", "_") for side in ("old", "new")]
            for tree, out in zip((old_tree, ROOT), outs, strict=True):
                run(tree, scenario, extra, out)
            old, new = (compared_files(out) for out in outs)
            lines = differences(old, new)
            failures += bool(lines)
            verdict = "DIFFERENT" if lines else "identical"
            print(f"{scenario}: {len(new)} files {verdict}", flush=True)
            for line in lines:
                print(f"  {line}")
    print("every file identical" if not failures else f"{failures} scenario(s) differ")
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--old", metavar="REV", help="git revision of the old tree")
    source.add_argument("--old-tree", metavar="DIR", type=Path, help="checkout of the old tree")
    parser.add_argument("--only", nargs="*", default=[], help="scenarios whose path has one")
    args = parser.parse_args()
    if args.old_tree is not None:
        sys.exit(compare(args.old_tree.resolve(), args.only))
    with checkout(args.old) as tree:
        sys.exit(compare(tree, args.only))


if __name__ == "__main__":
    main()
