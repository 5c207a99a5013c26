"""The event trace under its first path: it lives in :mod:`asyncsim.core.trace`."""

from asyncsim.core.trace import EVENTS, SERVER, Trace, TraceEvent

__all__ = ["EVENTS", "SERVER", "Trace", "TraceEvent"]
