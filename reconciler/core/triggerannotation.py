"""The ``image.openshift.io/triggers`` annotation of a Kubernetes workload: its JSON read
as OpenShift's trigger controller reads it (``[{"from": {"kind": "ImageStreamTag",
"name": "stream:tag", "namespace": "ns"}, "fieldPath": "...", "paused": false}]``), every
problem in it with the offset of the JSON token at fault, and the place in the file of
that offset (inside the annotation's string, whatever its YAML style).

Also accepted, as real repositories write them: ``"pause"`` for ``"paused"``; ``"true"``
and ``"false"`` as strings; placeholders (``${PARAM}``, ``{{ ... }}``, ``{TAG}``) from
Templates, Helm and operators, treated as a Template parameter is: allowed in any value,
and an entry whose tag holds one is checked but not followed.

Pure, lenient: never raises; problems are data.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.fieldpaths import (
    FieldPath,
    FieldPathError,
    container_names,
    container_of,
    parse_field_path,
)
from reconciler.core.jsonplaces import JSONProblem, Span, load_with_places, string_offsets
from reconciler.core.objects import ManifestObject
from reconciler.core.scalartext import split_lines, value_places
from reconciler.core.streams import IMAGE_STREAM_TAG, TagRef, parse_istag_name
from reconciler.core.violations import Path, Violation, render_path

ANNOTATION = "image.openshift.io/triggers"
ANNOTATION_PATH: Path = ("metadata", "annotations", ANNOTATION)
# Kubernetes refuses an object whose annotations together pass 256 KiB.
MAX_ANNOTATION_CHARS = 256 * 1024
# Template parameters, Helm/Go template actions and operator-style {TAG} fields; bounded,
# so that an unclosed "{{" cannot make the search quadratic.
PLACEHOLDER = re.compile(r"\$\{\{?[A-Za-z0-9_]+\}?\}|\{\{[^{}]{0,200}\}\}|\{[A-Z][A-Z0-9_]{0,63}\}")
ENTRY_KEYS = ("from", "fieldPath", "paused", "pause")
FROM_KEYS = ("kind", "name", "namespace", "apiVersion")
# strconv.ParseBool, which OpenShift's Go code would use on a string.
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True)
class AnnotationTrigger:
    """One entry of the annotation as far as it could be read. ``source`` is None when
    the entry names no usable tag (broken, or a placeholder); ``container`` is the path
    of the container its fieldPath names, None when it names none (or a placeholder)."""

    index: int
    source: TagRef | None
    paused: bool
    field_path: FieldPath | None
    container: Path | None
    name_offset: int | None  # where from.name's value starts in the annotation text


@dataclass(frozen=True)
class Finding:
    """A problem in the annotation: the offset of the token at fault in its text (None:
    the annotation as a whole), the JSON path inside it, the message, the severity."""

    offset: int | None
    path: Path
    message: str
    severity: str = "error"


@dataclass(frozen=True)
class Annotation:
    """The annotation's text, the entries read from it, and its problems."""

    text: str
    triggers: tuple[AnnotationTrigger, ...]
    findings: tuple[Finding, ...]


def annotation_text(obj: ManifestObject) -> str | None:
    """The annotation's string, or None when the object has none (or it is not a
    string, which the schema reports)."""
    annotations = obj.metadata.get("annotations")
    value = annotations.get(ANNOTATION) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else None


def read_annotation(obj: ManifestObject) -> Annotation | None:
    """The object's trigger annotation read, or None when it has none."""
    text = annotation_text(obj)
    if text is None:
        return None
    reader = _Reader(obj, text)
    reader.read()
    return Annotation(text, tuple(reader.triggers), tuple(reader.findings))


def holds_placeholder(text: str) -> bool:
    """Whether ``text`` holds a Template, Helm or operator placeholder."""
    return PLACEHOLDER.search(text) is not None


class _Reader:
    def __init__(self, obj: ManifestObject, text: str) -> None:
        self.obj = obj
        self.text = text
        self.triggers: list[AnnotationTrigger] = []
        self.findings: list[Finding] = []
        self.spans: dict[Path, Span] = {}
        self.holes: list[tuple[int, int]] = []  # where the placeholders stand

    def problem(
        self, offset: int | None, path: Path, message: str, severity: str = "error"
    ) -> None:
        self.findings.append(Finding(offset, path, message, severity))

    def placeholder_in(self, path: Path) -> bool:
        """Whether the value at ``path`` is, or holds, a placeholder."""
        span = self.spans.get(path)
        if span is None:
            return False
        return any(start < span.end and end > span.start for start, end in self.holes)

    def start(self, *paths: Path) -> int | None:
        """Where the first of ``paths`` that the JSON holds starts."""
        for path in paths:
            span = self.spans.get(path)
            if span is not None:
                return span.start
        return None

    def read(self) -> None:
        if len(self.text) > MAX_ANNOTATION_CHARS:
            self.problem(
                None,
                (),
                f"is {len(self.text)} characters long: Kubernetes refuses annotations over "
                f"{MAX_ANNOTATION_CHARS} bytes in all",
            )
            return
        self.holes = [m.span() for m in PLACEHOLDER.finditer(self.text)]
        try:
            data, self.spans = load_with_places(self.text)
        except JSONProblem as exc:
            if not holds_placeholder(self.text):
                self.problem(exc.offset, (), f"not JSON: {exc}")
                return
            # A placeholder may stand for a whole value ("paused": {{ .Values.paused }}):
            # try again with each one as a number of the same length, so offsets hold.
            filled = PLACEHOLDER.sub(lambda m: "0".ljust(len(m.group())), self.text)
            try:
                data, self.spans = load_with_places(filled)
            except JSONProblem:
                self.problem(
                    None,
                    (),
                    "holds placeholders and is not JSON without them: checked when they "
                    "are filled in",
                    "warning",
                )
                return
        if not isinstance(data, list):
            self.problem(
                self.start(()),
                (),
                'must be a JSON array of triggers: [{"from": {...}, "fieldPath": "..."}]',
            )
            return
        seen: dict[str, int] = {}
        for index, entry in enumerate(data):
            trigger = self.entry(index, entry)
            if trigger is None or trigger.field_path is None:
                continue
            text = trigger.field_path.text
            if text in seen:
                self.problem(
                    self.start((index, "fieldPath")),
                    (index, "fieldPath"),
                    f"duplicate fieldPath: also entry [{seen[text]}] (OpenShift then ignores "
                    "every trigger of the annotation)",
                )
            seen.setdefault(text, index)

    def unknown_keys(self, data: Mapping[str, Any], base: Path, known: tuple[str, ...]) -> None:
        for key in data:
            if key in known:
                continue
            span = self.spans.get((*base, key))
            message = f"unknown key {key!r} (known: {', '.join(known)})"
            hint = _closest(key, known)
            if hint:
                message += f"; did you mean {hint!r}?"
            self.problem(span.key if span else self.start(base), (*base, key), message)

    def entry(self, index: int, entry: Any) -> AnnotationTrigger | None:
        base: Path = (index,)
        if not isinstance(entry, dict):
            self.problem(
                self.start(base), base, 'must be an object: {"from": ..., "fieldPath": ...}'
            )
            return None
        self.unknown_keys(entry, base, ENTRY_KEYS)
        source = self.source(base, entry.get("from"))
        paused = self.paused(base, entry)
        field_path, container = self.field_path(base, entry.get("fieldPath"))
        name_span = self.spans.get((*base, "from", "name"))
        trigger = AnnotationTrigger(
            index=index,
            source=source,
            paused=paused,
            field_path=field_path,
            container=container,
            name_offset=name_span.start if name_span else None,
        )
        self.triggers.append(trigger)
        return trigger

    def source(self, base: Path, raw: Any) -> TagRef | None:
        where = (*base, "from")
        if not isinstance(raw, dict):
            message = "'from' is missing" if raw is None else "'from' must be an object"
            self.problem(self.start(where, base), where, message)
            return None
        self.unknown_keys(raw, where, FROM_KEYS)
        kind = raw.get("kind")
        if kind != IMAGE_STREAM_TAG and not self.placeholder_in((*where, "kind")):
            got = "missing" if kind is None else f"{kind!r}"
            self.problem(
                self.start((*where, "kind"), where),
                (*where, "kind"),
                f"must be 'ImageStreamTag' (got {got}): the trigger controller follows image "
                "stream tags only",
            )
            return None
        name, namespace = raw.get("name"), raw.get("namespace")
        if self.placeholder_in((*where, "name")) or self.placeholder_in((*where, "namespace")):
            if not self.obj.in_template:
                self.problem(
                    self.start((*where, "name")),
                    (*where, "name"),
                    "names its tag with a placeholder: checked, but not followed until it is "
                    "filled in (as in a Template)",
                    "warning",
                )
            return None
        if namespace is not None and not isinstance(namespace, str):
            self.problem(
                self.start((*where, "namespace")), (*where, "namespace"), "must be a string"
            )
            return None
        ref = (
            parse_istag_name(name, namespace or self.obj.namespace)
            if isinstance(name, str)
            else None
        )
        if ref is None or not isinstance(name, str) or ":" not in name:
            got = "missing" if name is None else f"{name!r}"
            self.problem(
                self.start((*where, "name"), where),
                (*where, "name"),
                f"must be <stream>:<tag> (got {got})",
            )
            return None
        return ref

    def paused(self, base: Path, entry: Mapping[str, Any]) -> bool:
        key = "paused" if "paused" in entry else "pause"
        value = entry.get(key)
        if value is None or isinstance(value, bool):
            return value is True
        if isinstance(value, str) and (value in _TRUE or value in _FALSE):
            return value in _TRUE
        if self.placeholder_in((*base, key)):
            return False
        self.problem(
            self.start((*base, key)), (*base, key), f"must be true or false (got {value!r})"
        )
        return False

    def field_path(self, base: Path, raw: Any) -> tuple[FieldPath | None, Path | None]:
        where = (*base, "fieldPath")
        span = self.spans.get(where)
        if not isinstance(raw, str):
            message = "'fieldPath' is missing" if raw is None else "'fieldPath' must be a string"
            self.problem(span.start if span else self.start(base), where, message)
            return None, None
        if self.placeholder_in(where):
            return None, None
        kind = self.obj.kind
        try:
            parsed = parse_field_path(raw, kind)
        except FieldPathError as exc:
            offset = span.start if span else None
            if span is not None:
                inside = string_offsets(self.text[span.start : span.end])
                if len(inside) == len(raw) + 1:
                    offset = span.start + inside[min(exc.offset, len(raw))]
            self.problem(offset, where, f"{exc} (got {raw!r})")
            return None, None
        container = container_of(self.obj.body, kind, parsed)
        if container is None:
            names = container_names(self.obj.body, kind)
            if not (self.obj.in_template and any(holds_placeholder(n) for n in names)):
                self.problem(
                    span.start if span else None,
                    where,
                    f"names container {parsed.selector}, which is not in the pod template "
                    f"(containers: {', '.join(names) or 'none'})",
                )
        return parsed, container


def _closest(name: str, known: tuple[str, ...]) -> str | None:
    for candidate in known:
        if candidate.lower() == name.lower():
            return candidate
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return close[0] if close else None


class Placer:
    """Turns offsets in the annotation's text into places in the object's file: inside
    the string when its YAML form can be followed, else at the annotation's key."""

    def __init__(self, obj: ManifestObject, text: str) -> None:
        self.obj = obj
        key = obj.positions.get((*obj.base, *ANNOTATION_PATH))
        self.key = key if key is not None else obj.locate(ANNOTATION_PATH)
        lines = split_lines(obj.source)
        self.places = value_places(lines, self.key[0], self.key[1], text) if key else None

    def place(self, offset: int | None) -> tuple[int, int]:
        """The (line, column) of ``offset`` in the annotation's text."""
        if offset is None or self.places is None:
            return self.key
        return self.places[max(0, min(offset, len(self.places) - 1))]

    def violation(self, finding: Finding) -> Violation:
        """``finding`` as a Violation placed in the file."""
        path = render_path(ANNOTATION_PATH) + render_path(("", *finding.path))
        line, column = self.place(finding.offset)
        return Violation(
            file=self.obj.file,
            line=line,
            column=column,
            object=self.obj.display,
            path=path,
            message=finding.message,
            severity="warning" if finding.severity == "warning" else "error",
        )


def annotation_violations(obj: ManifestObject) -> list[Violation]:
    """Every problem of ``obj``'s trigger annotation found without other objects, placed
    inside the annotation's string."""
    annotation = read_annotation(obj)
    if annotation is None or not annotation.findings:
        return []
    placer = Placer(obj, annotation.text)
    return [placer.violation(f) for f in annotation.findings]
