"""Running a scenario: the runner and its iteration recorder, sweeps (grid, executors, driver),
tuning, progress, conformance checks."""
