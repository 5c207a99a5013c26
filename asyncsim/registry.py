"""The registration API under its first path: it lives in :mod:`asyncsim.core.registry`
(plug-ins written against ``asyncsim.registry`` keep working)."""

from asyncsim.core.registry import *  # noqa: F403
from asyncsim.core.registry import __all__  # noqa: F401
