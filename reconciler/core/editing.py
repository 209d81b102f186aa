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

import copy
import difflib
import io
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
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


def _plain_is_string(value: str) -> bool:
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
    if force or not _plain_is_string(value):
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
        if not _plain_is_string(new):
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


# ---------------------------------------------------------------- image stream tags


@dataclass(frozen=True)
class TagEdit:
    """What a verb wants a ``spec.tags[]`` entry to say. ``None`` leaves a field as it is
    (on a new tag: absent, except ``referencePolicy``, written as ``Source`` like oc)."""

    name: str
    from_kind: str
    from_name: str
    from_namespace: str | None = None
    scheduled: bool | None = None
    insecure: bool | None = None
    import_mode: str | None = None
    reference_policy: str | None = None
    reference: bool | None = None


def find_tag(stream: CommentedMap, name: str) -> CommentedMap | None:
    """The ``spec.tags[]`` entry of ``stream`` whose name reads as ``name``, or None."""
    tags = (stream.get("spec") or {}).get("tags")
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, CommentedMap) and str(tag.get("name")) == name:
            return tag
    return None


def _tag_name_quote(tags: Sequence[Any], quote: str) -> bool:
    """Quote a new tag name when every existing name of the stream is quoted."""
    names = [t.get("name") for t in tags if isinstance(t, CommentedMap)]
    # Names that had to be quoted ("2.4") say nothing about the file's habit.
    names = [n for n in names if isinstance(n, str) and _plain_is_string(n)]
    return bool(names) and all(
        isinstance(n, DoubleQuotedScalarString | SingleQuotedScalarString) for n in names
    )


def apply_tag(stream: CommentedMap, edit: TagEdit, quote: str) -> bool:
    """Create or update a tag of ``stream``; True when the YAML changed."""
    spec = child_map(stream, "spec")
    tags = spec.get("tags")
    if not isinstance(tags, CommentedSeq):
        tags = CommentedSeq()
        spec["tags"] = tags
    existing = find_tag(stream, edit.name)
    if existing is None:
        tag = CommentedMap()
        # A quoted tag name elsewhere in the stream decides the quote character.
        for other in tags:
            if isinstance(other, CommentedMap):
                if isinstance(other.get("name"), DoubleQuotedScalarString):
                    quote = '"'
                elif isinstance(other.get("name"), SingleQuotedScalarString):
                    quote = "'"
        tag["name"] = scalar(edit.name, quote, force=_tag_name_quote(tags, quote))
        source = CommentedMap()
        source["kind"] = edit.from_kind
        if edit.from_namespace:
            source["namespace"] = edit.from_namespace
        source["name"] = scalar(edit.from_name, quote)
        tag["from"] = source
        policy = CommentedMap()
        if edit.scheduled:
            policy["scheduled"] = True
        if edit.insecure:
            policy["insecure"] = True
        if edit.import_mode:
            policy["importMode"] = edit.import_mode
        if policy:
            tag["importPolicy"] = policy
        if edit.reference:
            tag["reference"] = True
        ref_policy = CommentedMap()
        ref_policy["type"] = edit.reference_policy or "Source"
        tag["referencePolicy"] = ref_policy
        tags.append(tag)
        return True
    changed = False
    source = existing.get("from")
    if not isinstance(source, CommentedMap):
        source = CommentedMap()
        existing["from"] = source
        changed = True
    changed |= set_value(source, "kind", edit.from_kind)
    if edit.from_namespace:
        changed |= set_value(source, "namespace", edit.from_namespace)
    elif "namespace" in source:
        del source["namespace"]
        changed = True
    changed |= set_value(source, "name", edit.from_name)
    wanted: dict[str, Any] = {}
    if edit.scheduled is not None:
        wanted["scheduled"] = edit.scheduled
    if edit.insecure is not None:
        wanted["insecure"] = edit.insecure
    if edit.import_mode is not None:
        wanted["importMode"] = edit.import_mode
    policy = existing.get("importPolicy")
    for key, value in wanted.items():
        current = policy.get(key) if isinstance(policy, CommentedMap) else None
        if value is False and current in (None, False):
            continue  # false is the default: never add it
        if current == value:
            continue
        policy = child_map(existing, "importPolicy")
        changed |= set_value(policy, key, value)
    if edit.reference is not None:
        if edit.reference:
            changed |= set_value(existing, "reference", True)
        elif existing.get("reference") is True:
            del existing["reference"]
            changed = True
    if edit.reference_policy is not None:
        ref_policy = existing.get("referencePolicy")
        if not (
            isinstance(ref_policy, CommentedMap) and ref_policy.get("type") == edit.reference_policy
        ):
            changed |= set_value(
                child_map(existing, "referencePolicy"), "type", edit.reference_policy
            )
    return changed


def _last_key(node: Any) -> tuple[CommentedMap, Any] | None:
    """The innermost last key of a mapping: where ruamel keeps the comment lines that
    follow the mapping (including those above the next sequence item)."""
    found: tuple[CommentedMap, Any] | None = None
    while isinstance(node, CommentedMap) and len(node):
        key = list(node.keys())[-1]
        found = (node, key)
        node = node[key]
    return found


def _after_token(holder: tuple[CommentedMap, Any] | None) -> Any:
    if holder is None:
        return None
    entry = holder[0].ca.items.get(holder[1])
    return entry[2] if entry and len(entry) > 2 else None


def _strip_trailing_comment_lines(text: str) -> str:
    lines = text.split("\n")
    # text is "\n" + following lines, each ending in "\n": the last element is "".
    body = lines[1:-1]
    while body and body[-1].lstrip().startswith("#"):
        body.pop()
    return "\n".join([lines[0], *body, ""])


def set_tag_annotations(
    stream: CommentedMap, name: str, values: Mapping[str, str | None], quote: str
) -> bool:
    """Set (a str) or remove (None) annotations of the tag ``name`` of ``stream``; True
    when the YAML changed. A new ``annotations`` mapping goes right under the tag's name;
    one left empty is removed. Raises EditError when the stream has no such tag."""
    tag = find_tag(stream, name)
    if tag is None:
        raise EditError(f"the stream has no tag {name!r}")
    annotations = tag.get("annotations")
    changed = False
    if not isinstance(annotations, CommentedMap):
        if all(v is None for v in values.values()):
            return False
        annotations = CommentedMap()
        position = list(tag).index("name") + 1 if "name" in tag else 0
        tag.insert(position, "annotations", annotations)
        changed = True
    for key, value in values.items():
        if value is None:
            if key in annotations:
                del annotations[key]
                changed = True
        else:
            changed = set_value(annotations, key, scalar(value, quote)) or changed
    if not annotations:
        del tag["annotations"]
    return changed


def remove_tag(stream: CommentedMap, name: str) -> bool:
    """Delete a tag, with the comment lines written right above it; comments that
    followed it (above the next tag) stay."""
    tags = (stream.get("spec") or {}).get("tags")
    if not isinstance(tags, list):
        return False
    for index, tag in enumerate(tags):
        if isinstance(tag, CommentedMap) and str(tag.get("name")) == name:
            own = _after_token(_last_key(tag))
            previous = _last_key(tags[index - 1]) if index > 0 else None
            prev_token = _after_token(previous)
            if prev_token is not None:
                prev_token.value = _strip_trailing_comment_lines(prev_token.value)
                if own is not None:
                    prev_token.value = own.value
                elif index == len(tags) - 1:
                    prev_token.value = "\n"
            elif own is not None and previous is not None:
                previous[0].ca.items[previous[1]] = [None, None, own, None]
            elif index == 0:
                _move_to_sequence_start(stream, tags, own)
            del tags[index]
            return True
    return False


def _move_to_sequence_start(stream: CommentedMap, tags: Any, own: Any) -> None:
    """Deleting the first tag: its own comment lines (held before the sequence) go with
    it, and the lines that stood between it and the second tag (held after its last
    value) move before the sequence, above what is now the first tag."""
    replacement = None
    if own is not None:
        token = copy.copy(own)
        # The token held the end of the last value's line, then the comment lines; the
        # sequence-start slot prints its first line at the token's column.
        token.value = own.value.lstrip("\n").lstrip(" ")
        replacement = [token] if token.value.strip() else None
    comment = getattr(tags, "ca", None)
    if comment is not None:
        if comment.comment is None or len(comment.comment) < 2:
            comment.comment = [None, None]
        comment.comment[1] = replacement
    spec = stream.get("spec")
    items = getattr(getattr(spec, "ca", None), "items", None)
    if items is not None:
        slot = items.setdefault("tags", [None, None, None, None])
        while len(slot) < 4:
            slot.append(None)
        slot[3] = replacement
