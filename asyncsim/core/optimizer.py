"""The optimizer contract: an update rule as a pair of pure functions, in the style of optax.

``init(θ_0) -> state`` and ``update(state, g, delay) -> state``; a state holds the model
``theta`` and the ``query`` point where the next gradient is taken. The built-in rules
(:mod:`asyncsim.methods.optimizers`) and a plug-in's are registered with
:func:`asyncsim.core.registry.register_optimizer`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Optimizer"]


class Optimizer(NamedTuple):
    """An update rule with its hyper-parameters bound: ``init`` and ``update``."""

    init: Callable[[np.ndarray], Any]
    update: Callable[..., Any]
