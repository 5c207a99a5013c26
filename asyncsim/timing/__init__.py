"""Time models: how long a computation or a transfer takes (per-agent values, formulas in the agent
index).

The names of :mod:`asyncsim.timing.models` are importable from here, as they were from
``asyncsim.timing`` before it became a folder."""

from asyncsim.timing.models import *  # noqa: F403
from asyncsim.timing.models import __all__  # noqa: F401
