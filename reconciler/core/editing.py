"""Round-trip editing of manifest files: the verbs that write YAML (import-image, tag,
new-app) change only what they mean to change. Comments, key order, quoting and
indentation of everything else stay as the user wrote them, so a one-tag change is a
one-line diff (or the block of a new tag).

How: ruamel.yaml round-trip with ``preserve_quotes`` and the file's own indentation
(detected here), then a three-way merge: the difference between the round-tripped
original and the round-tripped edit is applied to the original *text*, so lines ruamel
would have re-spelled (extra spaces, document markers) stay byte-identical.

Pure: text in, text out. Must not read or write files, nor decide what to change: the
verbs do (``reconciler.cli``).
"""

from __future__ import annotations

import difflib
import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from reconciler.core import yamlguard
from reconciler.core.errors import PermanentError
from reconciler.core.violations import Path

_KEY_LINE = re.compile(r"^( *)(?:- +)?[^\s#-][^:#]*:\s*(?:#.*)?$")
_ITEM_LINE = re.compile(r"^( *)- ")
_CONTENT = re.compile(r"^( *)(\S)")


class EditError(PermanentError):
    """The file cannot be edited safely (not YAML, past a limit of
    :mod:`reconciler.core.yamlguard`, or the object is not where expected); ``line`` and
    ``column`` say where, when a place in the text is to blame."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Style:
    """How a file is indented and quoted."""

    mapping: int = 2  # spaces per nested mapping level
    sequence: int = 4  # column of an item's content, relative to its parent key
    offset: int = 2  # column of the dash, relative to its parent key
    quote: str = '"'  # the quote character the file prefers

    def yaml(self) -> YAML:
        """A new round-trip ruamel.yaml instance in this style: quotes kept, no line
        folding."""
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096
        yaml.indent(mapping=self.mapping, sequence=self.sequence, offset=self.offset)
        return yaml


# A new file's style, and what detect_style falls back to where a text says nothing.
DEFAULT_STYLE = Style()


def detect_style(text: str, default: Style = DEFAULT_STYLE) -> Style:
    """The indentation and quote style of ``text`` (``default`` where it says nothing)."""
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    mapping: int | None = None
    offset: int | None = None
    for current, following in itertools.pairwise(lines):
        key = _KEY_LINE.match(current)
        if key is None or current.rstrip().endswith(("|", ">", "|-", ">-")):
            continue
        # The key's own column (after a "- " it belongs to an item's mapping).
        key_col = (
            len(current) - len(current.lstrip(" -"))
            if current.lstrip().startswith("-")
            else len(key.group(1))
        )
        item = _ITEM_LINE.match(following)
        content = _CONTENT.match(following)
        if content is None:
            continue
        col = len(content.group(1))
        if item is not None:
            if col >= key_col and offset is None:
                offset = col - key_col
        elif col > key_col and mapping is None:
            mapping = col - key_col
        if mapping is not None and offset is not None:
            break
    mapping = mapping or default.mapping
    offset = default.offset if offset is None else offset
    doubles = len(re.findall(r':\s+"', text))
    singles = len(re.findall(r":\s+'", text))
    quote = "'" if singles > doubles else ('"' if doubles else default.quote)
    return Style(
        mapping=mapping,
        sequence=offset + 2,
        offset=offset,
        quote=quote,
    )


def load_documents(text: str, style: Style) -> list[Any]:
    """Every YAML document of ``text`` as round-trip nodes, in order. Raises
    EditError when the text does not parse or breaks a limit of yamlguard."""
    refusal = yamlguard.check_yaml(text)
    if refusal is not None:
        raise EditError(f"cannot parse: {refusal.message}", refusal.line, refusal.column)
    try:
        return list(style.yaml().load_all(text))
    except Exception as exc:  # ruamel raises many types; all mean "cannot edit safely"
        where = yamlguard.describe_error(exc, text)
        raise EditError(f"cannot parse: {where.message}", where.line, where.column) from exc


def dump_documents(documents: Sequence[Any], style: Style, explicit_start: bool) -> str:
    """``documents`` written in ``style``, each after a ``---`` line when
    ``explicit_start``."""
    yaml = style.yaml()
    yaml.explicit_start = explicit_start
    out = io.StringIO()
    yaml.dump_all(list(documents), out)
    return out.getvalue()


def merge_text(original: str, roundtrip: str, edited: str) -> str:
    """Apply the change ``roundtrip -> edited`` to ``original``. Where ``original`` and
    ``roundtrip`` differ only in spelling of untouched lines, the original lines stay. If
    a changed region touches a line ruamel re-spelled, the edited text wins there."""
    if original == roundtrip:
        return edited
    o_lines = original.splitlines(keepends=True)
    r_lines = roundtrip.splitlines(keepends=True)
    e_lines = edited.splitlines(keepends=True)
    # r index -> o index for lines that are the same in both
    r_to_o: dict[int, int] = {}
    for tag, i1, i2, j1, _ in difflib.SequenceMatcher(
        None, o_lines, r_lines, autojunk=False
    ).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                r_to_o[j1 + k] = i1 + k
    result: list[str] = []
    o_pos = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, r_lines, e_lines, autojunk=False
    ).get_opcodes():
        if tag == "equal":
            continue
        # The edited region r[i1:i2] must map onto original lines, with its neighbours.
        before = i1 - 1
        start = r_to_o.get(before, -1) + 1 if before >= 0 else 0
        if before >= 0 and before not in r_to_o:
            return edited
        if i2 < len(r_lines):
            if i2 not in r_to_o:
                return edited
            end = r_to_o[i2]
        else:
            end = len(o_lines)
        if any(k not in r_to_o for k in range(i1, i2)) or start < o_pos or end < start:
            return edited
        result.extend(o_lines[o_pos:start])
        result.extend(e_lines[j1:j2])
        o_pos = end
    result.extend(o_lines[o_pos:])
    return "".join(result)


def _get_path(node: Any, path: Path) -> Any:
    for part in path:
        node = node[part]
    return node


class ManifestFile:
    """One file being edited: its documents as round-trip nodes, written back with only
    the edited lines changed."""

    def __init__(self, text: str, style: Style | None = None) -> None:
        self.original = text
        self.style = style or detect_style(text)
        self.documents = load_documents(text, self.style)
        self.explicit_start = text.lstrip().startswith("---")
        self._roundtrip = dump_documents(
            load_documents(text, self.style), self.style, self.explicit_start
        )

    def object_at(self, document: int, base: Path) -> CommentedMap:
        """The mapping at ``base`` in document ``document`` (0-based), to edit in place.
        Raises EditError when nothing is there or it is not a mapping."""
        try:
            node = _get_path(self.documents[document], base)
        except (IndexError, KeyError, TypeError) as exc:
            raise EditError(f"no object at document {document} {list(base)}") from exc
        if not isinstance(node, CommentedMap):
            raise EditError("the object is not a mapping")
        return node

    def render(self) -> str:
        """The file's text with the edits made to ``documents`` so far, merged into the
        original by :func:`merge_text`: untouched lines keep their bytes unless the merge
        cannot place a change."""
        edited = dump_documents(self.documents, self.style, self.explicit_start)
        return merge_text(self.original, self._roundtrip, edited)


# ---------------------------------------------------------------- values


def plain_is_string(value: str) -> bool:
    """Would ``value`` written plain load back as this same string?"""
    yaml = YAML(typ="safe", pure=True)
    try:
        loaded = yaml.load(f"k: {value}\n")
    except Exception:
        return False
    return isinstance(loaded, dict) and loaded.get("k") == value


def quoted(value: str, quote: str) -> str:
    """``value`` as a scalar ruamel writes in quotes: double when ``quote`` is ``"``,
    single otherwise."""
    kind = DoubleQuotedScalarString if quote == '"' else SingleQuotedScalarString
    text: str = kind(value)
    return text


def scalar(value: str, quote: str, *, force: bool = False) -> str:
    """``value`` as a plain scalar when it reads back as a string, else quoted."""
    if force or not plain_is_string(value):
        return quoted(value, quote)
    return value


def _same_style(old: Any, new: Any) -> Any:
    """Keep the quoting of the value being replaced."""
    if isinstance(new, str) and not isinstance(
        new, DoubleQuotedScalarString | SingleQuotedScalarString
    ):
        if isinstance(old, DoubleQuotedScalarString):
            return DoubleQuotedScalarString(new)
        if isinstance(old, SingleQuotedScalarString):
            return SingleQuotedScalarString(new)
        if not plain_is_string(new):
            return DoubleQuotedScalarString(new)
    return new


def set_value(mapping: CommentedMap, key: str, value: Any) -> bool:
    """Set ``key`` (appended at the end when new); True when something changed."""
    if key in mapping and mapping[key] == value and type(value) is not CommentedMap:
        return False
    if key in mapping:
        mapping[key] = _same_style(mapping[key], value)
    else:
        mapping[key] = value
    return True


def child_map(mapping: CommentedMap, key: str) -> CommentedMap:
    """The mapping under ``key``, created (appended last) when absent; a value there
    that is not a mapping is replaced."""
    node = mapping.get(key)
    if not isinstance(node, CommentedMap):
        node = CommentedMap()
        mapping[key] = node
    return node
