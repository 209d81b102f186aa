"""Edits of an ImageStream's ``spec.tags[]`` for the verbs that change tags (``tag``,
``import-image``, ``hold``, ``release``): what a tag should say (:class:`TagEdit`), and
finding, adding, changing and removing a tag entry, or its annotations, in a round-trip
document so that the rest of the file is left as written.

Pure: round-trip nodes in, changed in place. Uses the round-trip machinery of
:mod:`reconciler.core.editing`. Must not read or write files, nor decide what to change:
the verbs do (``reconciler.cli``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from reconciler.core.editing import (
    EditError,
    child_map,
    plain_is_string,
    scalar,
    set_value,
)


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
    names = [n for n in names if isinstance(n, str) and plain_is_string(n)]
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
