"""Progress of long work on stderr: items done, simulated time, iterations, real time, ETA.

On a terminal one status line is redrawn in place; otherwise (logs, CI) plain lines are printed,
at most one per ``interval`` seconds plus the final one.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour)."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts finished items of one job and reports after each.

    Args:
        total: number of items to do.
        unit: what an item is, plural (``"points"``, ``"methods"``).
        stream: where to write (default stderr); None or ``quiet`` writes nothing.
        quiet: write nothing.
        interval: minimum seconds between plain lines when ``stream`` is not a terminal.
    """

    def __init__(
        self,
        total: int,
        unit: str,
        stream: TextIO | None = None,
        quiet: bool = False,
        interval: float = 2.0,
    ) -> None:
        self.total = total
        self.unit = unit
        self.stream = None if quiet else (stream or sys.stderr)
        self.interval = interval
        self.done = 0
        self.failed = 0
        self.simulated = 0.0
        self.iterations = 0
        self._start = time.perf_counter()
        self._last_line = -float("inf")
        self._tty = bool(self.stream and getattr(self.stream, "isatty", lambda: False)())

    def restart(self) -> None:
        """Restart the real-time clock (when the work starts later than the display)."""
        self._start = time.perf_counter()

    def advance(self, simulated: float = 0.0, iterations: int = 0, failed: bool = False) -> None:
        """Count one finished item with its simulated seconds and iterations."""
        self.done += 1
        self.failed += failed
        self.simulated += simulated
        self.iterations += iterations
        self._show(final=self.done >= self.total)

    def line(self) -> str:
        """The current status line."""
        elapsed = time.perf_counter() - self._start
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        failed = f" ({self.failed} failed)" if self.failed else ""
        return (
            f"{self.done}/{self.total} {self.unit}{failed} | simulated {self.simulated:.4g} s"
            f" | {self.iterations} iterations | real {format_duration(elapsed)}"
            f" | ETA {'?' if eta is None else format_duration(eta)}"
        )

    def close(self) -> None:
        """End the display (a terminal's status line gets its newline)."""
        if self.stream is not None and self._tty and self.done:
            self.stream.write("\n")
            self.stream.flush()

    def _show(self, final: bool) -> None:
        if self.stream is None:
            return
        now = time.perf_counter()
        if self._tty:
            self.stream.write("\r\033[K" + self.line())
        elif final or now - self._last_line >= self.interval:
            self.stream.write(self.line() + "\n")
        else:
            return
        self._last_line = now
        self.stream.flush()
