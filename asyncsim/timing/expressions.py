"""Safe arithmetic expressions in the 1-based agent index ``i`` (and the iteration ``k``).

Time models accept per-agent values written as formulas such as ``sqrt(i)``, ``i**0.5``,
``1 + 0.1*i`` or ``log(i+1)``. The language is closed: numbers (finite, not ``True``/``False``),
the caller's variables, the constants ``pi`` and ``e``, ``+ - * / ** %``, unary ``+ -``, and the
functions of :data:`FUNCTIONS`, each called with exactly its number of positional arguments.
A formula is at most :data:`MAX_LENGTH` characters long and nests at most :data:`MAX_DEPTH`
levels deep. Everything is checked when the formula is parsed (with :mod:`ast`), so evaluation,
a walk of the checked tree over NumPy arrays, cannot fail on the formula's form; nothing is
ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import NoReturn

import numpy as np

from asyncsim.core.errors import ConfigError, quote

__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "Expression", "parse_expression"]

MAX_LENGTH = 1000
"""Most characters of a formula (a per-agent formula is a line, not a program)."""

MAX_DEPTH = 64
"""Most nested operations: ``1 + 0.1*i`` nests 3 deep, a sum of m terms m deep. The bound keeps
the recursive check and evaluation far from Python's recursion limit."""

_ONE_ARGUMENT = ("sqrt", "log", "log2", "log10", "exp", "abs", "sin", "cos", "floor", "ceil")
"""The functions of one argument: NumPy's ufuncs of the same name."""

FUNCTIONS: dict[str, tuple[Callable[..., np.ndarray], int]] = {
    **{name: (getattr(np, name), 1) for name in _ONE_ARGUMENT},
    "min": (np.minimum, 2),
    "max": (np.maximum, 2),
}
"""Function name → (NumPy ufunc, number of arguments). The arity is enforced because a ufunc
takes a further positional argument as its output array: ``sqrt(i, i)`` would overwrite ``i``."""

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
    """A parsed and checked formula; call it with NumPy arrays for its variables."""

    def __init__(self, text: str, variables: tuple[str, ...], field: str) -> None:
        self.text = text
        self.variables = variables
        self._field = field
        if len(text) > MAX_LENGTH:
            self._fail(f"is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            self._fail(f"does not parse ({exc.msg})")
        except (ValueError, RecursionError, MemoryError):  # the parser's own limits
            self._fail("does not parse")
        if _depth(tree.body) > MAX_DEPTH:
            self._fail(f"nests more than {MAX_DEPTH} operations deep")
        self._check(tree.body)
        self._tree = tree.body

    def _fail(self, problem: str) -> NoReturn:
        raise ConfigError(self._field, f"malformed expression {quote(self.text)}: {problem}")

    def _check(self, node: ast.AST) -> None:
        """Raise unless ``node`` (recursively) belongs to the language; see the module doc."""
        if isinstance(node, ast.Constant):
            self._check_number(node.value)
        elif isinstance(node, ast.Name) and (node.id in self.variables or node.id in _CONSTANTS):
            return
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            self._check(node.left)
            self._check(node.right)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            self._check(node.operand)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            self._check_call(node, node.func.id)
        else:
            allowed = ", ".join([*self.variables, *_CONSTANTS, *sorted(FUNCTIONS)])
            self._fail(
                f"{quote(ast.unparse(node))} is not allowed (use numbers, + - * / ** %, "
                f"and {allowed})"
            )

    def _check_number(self, value: object) -> None:
        if isinstance(value, bool):  # a bool is an int to Python: True would read as 1
            self._fail(f"{value} is not a number")
        if not isinstance(value, int | float):
            self._fail(f"{quote(value)} is not a number")
        try:
            finite = math.isfinite(float(value))
        except OverflowError:  # an int literal beyond the float range
            finite = False
        if not finite:
            self._fail("a number in it is beyond the floating-point range")

    def _check_call(self, node: ast.Call, name: str) -> None:
        if name not in FUNCTIONS:
            self._fail(
                f"function {quote(name)} is not allowed (use {', '.join(sorted(FUNCTIONS))})"
            )
        if node.keywords:
            self._fail(f"{name}() takes no keyword arguments")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            self._fail(f"{name}() takes no *arguments")
        arity = FUNCTIONS[name][1]
        if len(node.args) != arity:
            plural = "s" if arity > 1 else ""
            self._fail(f"{name}() takes {arity} argument{plural}, got {len(node.args)}")
        for arg in node.args:
            self._check(arg)

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
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)  # _check saw to it
        return FUNCTIONS[node.func.id][0](*(self._eval(a, values) for a in node.args))


def _depth(tree: ast.expr) -> int:
    """Nesting depth of the expression nodes under ``tree`` (iterative: the tree may be far
    deeper than the recursion limit); stops counting once it exceeds MAX_DEPTH."""
    deepest, stack = 0, [(tree, 1)]
    while stack and deepest <= MAX_DEPTH:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr))
    return deepest


def parse_expression(text: str, field: str, variables: tuple[str, ...] = ("i",)) -> Expression:
    """Parse ``text`` as a formula in ``variables``; a malformed one raises a one-line
    ConfigError naming ``field``."""
    return Expression(text, variables, field)
