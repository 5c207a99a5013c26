"""A topology as an asyncsim plug-in: AllReduce over a binary tree.

    cluster:
      topology: tree_allreduce

No server: every agent takes part (an agent without a gradient adds a zero vector), the
aggregate is reduced up a binary tree and sent back down, ⌈log₂ p⌉ levels each way, each level
as slow as the slowest link: 2⌈log₂ p⌉ · max_i κ_i for p agents. The collective leaves the
aggregate on every node, so no point is broadcast, and server-only protocols cannot run.
"""

from __future__ import annotations

import math

import numpy as np

import asyncsim


def everyone(counts: np.ndarray) -> np.ndarray:
    """Every agent joins the collective."""
    return np.ones(len(counts), dtype=bool)


def tree_time(uplink: np.ndarray, context: asyncsim.TopologyContext) -> float:
    """2⌈log₂ p⌉ · max_i κ_i over the p agents of the collective."""
    p = uplink.size
    return 2.0 * math.ceil(math.log2(p)) * float(uplink.max()) if p else 0.0


asyncsim.register_topology(
    "tree_allreduce",
    everyone,
    "AllReduce up and down a binary tree: 2⌈log₂ n⌉ · max_i κ_i, no broadcast",
    broadcasts=False,
    collective=tree_time,
    has_server=False,
)
