"""Module paths that moved keep importing: the old path gives the same module object."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import asyncsim


@pytest.mark.parametrize("old", sorted(asyncsim.MOVED))
def test_an_old_path_is_the_module_at_its_new_place(old: str) -> None:
    module = importlib.import_module(old)
    assert module is importlib.import_module(asyncsim.MOVED[old])
    assert module.__spec__.name == asyncsim.MOVED[old]  # its own spec, not the old path's
    assert importlib.util.find_spec(old) is not None


def test_an_old_path_imported_first_is_the_module_at_its_new_place() -> None:
    old, new = next(iter(asyncsim.MOVED.items()))
    code = f"import {old} as a, {new} as b, sys; sys.exit(0 if a is b else 1)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_moved_path_is_no_file() -> None:
    """The finder comes after the files: a file left at an old path would shadow the move."""
    for old in asyncsim.MOVED:
        parent, _, leaf = old.rpartition(".")
        folder = Path(importlib.import_module(parent).__path__[0])
        assert not (folder / f"{leaf}.py").exists() and not (folder / leaf).is_dir(), old
