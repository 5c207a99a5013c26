"""The library's messages name no command-line flag: where a message asks for the user's word it
marks a switch (errors.switch), which the command line spells as its flag and the Python API as
its parameter."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import asyncsim
from asyncsim.errors import AsyncSimError, ConfigError, spell, switch

PACKAGE = Path(asyncsim.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def _command_line_flags() -> set[str]:
    """Every option of every ``asyncsim`` command (other programs' flags, e.g. git's, may stand
    in the library's strings)."""
    from asyncsim.cli import main

    return {
        name
        for command in main.commands.values()
        for parameter in command.params
        for name in parameter.opts
        if name.startswith("--")
    }


ASYNCSIM_FLAGS = _command_line_flags()


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (module, class, function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _flags_in_strings(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    return [
        f"{path.relative_to(root)}:{node.lineno}: {match}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
        for match in FLAG.findall(node.value)
        if match in ASYNCSIM_FLAGS
    ]  # fmt: skip


def test_no_library_string_names_a_command_line_flag() -> None:
    library = [p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts]
    assert library, PACKAGE
    found = [hit for path in sorted(library) for hit in _flags_in_strings(path)]
    assert found == []


def test_the_finder_sees_a_flag_in_a_message(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        '"""Docs may say --force."""\nraise ValueError("git --porcelain, or give --overwrite")\n'
    )
    assert [hit.split(": ")[-1] for hit in _flags_in_strings(module, tmp_path)] == ["--overwrite"]


def test_a_switch_is_spelled_by_the_interface_that_shows_it() -> None:
    error = ConfigError("cluster.n", f"too many agents; {switch('force')} runs it anyway")
    assert str(error) == "cluster.n: too many agents; force=True runs it anyway"
    assert error.text({"force": "--force"}) == "cluster.n: too many agents; --force runs it anyway"
    assert spell(f"{switch('unknown')} x", {}) == "unknown x"


def test_a_quoted_value_cannot_forge_a_switch() -> None:
    from asyncsim.errors import quote

    forged = quote(switch("force"))
    assert str(AsyncSimError(f"value {forged}")) == f"value {forged}"


@pytest.mark.parametrize("flag", ["--force", "--overwrite", "--trust-plugins"])
def test_the_command_line_spells_its_flags(flag: str) -> None:
    from asyncsim.cli.app import CLI_SWITCHES

    assert flag in " ".join(CLI_SWITCHES.values())
