"""What an emulation costs, checked before it starts (``asyncsim emulate``; ``--force`` skips
the refusals): its agents' processes and its real time, and the floor of the time scale S
below which its error grows.

- Agents: every agent is a process (a Ray actor: a process too) that the driver reaches through
  its own descriptors; :func:`check_agents` refuses more than :data:`AGENT_LIMIT` agents, more
  descriptors than ``ulimit -n`` allows, more processes than ``ulimit -u`` allows, and more
  memory than this process may use (:func:`asyncsim.scenario.guards.available_memory`), at
  :data:`AGENT_PROCESS_BYTES` per agent at least.
- Real time: an emulated method lasts its simulated time × S at least; :func:`check_real_time`
  refuses, once the methods are simulated and before any agent starts, an emulation longer
  than :data:`asyncsim.scenario.guards.TIME_LIMIT`.
- Floor: :func:`floor_warning` says when S is below the floor that README's "Sim-to-real"
  documents: the fastest agent's gradient shorter than :data:`FLOOR_GRADIENT_SECONDS` of real
  time, or more than :data:`FLOOR_MESSAGES_PER_SECOND` messages a second for the driver.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Sequence

import numpy as np

from asyncsim.core.errors import switch
from asyncsim.scenario.guards import (
    TIME_LIMIT,
    ResourceError,
    available_memory,
    duration_text,
    size_text,
)

__all__ = [
    "AGENT_LIMIT",
    "AGENT_PROCESS_BYTES",
    "DESCRIPTORS_PER_AGENT",
    "FLOOR_GRADIENT_SECONDS",
    "FLOOR_MESSAGES_PER_SECOND",
    "check_agents",
    "check_real_time",
    "floor_warning",
]

AGENT_LIMIT = 1000
"""Most agents an emulation starts. The driver sends every agent at least one message per
round (0.1-0.4 ms each, median, measured): with 1,000 agents that is 0.1-0.4 s of the driver's
time per round before any computation, and README's error table, to n = 32, already shows
messages queueing at the driver from about 4,000 a second."""

AGENT_PROCESS_BYTES = 4 * 2**20
"""Memory of one agent's process at least: 4.0-4.1 MB private (not shared with the fork
server) measured per idle agent of the synthetic oracle; a policy-gradient agent holds more."""

DESCRIPTORS_PER_AGENT = 2
"""File descriptors the driver holds per agent: its end of the pipe (or socket) and the
process's sentinel (10 measured for 4 local agents, with the driver's own)."""

FLOOR_GRADIENT_SECONDS = 0.01
"""Real seconds of the fastest agent's gradient at the floor S (12.5 ms for n = 8, 9.4 ms for
n = 32 in README's table, where the error of the total time stays under 5%)."""

FLOOR_MESSAGES_PER_SECOND = 470.0
"""Messages a second the driver handles at the floor S (280-470 in README's table)."""

_MESSAGES_PER_GRADIENT = 2
"""At least a command to start it and the notice that carries the gradient."""


def check_agents(n: int, executor: str, address: str | None) -> None:
    """Refuse n agents that cannot be started here (see the module docstring); a Ray cluster
    (``address``) starts them on its own machines: only the count and descriptors count."""
    if n > AGENT_LIMIT:
        raise ResourceError(
            "cluster.n",
            f"emulating {n} agents starts {n} processes, more than {AGENT_LIMIT}: the driver "
            "alone would need more than a modelled round's time per round to message them; "
            f"emulate fewer agents, or {switch('force')}",
        )
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    descriptors = DESCRIPTORS_PER_AGENT * n
    if soft != resource.RLIM_INFINITY and descriptors > soft - _open_descriptors():
        raise ResourceError(
            "cluster.n",
            f"{n} agents need {descriptors} file descriptors, more than `ulimit -n` leaves "
            f"({soft}); raise it, or {switch('force')}",
        )
    if executor == "ray" and address:
        return
    processes, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if processes != resource.RLIM_INFINITY and n > processes:
        raise ResourceError(
            "cluster.n",
            f"{n} agents start {n} processes, more than `ulimit -u` allows ({processes}); "
            f"{switch('force')} tries anyway",
        )
    needed = float(n) * AGENT_PROCESS_BYTES
    available, source = available_memory()
    if needed > available:
        raise ResourceError(
            "cluster.n",
            f"{n} agent processes need at least {size_text(needed)} "
            f"({size_text(AGENT_PROCESS_BYTES)} each), more than {source} "
            f"({size_text(available)}); {switch('force')} runs it anyway",
        )


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def check_real_time(simulated: Sequence[float], time_scale: float) -> float:
    """The real seconds the emulation of methods of these simulated times takes at least (S ×
    their sum); refused above :data:`~asyncsim.scenario.guards.TIME_LIMIT`."""
    seconds = time_scale * float(sum(simulated))
    if not seconds <= TIME_LIMIT:
        raise ResourceError(
            switch("time_scale"),
            f"S = {time_scale:g} real s per modelled s over {float(sum(simulated)):.6g} "
            f"simulated s of its methods makes at least {duration_text(seconds)} of real "
            f"time, more than {duration_text(TIME_LIMIT)}; lower {switch('time_scale')}, or "
            f"{switch('force')}",
        )
    return seconds


def floor_warning(tau: np.ndarray, cycles: np.ndarray, time_scale: float) -> str | None:
    """Why S is below the documented floor, or None: ``tau`` the agents' modelled gradient
    times, ``cycles`` their modelled times per gradient with communication."""
    fastest = float(np.min(tau)) * time_scale
    positive = cycles[cycles > 0]
    rate = _MESSAGES_PER_GRADIENT * float(np.sum(1.0 / (positive * time_scale)))
    if fastest < FLOOR_GRADIENT_SECONDS:
        why = f"the fastest agent's gradient lasts {fastest * 1000:.3g} ms of real time"
    elif rate > FLOOR_MESSAGES_PER_SECOND:
        why = f"the driver gets about {rate:.3g} messages a second"
    else:
        return None
    return (
        f"{switch('time_scale')} {time_scale:g} is below the floor where the emulation's error "
        f"stays under 5% (README, Sim-to-real: a gradient of at least "
        f"{FLOOR_GRADIENT_SECONDS * 1000:g} ms, at most {FLOOR_MESSAGES_PER_SECOND:g} messages "
        f"a second): {why}; expect larger errors"
    )
