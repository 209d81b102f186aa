"""What changed between two locks, in the words a reviewer uses: "marsview:latest moved
from sha256:a7ca... to sha256:77dc...". Used for commit messages and ``--dry-run``.

Pure, and it only describes: what the lock says is decided by
``reconciler.core.resolution``, its bytes by ``reconciler.core.lockfile``."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core.lockfile import SIGNATURE_VERIFIED, Lock, TagLock
from reconciler.core.streams import TagRef
from reconciler.core.tagexclude import excluded


@dataclass(frozen=True, order=True)
class TagChange:
    """One tag's change between two locks: ``kind`` for machines, ``text`` for people.
    Sorts by tag."""

    ref: TagRef
    kind: str  # added | removed | moved | spec | failed | recovered | verified | held |
    # released | waiting
    text: str


def short(digest: str | None) -> str:
    """The first 19 characters of ``digest`` (``sha256:`` and 12 hex), or
    ``(none)``."""
    return digest[:19] if digest else "(none)"


def picked(entry: TagLock) -> str:
    """``picked 1.4.7 over 1.4.6 by semver ~1.4 (3 candidates)``; "" for a tag without a
    policy's pick."""
    chosen, policy = entry.chosen, entry.source.policy
    if chosen is None or policy is None:
        return ""
    over = f" over {chosen.runner_up}" if chosen.runner_up else ""
    count = "the only candidate" if chosen.candidates == 1 else f"{chosen.candidates} candidates"
    return f"picked {chosen.tag}{over} by {policy.describe()} ({count})"


def _waiting(entry: TagLock) -> str:
    return ", ".join(f"{w.name} (first seen {w.first_seen})" for w in entry.waiting)


def _describe(ref: TagRef, old: TagLock | None, new: TagLock | None) -> TagChange | None:
    if old is None and new is not None:
        where = f" -> {short(new.digest)}" if new.digest else ""
        fail = f" (failed: {new.condition.reason})" if new.condition and not new.digest else ""
        signed = f" (signed: key {new.signature.key})" if new.signature else ""
        pick = f" ({picked(new)})" if new.chosen and new.digest else ""
        text = f"{ref}: added, from {new.source.name}{where}{pick}{signed}{fail}"
        if new.waiting and not new.digest:
            text += f" (waiting: {_waiting(new)})"
        return TagChange(ref, "added", text)
    if new is None and old is not None:
        return TagChange(ref, "removed", f"{ref}: removed (was {short(old.digest)})")
    assert old is not None and new is not None
    signed = f" (signed: key {new.signature.key})" if new.signature else ""
    if old.digest != new.digest:
        how = ""
        if new.chosen is not None and new.chosen != old.chosen:
            was = f"{old.chosen.tag} -> " if old.chosen and old.digest else ""
            policy = new.source.policy
            why = (
                f"{old.chosen.tag} excluded (exclude-tags); "
                if was and old.chosen and policy and excluded(old.chosen.tag, policy.exclude)
                else ""
            )
            how = f" ({was}{new.chosen.tag}: {why}{picked(new)})"
        return TagChange(
            ref, "moved", f"{ref}: {short(old.digest)} -> {short(new.digest)}{how}{signed}"
        )
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
    if new.hold and old.hold != new.hold:
        until = f" (until {new.hold.until})" if new.hold.until else ""
        return TagChange(
            ref, "held", f"{ref}: held at {short(new.digest)}: {new.hold.reason}{until}"
        )
    if old.hold and not new.hold:
        ended = f" (it was until {old.hold.until})" if old.hold.until else ""
        return TagChange(ref, "released", f"{ref}: hold released{ended}")
    if new.waiting and old.waiting != new.waiting:
        return TagChange(ref, "waiting", f"{ref}: waiting out the minimum age: {_waiting(new)}")
    if old != new:
        return TagChange(ref, "spec", f"{ref}: updated")
    return None


def lock_changes(old: Lock, new: Lock) -> list[TagChange]:
    """What changed from ``old`` to ``new``: at most one change per tag, sorted by tag,
    the first that applies of moved, spec, failed, recovered (a move hides a spec change
    made with it). Empty when no tag entry differs; consumer hashes are not compared."""
    changes = []
    # Only the entries that differ are described (and sorted): in a pass where nothing
    # moved, most entries are the very objects the old lock holds.
    differing = [
        ref
        for ref in old.tags.keys() | new.tags.keys()
        if (before := old.tags.get(ref)) is not (after := new.tags.get(ref)) and before != after
    ]
    for ref in sorted(differing):
        change = _describe(ref, old.get(ref), new.get(ref))
        if change is not None:
            changes.append(change)
    return changes
