"""Vector norms computed the same way on every machine, without BLAS.

``np.linalg.norm`` of a 1-D array calls BLAS (OpenBLAS ``dnrm2``/``ddot``), whose kernel depends
on the CPU (``OPENBLAS_CORETYPE``): the last bit of ||d|| then differs between machines, and
through the NIGT step θ + α d/||d|| the whole run does. BLAS also wakes its threads for the
call: for the 28,706 parameters of the paper's Humanoid policy it took 2.7 ms here against
21 µs for the pairwise sum below (and ~12 ms on a busy 2-core machine, slowing the rollouts
that share the cores). NumPy's ``add.reduce`` sums in a fixed pairwise order on every CPU.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["norm"]


def norm(vector: np.ndarray) -> float:
    """||x||_2 = sqrt(Σ_j x_j²), summed pairwise by NumPy (no BLAS); inf when it overflows (a
    diverging run, which the recorder reports)."""
    with np.errstate(over="ignore"):
        return math.sqrt(float(np.add.reduce(vector * vector)))
