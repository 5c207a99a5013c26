"""The only YAML code: load a scenario file, apply ``--set path=value`` overrides, expand
shorthands, validate.

Shorthand: ``seeds: [0, 1, 2]`` at the top level means a sweep over ``seed`` (appended as the
last, fastest-varying axis of the ``sweep:`` block).

PyYAML follows YAML 1.1, where ``1e-3`` is a string; the loader here resolves such scientific
notation as floats, as a researcher writing a learning rate expects.

Reading is defensive: a scenario file is read whole up to MAX_SCENARIO_BYTES and must be UTF-8
text; its YAML node graph is checked before anything is built (no recursive alias, at most
MAX_YAML_VALUES values once aliases are expanded, at most MAX_YAML_DEPTH levels, no duplicate
key), so that every bad file gives one line naming the field.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from asyncsim.core.errors import ConfigError, clip, quote, switch
from asyncsim.core.files import read_text_file
from asyncsim.scenario.schema import Scenario, validate_scenario

__all__ = [
    "MAX_SCENARIO_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_VALUES",
    "apply_overrides",
    "check_distinct",
    "dump_yaml",
    "expand_shorthands",
    "load_scenario",
    "load_scenario_data",
    "load_yaml",
    "parse_override",
    "plugins_relative_to",
    "value_at",
]

_FLOAT = re.compile(
    r"""^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[0-9][0-9_]*[eE][-+]?[0-9]+|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
    re.X,
)


MAX_SCENARIO_BYTES = 16 * 2**20
"""Largest scenario file read (a list of 10^6 per-agent values takes about 10 MB)."""

MAX_YAML_VALUES = 2_000_000
"""Most values (mappings, lists, scalars) a YAML document may expand to, counting an aliased
node at every use: a 639-byte file of 9 nested aliases expands to a billion."""

MAX_YAML_DEPTH = 100
"""Deepest nesting of a YAML document (a scenario nests about 5 deep)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load_yaml(text: str, source: str = "scenario") -> Any:
    """Parse YAML text into plain data, or raise a one-line ConfigError.

    The document's node graph is checked (:func:`_check_nodes`) before any value is built: a
    recursive alias, an alias bomb, nesting deeper than MAX_YAML_DEPTH or a duplicate key is
    refused, naming the field path; a syntax error names the line.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(source, f"malformed YAML{where}: {problem}") from None
    except RecursionError:  # the composer recurses once per level, before _check_nodes runs
        raise ConfigError(source, f"YAML nested more than {MAX_YAML_DEPTH} levels deep") from None
    except ConfigError:
        raise
    except (ValueError, OverflowError) as exc:  # PyYAML cannot build it: 2001-13-01, 10**5000
        problem = str(exc).split(";")[0]  # drops Python's advice on sys.set_int_max_str_digits
        raise ConfigError(source, f"malformed YAML value: {problem}") from None
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Refuse a YAML node graph that cannot be plain scenario data, before it is built.

    An iterative depth-first walk over the mappings and sequences (the graph may be deeper than
    the recursion limit): one met again while it is still open on the current path is a
    recursive alias; the expanded size of one is 1 + the sizes of its children (a scalar counts
    1), each aliased node counted at every use but computed once, so the walk is linear in the
    file; the keys of one mapping must differ. Field paths are only spelled out for an error.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, _Trail, bool]] = [(root, None, False)]
    while stack:
        node, trail, closing = stack.pop()
        if closing:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for _, child in _children(node))
            if sizes[id(node)] > MAX_YAML_VALUES:
                where = _path(trail) or source
                raise ConfigError(
                    where, f"YAML aliases expand to more than {MAX_YAML_VALUES} values"
                )
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            raise ConfigError(
                _path(trail) or source, "recursive YAML alias (a value contains itself)"
            )
        if _depth(trail) >= MAX_YAML_DEPTH:
            line = node.start_mark.line + 1
            raise ConfigError(
                source, f"YAML nested more than {MAX_YAML_DEPTH} levels deep (line {line})"
            )
        if isinstance(node, yaml.MappingNode):
            _check_duplicate_keys(node, trail, source)
        open_nodes.add(id(node))
        stack.append((node, trail, True))
        depth = _depth(trail) + 1
        stack.extend(
            (
                (child, (trail, step, depth), False)
                for step, child in _children(node)
                if not isinstance(child, yaml.ScalarNode)
            )
        )


_Trail = tuple | None
"""The way to a node: (the parent's trail, the step from the parent, depth), None at the root.
A step is a list index or a mapping's key node."""


def _depth(trail: _Trail) -> int:
    return 0 if trail is None else trail[2]


def _children(node: yaml.Node) -> list[tuple[int | yaml.Node, yaml.Node]]:
    """(step, node) of the keys and values of a mapping or the items of a sequence."""
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    if isinstance(node, yaml.MappingNode):
        return [(key, child) for key, value in node.value for child in (key, value)]
    return []


def _path(trail: _Trail) -> str:
    """The field path of a trail: ``cluster.compute.h[3]`` (keys cut to 80 characters)."""
    steps = []
    while trail is not None:
        trail, step, _ = trail
        steps.append(step)
    path = ""
    for step in reversed(steps):
        if isinstance(step, int):
            path += f"[{step}]"
        else:
            name = clip(step.value, 80) if isinstance(step, yaml.ScalarNode) else "?"
            path += f".{name}" if path else name
    return path


def _check_duplicate_keys(node: yaml.MappingNode, trail: _Trail, source: str) -> None:
    """Raise if two scalar keys of ``node`` read the same (PyYAML keeps the last silently)."""
    lines: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        first = lines.get((key.tag, key.value))
        if first is not None:
            raise ConfigError(
                _path((trail, key, _depth(trail) + 1)),
                f"duplicate key (lines {first} and {line} of {source})",
            )
        lines[(key.tag, key.value)] = line


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter is ~4x faster


def dump_yaml(data: Any) -> str:
    """Serialise plain data as block-style YAML (keys in insertion order)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None)


def parse_override(text: str) -> tuple[str, Any]:
    """``a.b[0].c=value`` → (path, YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(switch("set"), f"expected path=value, got {text!r}")
    path, value = text.split("=", 1)
    return path.strip(), load_yaml(value, f"{switch('set')} {path.strip()}")


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


def value_at(data: Any, path: str) -> Any:
    """The value at a field path (``cluster.n``, ``methods[0].lr``) of scenario data; None
    where the path leads nowhere."""
    node = data
    for part in _split_path(path):
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, Mapping) else None
    return node


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
        _check_step(node, part, parts[:depth], path)
        if isinstance(part, int):
            node = node[part]
            continue
        if not isinstance(node.get(part), dict | list):
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    _check_step(node, parts[-1], parts[:-1], path)
    node[parts[-1]] = value


def _check_step(node: Any, part: str | int, before: list[str | int], path: str) -> None:
    """Raise unless ``part`` can index ``node``: a list takes an index in range (``a[2]``), a
    mapping a key (``a.b``)."""
    if isinstance(part, int):
        if not isinstance(node, list) or part >= len(node):
            raise ConfigError(path, f"index {part} out of range")
        return
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in before).lstrip(".")
    if isinstance(node, list):
        example = f"{where}[{part}]" if part.isdigit() else f"{where}[0].{part}"
        raise ConfigError(path, f"{where} is a list of {len(node)} items: index it, e.g. {example}")
    if not isinstance(node, dict):
        raise ConfigError(path, f"{where} is {quote(node)}, not a mapping of fields")


def check_distinct(field: str, values: Sequence[Any]) -> None:
    """ConfigError when a list of sweep values holds one twice: the point would run again
    under the same values and count as another seed or setting (``seeds: [0, 0, 0]`` would
    report three identical runs as three seeds)."""
    seen: set[str] = set()
    for value in values:
        key = json.dumps(value, sort_keys=True, default=str)
        if key in seen:
            raise ConfigError(field, f"holds {quote(value)} twice; give each value once")
        seen.add(key)


def expand_shorthands(data: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite ``seeds: [..]`` as the sweep axis ``sweep: {..., seed: [..]}``."""
    result = dict(data)
    if "seeds" not in result:
        return result
    seeds = result.pop("seeds")
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError("seeds", f"must be a non-empty list of seeds, got {seeds!r}")
    check_distinct("seeds", seeds)
    sweep = result.get("sweep") or {}
    if not isinstance(sweep, Mapping):
        raise ConfigError("sweep", f"must be a mapping of field path to values, got {sweep!r}")
    if "seed" in sweep:
        raise ConfigError("seeds", "give the seeds either as 'seeds' or as 'sweep.seed', not both")
    result["sweep"] = {**sweep, "seed": seeds}
    return result


def load_scenario_data(path: str | Path, overrides: Iterable[tuple[str, Any]] = ()) -> dict:
    """Read a scenario file, apply overrides and expand shorthands; not yet validated."""
    text = read_text_file(path, str(path), "scenario file", MAX_SCENARIO_BYTES)
    data = load_yaml(text, str(path))
    if not isinstance(data, Mapping):
        raise ConfigError(str(path), "a scenario file must hold a mapping of fields")
    return expand_shorthands(apply_overrides(_plugins_beside(data, Path(path)), overrides))


def _plugins_beside(data: Mapping[str, Any], path: Path) -> Mapping[str, Any]:
    """``plugins:`` paths are relative to the scenario file: made absolute here (a URL is
    left as written, for validation to refuse)."""
    plugins = data.get("plugins")
    if not isinstance(plugins, list):
        return data  # absent, or validation reports it
    here = path.resolve().parent
    return {**data, "plugins": [_beside(here, p) for p in plugins]}


def _beside(here: Path, path: Any) -> Any:
    if not isinstance(path, str) or "://" in path:
        return path
    return str(here / path)


def plugins_relative_to(data: Mapping[str, Any], directory: str | Path) -> dict[str, Any]:
    """``data`` as a scenario file in ``directory`` must state it: absolute ``plugins:`` paths
    made relative to that directory (the inverse of reading a file), so that stored results
    hold no absolute path of the machine that wrote them and stay valid moved together."""
    plugins = data.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        return dict(data)
    start = Path(directory).resolve()
    relative = [
        os.path.relpath(p, start) if isinstance(p, str) and os.path.isabs(p) else p for p in plugins
    ]
    return {**data, "plugins": relative}


def load_scenario(path: str | Path, overrides: Iterable[tuple[str, Any]] = ()) -> Scenario:
    """Read, override, expand and validate a scenario file."""
    return validate_scenario(load_scenario_data(path, overrides))
