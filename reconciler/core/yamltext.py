"""The one YAML dialect we write (lockfile, trigger records) and how we read it back.

Writing: block style, two-space mappings, sequences indented by four with the dash at
two, keys in the order given, no line folding; a string is plain when YAML would read it
back as that same string, else single-quoted (double-quoted, JSON-escaped, when it holds
control characters). A :class:`Flow` mapping of scalars (or of lists of scalars) is
written on one line (``{kind: DockerImage, name: 'quay.io/x:1', tags: [a, b]}``), its
strings plain only when they hold nothing but letters, digits and ``_./-``.
Hand-written because it is on the hot path of every pass (a lock of
thousands of tags) and because "nothing changed" is byte equality: the bytes depend on
the data alone, not on a library's version. Whatever a string holds, what is written
can be read back (a lone surrogate, which no YAML reader accepts, is written as U+FFFD).

Reading: :mod:`reconciler.core.yamlfast` reads exactly this dialect, fast; anything
else (a person's edit in another style) goes to ruamel.yaml's safe loader (with its C
parser where installed). Duplicate keys are refused either way.

Pure: data to bytes and back. Must not read or write files: callers do.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ruamel.yaml import YAML

# A string written plain inside a flow mapping (and read as one by yamlfast).
FLOW_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./-]*")
# What YAML cannot hold raw (controls, DEL and C1, lone surrogates, non-characters), and
# the line separators and BOM, which a reader would take for structure.
_NEEDS_ESCAPES = re.compile(
    "[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_OK = re.compile(r"^[A-Za-z0-9_/$(][^\x00-\x1f\x7f]*$")
_PLAIN_BAD_INSIDE = re.compile(r": |\s#|:$|\s$|[\x00-\x1f\x7f\u0085\u2028\u2029\ufeff]")
# What a YAML 1.1 or 1.2 reader resolves to something other than a string.
_NOT_A_STRING = re.compile(
    r"""^(?:
        ~|null|Null|NULL
      | y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
      | [-+]?(?:0|[1-9][0-9_]*)
      | [-+]?0[0-7_]+ | 0o[0-7_]+ | [-+]?0x[0-9a-fA-F_]+ | [-+]?0b[01_]+
      | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
      | [-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
      | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?
            (?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?
      | =|<<
    )$""",
    re.VERBOSE,
)


NOT_A_STRING = _NOT_A_STRING


class Flow(dict[str, Any]):
    """A mapping of scalars (and lists of scalars) to write on one line, in flow style."""


def plain_is_string(text: str) -> bool:
    """Whether ``text`` written plain (in block context) reads back as that string."""
    return bool(
        _PLAIN_OK.match(text)
        and not _PLAIN_BAD_INSIDE.search(text)
        and not _NOT_A_STRING.match(text)
    )


def _flow_scalar(value: Any) -> str:
    if isinstance(value, list | tuple):  # a list of scalars: [1.4.8, '1.5.*']
        return "[" + ", ".join(_flow_scalar(v) for v in value) + "]"
    text = _scalar(value)
    if isinstance(value, str) and text == value and not FLOW_PLAIN.fullmatch(value):
        return "'" + value.replace("'", "''") + "'"  # plain in a block, not inside braces
    return text


def _flow(data: dict[str, Any]) -> str:
    return (
        "{" + ", ".join(f"{_flow_scalar(str(k))}: {_flow_scalar(v)}" for k, v in data.items()) + "}"
    )


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    text = str(value)
    if _NEEDS_ESCAPES.search(text):
        # A lone surrogate has no escape a YAML reader accepts: written as U+FFFD.
        return json.dumps(_SURROGATE.sub("\ufffd", text))  # \uXXXX escapes are valid YAML
    if (
        _PLAIN_OK.match(text)
        and not _PLAIN_BAD_INSIDE.search(text)
        and not _NOT_A_STRING.match(text)
    ):
        return text
    return "'" + text.replace("'", "''") + "'"


def _key(key: Any) -> str:
    return _scalar(str(key))


def _emit(data: Any, indent: int, out: list[str]) -> None:
    """Emit a mapping's items (``data`` a dict) at ``indent``."""
    pad = " " * indent
    for key, value in data.items():
        head = f"{pad}{_key(key)}:"
        if isinstance(value, Flow) and value:
            out.append(f"{head} {_flow(value)}\n")
        elif isinstance(value, dict) and value:
            out.append(head + "\n")
            _emit(value, indent + 2, out)
        elif isinstance(value, list) and value:
            out.append(head + "\n")
            _emit_list(value, indent + 2, out)
        elif isinstance(value, dict):
            out.append(head + " {}\n")
        elif isinstance(value, list):
            out.append(head + " []\n")
        else:
            out.append(f"{head} {_scalar(value)}\n")


def _emit_list(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, Flow) and item:
            out.append(f"{pad}- {_flow(item)}\n")
        elif isinstance(item, dict) and item:
            inner: list[str] = []
            _emit(item, indent + 2, inner)
            first = inner[0]
            out.append(f"{pad}- {first[indent + 2 :]}")
            out.extend(inner[1:])
        elif isinstance(item, list) and item:
            inner = []
            _emit_list(item, indent + 2, inner)
            out.append(f"{pad}- {inner[0][indent + 2 :]}")
            out.extend(inner[1:])
        elif isinstance(item, dict):
            out.append(f"{pad}- {{}}\n")
        elif isinstance(item, list):
            out.append(f"{pad}- []\n")
        else:
            out.append(f"{pad}- {_scalar(item)}\n")


def dump_machine_yaml(data: dict[str, Any], header: str = "") -> bytes:
    """``data`` in our dialect after ``header`` (comment lines, written as given).
    Deterministic: the bytes depend on the data and its key order alone."""
    out: list[str] = [header]
    _emit(data, 0, out)
    return "".join(out).encode()


def dump_yaml_text(data: Any) -> str:
    """Any JSON-like data in the same dialect, for showing to people (``-o yaml``)."""
    out: list[str] = []
    if isinstance(data, dict) and data:
        _emit(data, 0, out)
    elif isinstance(data, list) and data:
        _emit_list(data, 0, out)
    else:
        out.append(
            ("{}" if isinstance(data, dict) else "[]" if isinstance(data, list) else _scalar(data))
            + "\n"
        )
    return "".join(out)


def machine_yaml() -> YAML:
    """A loader for what we wrote (and for a human's edit of it): safe, no duplicate keys.
    Its ``dump`` writes block style, for showing data to people (``-o yaml``)."""
    yaml = YAML(typ="safe")
    yaml.allow_duplicate_keys = False
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    return yaml


def load_machine_yaml(text: bytes | str) -> Any:
    """Plain data from what :func:`dump_machine_yaml` wrote, or a person's edit of it
    (None for an empty text). Raises ruamel's YAMLError on bad YAML or a duplicate
    key."""
    from reconciler.core import yamlfast

    data = yamlfast.load(text)
    return machine_yaml().load(text) if data is yamlfast.NOT_OURS else data
