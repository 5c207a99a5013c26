"""Progress of long work on stderr: items done (methods of a run, points of a sweep), where the
running ones stand (iteration, simulated time, transitions, share of the budget), real time
and ETA.

On a terminal one status line is redrawn in place (at most every :data:`TERMINAL_SECONDS`);
otherwise (logs, CI, a batch job) plain lines are printed, the first item done at once, then at
most one line every :data:`LOG_SECONDS` (or ``ASYNCSIM_PROGRESS_SECONDS``), and the last one: a
sweep point of the full paper scenarios runs about 45 minutes, and its log shows it move.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from asyncsim.run.recorder import IterationRecorder

__all__ = [
    "LOG_SECONDS",
    "TERMINAL_SECONDS",
    "Progress",
    "Status",
    "format_duration",
    "throttled",
]

TERMINAL_SECONDS = 0.5
"""Seconds between redraws of a terminal's status line."""

LOG_SECONDS = 30.0
"""Seconds between lines when stderr is not a terminal (``ASYNCSIM_PROGRESS_SECONDS``
overrides it)."""

PROGRESS_VARIABLE = "ASYNCSIM_PROGRESS_SECONDS"


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour)."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class Status:
    """Where a running method stands (what a sweep worker sends its driver).

    Attributes:
        method: the method's key.
        iteration: its last update.
        simulated: simulated seconds so far.
        transitions: environment transitions so far (H per gradient for synthetic oracles).
        fraction: the share of its budget spent, in [0, 1] (the largest over its limits).
        elapsed: real seconds since the method started.
    """

    method: str
    iteration: int
    simulated: float
    transitions: int
    fraction: float
    elapsed: float

    @classmethod
    def of(cls, recorder: IterationRecorder) -> Status:
        """The status of the method ``recorder`` records."""
        return cls(
            recorder.name,
            len(recorder.rows) - 1,
            recorder.sim.now,
            recorder.transitions,
            recorder.progress(),
            time.perf_counter() - recorder.started,
        )

    def eta(self) -> float | None:
        """Real seconds left at the pace so far (None before any progress)."""
        if self.fraction <= 0:
            return None
        return self.elapsed * (1 - self.fraction) / self.fraction

    def text(self) -> str:
        eta = self.eta()
        return (
            f"{self.method} iteration {self.iteration}, simulated {self.simulated:.4g} s, "
            f"{self.transitions:.4g} transitions, {self.fraction:.0%} of its budget, ETA "
            f"{'?' if eta is None else format_duration(eta)}"
        )


def throttled(
    report: Callable[[Status], None], seconds: float
) -> Callable[[IterationRecorder], None]:
    """A watcher of updates (:func:`asyncsim.run.recorder.watching`) that reports the running
    method's :class:`Status` at most every ``seconds`` (it runs once per update: the clock is
    read first, the status made only when due)."""
    last = time.perf_counter()

    def watch(recorder: IterationRecorder) -> None:
        nonlocal last
        now = time.perf_counter()
        if now - last >= seconds:
            last = now
            report(Status.of(recorder))

    return watch


class Progress:
    """Counts finished items of one job, shows where the running ones stand.

    Args:
        total: number of items to do.
        unit: what an item is, plural (``"points"``, ``"methods"``).
        stream: where to write (default stderr); None or ``quiet`` writes nothing.
        quiet: write nothing.
        interval: minimum seconds between lines (default: :data:`TERMINAL_SECONDS` on a
            terminal, else :data:`LOG_SECONDS` or ``ASYNCSIM_PROGRESS_SECONDS``).
    """

    def __init__(
        self,
        total: int,
        unit: str,
        stream: TextIO | None = None,
        quiet: bool = False,
        interval: float | None = None,
    ) -> None:
        self.total = total
        self.unit = unit
        self.stream = None if quiet else (stream or sys.stderr)
        self._tty = bool(self.stream and getattr(self.stream, "isatty", lambda: False)())
        self.interval = _default_interval(self._tty) if interval is None else interval
        self.done = 0
        self.failed = 0
        self.simulated = 0.0
        self.iterations = 0
        self.running: dict[str, Status] = {}
        self._start = time.perf_counter()
        self._last_line = -float("inf")

    def restart(self) -> None:
        """Restart the real-time clock (when the work starts later than the display)."""
        self._start = time.perf_counter()

    def advance(
        self, simulated: float = 0.0, iterations: int = 0, failed: bool = False, key: str = ""
    ) -> None:
        """Count one finished item (``key``, if it reported its status) with its simulated
        seconds and iterations."""
        self.done += 1
        self.failed += failed
        self.simulated += simulated
        self.iterations += iterations
        self.running.pop(key, None)
        self._show(final=self.done >= self.total)

    def update(self, key: str, status: Status) -> None:
        """Where the running item ``key`` stands now."""
        self.running[key] = status
        self._show(final=False, status=True)

    def line(self) -> str:
        """The current status line."""
        elapsed = time.perf_counter() - self._start
        share = (self.done + sum(s.fraction for s in self.running.values())) / max(self.total, 1)
        eta = elapsed * (1 - share) / share if share > 0 else None
        failed = f" ({self.failed} failed)" if self.failed else ""
        return (
            f"{self.done}/{self.total} {self.unit}{failed} | simulated {self.simulated:.4g} s"
            f" | {self.iterations} iterations{self._running()} | real {format_duration(elapsed)}"
            f" | ETA {'?' if eta is None else format_duration(eta)}"
        )

    def _running(self) -> str:
        if not self.running:
            return ""
        key, status = next(iter(self.running.items()))
        label = f"{key}: " if key else ""
        more = f" (and {len(self.running) - 1} more)" if len(self.running) > 1 else ""
        return f" | running {label}{status.text()}{more}"

    def close(self) -> None:
        """End the display (a terminal's status line gets its newline)."""
        if self.stream is not None and self._tty and self._last_line > -float("inf"):
            self.stream.write("\n")
            self.stream.flush()

    def _show(self, final: bool, status: bool = False) -> None:
        """Write the line if it is the last one or due: an item done is shown at once the
        first time, where running items stand only once the work has run an interval."""
        if self.stream is None:
            return
        now = time.perf_counter()
        since = max(self._last_line, self._start) if status else self._last_line
        if not final and now - since < self.interval:
            return
        self.stream.write(f"\r\033[K{self.line()}" if self._tty else f"{self.line()}\n")
        self._last_line = now
        self.stream.flush()


def _default_interval(terminal: bool) -> float:
    return TERMINAL_SECONDS if terminal else log_seconds()


def log_seconds() -> float:
    """Seconds between lines when stderr is not a terminal: :data:`LOG_SECONDS`, or
    ``ASYNCSIM_PROGRESS_SECONDS`` where it is set."""
    try:
        return max(0.0, float(os.environ.get(PROGRESS_VARIABLE, LOG_SECONDS)))
    except ValueError:
        return LOG_SECONDS
