"""Safe arithmetic expressions in the 1-based agent index ``i`` (and the iteration ``k``).

Time models accept per-agent values written as formulas such as ``sqrt(i)``, ``i**0.5``,
``1 + 0.1*i`` or ``log(i+1)``. They are parsed with :mod:`ast` and evaluated by walking a whitelist
of node types over numpy arrays; nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping

import numpy as np

from asyncsim.errors import ConfigError

__all__ = ["Expression", "parse_expression"]

_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "sqrt": np.sqrt,
    "log": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "exp": np.exp,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "floor": np.floor,
    "ceil": np.ceil,
    "min": np.minimum,
    "max": np.maximum,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class Expression:
    """A parsed formula; call it with numpy arrays for its variables."""

    def __init__(self, text: str, variables: tuple[str, ...], field: str) -> None:
        self.text = text
        self.variables = variables
        self._field = field
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise ConfigError(field, f"malformed expression {text!r} ({exc.msg})") from None
        self._check(tree.body)
        self._tree = tree.body

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return
        if isinstance(node, ast.Name) and (node.id in self.variables or node.id in _CONSTANTS):
            return
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            self._check(node.left)
            self._check(node.right)
            return
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            self._check(node.operand)
            return
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            for arg in node.args:
                self._check(arg)
            return
        allowed = ", ".join([*self.variables, *sorted(_FUNCTIONS)])
        raise ConfigError(
            self._field,
            f"malformed expression {self.text!r}: {ast.unparse(node)!r} is not allowed "
            f"(use numbers, + - * / ** %, and {allowed})",
        )

    def __call__(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(self._eval(self._tree, values), dtype=float)

    def _eval(self, node: ast.AST, values: Mapping[str, np.ndarray]) -> np.ndarray | float:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values[node.id] if node.id in self.variables else _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, values), self._eval(node.right, values)
            return _BINARY[type(node.op)](np.asarray(left, float), right)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._eval(node.operand, values))
        assert isinstance(node, ast.Call)  # guaranteed by _check
        return _FUNCTIONS[node.func.id](*(self._eval(a, values) for a in node.args))


def parse_expression(text: str, field: str, variables: tuple[str, ...] = ("i",)) -> Expression:
    """Parse ``text`` as a formula in ``variables``; a malformed one raises ConfigError."""
    return Expression(text, variables, field)
