"""Write-back (``writeBack: true`` in ``.reconciler.yaml``): the manifest edits that put
each followed tag's pinned image into the field its trigger names, as OpenShift's
trigger controllers do on a cluster, so that applying the repo as it is (kubectl, Argo
CD, Flux) rolls the workload out with no trigger controller.

A tag with a version policy gets the same treatment on its own stream: its ``from.name``
is rewritten to the repository and the tag the policy picked (``quay.io/team/app:1.4.7``),
so that ``oc apply`` imports the image the lock pins.

Level-triggered like the lock: the edits make each field say what the desired lock pins
now, so a field that already says it is no edit, and a second pass edits nothing. Only
automatic, unpaused triggers write; image lookup never does (the ``stream:tag`` name is
what makes the workload follow). Each edit changes one scalar in place, in its own
quoting, so comments and formatting stay and the diff is one line per field; a field
that is not there yet is added through the round-trip editor.

Pure: objects, consumers and a lock in; new file texts out. Writing them is
``reconciler.files.manifeststore``'s job.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.core.consumers import Consumer
from reconciler.core.editing import EditError, ManifestFile, set_value
from reconciler.core.lockfile import Lock
from reconciler.core.objects import ManifestObject
from reconciler.core.scalartext import scalar_span
from reconciler.core.streams import TagRef, stream_tags
from reconciler.core.tagrules import TagRules
from reconciler.core.violations import Path, render_path


@dataclass(frozen=True)
class FieldWrite:
    """One field to set: the object, the field's path in it, the image."""

    obj: ManifestObject
    path: Path
    image: str

    @property
    def field(self) -> str:
        """The field's path as text: ``spec.template.spec.containers[0].image``."""
        return render_path(self.path)

    @property
    def text(self) -> str:
        """``Deployment/team/web spec....image: <image>``, for commit messages."""
        return f"{self.obj.display} {self.field}: {self.image}"


@dataclass(frozen=True)
class ManifestEdit:
    """A manifest file's new text (LF line endings) and the field writes that made it."""

    file: str
    text: str
    writes: tuple[FieldWrite, ...]


def field_writes(
    followed: Sequence[tuple[ManifestObject, Consumer]],
    lock: Lock,
    only: Collection[TagRef] | None = None,
) -> list[FieldWrite]:
    """Every field whose value differs from the pinned image its trigger's tag has in
    ``lock`` (tags without a digest yet are left alone). ``only``: just these tags."""
    writes: dict[tuple[int, Path], FieldWrite] = {}
    for obj, consumer in followed:
        if obj.in_template:
            continue
        for trigger in consumer.image_triggers:
            if not trigger.automatic or not trigger.targets:
                continue
            if only is not None and trigger.source not in only:
                continue
            entry = lock.get(trigger.source)
            if entry is None or not entry.digest or not entry.image:
                continue
            for path in trigger.targets:
                if obj.value(path) != entry.image:
                    writes[(id(obj), path)] = FieldWrite(obj, path, entry.image)
    return list(writes.values())


def policy_writes(
    streams: Sequence[ManifestObject],
    rules: Mapping[TagRef, TagRules],
    lock: Lock,
    only: Collection[TagRef] | None = None,
) -> list[FieldWrite]:
    """For each policy tag whose ``from.name`` does not name the tag the lock's pick
    records, the write that makes it ``<repository>:<picked tag>``. ``only``: just these
    tags."""
    writes: list[FieldWrite] = []
    for stream in streams:
        if stream.in_template:
            continue
        for tag in stream_tags(stream):
            declared = rules.get(tag.ref)
            entry = lock.get(tag.ref)
            if (
                declared is None
                or declared.policy is None
                or declared.repository is None
                or entry is None
                or entry.chosen is None
                or not entry.digest
                or (only is not None and tag.ref not in only)
            ):
                continue
            wanted = f"{declared.repository}:{entry.chosen.tag}"
            if tag.from_name != wanted:
                writes.append(FieldWrite(stream, (*tag.from_path, "name"), wanted))
    return writes


def _node(root: Any, path: Path) -> Any:
    for part in path:
        in_map = isinstance(root, CommentedMap) and isinstance(part, str) and part in root
        in_seq = isinstance(root, CommentedSeq) and isinstance(part, int) and part < len(root)
        if not (in_map or in_seq):
            raise EditError(f"{render_path(path)} is not where the manifest was read")
        root = root[part]
    return root


# A pull spec a plain scalar keeps as written: no ": ", " #", quotes or flow indicators,
# and a "/" or "@" so that it never reads as a number, a boolean or null.
_PLAIN_PULL_SPEC = re.compile(r"[A-Za-z0-9][\w.:/@+-]*[/@][\w.:/@+-]*")


def _spelled(value: str, style: str) -> str:
    """``value`` as a scalar in ``style``: plain (quoted when it must be), ``'`` or
    ``"``."""
    if style == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == "'" or not _PLAIN_PULL_SPEC.fullmatch(value):
        return "'" + value.replace("'", "''") + "'"
    return value


def _splice(lines: list[str], write: FieldWrite) -> bool:
    """Replace the one-line scalar at ``write.path`` in ``lines`` by the image, in the
    same quoting; False when the field is not a one-line scalar (or is missing)."""
    obj = write.obj
    key = obj.positions.get((*obj.base, *write.path))
    current = obj.value(write.path)
    if key is None or not isinstance(current, str):
        return False
    span = scalar_span(lines, key[0], key[1], current)
    if span is None:
        return False
    row, start, end, style = span
    line = lines[row - 1]
    lines[row - 1] = line[: start - 1] + _spelled(write.image, style) + line[end - 1 :]
    return True


def _edit_round_trip(source: str, writes: Sequence[FieldWrite]) -> str:
    """The round-trip editor's edit, for fields a splice cannot set (a container with
    no ``image`` yet). Raises EditError when it would change more than those fields."""
    document = ManifestFile(source)
    for write in writes:
        obj = document.object_at(write.obj.document, write.obj.base)
        holder = _node(obj, write.path[:-1])
        if not isinstance(holder, CommentedMap):
            raise EditError(f"{render_path(write.path[:-1])} is not a mapping")
        key = str(write.path[-1])
        if key not in holder and "name" in holder:
            # A new field goes right under the container's name, where people look.
            holder.insert(list(holder).index("name") + 1, key, write.image)
        else:
            set_value(holder, key, write.image)
    text = document.render()
    changed = sum(
        max(i2 - i1, j2 - j1)
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
            None, source.splitlines(), text.splitlines(), autojunk=False
        ).get_opcodes()
        if tag != "equal"
    )
    if changed > len(writes):
        raise EditError("the editor would re-spell lines around it; set the image by hand once")
    return text


def manifest_edits(writes: Sequence[FieldWrite]) -> tuple[list[ManifestEdit], list[str]]:
    """The new text of each file the ``writes`` touch, in file order, and a line per
    file that could not be edited safely (left as it is). Each field that is a one-line
    scalar is replaced in place, in its own quoting: one changed line, every other byte
    kept. The rest go through the round-trip editor (``reconciler.core.editing``)."""
    by_file: dict[str, list[FieldWrite]] = {}
    for write in writes:
        by_file.setdefault(write.obj.file, []).append(write)
    edits: list[ManifestEdit] = []
    problems: list[str] = []
    for file in sorted(by_file):
        group = by_file[file]
        # Edits work on LF text; the shell writes it with the file's own line endings.
        source = group[0].obj.source.replace("\r\n", "\n")
        lines = source.split("\n")
        # Right to left, bottom up: a splice never moves a place still to be used.
        rest = [w for w in sorted(group, key=_place, reverse=True) if not _splice(lines, w)]
        text = "\n".join(lines)
        if rest:
            try:
                text = _edit_round_trip(text, rest)
            except EditError as exc:
                problems.append(f"{file}: not written back: {exc}")
                continue
        if text != source:
            edits.append(ManifestEdit(file, text, tuple(group)))
    return edits, problems


def _place(write: FieldWrite) -> tuple[int, int]:
    return write.obj.positions.get((*write.obj.base, *write.path), (0, 0))
