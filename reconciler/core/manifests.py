"""Manifests parsed: the objects of ``reconciler.core.objects.KINDS`` (ImageStream,
BuildConfig, DeploymentConfig and the Kubernetes workloads) read from YAML text, each
with the file, line and column of every field it holds.

Owns YAML parsing (ruamel.yaml, round-trip so we keep positions), the refusal of
duplicate keys, and the unpacking of multi-document files, ``List`` items and
``Template`` objects. Every text first passes the limits of
:mod:`reconciler.core.yamlguard` (nesting, nodes, aliases, control characters): a file
refused there is one violation at its line, never a crash. Takes text, returns data:
reading files is ``reconciler.files.loader``'s job.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from reconciler.core import yamldata, yamlguard
from reconciler.core.objects import BUILD_CONFIG as BUILD_CONFIG
from reconciler.core.objects import DEPLOYMENT_CONFIG as DEPLOYMENT_CONFIG
from reconciler.core.objects import IMAGE_STREAM as IMAGE_STREAM
from reconciler.core.objects import JSON as JSON
from reconciler.core.objects import KINDS as KINDS
from reconciler.core.objects import ManifestObject as ManifestObject
from reconciler.core.objects import ObjectKey as ObjectKey
from reconciler.core.violations import Path, Violation

# Nodes that alias expansion may add to one file beyond what is written in it (checked
# on the node graph before anything is built: yamlguard), and, as a second line, nodes
# in one file after expansion, whatever the anchors do.
MAX_ALIAS_EXPANSION = yamlguard.MAX_ALIAS_EXPANSION
MAX_NODES = 2_000_000


@dataclass(frozen=True)
class ParsedFile:
    """What one file holds: our objects in file order, file-level violations (when
    there are any, there are no objects), and how many documents of other kinds were
    ignored."""

    objects: list[ManifestObject]
    violations: list[Violation]
    other_documents: int  # documents of other kinds (Service, Route, ...): not ours, ignored


class _TooLarge(Exception):
    pass


class _Recursive(Exception):
    pass


class _Converter:
    """Turns ruamel's round-trip tree into plain JSON data plus a position table,
    counting nodes so that alias bombs and recursive aliases are refused."""

    def __init__(self, record_positions: bool = True) -> None:
        self.record_positions = record_positions
        self.positions: dict[Path, tuple[int, int]] = {}
        self.nodes = 0
        self.alias_nodes = 0
        self._seen: set[int] = set()
        self._active: set[int] = set()

    def convert(self, node: Any, path: Path, pos: tuple[int, int], aliased: bool) -> JSON:
        self.nodes += 1
        if aliased:
            self.alias_nodes += 1
        if self.nodes > MAX_NODES or self.alias_nodes > MAX_ALIAS_EXPANSION:
            raise _TooLarge
        # Record positions only for what is written, not for alias copies: the copies
        # would multiply the table, and the anchor is where the text stands anyway.
        if not aliased and self.record_positions:
            self.positions[path] = pos
        if isinstance(node, Mapping | list):
            ident = id(node)
            if ident in self._active:
                raise _Recursive
            now_aliased = aliased or ident in self._seen
            self._seen.add(ident)
            self._active.add(ident)
            try:
                if isinstance(node, Mapping):
                    return self._mapping(node, path, now_aliased)
                return self._sequence(node, path, now_aliased)
            finally:
                self._active.discard(ident)
        return _scalar(node)

    def _mapping(self, node: Mapping[Any, Any], path: Path, aliased: bool) -> dict[str, JSON]:
        out: dict[str, JSON] = {}
        lc = getattr(node, "lc", None) if self.record_positions else None
        for key, value in node.items():
            skey = _scalar_key(key)
            pos = _key_pos(lc, key) if lc is not None else (1, 1)
            out[skey] = self.convert(value, (*path, skey), pos, aliased)
        return out

    def _sequence(self, node: list[Any], path: Path, aliased: bool) -> list[JSON]:
        lc = getattr(node, "lc", None) if self.record_positions else None
        out: list[JSON] = []
        for index, value in enumerate(node):
            pos = _item_pos(lc, index) if lc is not None else (1, 1)
            out.append(self.convert(value, (*path, index), pos, aliased))
        return out


def _key_pos(lc: Any, key: Any) -> tuple[int, int]:
    try:
        line, col = lc.key(key)
        return int(line) + 1, int(col) + 1
    except Exception:  # ruamel keeps no position for merged (<<) keys
        return _node_pos(lc)


def _item_pos(lc: Any, index: int) -> tuple[int, int]:
    try:
        line, col = lc.item(index)
        return int(line) + 1, int(col) + 1
    except Exception:
        return _node_pos(lc)


def _node_pos(lc: Any) -> tuple[int, int]:
    try:
        return int(lc.line) + 1, int(lc.col) + 1
    except Exception:
        return 1, 1


def _scalar_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _scalar(value: Any) -> JSON:
    # The API server sees JSON: timestamps are strings, ruamel's scalar subclasses are
    # their plain types.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    return str(value)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _mark_violation(file: str, exc: MarkedYAMLError) -> Violation:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or str(exc).splitlines()[0]
    context = exc.context or ""
    if "duplicate key" in problem:
        message = f"duplicate key: {problem.removeprefix('found ')}"
        message = message.split(" with value")[0]
    else:
        message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return Violation(file=file, line=line, column=col, object="", path="", message=message)


def _error_violation(file: str, text: str, exc: Exception) -> Violation:
    """Any parser error as one violation, at its line and column."""
    if isinstance(exc, MarkedYAMLError):
        return _mark_violation(file, exc)
    return _refused(file, yamlguard.describe_error(exc, text))


def _refused(file: str, refusal: yamlguard.Refusal) -> Violation:
    return Violation(file, refusal.line, refusal.column, "", "", refusal.message)


def parse_manifests(text: str, file: str, default_namespace: str = "default") -> ParsedFile:
    """Parse one file's text into our objects. A file-level problem (syntax, duplicate
    key, a limit of :mod:`reconciler.core.yamlguard`) is one violation and no objects:
    we never act on half a file.

    Valid YAML is read with the C-backed safe loader, and field positions are worked out
    only when something asks for one (a violation to report): the round-trip loader that
    keeps positions is several times slower, and most passes report nothing. Anything
    the fast path refuses goes through the round-trip path, which words the error."""
    refusal = yamlguard.check_yaml(text)
    if refusal is not None:
        return ParsedFile([], [_refused(file, refusal)], 0)
    try:
        fast = _parse_fast(text, file, default_namespace)
        parsed = fast if fast is not None else _parse_round_trip(text, file, default_namespace)
    except RecursionError:
        # The limits above make this unreachable; should a text slip past them, it is
        # still one violation, not a traceback.
        return ParsedFile([], [_refused(file, _TOO_DEEP)], 0)
    # Each object keeps its file's text (shared, not copied): a place inside a scalar
    # (an annotation's JSON) and an edit of the file are found from it.
    objects = [replace(obj, source=text) for obj in parsed.objects]
    return ParsedFile(objects, parsed.violations, parsed.other_documents)


_TOO_DEEP = yamlguard.Refusal(
    1, 1, f"refused: nesting deeper than {yamlguard.MAX_DEPTH} levels (after expansion)"
)


def _parse_fast(text: str, file: str, default_namespace: str) -> ParsedFile | None:
    # libyaml's composer and our scalar rules (reconciler.core.yamldata); a text with
    # anchors (bounded by yamlguard), or one it is not sure to read as ruamel.yaml would,
    # goes through ruamel.yaml's safe loader.
    datas = None if "&" in text else yamldata.load_all(text, MAX_NODES)
    if datas is None:
        datas = _load_safe(text)
    if datas is None:
        return None
    holder = _FilePositions(text)
    objects: list[ManifestObject] = []
    others = 0
    for index, data in enumerate(datas):
        if data is None:
            continue
        found, ignored = _unpack(
            data, (), file, index, _DocumentPositions(holder, index), default_namespace, False
        )
        objects.extend(found)
        others += ignored
    return ParsedFile(objects, [], others)


def _load_safe(text: str) -> list[JSON] | None:
    """Each document as JSON data through ruamel.yaml's (C-backed) safe loader; None when
    it refuses the text or it is too large."""
    try:
        documents = list(_fast_yaml().load_all(text))
    except yamlguard.LOAD_ERRORS:
        return None
    converter = _Converter(record_positions=False)
    try:
        return [None if d is None else converter.convert(d, (), (1, 1), False) for d in documents]
    except (_TooLarge, _Recursive):
        return None


def _fast_yaml() -> YAML:
    yaml = YAML(typ="safe")
    yaml.allow_duplicate_keys = False
    return yaml


class _FilePositions:
    """The round-trip parse of one file, done once, on the first position asked for."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tables: dict[int, dict[Path, tuple[int, int]]] | None = None

    def table(self, document: int) -> dict[Path, tuple[int, int]]:
        if self._tables is None:
            self._tables = {}
            # The C loader accepts some text the round-trip one refuses (a tab before a
            # comment). Only positions are wanted here, and a tab and a space are one
            # column each, so a second try with spaces gives the same lines and columns.
            for text in (self.text, self.text.replace("\t", " ")):
                try:
                    for index, node in enumerate(_yaml().load_all(text)):
                        if node is None:
                            continue
                        converter = _Converter()
                        converter.convert(node, (), _node_pos(getattr(node, "lc", None)), False)
                        self._tables[index] = converter.positions
                    break
                except yamlguard.LOAD_ERRORS:
                    self._tables = {}
        return self._tables.get(document, {})


class _DocumentPositions(Mapping[Path, tuple[int, int]]):
    def __init__(self, holder: _FilePositions, document: int) -> None:
        self._holder = holder
        self._document = document

    def __getitem__(self, key: Path) -> tuple[int, int]:
        return self._holder.table(self._document)[key]

    def __iter__(self) -> Iterator[Path]:
        return iter(self._holder.table(self._document))

    def __len__(self) -> int:
        return len(self._holder.table(self._document))


def _parse_round_trip(text: str, file: str, default_namespace: str) -> ParsedFile:
    try:
        documents = list(_yaml().load_all(text))
    except yamlguard.LOAD_ERRORS as exc:
        return ParsedFile([], [_error_violation(file, text, exc)], 0)

    objects: list[ManifestObject] = []
    violations: list[Violation] = []
    others = 0
    converter = _Converter()
    for index, document in enumerate(documents):
        if document is None:
            continue
        converter.positions = {}
        try:
            data = converter.convert(document, (), _node_pos(getattr(document, "lc", None)), False)
        except _TooLarge:
            return ParsedFile(
                [],
                [
                    Violation(
                        file,
                        1,
                        1,
                        "",
                        "",
                        "refused: YAML aliases expand past "
                        f"{MAX_ALIAS_EXPANSION} nodes (or the file past {MAX_NODES})",
                    )
                ],
                0,
            )
        except _Recursive:
            return ParsedFile(
                [], [Violation(file, 1, 1, "", "", "refused: recursive YAML alias")], 0
            )
        positions = converter.positions
        found, ignored = _unpack(data, (), file, index, positions, default_namespace, False)
        objects.extend(found)
        others += ignored
    return ParsedFile(objects, violations, others)


def _unpack(
    data: JSON,
    base: Path,
    file: str,
    document: int,
    positions: Mapping[Path, tuple[int, int]],
    default_namespace: str,
    in_template: bool,
) -> tuple[list[ManifestObject], int]:
    if not isinstance(data, dict):
        return [], 0
    kind = data.get("kind")
    if kind in KINDS:
        obj = ManifestObject(
            file=file,
            document=document,
            base=base,
            body=data,
            positions=positions,
            default_namespace=default_namespace,
            in_template=in_template,
        )
        return [obj], 0
    nested_key = (
        {"List": "items", "Template": "objects"}.get(kind) if isinstance(kind, str) else None
    )
    if kind.endswith("List") if isinstance(kind, str) else False:
        nested_key = "items"
    if nested_key is None:
        return [], 1
    items = data.get(nested_key)
    if not isinstance(items, list):
        return [], 0
    found: list[ManifestObject] = []
    ignored = 0
    for i, item in enumerate(items):
        objs, other = _unpack(
            item,
            (*base, nested_key, i),
            file,
            document,
            positions,
            default_namespace,
            in_template or kind == "Template",
        )
        found.extend(objs)
        ignored += other
    return found, ignored


def load_positioned(text: str, file: str) -> tuple[JSON, dict[Path, tuple[int, int]]] | Violation:
    """One YAML document as plain data plus the position of every field, with the same
    refusals as manifests (duplicate keys, the limits of yamlguard). For configuration
    files."""
    refusal = yamlguard.check_yaml(text)
    if refusal is not None:
        return _refused(file, refusal)
    try:
        document = _yaml().load(text)
        converter = _Converter()
        data = converter.convert(document, (), _node_pos(getattr(document, "lc", None)), False)
    except (_TooLarge, _Recursive):
        return Violation(file, 1, 1, "", "", "refused: YAML aliases expand too far")
    except yamlguard.LOAD_ERRORS as exc:
        return _error_violation(file, text, exc)
    return data, converter.positions
