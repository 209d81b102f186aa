"""The derived files in the work tree: reading the committed lockfile, and writing the
lock and new trigger records that a pass or a verb decided on. Only writes what it is
handed; deciding what to write is the core's job. No symlink is followed at a derived
path, for reading or writing (:mod:`reconciler.files.worktree`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.core.errors import PermanentError
from reconciler.core.lockfile import Lock, LockfileError
from reconciler.core.triggers import TriggerRecord
from reconciler.files import triggerstore, worktree
from reconciler.files.contentcache import ContentCache
from reconciler.files.loader import LOCKFILE_NAME


def read_lock(
    root: Path, cache: ContentCache | None = None, blob: str | None = None
) -> tuple[Lock, bytes | None]:
    """The committed lock and its bytes (an empty lock and None when there is no
    lockfile). A lockfile that cannot be read is a PermanentError naming its line: it is
    never overwritten, since its history is the only record of what was deployed.
    ``blob``: the lockfile's git blob id, when git listed it (the cache's key, without
    hashing the bytes)."""
    raw = worktree.read_derived(root, LOCKFILE_NAME)
    if raw is None:
        return Lock(), None
    try:
        return (cache or ContentCache()).lock(raw, blob), raw
    except LockfileError as exc:
        raise PermanentError(
            f"{LOCKFILE_NAME}:{exc.line}:{exc.column}: cannot read the lockfile: {exc}. "
            "It is not overwritten; fix or revert it in git."
        ) from exc


def write_derived(
    root: Path, lock_bytes: bytes | None, records: Sequence[TriggerRecord]
) -> list[str]:
    """Write the lock (when ``lock_bytes`` is given) and the records whose id has no file
    yet; returns the repo-relative paths written. Every path is checked before any is
    written: a symlink among them is a PermanentError naming it, and nothing is written."""
    worktree.check_derived(root, LOCKFILE_NAME)
    triggerstore.check_record_paths(root, list(records))
    written: list[str] = []
    if lock_bytes is not None:
        worktree.write_derived(root, LOCKFILE_NAME, lock_bytes)
        written.append(LOCKFILE_NAME)
    for record in triggerstore.write_new_records(root, list(records)):
        written.append(triggerstore.record_relative(record))
    return written
