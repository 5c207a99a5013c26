"""The bad-input table: every case fails the way a user error must (exit status 2, exactly one
``error:`` line on stderr naming the field path, no traceback, nothing written outside the
output directory, no pre-existing file changed, in under 5 s), or, for a run that diverges,
ends normally with one warning line per diverged method and strict JSON.

Cases that load plug-ins (they register names process-wide), that would allocate or loop
without end if their guard regressed, or that need the address-space limit, run in a fresh
interpreter (:func:`bad_input.asyncsim`); the others run in-process through click's CliRunner
(milliseconds instead of about half a second each).

The cases of expressions, YAML files and output directories live in test_expressions.py,
test_yaml_safety.py and test_output_safety.py.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bad_input import SECONDS, Outcome, assert_one_line_error, asyncsim, changes, snapshot
from click.testing import CliRunner

from asyncsim.cli import main

BASE = """\
name: bad-input
oracle: {kind: quadratic, dim: 3}
cluster: {n: 4, compute: {kind: fixed, h: 1.0}, uplink: {time: 0.1}}
methods: [{name: rennala_nigt, batch: 2}]
budget: {iterations: 3}
"""
"""A tiny synthetic scenario (milliseconds)."""

RL = """\
name: bad-rl
oracle: {kind: policy_gradient, env: Pendulum-v1, horizon: 10, workers: 1}
cluster: {n: 2, compute: {kind: fixed, h: 1.0}}
methods: [{name: rennala_pg, lr: 0.01}]
budget: {iterations: 1}
"""
"""A tiny policy-gradient scenario."""

STUCK = """\
name: stuck
oracle: {kind: quadratic, dim: 3}
cluster:
  n: 2
  compute: {kind: fixed, h: 1.0}
  uplink: {time: 0}
  outages: [{agent: 1, start: 0, end: 1e300}, {agent: 2, start: 0, end: 1e300}]
methods: [{name: rennala_nigt}]
budget: {time: 2e300}
"""
"""The outage reproducer of an earlier release: rounds start at 1e300 and take no time
(1e300 + 1 == 1e300); such times are refused at validation now."""


RAISING_PLUGIN = "import asyncsim\nraise RuntimeError('boom at import')\n"


def _sweep(*sizes: int) -> str:
    """BASE with a sweep of the given numbers of seeds, step sizes and agent counts."""
    paths = ["seed", "methods[0].lr", "cluster.n"][: len(sizes)]
    lines = [f"  {p}: {list(range(1, size + 1))}" for p, size in zip(paths, sizes, strict=True)]
    return BASE + "sweep:\n" + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    """One bad input: ``text`` (+ ``--set`` of ``sets``) given to ``command``.

    ``field`` is the field path the error line must start with and ``fragment`` a piece of its
    message; ``fresh`` runs it in a fresh, memory-limited interpreter; ``files`` are written
    beside the scenario; ``diverges`` lists the methods a divergence case must warn about.
    """

    category: str
    name: str
    field: str
    fragment: str
    sets: tuple[str, ...] = ()
    text: str = BASE
    command: str = "run"
    args: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    fresh: bool = False
    diverges: tuple[str, ...] = ()


def _case(category: str, name: str, field_: str, fragment: str, *sets: str, **kw) -> Case:
    return Case(category, name, field_, fragment, sets, **kw)


TRUST = ("--trust-plugins",)
"""The user's word that the scenario's plug-in files may be imported."""

R, C, E, D, T, S, B, P, M, Q, X = (
    "resources",
    "clock",
    "environments",
    "divergence",
    "topology",
    "overrides",
    "booleans",
    "method parameters",
    "plug-ins",
    "quoting",
    "scenario fields",
)

CASES = [
    # ---- item 4: resources (fresh: a regression would allocate or loop)
    _case(R, "n 10^7 (run)", "cluster.n", "10000000 agents", "cluster.n=10000000", fresh=True),
    _case(R, "n 10^7 (validate)", "cluster.n", "of memory", "cluster.n=1e7", command="validate",
          fresh=True),
    _case(R, "n 10^9", "cluster.n", "more than", "cluster.n=1000000000", fresh=True),
    _case(R, "batch 1e10", "methods[0].batch", "10000000000 gradients", "methods[0].batch=1e10",
          fresh=True),
    _case(R, "initial batch 1e10", "methods[0].initial_batch", "gradients",
          "methods[0].initial_batch=1e10", fresh=True),
    _case(R, "m-synchronous m with n 10^7", "cluster.n", "agents",
          "methods[0]={name: m_synchronous_sgd, m: 5000000}", "cluster.n=1e7", fresh=True),
    _case(R, "dim 1e9", "oracle.dim", "float64 vectors", "oracle.dim=1e9", fresh=True),
    _case(R, "dim 1e9 nonconvex", "oracle.dim", "float64 vectors",
          "oracle={kind: nonconvex, dim: 1000000000}", fresh=True),
    _case(R, "iterations 1e9", "budget.iterations", "iteration-table rows",
          "budget.iterations=1e9", fresh=True),
    _case(R, "gradients 1e13 without trace", "budget.gradients", "simulation events",
          "budget={gradients: 1e13}", "output.trace=false", fresh=True),
    _case(R, "evaluation episodes 1e9", "evaluation.episodes", "episodes at once",
          "evaluation.episodes=1e9", text=RL, fresh=True),
    _case(R, "policy-gradient horizon 1e9", "oracle.horizon", "allocate", "oracle.horizon=1e9",
          text=RL, fresh=True),
    _case(R, "policy hidden [1e6, 1e6]", "oracle.policy.hidden", "parameters of a policy",
          "oracle.policy.hidden=[1e6, 1e6]", text=RL, fresh=True),
    _case(R, "transitions 1e13", "budget.transitions", "at least",
          "budget={transitions: 1e13}", "output.trace=false", text=RL, fresh=True),
    _case(R, "sweep 100x100x100 (validate)", "sweep", "1000000 points (100 × 100 × 100)",
          text=_sweep(100, 100, 100), command="validate", fresh=True),
    _case(R, "sweep 100x100x100 (sweep)", "sweep", "more than 100000", text=_sweep(100, 100, 100),
          command="sweep", args=("--workers", "1"), fresh=True),
    _case(R, "sweep point n 10^7", "cluster.n", "10000000 agents", "sweep={cluster.n: [2, 1e7]}",
          command="validate", fresh=True),
    _case(R, "sweep point batch 1e10", "sweep point methods[0].batch=10000000000.0",
          "gradients", "sweep={'methods[0].batch': [2, 1e10]}", command="sweep",
          args=("--workers", "1"), fresh=True),
    # ---- item 4: a clock that cannot advance
    _case(C, "h 0, no communication, time budget", "budget.time", "cannot advance",
          "cluster.compute.h=0", "cluster.uplink.time=0", "budget={time: 100}", fresh=True),
    _case(C, "h 0 with a target", "budget.time", "cannot advance", "cluster.compute.h=0",
          "cluster.uplink.time=0", "budget={time: 100, target_grad_norm: 1e-9}", fresh=True),
    _case(C, "h 1e-300", "budget.time", "gradients", "cluster.compute.h=1e-300",
          "cluster.uplink.time=0", "budget={time: 100}", fresh=True),
    _case(C, "h 1e-300 without trace", "budget.time", "simulation events",
          "cluster.compute.h=1e-300", "cluster.uplink.time=0", "budget={time: 100}",
          "output.trace=false", fresh=True),
    _case(C, "outages to 1e300 (refused)", "budget.time", "must be at most 1e+12", text=STUCK,
          fresh=True),
    _case(C, "outages to 1e300 (forced: refused at validation)", "cluster.outages[0].end",
          "must be at most 1e+12", "budget={iterations: 3}", text=STUCK, args=("--force",),
          fresh=True),
    _case(C, "outages to 1e300, asynchronous (forced)", "cluster.outages[0].end",
          "must be at most 1e+12", "methods[0].name=afedpg", "budget={iterations: 3}",
          text=STUCK, args=("--force",), fresh=True),
    _case(C, "outages to 1e17 (rounds of 0 s)", "cluster.outages[0].end", "must be at most",
          "cluster.outages=[{agent: 1, start: 1e17, end: 2e17}]", "budget={iterations: 3}",
          text=STUCK, fresh=True),
    _case(C, "outages to 1e11 at 0.1 s steps", "cluster.outages[0].end", "too coarse",
          "cluster.outages=[{agent: 1, start: 1e11, end: 2e11}]", "budget={iterations: 3}",
          "cluster.uplink.time=0.0001", text=STUCK, fresh=True),
    _case(C, "h 1e308 (overflow)", "cluster.compute.h", "more than 1e+12 s",
          "cluster.compute.h=1e308"),
    _case(C, "budget time 1e300", "budget.time", "must be at most 1e+12",
          "budget={time: 1e300}"),
    _case(C, "h 0 (forced: stuck at run time)", "budget.time", "clock is stuck",
          "cluster.compute.h=0", "cluster.uplink.time=0", "budget={time: 100}",
          args=("--force",), fresh=True),
    # ---- item 5: environments and policies fail at validation
    _case(E, "CartPole-v1 (discrete actions)", "oracle.env", "CartPole-v1",
          "oracle.env=CartPole-v1", text=RL),
    _case(E, "Taxi-v3 (discrete)", "oracle.env", "Taxi-v3", "oracle.env=Taxi-v3", text=RL),
    _case(E, "env_kwargs bogus", "oracle.env_kwargs", "bogus", "oracle.env_kwargs={bogus: 1}",
          text=RL),
    _case(E, "agent env_kwargs bogus", "oracle.agents[0].env_kwargs", "bogus",
          "oracle.agents=[{env_kwargs: {bogus: 1}}, {}]", text=RL),
    _case(E, "agent env discrete", "oracle.agents[0].env", "CartPole-v1",
          "oracle.agents=[{env: CartPole-v1}, {}]", text=RL),
    _case(E, "unknown environment", "oracle.env", "unknown environment",
          "oracle.env=NoSuchEnv-v0", text=RL),
    _case(E, "CartPole-v1 at validation", "oracle.env", "CartPole-v1", "oracle.env=CartPole-v1",
          text=RL, command="validate"),
    _case(E, "Taxi-v3 at validation", "oracle.env", "Taxi-v3", "oracle.env=Taxi-v3", text=RL,
          command="validate"),
    _case(E, "env_kwargs bogus at validation", "oracle.env_kwargs", "bogus",
          "oracle.env_kwargs={bogus: 1}", text=RL, command="validate"),
    _case(E, "unknown environment at validation", "oracle.env", "unknown environment",
          "oracle.env=NoSuchEnv-v0", text=RL, command="validate"),
    _case(E, "agents list of the wrong length", "oracle.agents", "n = 2", "oracle.agents=[{}]",
          text=RL),
    _case(E, "policy kind unknown", "oracle.policy.kind", "must be one of",
          "oracle.policy.kind=cnn", text=RL),
    _case(E, "policy hidden width 0", "oracle.policy.hidden[0]", "must be >= 1",
          "oracle.policy.hidden=[0]", text=RL),
    _case(E, "discount 0", "oracle.discount", "must be > 0", "oracle.discount=0", text=RL),
    _case(E, "horizon mismatch", "cluster.horizon", "must equal oracle.horizon",
          "cluster.horizon=7", text=RL),
    # ---- item 8: server-only protocols under allreduce
    _case(T, "afedpg allreduce", "cluster.topology", "needs a server",
          "methods[0]={name: afedpg}", "cluster.topology=allreduce"),
    _case(T, "asynchronous_pg allreduce", "cluster.topology", "needs a server",
          "methods[0]={name: asynchronous_pg}", "cluster.topology=allreduce"),
    _case(T, "ringmaster allreduce", "cluster.topology", "needs a server",
          "methods[0]={name: ringmaster_asgd, max_delay: 2}", "cluster.topology=allreduce"),
    _case(T, "delay-adaptive allreduce", "cluster.topology", "needs a server",
          "methods[0]={name: delay_adaptive_asgd}", "cluster.topology=allreduce"),
    _case(T, "unknown topology", "cluster.topology", "must be one of", "cluster.topology=mesh"),
    _case(T, "unknown allreduce model", "cluster.allreduce", "must be one of",
          "cluster.allreduce=tree"),
    # ---- --set overrides
    _case(S, "list indexed by a name", "methods.lr", "methods is a list", "methods.lr=1"),
    _case(S, "list indexed by a digit name", "methods.0.lr", "methods[0]", "methods.0.lr=1"),
    _case(S, "index out of range", "methods[5].lr", "out of range", "methods[5].lr=1"),
    _case(S, "no '='", "--set", "expected path=value", "cluster.n"),
    _case(S, "malformed path", "cluster..n", "malformed field path", "cluster..n=3"),
    _case(S, "malformed YAML value", "--set cluster.n", "malformed YAML", "cluster.n=[1,"),
    _case(S, "a scalar indexed", "cluster.n[0]", "out of range", "cluster.n[0]=1"),
    _case(S, "a scalar given sub-fields", "cluster.n", "valid integer", "cluster.n.x=1"),
    _case(S, "a list item that is not a mapping", "methods[0].lr", "not a mapping",
          "methods[0].lr=1", text=BASE.replace("{name: rennala_nigt, batch: 2}", "rennala_nigt")),
    # ---- booleans are not numbers
    _case(B, "h true", "cluster.compute.h", "not a boolean", "cluster.compute.h=true"),
    _case(B, "h list with a boolean", "cluster.compute.h[1]", "not a boolean",
          "cluster.compute.h=[1, true, 1, 1]"),
    _case(B, "batch true", "methods[0].batch", "not a boolean", "methods[0].batch=true"),
    _case(B, "n true", "cluster.n", "not a boolean", "cluster.n=true"),
    _case(B, "seed true", "seed", "not a boolean", "seed=true"),
    _case(B, "iterations true", "budget.iterations", "not a boolean", "budget.iterations=true"),
    _case(B, "uplink time yes", "cluster.uplink.time", "not a boolean", "cluster.uplink.time=yes"),
    _case(B, "lr true", "methods[0].lr", "not a boolean", "methods[0].lr=true"),
    _case(B, "dim true", "oracle.dim", "not a boolean", "oracle.dim=true"),
    _case(B, "outage start true", "cluster.outages[0].start", "not a boolean",
          "cluster.outages=[{agent: 1, start: true, end: 2}]"),
    _case(B, "lognormal sigma true", "cluster.uplink.sigma", "not a boolean",
          "cluster.uplink={kind: lognormal, time: 0.1, sigma: true}"),
    _case(B, "method default true", "methods[0].momentum", "not a boolean",
          "method_defaults={momentum: true}"),
    _case(B, "episodes true", "evaluation.episodes", "not a boolean",
          "evaluation.episodes=true", text=RL),
    # ---- method parameters
    _case(P, "ringmaster max_delay 0", "methods[0].max_delay", "must be >= 1",
          "methods[0]={name: ringmaster_asgd, max_delay: 0}"),
    _case(P, "ringmaster without max_delay or target", "methods[0].max_delay", "required",
          "methods[0]={name: ringmaster_asgd}"),
    _case(P, "m 0", "methods[0].m", "must be >= 1", "methods[0]={name: m_synchronous_sgd, m: 0}"),
    _case(P, "m above n", "methods[0].m", "must be <= n = 4",
          "methods[0]={name: m_synchronous_sgd, m: 5}"),
    _case(P, "patience -1", "methods[0].patience", "must be finite and >= 0",
          "methods[0]={name: mindflayer_sgd, patience: -1}"),
    _case(P, "patience list of the wrong length", "methods[0].patience", "n = 4",
          "methods[0]={name: mindflayer_sgd, patience: [1, 2]}"),
    _case(P, "patience bad expression", "methods[0].patience", "malformed expression",
          "methods[0]={name: mindflayer_sgd, patience: 'sqrt(i, i)'}"),
    _case(P, "unknown delay rule", "methods[0].rule", "must be one of",
          "methods[0]={name: delay_adaptive_asgd, rule: bogus}"),
    _case(P, "concurrency 0", "methods[0].concurrency", "must be >= 1",
          "methods[0]={name: delay_adaptive_asgd, concurrency: 0}"),
    _case(P, "momentum 0", "methods[0].momentum", "must be > 0", "methods[0].momentum=0"),
    _case(P, "momentum 2", "methods[0].momentum", "must be <= 1", "methods[0].momentum=2"),
    _case(P, "lr 0", "methods[0].lr", "must be > 0", "methods[0].lr=0"),
    _case(P, "lr nan", "methods[0].lr", "finite", "methods[0].lr=.nan"),
    _case(P, "batch 0", "methods[0].batch", "must be >= 1", "methods[0].batch=0"),
    _case(P, "batch 2.5", "methods[0].batch", "integer", "methods[0].batch=2.5"),
    _case(P, "unknown parameter", "methods[0].bogus", "unknown key", "methods[0].bogus=1"),
    _case(P, "unknown method", "methods[0].name", "unknown method", "methods[0].name=rennala"),
    _case(P, "duplicate method", "methods[1]", "duplicate method",
          "methods=[{name: rennala_nigt}, {name: rennala_nigt}]"),
    _case(P, "unknown method default", "method_defaults.bogus", "unknown key",
          "method_defaults={bogus: 1}"),
    # ---- plug-ins (fresh: they register names process-wide)
    _case(M, "missing plug-in file", "plugins[0]", "not found", "plugins=[missing.py]",
          args=TRUST, fresh=True),
    _case(M, "plug-in raising at import", "plugins[0]", "boom at import", "plugins=[boom.py]",
          files={"boom.py": RAISING_PLUGIN}, args=TRUST, fresh=True),
    _case(M, "plug-in with a syntax error", "plugins[0]", "failed to load", "plugins=[bad.py]",
          files={"bad.py": "def (:\n"}, args=TRUST, fresh=True),
    _case(M, "plug-in not a Python file", "plugins[0]", "not a Python file",
          "plugins=[notes.txt]", files={"notes.txt": "hello\n"}, args=TRUST,
          fresh=True),
    _case(M, "plug-in registering a taken name", "plugins[0]", "already registered",
          "plugins=[taken.py]", files={"taken.py": (
              "import asyncsim\nasyncsim.register_method('rennala_nigt', 'rennala', 'nigt', 'x')\n"
          )}, args=TRUST, fresh=True),
    _case(M, "--plugin missing", "--plugin", "not found", args=("--plugin", "nowhere.py"),
          fresh=True),
    _case(M, "plugins not a list", "plugins", "must be a list", "plugins=boom.py", fresh=True),
    # ---- long values are quoted shortly
    _case(Q, "10 kB topology", "cluster.topology", "characters)", "cluster.topology=" + "x" * 9999),
    _case(Q, "10 kB seed", "seed", "characters)", "seed=" + "y" * 10_000),
    _case(Q, "10 kB method name", "methods[0].name", "characters", "methods[0].name=" + "z" * 9999),
    # ---- other scenario fields found by probing the command line
    _case(X, "schema version 2", "schema_version", "must be one of", "schema_version=2"),
    _case(X, "unknown top-level key", "colour", "unknown key", "colour=red"),
    _case(X, "no methods", "methods", "at least 1", "methods=[]"),
    _case(X, "budget without a limit", "budget", "set at least one", "budget={}"),
    _case(X, "budget time 0", "budget.time", "must be > 0", "budget={time: 0}"),
    _case(X, "evaluation period 0", "evaluation.period", "must be > 0", "evaluation.period=0"),
    _case(X, "outage ending before it starts", "cluster.outages[0]", "must be > start",
          "cluster.outages=[{agent: 1, start: 5, end: 2}]"),
    _case(X, "outage of agent n+1", "cluster.outages[0].agent", "must be in 1..4",
          "cluster.outages=[{agent: 5, start: 0, end: 2}]"),
    _case(X, "uplink h instead of time", "cluster.uplink.h", "not used by communication",
          "cluster.uplink={kind: fixed, h: 1}"),
    _case(X, "compute bandwidth", "cluster.compute.kind", "communication model only",
          "cluster.compute={kind: bandwidth, bandwidth: 1}"),
    _case(X, "bandwidth 0", "cluster.uplink.bandwidth", "must be > 0",
          "cluster.uplink={kind: bandwidth, bandwidth: 0}"),
    _case(X, "varying model given a number", "cluster.compute.h", "expression in i and k",
          "cluster.compute={kind: varying, h: 2}"),
    _case(X, "missing trace file", "cluster.compute.path", "times.csv",
          "cluster.compute={kind: trace, path: times.csv}"),
    _case(X, "h list of the wrong length", "cluster.compute.h", "n = 4",
          "cluster.compute.h=[1, 2]"),
    _case(X, "h infinite", "cluster.compute.h", "finite", "cluster.compute.h=.inf"),
    _case(X, "seeds not a list", "seeds", "non-empty list", "seeds=3"),
    _case(X, "sweep axis not a list", "sweep.seed", "non-empty list", "sweep={seed: 3}",
          command="validate"),
    _case(X, "sweep point invalid", "sweep point cluster.n=0", "must be >= 1",
          "sweep={cluster.n: [2, 0]}", command="validate"),
    _case(X, "quadratic min_curvature 0", "oracle.min_curvature", "must be > 0",
          "oracle.min_curvature=0"),
    _case(X, "student-t df 2", "oracle.df", "must be > 2", "oracle.df=2"),
    _case(X, "unknown oracle kind", "oracle.kind", "unknown oracle kind", "oracle.kind=sphere"),
]  # fmt: skip

# item 6: diverging runs end normally, with one warning per method and strict JSON
DIVERGING = [
    Case(D, "SGD lr 1e6 (synthetic)", "", "diverged at iteration",
         ("methods=[{name: rennala_pg, lr: 1e6}]", "oracle.kind=nonconvex", "budget.iterations=60"),
         args=("-q",), diverges=("rennala_pg",)),
    Case(D, "synchronized lr 1e200", "", "diverged at iteration",
         ("methods=[{name: synchronized_pg, lr: 1e200}]",), args=("-q",),
         diverges=("synchronized_pg",)),
    Case(D, "noise 1e300", "", "diverged at iteration",
         ("oracle.noise=1e300", "methods=[{name: rennala_nigt}, {name: afedpg}]",
          "budget={time: 10}"),
         args=("-q",), diverges=("rennala_nigt", "afedpg")),
    Case(D, "vanilla PG lr 1e6", "", "diverged at iteration",
         ("methods=[{name: rennala_pg, lr: 1e6}]", "budget.iterations=5"), text=RL,
         args=("-q",), diverges=("rennala_pg",)),
]  # fmt: skip


def _prepare(case: Case, tmp_path: Path) -> tuple[Path, list[str]]:
    """Write the case's files; return the working directory and the command's arguments."""
    (tmp_path / "scenario.yaml").write_text(case.text)
    for name, text in case.files.items():
        (tmp_path / name).write_text(text)
    args = [case.command, "scenario.yaml"]
    args += [item for text in case.sets for item in ("--set", text)]
    if case.command in ("run", "sweep"):
        args += ["--out", "out"]
    if case.command == "run":
        args += ["--no-plots"]
    return tmp_path, [*args, *case.args]


def _invoke(args: list[str], monkeypatch: pytest.MonkeyPatch, cwd: Path) -> Outcome:
    """``asyncsim ARGS`` in this process, in ``cwd``."""
    monkeypatch.chdir(cwd)
    start = time.perf_counter()
    result = CliRunner().invoke(main, args)
    seconds = time.perf_counter() - start
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback: the case fails with it
    return Outcome(result.exit_code, result.stdout, result.stderr, seconds)


def _run(case: Case, cwd: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> Outcome:
    if case.fresh:
        return asyncsim(*args, cwd=cwd)
    return _invoke(args, monkeypatch, cwd)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.category}: {case.name}")
def test_bad_input_gives_one_line(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _, args = _prepare(case, work)
    before = snapshot(tmp_path)
    outcome = _run(case, work, args, monkeypatch)
    message = assert_one_line_error(outcome, case.field)
    assert case.fragment in message, message
    assert changes(before, snapshot(tmp_path), allowed="work/out") == []
    assert not (work / "out" / "COMPLETE").exists()


DIVERGING_SECONDS = 4 * SECONDS
"""CPU seconds a diverging run may take: it runs its methods until they diverge (the
policy-gradient case imports torch and rolls out: 5.6 s of CPU on two cores shared with a
simulation, above the 5 s a refusal gets)."""


@pytest.mark.parametrize("case", DIVERGING, ids=lambda case: f"{case.category}: {case.name}")
def test_divergence_is_one_warning_per_method_and_strict_json(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = _run(case, *_prepare(case, tmp_path), monkeypatch)
    assert outcome.returncode == 0, outcome.stderr
    lines = [line for line in outcome.stderr.splitlines() if not line.startswith("note: ")]
    assert len(lines) == len(case.diverges), outcome.stderr
    for line, method in zip(lines, case.diverges, strict=True):
        assert line.startswith(f"warning: {method} {case.fragment} "), line
    assert outcome.seconds < DIVERGING_SECONDS
    summaries = []
    for path in (tmp_path / "out").rglob("*.json"):
        data = json.loads(path.read_text(), parse_constant=_reject_constant)
        if path.name == "summary.json":
            summaries.append(data["method"])
            assert data["stop_reason"] == "diverged"
            assert all(not isinstance(v, float) or math.isfinite(v) for v in data.values())
    assert sorted(summaries) == sorted(case.diverges)


def _reject_constant(name: str) -> None:
    raise AssertionError(f"{name} in a JSON file")


def test_the_table_has_at_least_a_hundred_cases_with_every_reproducer() -> None:
    names = {case.name for case in CASES + DIVERGING}
    assert len(names) == len(CASES) + len(DIVERGING)
    assert len(names) >= 100
    reproducers = {
        "n 10^7 (run)", "batch 1e10", "dim 1e9", "evaluation episodes 1e9",
        "policy-gradient horizon 1e9", "policy hidden [1e6, 1e6]", "sweep 100x100x100 (sweep)",
        "h 0, no communication, time budget", "h 1e-300",
        "outages to 1e300 (forced: refused at validation)", "CartPole-v1 (discrete actions)",
        "Taxi-v3 (discrete)", "env_kwargs bogus", "list indexed by a name", "afedpg allreduce",
        "SGD lr 1e6 (synthetic)", "vanilla PG lr 1e6", "noise 1e300", "h true", "batch true",
        "ringmaster max_delay 0", "m 0", "m above n", "patience -1", "unknown delay rule",
        "missing plug-in file", "plug-in raising at import",
    }  # fmt: skip
    assert reproducers <= names, reproducers - names
