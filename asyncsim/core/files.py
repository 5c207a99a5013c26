"""Safe file names and safe text reading: the rules for what asyncsim writes and reads.

Writing: a scenario's name becomes ``results/<name>`` (``results/<name>-sweep`` for a sweep)
and a method's key a sub-directory of the run directory, so either must be one plain path
component (:func:`check_output_name`): a name that climbs out (``..``), starts at the root
(``/etc``), is empty, or holds a NUL byte would make asyncsim write where the user did not
choose.

Reading: input files (scenarios, trace files) are read whole, at most a given number of bytes,
and must be UTF-8 text (:func:`read_text_file`), so that ``/dev/zero``, a binary file or a
UTF-16 file gives one line instead of exhausting memory or a decoding traceback.

This module imports nothing of asyncsim but its errors, so validation and readers can use it.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from asyncsim.core.errors import ConfigError, quote

__all__ = [
    "MAX_NAME_BYTES",
    "RUN_DIRECTORY_ENTRIES",
    "check_method_key",
    "check_output_name",
    "read_text_file",
]

MAX_NAME_BYTES = 200
"""Longest name in UTF-8 bytes: file systems allow 255 per component, and ``-sweep`` and
temporary-file affixes must still fit."""

RUN_DIRECTORY_ENTRIES = frozenset(
    {
        "COMPLETE",
        "metadata.json",
        "scenario.yaml",
        "plugins.json",
        "emulation.json",
        "error.txt",
        "plots",
        ".lock",
    }
)
"""What a run directory holds besides its method directories (asyncsim.store.runs, the plug-in
record, emulate's comparison, the sweep's error file, the figures, the writer's lock): no
method key may take one of these names."""

_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def check_output_name(name: str, field: str) -> None:
    """Raise a one-line ConfigError unless ``name`` is a single, plain path component.

    Rules: a string of 1 to :data:`MAX_NAME_BYTES` UTF-8 bytes, not ``.`` or ``..``, without
    ``/`` or ``\\``, made of printable characters only (no NUL, no line break, no control
    character), and not only spaces.

    Args:
        name: the name to check.
        field: the field path named in the error, e.g. ``name`` or ``methods[2].label``.
    """
    problem = _name_problem(name)
    if problem:
        raise ConfigError(field, f"{problem}, got {quote(name)}")


def check_method_key(key: str, field: str) -> None:
    """Raise a one-line ConfigError unless ``key`` (a method's label, else its name) can name
    its directory in the run directory: :func:`check_output_name`'s rules, and none of
    :data:`RUN_DIRECTORY_ENTRIES`."""
    check_output_name(key, field)
    if key in RUN_DIRECTORY_ENTRIES:
        raise ConfigError(
            field, f"{key!r} is the name of a run directory's own file; choose another label"
        )


def _name_problem(name: object) -> str | None:
    if not isinstance(name, str):
        return "must be a string"
    if not name.strip():
        return "must not be empty (it names the output directory)"
    if name in (".", ".."):
        return "must not be '.' or '..' (it names the output directory)"
    if "/" in name or "\\" in name:
        return "must not contain '/' or '\\' (it names one output directory, not a path)"
    if not name.isprintable():
        return "must hold printable characters only (no NUL byte, line break or tab)"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"must be at most {MAX_NAME_BYTES} bytes long (it names the output directory)"
    return None


def read_text_file(path: str | Path, field: str, what: str, max_bytes: int) -> str:
    """The text of a UTF-8 file (a leading byte-order mark is dropped).

    At most ``max_bytes + 1`` bytes are ever read, so a device such as ``/dev/zero`` costs no
    more than a large file.

    Args:
        path: the file.
        field: the field path named in errors (the file's path for a scenario file).
        what: the file as messages name it (``scenario file``, ``trace file 'times.csv'``).
        max_bytes: the largest size accepted.

    Raises:
        ConfigError: the file cannot be read, is larger than ``max_bytes``, holds NUL bytes
            (binary, or UTF-16 without a byte-order mark), is UTF-16/UTF-32, or is not UTF-8.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(field, f"cannot read {what}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise ConfigError(field, f"{what} is larger than {max_bytes} bytes")
    if data.startswith(_WIDE_BOMS):
        raise ConfigError(field, f"{what} is UTF-16/UTF-32; save it as UTF-8")
    if b"\0" in data:
        raise ConfigError(field, f"{what} is not text (it holds NUL bytes: binary or UTF-16)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            field,
            f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
        ) from None
