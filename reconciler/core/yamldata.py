"""Manifest text as plain JSON data, fast: libyaml (PyYAML's C parser) composes the
nodes, and this module turns them into data with the scalar rules ruamel.yaml's safe
loader applies (YAML 1.2: ``true``/``false``, ``null``/``~``/empty, integers, floats),
followed by what ``reconciler.core.manifests`` makes of them (keys as strings).

It answers only when it is sure to give what the ruamel.yaml path gives: any tag, a
``%`` directive, a merge key, a scalar whose YAML 1.2 reading it does not do itself
(a timestamp, ``0x1F``, ``1_000``, ``.inf``, ``012``), a key that is not a scalar, a
duplicate key, more than ``max_nodes`` nodes, or any error, and it returns None: the
caller then reads the text the slow way, which words the error. Anchors and aliases are
the caller's to refuse before (the round-trip path checks them for recursion).

Pure: text in, data out. ``tests/test_fast_paths.py`` compares it with the ruamel path
over the real-world corpus and the generated repos.
"""

from __future__ import annotations

import re
from sys import intern
from typing import Any

import yaml

_PLAIN = "!plain"  # our resolver's tag for an untagged plain scalar
_QUOTED = "!quoted"  # untagged single-, double-quoted or block scalar
_SEQUENCE = "!seq"
_MAPPING = "!map"

_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INTEGER = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]+")
# The other plain scalars ruamel.yaml reads as something else than a string in YAML 1.2
# (its int, float, timestamp, merge and value resolvers), read by it alone.
_OTHER = re.compile(
    r"""[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+
    |[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
    |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:(?:[Tt]|[ \t]+).*)?
    |<<|=""",
    re.VERBOSE,
)


class _Unsure(Exception):
    pass


def _resolve(self: Any, kind: Any, value: Any, implicit: Any) -> str:
    """Every implicit tag left to us: plain or quoted scalar, sequence, mapping."""
    if kind is yaml.ScalarNode:
        if implicit[0]:
            return _PLAIN
        return _QUOTED if implicit[1] else "!"
    return _SEQUENCE if kind is yaml.SequenceNode else _MAPPING


# libyaml's parser and composer, when PyYAML was built with it (its wheels are).
_Loader: Any = (
    type("_Loader", (yaml.CBaseLoader,), {"resolve": _resolve})
    if getattr(yaml, "__with_libyaml__", False)
    else None
)


def load_all(text: str, max_nodes: int) -> list[Any] | None:
    """Each document of ``text`` as JSON data (None for an empty one), or None when
    this path is not sure to read it as the ruamel.yaml path would."""
    if _Loader is None or ("%" in text and re.search(r"(?m)^%", text)):
        return None  # no libyaml; or a directive (%YAML 1.1 changes the scalar rules)
    loader = _Loader(text)
    budget = [max_nodes]
    try:
        documents: list[Any] = []
        while loader.check_node():
            node = loader.get_node()
            documents.append(_data(node, budget))
        return documents
    except (_Unsure, yaml.YAMLError, RecursionError, ValueError):
        return None
    finally:
        loader.dispose()


def _data(node: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _Unsure
    tag = node.tag
    if tag == _PLAIN:
        return _plain(node.value)
    if tag == _QUOTED:
        return node.value
    if tag == _MAPPING:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _PLAIN:
                key = _plain(key_node.value)
                if key is None:
                    key = "null"
                elif isinstance(key, bool):
                    key = "true" if key else "false"
                else:
                    key = str(key)
            elif key_node.tag == _QUOTED:
                key = key_node.value
            else:
                raise _Unsure  # a collection as a key, or a tagged one
            if key in out:
                raise _Unsure  # a duplicate key (or two that read alike): ruamel words it
            budget[0] -= 1
            # One string per distinct key in the process, not one per occurrence: a
            # repo's objects repeat the same few dozen keys (and the cache holds them).
            out[intern(key)] = _data(value_node, budget)
        return out
    if tag == _SEQUENCE:
        return [_data(item, budget) for item in node.value]
    raise _Unsure  # an explicit tag


def _plain(value: str) -> Any:
    if value in _NULLS:
        return None
    boolean = _BOOLS.get(value)
    if boolean is not None:
        return boolean
    first = value[0]
    if first in "0123456789-+.<=":
        if _INTEGER.fullmatch(value):
            return int(value)
        if _FLOAT.fullmatch(value):
            return float(value)
        if _OTHER.fullmatch(value):
            raise _Unsure
    return value
