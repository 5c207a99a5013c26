"""CSV tables as asyncsim writes and reads them: one float format, files written in bounded
memory.

Every CSV table (iterations.csv, trace.csv, index.csv, tune.csv) goes through one path with one
float format, orjson's shortest round-trip decimals (:func:`float_text`): the same seed gives
byte-identical tables, and :func:`read_table` parses them back to the same numbers.

:class:`TableFile` writes a table block by block (:data:`BLOCK_ROWS` rows at most at once) to a
temporary file in the target's directory (:func:`temporary_path`) that is renamed over the
target once complete: a killed process leaves the old file or the new one, never half a file,
and a table of any length costs the memory of one block. (Written whole, a trace took its text
twice more: under a 4 GB address-space limit, n = 256 exponential times and 4,000 iterations
ended in a segmentation fault while writing, after validation had accepted the run.) A writer
that receives its rows while a run goes on, a trace streamed during the run, appends blocks as
they come with :meth:`TableFile.append`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson

__all__ = [
    "BLOCK_ROWS",
    "TableFile",
    "float_text",
    "read_table",
    "table_text",
    "temporary_path",
    "write_table",
]

BLOCK_ROWS = 100_000
"""Rows formatted at once: 4-8 MB of text for a trace block, whatever the table's length."""

_NUMBERS = {float, int, type(None)}
_COMMA, _NEWLINE, _QUOTE = ord(","), ord("\n"), ord('"')
_NULL = b"null"
"""How orjson writes a float that is not finite (a name holding it only costs the slow path)."""


def temporary_path(path: Path) -> Path:
    """The temporary file a write of ``path`` goes through: ``.NAME.PID.tmp`` beside it."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def float_text(value: float) -> str:
    """A float as every table writes it: orjson's shortest round-trip decimal (the fast path's
    spelling, e.g. ``1e-5``), or ``nan`` / ``inf`` / ``-inf`` where JSON has none."""
    return orjson.dumps(value).decode() if math.isfinite(value) else repr(value)


def _slow_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return float_text(float(value))
    return str(value)


_FAST_CELLS = {float: float_text, int: int.__repr__, str: str, bool: str}


def _cell(value: Any) -> str:
    """CSV text of one value: floats by :func:`float_text`, '' for None, str otherwise (NumPy
    scalars too)."""
    fast = _FAST_CELLS.get(type(value))
    return fast(value) if fast is not None else _slow_cell(value)


def _parse(text: str) -> Any:
    """Inverse of :func:`_cell`: None, bool, int, float, else the text itself."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    if "_" in text:  # int() and float() would accept it as a digit separator
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def table_text(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (header + rows, ``\\n`` line ends): floats as shortest round-trip decimals,
    None as '', other values by :func:`_cell`."""
    flat = list(chain.from_iterable(rows))
    return (_header(columns) + _rows_csv(flat, len(columns), identifiers=False)).decode()


def _header(columns: Sequence[str]) -> bytes:
    return _csv_rows(list(columns), len(columns))


def _rows_csv(flat: list[Any], width: int, identifiers: bool) -> bytes | bytearray:
    """The CSV rows (no header) of a table flattened row by row into ``flat``.

    Tables of numbers (and None) take :func:`_flat_csv`, as do ``identifiers`` tables (ints,
    floats and plain names: traces, whose events are identifiers, skip the type scan);
    anything else, or a float that is not finite, goes through the csv module.
    """
    if not identifiers:
        types = set(map(type, flat))
        if not types <= _NUMBERS:
            return _csv_rows(flat, width)
        if type(None) in types:
            flat = ["" if v is None else v for v in flat]
    text = _flat_csv(flat, width)
    return text if _NULL not in text else _csv_rows(flat, width)


def _csv_rows(flat: list[Any], width: int) -> bytes:
    """Rows written by the csv module (floats by :func:`float_text`, None as '')."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([_cell(v) for v in flat[i : i + width]] for i in range(0, len(flat), width))
    return buffer.getvalue().encode()


def _flat_csv(flat: list[Any], width: int) -> bytearray:
    """CSV rows of a table flattened row by row into ``flat`` (``width`` values a row) of ints,
    floats and plain identifiers (no quote, comma, backslash or newline), made in C. A float
    that is not finite comes out as ``null`` (JSON has no inf or nan): callers check for it
    and take the csv module instead.

    orjson writes ``flat`` as one JSON array; as no value holds a comma, every ``width``-th
    comma ends a row and becomes a newline (found with NumPy), and deleting the brackets and the
    quotes leaves CSV. A flat list instead of one tuple per row spares the garbage collector a
    pass over every row. Floats come out as :func:`float_text` writes them.
    """
    if not flat:
        return bytearray()
    text = bytearray(orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY))
    codes = np.frombuffer(text, np.uint8)
    codes[np.flatnonzero(codes == _COMMA)[width - 1 :: width]] = _NEWLINE
    codes[0], codes[-1] = _QUOTE, _NEWLINE  # the brackets: the opening one is deleted too
    return text.translate(None, b'"')


class TableFile:
    """A CSV table written block by block and renamed into place when complete.

    Use as a context manager: the file appears at ``path`` when the block ends without an
    error; otherwise the temporary file is removed and an earlier ``path`` is left as it was.

    Args:
        path: the table's file.
        columns: its header.
        identifiers: every value is an int, a float or a plain name (no comma, quote or line
            break): blocks skip the type scan (traces).
    """

    def __init__(self, path: str | Path, columns: Sequence[str], identifiers: bool = False):
        self.path = Path(path)
        self.width = len(columns)
        self.identifiers = identifiers
        self._temporary = temporary_path(self.path)
        self._handle = open(self._temporary, "wb")  # noqa: SIM115 (closed by close/abort)
        try:
            self._write(_header(columns))
        except BaseException:  # no context manager owns the file yet: a full disk leaves none
            self.abort()
            raise

    def append(self, flat: list[Any]) -> None:
        """Write the rows of one block, flattened row by row (time, agent, ... of the first
        row, then of the second ...)."""
        self._write(_rows_csv(flat, self.width, self.identifiers))

    def _write(self, data: bytes | bytearray) -> None:
        try:
            self._handle.write(data)
        except OSError as exc:
            if exc.filename is None:  # a full disk on write(): name the file, not nothing
                raise OSError(exc.errno, exc.strerror, str(self.path)) from exc
            raise

    def close(self) -> None:
        """Finish the file and rename it over ``path`` (if that fails, the temporary file is
        dropped and ``path`` stays as it was)."""
        try:
            self._handle.close()  # flushes the last buffered bytes: a full disk fails here too
            os.replace(self._temporary, self.path)
        except BaseException:
            self._temporary.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        """Drop the temporary file; ``path`` stays as it was."""
        with contextlib.suppress(OSError):  # the buffered bytes of a full disk fail again
            self._handle.close()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> TableFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_table(
    path: str | Path,
    columns: Sequence[str],
    blocks: Iterable[list[Any]],
    identifiers: bool = False,
) -> None:
    """Write a table given as blocks of flattened rows (see :class:`TableFile`)."""
    with TableFile(path, columns, identifiers) as table:
        for block in blocks:
            table.append(block)


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV file written by :func:`table_text` or :class:`TableFile`, values parsed
    back to numbers."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        return [
            {key: _parse(text) for key, text in zip(header, row, strict=True) if text != ""}
            for row in reader
        ]
