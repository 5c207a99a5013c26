"""Sim-to-real: a scenario's methods run as a real asynchronous system, and the simulator's
timing error measured against it (``asyncsim emulate``).

The server (or the AllReduce coordinator) runs in this process with the method's registered
protocol code (:mod:`asyncsim.emulation.engine`); each agent is a real worker, a process or a
Ray actor (:mod:`asyncsim.emulation.agent`, :mod:`asyncsim.emulation.executors`), that
computes real gradients with the scenario's oracle and waits out its modelled compute and
communication times × S. :func:`emulate` also simulates the scenario and compares the two
(:mod:`asyncsim.emulation.report`).
"""

from __future__ import annotations

from asyncsim.emulation import run
from asyncsim.emulation.executors import Agents, start_agents
from asyncsim.emulation.run import *  # noqa: F403  (the names of run.__all__)

__all__ = ["Agents", "start_agents", *run.__all__]
