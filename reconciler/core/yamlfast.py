"""A fast reader for exactly the YAML we write (``reconciler.core.yamltext``): the
lockfile and trigger records, read on every pass, are thousands of lines that a general
YAML loader builds one Python object at a time (an 8 MB lock took seconds).

It reads the dialect line by line: block mappings and sequences indented by two, one
key or item per line, flow mappings of scalars on one line (``{kind: X, name: 'y'}``;
a value may be a list of scalars, ``[a, 'b*']``),
plain scalars that are strings, ``true``, ``false``, ``null`` or a decimal integer, single-quoted
and JSON-escaped double-quoted strings, ``{}`` and ``[]``, whole-line comments. Anything
else (a person's edit in another style, anchors, tags, block scalars, a duplicate key,
a plain scalar it does not know YAML's reading of, a key with no value) makes it give
up with :data:`NOT_OURS`, and the caller reads the text with the full YAML loader. So
what it returns is what the full loader returns for the same text; tests compare the
two over rendered locks, records and mutations of them.

Pure: text in, data out.
"""

from __future__ import annotations

import functools
import json
import re
from sys import intern
from typing import Any, Final

from reconciler.core.yamltext import FLOW_PLAIN, NOT_A_STRING, plain_is_string

# Keys and values repeat (``from``, ``DockerImage``, ``Legacy``): their reading is
# worked out once.
_is_string = functools.lru_cache(maxsize=4096)(plain_is_string)

NOT_OURS: Final = object()  # the text is not in our dialect: use the full loader
MAX_DEPTH = 32  # deeper than anything we write; the full loader (and its limits) judge

# Characters a full loader would read as something else (line breaks other than \n,
# controls, BOM) or that we never write raw.
_UNUSUAL = re.compile(
    "[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]"
)
_SINGLE = re.compile(r"'((?:[^']|'')*)'")
_DOUBLE = re.compile(r'"((?:[^"\\]|\\[\\"nrtbf]|\\u[0-9a-fA-F]{4})*)"')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]")
_INTEGER = re.compile(r"0|[1-9][0-9]*")


class _NotOurs(Exception):
    pass


def load(text: str | bytes) -> Any:
    """The data of ``text``, or :data:`NOT_OURS` when it is not in our dialect."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return _load(text)
    except (_NotOurs, UnicodeDecodeError, ValueError):
        return NOT_OURS


def _load(text: str) -> Any:
    if _UNUSUAL.search(text):
        raise _NotOurs
    root: dict[str, Any] | None = None
    # Open containers, innermost last: (indent of their keys or dashes, container).
    stack: list[tuple[int, Any]] = []
    pending: tuple[dict[str, Any], str, int] | None = None  # "key:" awaiting its block
    for line in text.split("\n"):
        content = line.lstrip(" ")
        if not content or content[0] == "#":
            continue
        indent = len(line) - len(content)
        if content[-1] == " " or content.startswith(("---", "...", "%")):
            raise _NotOurs
        if root is None:
            if indent:
                raise _NotOurs
            root = {}
            stack.append((0, root))
        elif pending is not None:
            parent, key, parent_indent = pending
            pending = None
            if indent != parent_indent + 2 or len(stack) >= MAX_DEPTH:
                raise _NotOurs  # a null value, or indented unlike ours
            child: Any = [] if content.startswith("- ") else {}
            parent[key] = child
            stack.append((indent, child))
        else:
            while stack[-1][0] > indent:
                stack.pop()
            if stack[-1][0] != indent:
                raise _NotOurs
        container = stack[-1][1]
        if isinstance(container, list):
            if not content.startswith("- "):
                raise _NotOurs
            item = content[2:]
            keyed = _key(item)
            if keyed is None:
                container.append(_value(item))
                continue
            mapping: dict[str, Any] = {}
            container.append(mapping)
            stack.append((indent + 2, mapping))
            pending = _put(mapping, keyed, indent + 2)
        else:
            keyed = _key(content)
            if keyed is None:
                raise _NotOurs
            pending = _put(container, keyed, indent)
    if root is None or pending is not None:
        raise _NotOurs
    return root


def _put(
    mapping: dict[str, Any], keyed: tuple[str, str | None], indent: int
) -> tuple[dict[str, Any], str, int] | None:
    key, rest = keyed
    key = intern(key)  # one string per distinct key, not per occurrence
    if key in mapping:
        raise _NotOurs  # a duplicate key: the full loader words the error
    if rest is None:
        mapping[key] = None
        return mapping, key, indent
    mapping[key] = _value(rest)
    return None


def _key(content: str) -> tuple[str, str | None] | None:
    """(key, the value's text or None when the value is a block below) when ``content``
    starts with a mapping key; None when it is a scalar."""
    first = content[0]
    if first in "{[":
        return None  # a flow collection: a value
    if first in "'\"":
        match = (_SINGLE if first == "'" else _DOUBLE).match(content)
        if match is None:
            raise _NotOurs
        end = match.end()
        if content[end : end + 1] != ":":
            return None  # a quoted scalar, or something we do not write
        key = _quoted(first, match.group(1))
        after = content[end + 1 :]
    else:
        colon = content.find(": ")
        if colon >= 0:
            key, after = content[:colon], content[colon + 1 :]
        elif content[-1] == ":":
            key, after = content[:-1], ""
        else:
            return None
        if not _is_string(key):
            raise _NotOurs  # e.g. a key YAML reads as a number
    if not after:
        return key, None
    if after[0] != " " or len(after) < 2:
        raise _NotOurs
    return key, after[1:]


def _quoted(quote: str, body: str) -> str:
    if quote == "'":
        return body.replace("''", "'")
    if _SURROGATE_ESCAPE.search(body):
        raise _NotOurs
    value = json.loads(f'"{body}"')
    if not isinstance(value, str):  # pragma: no cover - a JSON string is a str
        raise _NotOurs
    return value


def _value(text: str) -> Any:
    first = text[0]
    if first in "'\"":
        match = (_SINGLE if first == "'" else _DOUBLE).fullmatch(text)
        if match is None:
            raise _NotOurs
        return _quoted(first, match.group(1))
    if first == "{":
        return {} if text == "{}" else _flow(text)
    if text == "[]":
        return []
    return _plain(text)


def _plain(text: str) -> Any:
    if _is_string(text):
        return text
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "null":
        return None
    if _INTEGER.fullmatch(text) and NOT_A_STRING.match(text):
        return int(text)
    raise _NotOurs


def _flow(text: str) -> dict[str, Any]:
    """``{key: value, ...}``, keys and values scalars, as yamltext writes them."""
    if text[-1] != "}":
        raise _NotOurs
    out: dict[str, Any] = {}
    position, end = 1, len(text) - 1
    while True:
        key, position = _flow_scalar(text, position)
        if not isinstance(key, str) or key in out or text[position : position + 2] != ": ":
            raise _NotOurs
        value, position = _flow_value(text, position + 2)
        out[intern(key)] = value
        if position == end:
            return out
        if text[position : position + 2] != ", ":
            raise _NotOurs
        position += 2


def _flow_value(text: str, position: int) -> tuple[Any, int]:
    """A flow mapping's value: a scalar, or ``[a, b]`` (scalars, as yamltext writes a
    list in a flow mapping)."""
    if text[position : position + 1] != "[":
        return _flow_scalar(text, position)
    if text[position + 1 : position + 2] == "]":
        return [], position + 2
    items = []
    position += 1
    while True:
        item, position = _flow_scalar(text, position)
        items.append(item)
        if text[position : position + 1] == "]":
            return items, position + 1
        if text[position : position + 2] != ", ":
            raise _NotOurs
        position += 2


def _flow_scalar(text: str, position: int) -> tuple[Any, int]:
    first = text[position : position + 1]
    if first in ("'", '"'):
        match = (_SINGLE if first == "'" else _DOUBLE).match(text, position)
        if match is None:
            raise _NotOurs
        return _quoted(first, match.group(1)), match.end()
    match = FLOW_PLAIN.match(text, position)
    if match is None:
        raise _NotOurs
    return _plain(match.group()), match.end()
