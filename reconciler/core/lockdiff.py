"""What changed between two locks, in the words a reviewer uses: "marsview:latest moved
from sha256:a7ca... to sha256:77dc...". Used for commit messages and ``--dry-run``.

Pure, and it only describes: what the lock says is decided by
``reconciler.core.resolution``, its bytes by ``reconciler.core.lockfile``."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core.lockfile import SIGNATURE_VERIFIED, Lock, TagLock
from reconciler.core.streams import TagRef


@dataclass(frozen=True, order=True)
class TagChange:
    """One tag's change between two locks: ``kind`` for machines, ``text`` for people.
    Sorts by tag."""

    ref: TagRef
    kind: str  # added | removed | moved | spec | failed | recovered | verified
    text: str


def short(digest: str | None) -> str:
    """The first 19 characters of ``digest`` (``sha256:`` and 12 hex), or
    ``(none)``."""
    return digest[:19] if digest else "(none)"


def _describe(ref: TagRef, old: TagLock | None, new: TagLock | None) -> TagChange | None:
    if old is None and new is not None:
        where = f" -> {short(new.digest)}" if new.digest else ""
        fail = f" (failed: {new.condition.reason})" if new.condition and not new.digest else ""
        signed = f" (signed: key {new.signature.key})" if new.signature else ""
        return TagChange(ref, "added", f"{ref}: added, from {new.source.name}{where}{signed}{fail}")
    if new is None and old is not None:
        return TagChange(ref, "removed", f"{ref}: removed (was {short(old.digest)})")
    assert old is not None and new is not None
    signed = f" (signed: key {new.signature.key})" if new.signature else ""
    if old.digest != new.digest:
        return TagChange(ref, "moved", f"{ref}: {short(old.digest)} -> {short(new.digest)}{signed}")
    if old.source != new.source:
        return TagChange(ref, "spec", f"{ref}: spec changed, now from {new.source.name}")
    if new.condition and old.condition != new.condition:
        c = new.condition
        if c.type == SIGNATURE_VERIFIED:
            return TagChange(ref, "failed", f"{ref}: signature refused ({c.reason}): {c.message}")
        return TagChange(ref, "failed", f"{ref}: import failed ({c.reason}): {c.message}")
    if old.condition and not new.condition:
        return TagChange(ref, "recovered", f"{ref}: import succeeded again{signed}")
    if new.signature and old.signature != new.signature:
        return TagChange(
            ref,
            "verified",
            f"{ref}: {short(new.digest)} signature verified by key {new.signature.key}",
        )
    if old != new:
        return TagChange(ref, "spec", f"{ref}: updated")
    return None


def lock_changes(old: Lock, new: Lock) -> list[TagChange]:
    """What changed from ``old`` to ``new``: at most one change per tag, sorted by tag,
    the first that applies of moved, spec, failed, recovered (a move hides a spec change
    made with it). Empty when no tag entry differs; consumer hashes are not compared."""
    changes = []
    for ref in sorted(set(old.tags) | set(new.tags)):
        change = _describe(ref, old.get(ref), new.get(ref))
        if change is not None:
            changes.append(change)
    return changes
