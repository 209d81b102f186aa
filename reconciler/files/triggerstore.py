"""Trigger records on disk: one YAML file per record under ``triggers/`` in the repo.
Reads them, writes new ones (never overwriting an existing id, so a re-run cannot reset
an acknowledged record), and rewrites one to acknowledge it. ``triggers/`` is derived:
no symlink is followed there (:mod:`reconciler.files.worktree`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.core.triggers import (
    TriggerRecord,
    TriggerRecordError,
    parse_record,
    render_record,
)
from reconciler.files import worktree
from reconciler.files.contentcache import ContentCache, blob_id
from reconciler.files.loader import TRIGGERS_DIR


def triggers_dir(root: Path) -> Path:
    return root / TRIGGERS_DIR


def read_records(
    root: Path, cache: ContentCache | None = None, blobs: Mapping[str, str] | None = None
) -> tuple[list[TriggerRecord], list[str]]:
    """All records, sorted by creation time then id, and a problem line per unreadable
    file (``file:line:column: message``; reported, never deleted). A symlink at
    ``triggers/`` or at a record is a PermanentError: the pass refuses it. With
    ``cache``, each record is remembered by its file's git blob id, so a record read
    once is not parsed again; one that ``blobs`` (git's listing of regular files: repo
    path -> blob id) names is not even read."""
    records: list[TriggerRecord] = []
    problems: list[str] = []
    directory = worktree.check_derived(root, TRIGGERS_DIR)
    if not directory.is_dir():
        return records, problems
    # What directory.glob("*.yaml") lists, in its order, without a Path per file.
    for name in sorted(n for n in os.listdir(directory) if n.endswith(".yaml")):
        where = f"{TRIGGERS_DIR}/{name}"
        blob = blobs.get(where) if blobs is not None else None
        known = cache.record(blob) if cache is not None and blob else None
        if known is not None:
            records.append(known)
            continue
        try:
            raw = worktree.read_derived(root, where)
            if raw is None:
                continue
            if cache is not None:
                blob = blob or blob_id(raw)
                known = cache.record(blob)
                if known is not None:
                    records.append(known)
                    continue
            record = parse_record(raw, where)
        except OSError as exc:
            problems.append(f"{where}:1:1: cannot read: {exc.strerror or exc}")
            continue
        except TriggerRecordError as exc:
            problems.append(str(exc))
            continue
        if cache is not None and blob:
            cache.remember_record(blob, record)
        records.append(record)
    records.sort(key=lambda r: (r.created, r.id))
    return records, problems


def record_path(root: Path, record: TriggerRecord) -> Path:
    return triggers_dir(root) / record.filename


def record_relative(record: TriggerRecord) -> str:
    """The record's path from the repo root: ``triggers/<id>.yaml``."""
    return f"{TRIGGERS_DIR}/{record.filename}"


def check_record_paths(root: Path, records: list[TriggerRecord]) -> None:
    """PermanentError when a record's path holds a symlink (checked before any write)."""
    worktree.check_derived(root, TRIGGERS_DIR)
    for record in records:
        worktree.check_derived(root, record_relative(record))


def write_new_records(root: Path, records: list[TriggerRecord]) -> list[TriggerRecord]:
    """Write the records whose id has no file yet; return those written. Never through
    a symlink (PermanentError naming it)."""
    check_record_paths(root, records)
    return [
        record
        for record in records
        if worktree.write_derived(
            root, record_relative(record), render_record(record), exclusive=True
        )
    ]


def rewrite_record(root: Path, record: TriggerRecord) -> None:
    check_record_paths(root, [record])
    worktree.write_derived(root, record_relative(record), render_record(record))


def find_record(
    records: list[TriggerRecord], wanted: str
) -> TriggerRecord | list[TriggerRecord] | None:
    """By full id, or by a unique prefix; a list when the prefix is ambiguous."""
    exact = [r for r in records if r.id == wanted]
    if exact:
        return exact[0]
    matches = [r for r in records if r.id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    return matches or None
