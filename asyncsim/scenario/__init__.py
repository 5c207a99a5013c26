"""The scenario: its schema, loading a YAML file with overrides, what it needs of the cluster, and
the resource guards.

The names of :mod:`asyncsim.scenario.loading` are importable from here, as they were
from ``asyncsim.scenario`` before it became a folder."""

from asyncsim.scenario.loading import *  # noqa: F403
from asyncsim.scenario.loading import __all__  # noqa: F401
