"""The ``asyncsim`` command (the composition root): run, sweep, tune, report, plot, emulate,
bounds, validate, list, schema.

User errors (:class:`~asyncsim.core.errors.AsyncSimError`, unusable paths) print one line
``error: <message>`` on stderr and exit with status 2; an interrupted command exits with 130.
Progress goes to stderr, tables and result locations to stdout.

The commands live by what they do: :mod:`asyncsim.cli.app` (the group and what the commands
share), :mod:`~asyncsim.cli.simulate`, :mod:`~asyncsim.cli.emulate`, :mod:`~asyncsim.cli.inspect`.
"""

from asyncsim.cli import emulate, inspect, simulate  # noqa: F401  (each registers its commands)
from asyncsim.cli.app import main

__all__ = ["main"]
