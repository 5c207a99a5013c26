"""The gradient-oracle contract under its first path: it lives in :mod:`asyncsim.core.oracle`
(plug-ins written against ``asyncsim.oracles.base`` keep working)."""

from asyncsim.core.oracle import (
    GradientJob,
    GradientOracle,
    GradientRequest,
    GradientResult,
    average,
    sum_reports,
)

__all__ = [
    "GradientJob",
    "GradientOracle",
    "GradientRequest",
    "GradientResult",
    "average",
    "sum_reports",
]
