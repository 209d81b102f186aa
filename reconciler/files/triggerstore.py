"""Trigger records on disk: one YAML file per record under ``triggers/`` in the repo.
Reads them, writes new ones (never overwriting an existing id, so a re-run cannot reset
an acknowledged record), and rewrites one to acknowledge it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ruamel.yaml.error import YAMLError

from reconciler.core.triggers import (
    TriggerRecord,
    TriggerRecordError,
    record_from_data,
    render_record,
)
from reconciler.core.yamltext import load_machine_yaml
from reconciler.files.contentcache import ContentCache, blob_id
from reconciler.files.loader import TRIGGERS_DIR


def triggers_dir(root: Path) -> Path:
    return root / TRIGGERS_DIR


def read_records(
    root: Path, cache: ContentCache | None = None, blobs: Mapping[str, str] | None = None
) -> tuple[list[TriggerRecord], list[str]]:
    """All records, sorted by creation time then id, and a problem line per unreadable
    file (reported, never deleted). With ``cache``, each record is remembered by its
    file's git blob id, so a record read once is not parsed again; one that ``blobs``
    (git's listing: repo path -> blob id) names is not even read."""
    records: list[TriggerRecord] = []
    problems: list[str] = []
    directory = triggers_dir(root)
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
        path = directory / name
        try:
            raw = path.read_bytes()
            if cache is not None:
                blob = blob or blob_id(raw)
                known = cache.record(blob)
                if known is not None:
                    records.append(known)
                    continue
            record = record_from_data(load_machine_yaml(raw), where)
        except (OSError, YAMLError, TriggerRecordError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        if cache is not None and blob:
            cache.remember_record(blob, record)
        records.append(record)
    records.sort(key=lambda r: (r.created, r.id))
    return records, problems


def record_path(root: Path, record: TriggerRecord) -> Path:
    return triggers_dir(root) / record.filename


def write_new_records(root: Path, records: list[TriggerRecord]) -> list[TriggerRecord]:
    """Write the records whose id has no file yet; return those written."""
    written: list[TriggerRecord] = []
    for record in records:
        path = record_path(root, record)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render_record(record))
        written.append(record)
    return written


def rewrite_record(root: Path, record: TriggerRecord) -> None:
    record_path(root, record).write_bytes(render_record(record))


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
