"""The messages between the emulation's driver (the server) and its agents (real workers).

Commands go from the driver to one agent, notices come back; each agent's channel is FIFO in
both directions. A job is one point sent to one agent (a round's broadcast, or an asynchronous
dispatch); the driver numbers jobs, so a notice of work it has moved on from is recognised and
dropped. Times in messages are wall-clock (``time.time()``) seconds, real seconds.

Data travels during its modelled transfer time: a point is sent when its broadcast starts and
an upload when it starts, each stamped with its times, so that the message's own transfer is
part of the modelled one rather than added to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from asyncsim.core.oracle import GradientResult
from asyncsim.scenario.schema import Scenario

__all__ = ["Event", "Failure", "Quit", "Ready", "Setup", "Start", "Stop", "Upload"]


# ---------------------------------------------------------------- driver → agent


@dataclass(frozen=True, slots=True)
class Setup:
    """Build this method's oracle and the agent's time streams (a fresh run); answer Ready."""

    scenario: Scenario
    agent: int
    scale: float


@dataclass(frozen=True, slots=True)
class Start:
    """Receive ``point`` (after the modelled broadcast) and compute at it.

    Attributes:
        job: the driver's number of this work.
        sent: the driver's wall time when it sent the point (the broadcast ends its modelled
            time later: the message's own transfer is part of it).
        point: where gradients are taken.
        version: the server version of the point (the time models' k).
        first_index: the agent's gradient index of its first computation here.
        keeps_computing: start another gradient after each one (a round's collection rule).
        upload_when_done: after one gradient, upload it at once (asynchronous servers and
            one-gradient rounds on a server); otherwise hold it until a Stop asks for it.
        patience: model seconds after which a computation is abandoned (None: never).
    """

    job: int
    sent: float
    point: np.ndarray
    version: int
    first_index: int
    keeps_computing: bool
    upload_when_done: bool
    patience: float | None
    context: Any = None


@dataclass(frozen=True, slots=True)
class Stop:
    """End job ``job``: drop running work and, with ``upload``, send the sum of the job's first
    ``used`` gradients after ``duration`` model seconds (None: the agent's own uplink time)."""

    job: int
    used: int
    upload: bool
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class Quit:
    """End the agent's process (or thread)."""


# ---------------------------------------------------------------- agent → driver


@dataclass(frozen=True, slots=True)
class Ready:
    """The agent finished a Setup."""


@dataclass(frozen=True, slots=True)
class Event:
    """Something happened in job ``job``: ``broadcast_received``, ``compute_end`` or
    ``abandoned`` (trace event names), at wall time ``time``, ``late`` seconds after its
    modelled instant (the timer's overshoot)."""

    job: int
    kind: str
    time: float
    late: float


@dataclass(frozen=True, slots=True)
class Upload:
    """The agent's contribution to job ``job``: the sum of its first ``count`` gradients
    (None when it has none), uploaded from wall time ``start`` to ``time``. It is sent when
    the upload starts: the driver takes it at ``time`` (the bytes are in flight meanwhile)."""

    job: int
    result: GradientResult | None
    count: int
    start: float
    time: float


@dataclass(frozen=True, slots=True)
class Failure:
    """The agent could not go on (its oracle raised, ...): one line."""

    text: str
