"""Topologies: how the point reaches the agents and how their vectors are reduced, one file per
topology, each registering its :class:`~asyncsim.core.registry.TopologySpec` with
``register_topology`` (:mod:`asyncsim.topology.server`, :mod:`asyncsim.topology.allreduce`,
:mod:`asyncsim.topology.graph`);
a plug-in's topology is one file alike. Importing the package registers the built-ins, the
server first (the order ``asyncsim schema`` and error messages list them in)."""

from asyncsim.topology import server  # noqa: I001 (the server registers first)
from asyncsim.topology import allreduce, graph

__all__ = ["allreduce", "graph", "server"]
