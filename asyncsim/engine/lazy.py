"""Lazy, batched gradient evaluation (simulated time is not compute time).

The engine submits a request when a computation *starts* and asks for its value only when the
protocol needs it. Asking for one value evaluates every pending request in one oracle call, so
gradients in flight at different points are computed together; cancelled requests are never
computed.
"""

from __future__ import annotations

from collections.abc import Sequence

from asyncsim.core.errors import AsyncSimError
from asyncsim.core.oracle import GradientOracle, GradientRequest, GradientResult
from asyncsim.core.plugins import origin_of

__all__ = ["LazyGradients"]


class LazyGradients:
    """Pending gradient requests of one run, evaluated together on first need."""

    def __init__(self, oracle: GradientOracle) -> None:
        self.oracle = oracle
        self._pending: dict[int, GradientRequest] = {}
        self._done: dict[int, GradientResult] = {}
        self._next = 0
        self.oracle_calls = 0

    def submit(self, request: GradientRequest) -> int:
        """Register a request; returns its handle."""
        handle = self._next
        self._next += 1
        self._pending[handle] = request
        return handle

    def cancel(self, handle: int) -> None:
        """Drop a request whose gradient is not used (never computed, or forgotten)."""
        self._pending.pop(handle, None)
        self._done.pop(handle, None)

    def value(self, handle: int) -> GradientResult:
        """The request's result, evaluating all pending requests in one batch if needed."""
        if handle not in self._done:
            handles = list(self._pending)
            results = self.oracle.compute([self._pending[h] for h in handles])
            self.oracle_calls += 1
            self._check(results, len(handles))
            self._done.update(zip(handles, results, strict=True))
            self._pending.clear()
        return self._done.pop(handle)

    def _check(self, results: Sequence[GradientResult], requests: int) -> None:
        """Refuse, in one line naming the oracle's plug-in, results that are not one
        GradientResult of a d-vector per request."""
        oracle = self.oracle
        problem = None
        if not isinstance(results, Sequence) or len(results) != requests:
            problem = f"returned {_count(results)} results for {requests} requests"
        else:
            expected = (oracle.dim,)
            for result in results:
                shape = getattr(getattr(result, "vector", None), "shape", None)
                if shape != expected:
                    what = "no array" if shape is None else f"an array of shape {shape}"
                    problem = f"returned {what} as a gradient, expected shape {expected}"
                    break
        if problem is not None:
            source = origin_of(oracle)
            where = f" of plug-in {source}" if source else ""
            raise AsyncSimError(f"oracle {type(oracle).__name__}{where}: {problem}")


def _count(results: object) -> str:
    try:
        return str(len(results))  # type: ignore[arg-type]
    except TypeError:
        return f"a {type(results).__name__}, not a list of"
