"""Lazy, batched gradient evaluation (DESIGN.md: simulated time is not compute time).

The engine submits a request when a computation *starts* and asks for its value only when the
protocol needs it. Asking for one value evaluates every pending request in one oracle call, so
gradients in flight at different points are computed together; cancelled requests are never
computed.
"""

from __future__ import annotations

from asyncsim.oracles.base import GradientOracle, GradientRequest, GradientResult

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
            self._done.update(zip(handles, results, strict=True))
            self._pending.clear()
        return self._done.pop(handle)
