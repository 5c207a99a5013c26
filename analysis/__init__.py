"""Report scripts: they read run and sweep directories written by asyncsim and turn them into the
theory-check report and its figures. Library logic lives in :mod:`asyncsim`; this package holds
only the report logic (which numbers to compare, how to tabulate them, what verdict to print).

* :mod:`analysis.theory_check` — measured round times versus the closed forms, and measured
  time-to-target scaling in n and α versus the ε-complexity shapes;
* :mod:`analysis.run_all` — runs the sweeps of ``scenarios/sweeps`` and then the theory check.
"""

import sys


def refuse(error: BaseException) -> int:
    """Bad input: ``error`` as one ``error:`` line on stderr (its line breaks folded); returns 2,
    the exit code of every report script for it."""
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
    return 2
