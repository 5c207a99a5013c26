"""A long run's bookkeeping: the trace spilled to disk in chunks, durations drawn in blocks.

Both must leave every result as it was: the rows read back equal the rows recorded, and a block
of durations equals the same number of single draws.
"""

from __future__ import annotations

import numpy as np
import pytest

from asyncsim.core.errors import AsyncSimError
from asyncsim.core.trace import EVENTS, SERVER, Trace, TraceEvent
from asyncsim.engine.cluster import _Role
from asyncsim.run.runner import simulate
from asyncsim.timing.models import (
    ExponentialTimes,
    GammaTimes,
    LogNormalTimes,
    TimeModel,
    UniformTimes,
)


def _rennala(n: int, h: str, batch: int, rounds: int) -> dict:
    """Rennala SGD on n agents with exponential times of mean ``h``."""
    return {
        "name": "scale",
        "oracle": {"kind": "quadratic", "dim": 2},
        "cluster": {"n": n, "compute": {"kind": "exponential", "h": h}},
        "methods": [{"name": "rennala_sgd", "batch": batch}],
        "budget": {"iterations": rounds},
    }


def _recorded(rows: list[tuple], spill_every: int | None) -> Trace:
    trace = Trace()
    for number, row in enumerate(rows, 1):
        trace.record(*row)
        if spill_every is not None and number % spill_every == 0:
            trace.spill(at_least=1)
    return trace


def _rows(count: int, ordered: bool) -> list[tuple]:
    rng = np.random.default_rng(3)
    times = np.sort(rng.exponential(1.0, count)) if ordered else rng.exponential(1.0, count)
    rows = [
        (float(t), int(a), EVENTS[int(e)], int(i), int(i) + 1)
        for t, a, e, i in zip(
            times, rng.integers(-1, 50, count), rng.integers(0, len(EVENTS), count),
            rng.integers(0, 3, count), strict=True,
        )
    ]  # fmt: skip
    rows[0] = (0, rows[0][1], *rows[0][2:])  # an int time: written "0", not "0.0"
    rows[1] = (rows[0][0], *rows[1][1:])  # a tie: kept in recording order
    return rows


@pytest.mark.parametrize("ordered", [True, False])
def test_spilled_trace_reads_back_the_rows_recorded(ordered: bool) -> None:
    rows = _rows(500, ordered)
    kept, spilled = _recorded(rows, None), _recorded(rows, 37)
    assert spilled._file is not None and len(spilled._file.segments) == 500 // 37
    assert spilled.rows() == kept.rows()
    assert type(spilled.rows()[0][0]) is int and rows[0][0] == 0
    expected = [type(v) for r in kept.rows() for v in r]
    blocks = list(spilled.flat_blocks(64))
    assert [type(v) for block in blocks for v in block] == expected
    assert [v for block in blocks for v in block] == [v for r in kept.rows() for v in r]
    assert all(len(block) <= 5 * 64 for block in blocks)


def test_rows_that_do_not_pack_stay_in_memory() -> None:
    trace = Trace()
    trace.record(1.0, 0, "a plug-in's event", 0, 0)  # type: ignore[arg-type]
    trace.record(2.0, SERVER, TraceEvent.UPDATE, 0, 1)
    trace.spill(at_least=1)
    assert trace._file is None
    assert trace.rows() == [(1.0, 1, "a plug-in's event", 0, 0), (2.0, 0, "update", 0, 1)]


def test_a_long_run_spills_its_trace_and_writes_the_same_rows(monkeypatch) -> None:
    scenario = _rennala(n=50, h="1 + i/50", batch=50, rounds=30)
    kept = simulate(scenario).methods["rennala_sgd"].recorded
    monkeypatch.setattr(Trace.spill, "__defaults__", (100,))
    monkeypatch.setattr("asyncsim.engine.simulation._WATCH", range(250))
    spilled = simulate(scenario).methods["rennala_sgd"].recorded
    assert spilled._file is not None and len(spilled._file.segments) > 5
    assert spilled.rows() == kept.rows()


MODELS = [
    ExponentialTimes(np.array([0.5, 2.0])),
    UniformTimes(np.array([0.5, 2.0]), spread=0.3),
    GammaTimes(np.array([0.5, 2.0]), shape=1.5),
    LogNormalTimes(np.array([0.0, 2.0]), sigma=0.7),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_durations_drawn_in_blocks_are_the_single_draws(model: TimeModel) -> None:
    seed = np.random.SeedSequence(11)
    blocks = _Role(model, seed, 2, "cluster.compute")
    one_by_one = _Role(model, seed, 2, "cluster.compute")
    one_by_one._blockwise = False
    for agent in (0, 1):
        draws = [blocks.sample(agent, k) for k in range(40)]
        assert draws == [one_by_one.sample(agent, k) for k in range(40)]
        assert all(type(d) is float for d in draws)


class _NegativeLater(ExponentialTimes):
    """Draws -1 as the agent's fifth duration."""

    def sample_block(self, agent, count, rng):
        block = super().sample_block(agent, count, rng)
        block[4] = -1.0
        return block


def test_a_bad_duration_in_a_block_fails_at_its_own_iteration() -> None:
    role = _Role(_NegativeLater(np.array([1.0])), np.random.SeedSequence(0), 1, "cluster.compute")
    for k in range(4):
        assert role.sample(0, k) >= 0
    with pytest.raises(AsyncSimError, match=r"cluster.compute: .*agent 1 at iteration 4 .* -1"):
        role.sample(0, 4)


def test_progress_is_reported_within_a_long_round(monkeypatch) -> None:
    """The watcher of updates also hears from the engine's watchdog, between updates."""
    from asyncsim.run.recorder import watching

    scenario = _rennala(n=200, h="1", batch=2000, rounds=2)
    monkeypatch.setattr("asyncsim.engine.simulation._WATCH", range(100))
    seen: list[tuple[int, float]] = []
    with watching(lambda recorder: seen.append((len(recorder.rows), recorder.sim.now))):
        simulate(scenario)
    within_first_round = [now for rows, now in seen if rows == 1]  # θ_0's row only
    assert len(within_first_round) > 5 and within_first_round == sorted(within_first_round)
    assert within_first_round[-1] > within_first_round[0]  # the simulated clock moves on


def test_gradient_noise_is_each_agents_own_philox_stream_at_the_gradients_counter() -> None:
    """One shared generator, re-keyed per agent, draws what a Philox generator of the agent's
    own (keyed by its child of the seed) draws at counter (0, k, 0, 0), in any order."""
    from asyncsim.oracles.synthetic import GradientNoise

    noise = GradientNoise(np.random.SeedSequence(9), 5)
    children = np.random.SeedSequence(9).spawn(5)

    def own(agent: int, index: int) -> np.ndarray:
        bit_generator = np.random.Philox(key=children[agent].generate_state(2, np.uint64))
        state = bit_generator.state
        state["state"]["counter"][:] = (0, index, 0, 0)
        bit_generator.state = state
        return np.random.Generator(bit_generator).standard_normal(3)

    for agent, index in [(4, 0), (0, 7), (4, 1), (2, 2**40), (0, 7)]:
        np.testing.assert_array_equal(noise.at(agent, index).standard_normal(3), own(agent, index))


def _one_event_at_a_time(tau: np.ndarray, starts: np.ndarray, batch: int):
    """The M-th event of {b_i + τ_i, then + τ_i ...} in (time, agent) order, by a heap."""
    import heapq

    heap = [(float(b) + float(t), i) for i, (b, t) in enumerate(zip(starts, tau, strict=True))]
    heapq.heapify(heap)
    counts, stop = [0] * len(tau), 0.0
    for _ in range(batch):
        stop, i = heapq.heappop(heap)
        counts[i] += 1
        heapq.heappush(heap, (stop + float(tau[i]), i))
    return stop, counts


@pytest.mark.parametrize("case", range(120))
def test_rennala_round_in_arrays_is_the_event_by_event_round(case: int) -> None:
    from asyncsim.core.event_order import mth_event

    rng = np.random.default_rng(case)
    n, batch = int(rng.integers(1, 25)), int(rng.integers(1, 150))
    tau = [
        rng.uniform(0.1, 3.0, n),
        rng.integers(1, 4, n) * 0.1,  # ties, and sums that round
        np.sqrt(np.arange(1.0, n + 1)),
        rng.exponential(1.0, n) + 1e-3,
    ][case % 4]
    starts = rng.integers(0, 3, n) * 0.3 if case % 3 else np.zeros(n)
    stop, counts = mth_event(np.asarray(tau, float), starts.astype(float), batch)
    assert (stop, counts) == _one_event_at_a_time(tau, starts, batch)


def _blocks(trace, rows: int):
    """``trace`` (TraceColumns) in blocks of ``rows`` rows."""
    for start in range(0, len(trace), rows):
        yield trace.take(np.arange(start, min(start + rows, len(trace))))


@pytest.mark.parametrize("method", ["rennala_sgd", "malenia_sgd", "asynchronous_sgd"])
@pytest.mark.parametrize("rows", [1, 7, 40, 10**6])
def test_computing_time_streamed_block_by_block_is_that_of_the_whole_trace(method, rows):
    from asyncsim.analysis import intervals

    data = _rennala(n=30, h="1 + i/30", batch=30, rounds=6)
    data["methods"] = [{"name": method, **({} if method == "asynchronous_sgd" else {"batch": 30})}]
    if method == "asynchronous_sgd":
        data["budget"] = {"iterations": 200}
    data["cluster"]["outages"] = [{"agent": 3, "start": 1.5, "end": 4.0}]  # lost computations
    result = simulate(data).methods[method]
    trace, end = intervals.TraceColumns.of(result), result.rows[-1]["time_end"]
    whole = intervals.computing_time(intervals.busy(trace, end), 30)
    for at in (end, 0.8 * end):  # the run's end, and one inside a computation
        expected = intervals.computing_time(intervals.busy(trace, at), 30) if at != end else whole
        streamed = intervals.streamed_computing_time(_blocks(trace, rows), at, 30)
        for a, b in zip(streamed, expected, strict=True):
            assert a.tolist() == b.tolist()
    kinds = intervals.busy(trace, end).kind
    assert (kinds == intervals.KINDS.index("lost")).any()
    assert whole[0].sum() > 0 and whole[1].sum() > 0


@pytest.mark.parametrize("rows", [1, 5, 10**6])
def test_the_timeline_rows_give_the_intervals_of_the_whole_trace(rows):
    from asyncsim.analysis import intervals

    data = _rennala(n=30, h="1 + i/30", batch=30, rounds=6)
    data["cluster"]["uplink"] = {"kind": "fixed", "time": 0.3}
    data["cluster"]["downlink"] = {"kind": "fixed", "time": 0.2}
    result = simulate(data).methods["rennala_sgd"]
    trace = intervals.TraceColumns.of(result)
    end = result.rows[2]["time_end"] - 0.05  # computations and uploads open at the end
    for agents in (None, np.array([1, 4, 30])):
        chosen = np.arange(1, 31) if agents is None else agents
        kept = intervals.timeline_rows(_blocks(trace, rows), agents, end)
        assert len(kept) < len(trace)
        full = trace if agents is None else trace.of_agents(agents)
        expected = intervals.with_idle(intervals.busy(full, end), chosen, end)
        got = intervals.with_idle(intervals.busy(kept, end), chosen, end)
        for name in ("agent", "kind", "start", "stop"):
            assert getattr(got, name).tolist() == getattr(expected, name).tolist()


def test_trace_columns_from_packed_records_equal_those_from_rows(monkeypatch) -> None:
    from asyncsim.analysis.intervals import TraceColumns
    from asyncsim.store.run_data import MethodResult

    monkeypatch.setattr(Trace.spill, "__defaults__", (100,))
    monkeypatch.setattr("asyncsim.engine.simulation._WATCH", range(250))
    result = simulate(_rennala(n=40, h="1 + i/40", batch=40, rounds=12)).methods["rennala_sgd"]
    assert result.recorded._file is not None and result.trace_records() is not None
    packed = TraceColumns.of(result)
    rows = MethodResult(result.key, result.rows, result.trace, result.summary)
    assert rows.trace_records() is None
    from_rows = TraceColumns.of(rows)
    for name in ("time", "agent", "event", "version"):
        column, expected = getattr(packed, name), getattr(from_rows, name)
        assert column.dtype == expected.dtype and column.tolist() == expected.tolist()
