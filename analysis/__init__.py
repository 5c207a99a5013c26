"""Report scripts: they read run and sweep directories written by asyncsim and turn them into the
theory-check report and its figures. Library logic lives in :mod:`asyncsim`; this package holds
only the report logic (which numbers to compare, how to tabulate them, what verdict to print).

* :mod:`analysis.theory_check` — measured round times versus the closed forms, and measured
  time-to-target scaling in n and α versus the ε-complexity shapes;
* :mod:`analysis.run_all` — runs the sweeps of ``scenarios/sweeps`` and then the theory check.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from asyncsim.core.errors import AsyncSimError

T = TypeVar("T")


def refuse(error: BaseException) -> int:
    """Bad input: ``error`` as one ``error:`` line on stderr (its line breaks folded); returns 2,
    the exit code of every report script for it."""
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
    return 2


def read_or_refuse(read: Callable[..., T], *arguments: Any) -> T:
    """``read(*arguments)``: what a report script reads from its sweep. Bad input (a missing or
    unreadable sweep) ends the script with :func:`refuse`'s line and its exit code 2."""
    try:
        return read(*arguments)
    except (AsyncSimError, OSError, ValueError) as exc:
        raise SystemExit(refuse(exc)) from None


def figure_arguments(description: str, default_out: str) -> argparse.Namespace:
    """The command line of a figure script, ``DIR [--out FIGURE]``: ``sweep`` (a finished
    sweep) and ``out`` (the figure's path, ``default_out`` unless given)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--out", type=Path, default=Path(default_out))
    return parser.parse_args()
