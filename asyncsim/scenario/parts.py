"""What a scenario's runs are built from, below the runner and the closed forms: the cluster
runtime (its compute and communication time models, drawn per agent) and d, the number of
parameters a communication model may need.

The runner (:func:`asyncsim.run.runner.run_method`), the emulation's agents and the closed forms
(:func:`asyncsim.scenario.closed_forms.mean_times`) all build the cluster here, so the three see
the same time models.
"""

from __future__ import annotations

import re

import numpy as np

from asyncsim.engine.cluster import ClusterRuntime
from asyncsim.oracles import build_oracle
from asyncsim.scenario.schema import Scenario
from asyncsim.timing.models import Outage

__all__ = ["build_cluster", "vector_dimension"]


def build_cluster(scenario: Scenario, dim: int, seed: np.random.SeedSequence) -> ClusterRuntime:
    """The cluster runtime of ``scenario`` (d = ``dim`` for communication models that use it)."""
    c = scenario.cluster
    models = c.time_models(dim)
    return ClusterRuntime(
        c.n,
        models["compute"],
        models["uplink"],
        models["downlink"],
        seed,
        topology=c.topology_spec,
        allreduce=c.allreduce,
        outages=[Outage(o.agent - 1, o.start, o.end) for o in c.outages],
        links=c.links(dim),
    )


def vector_dimension(scenario: Scenario) -> int:
    """d, the number of parameters, where a communication model needs it (bandwidth models and
    expressions in ``d``); an RL oracle (its policy) is built only then, else 1 is returned."""
    dim = getattr(scenario.oracle, "dim", None)
    links = [scenario.cluster.uplink, scenario.cluster.downlink]
    uses_d = any(
        link.kind == "bandwidth" or re.search(r"\bd\b", str(getattr(link, "time", None) or ""))
        for link in links
    )
    network = scenario.cluster.network
    uses_d = uses_d or (
        network is not None
        and any(isinstance(value, str) and re.search(r"\bd\b", value)
                for value in (network.message_bytes, network.uplink, network.downlink))
    )  # fmt: skip
    if dim is not None or not uses_d:
        return dim or 1
    oracle = build_oracle(scenario.oracle, scenario.cluster.n, np.random.SeedSequence(0))
    try:
        return oracle.dim
    finally:
        oracle.close()
