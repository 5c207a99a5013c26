"""The gradient-oracle contract under its first path: it lives in :mod:`asyncsim.core.oracle`
(plug-ins written against ``asyncsim.oracles.base`` keep working)."""

from asyncsim.core.oracle import *  # noqa: F403
from asyncsim.core.oracle import __all__  # noqa: F401
