"""The only YAML code: load a scenario file, apply ``--set path=value`` overrides, expand
shorthands, validate.

Shorthand: ``seeds: [0, 1, 2]`` at the top level means a sweep over ``seed`` (appended as the
last, fastest-varying axis of the ``sweep:`` block).

PyYAML follows YAML 1.1, where ``1e-3`` is a string; the loader here resolves such scientific
notation as floats, as a researcher writing a learning rate expects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from asyncsim.config import Scenario, validate_scenario
from asyncsim.errors import ConfigError

__all__ = [
    "apply_overrides",
    "dump_yaml",
    "expand_shorthands",
    "load_scenario",
    "load_scenario_data",
    "load_yaml",
    "parse_override",
]

_FLOAT = re.compile(
    r"""^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[0-9][0-9_]*[eE][-+]?[0-9]+|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load_yaml(text: str, source: str = "scenario") -> Any:
    """Parse YAML text; a syntax error becomes a one-line ConfigError naming the line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(source, f"malformed YAML{where}: {problem}") from None


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter is ~4x faster


def dump_yaml(data: Any) -> str:
    """Serialise plain data as block-style YAML (keys in insertion order)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None)


def parse_override(text: str) -> tuple[str, Any]:
    """``a.b[0].c=value`` → (path, YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError("--set", f"expected path=value, got {text!r}")
    path, value = text.split("=", 1)
    return path.strip(), load_yaml(value, f"--set {path.strip()}")


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[tuple[str, Any]]) -> dict:
    """Return a copy of ``data`` with each (dotted path, value) set; list items as ``a[2]``."""
    result = _deep_copy(data)
    for path, value in overrides:
        _set_path(result, path, value)
    return result


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _split_path(path: str) -> list[str | int]:
    """``a.b[0].c`` → ["a", "b", 0, "c"]; under ``sweep.`` the rest is one key (a field path)."""
    if path.startswith("sweep.") and len(path) > len("sweep."):
        return ["sweep", path[len("sweep.") :]]
    parts: list[str | int] = []
    for token in path.split("."):
        match = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", token)
        if not match:
            raise ConfigError(path, "malformed field path")
        parts.append(match.group(1))
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", match.group(2))]
    return parts


def _set_path(data: dict, path: str, value: Any) -> None:
    parts = _split_path(path)
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        nxt = parts[depth + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise ConfigError(path, f"index {part} out of range")
            node = node[part]
            continue
        if not isinstance(node.get(part), dict | list):
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = parts[-1]
    if isinstance(last, int) and (not isinstance(node, list) or last >= len(node)):
        raise ConfigError(path, f"index {last} out of range")
    node[last] = value


def expand_shorthands(data: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite ``seeds: [..]`` as the sweep axis ``sweep: {..., seed: [..]}``."""
    result = dict(data)
    if "seeds" not in result:
        return result
    seeds = result.pop("seeds")
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError("seeds", f"must be a non-empty list of seeds, got {seeds!r}")
    sweep = result.get("sweep") or {}
    if not isinstance(sweep, Mapping):
        raise ConfigError("sweep", f"must be a mapping of field path to values, got {sweep!r}")
    if "seed" in sweep:
        raise ConfigError("seeds", "give the seeds either as 'seeds' or as 'sweep.seed', not both")
    result["sweep"] = {**sweep, "seed": seeds}
    return result


def load_scenario_data(path: str | Path, overrides: Iterable[tuple[str, Any]] = ()) -> dict:
    """Read a scenario file, apply overrides and expand shorthands; not yet validated."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read scenario file: {exc.strerror}") from None
    data = load_yaml(text, str(path))
    if not isinstance(data, Mapping):
        raise ConfigError(str(path), "a scenario file must hold a mapping of fields")
    return expand_shorthands(apply_overrides(data, overrides))


def load_scenario(path: str | Path, overrides: Iterable[tuple[str, Any]] = ()) -> Scenario:
    """Read, override, expand and validate a scenario file."""
    return validate_scenario(load_scenario_data(path, overrides))
