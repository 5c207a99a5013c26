"""The parameter server (a star): the server broadcasts each point (agent i holds it after its
downlink time b_i), the agents with a gradient in the aggregate (B_i > 0) upload their vectors
on their own links, and the reduce ends when the last one arrives: max_i κ_i over the senders
(docs/algorithms.md §4)."""

from __future__ import annotations

import numpy as np

from asyncsim.core.registry import register_topology


def participants(counts: np.ndarray) -> np.ndarray:
    """The agents that contributed a gradient (B_i > 0): an agent without one sends nothing."""
    return np.asarray(counts) > 0


register_topology(
    "server",
    participants,
    "a parameter server: broadcast b_i, then each participant uploads; reduce max_i κ_i",
    broadcasts=True,
    has_server=True,
)
