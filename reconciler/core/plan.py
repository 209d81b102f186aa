"""The pass's decision, as data: :class:`Plan` (what one pass would write and why, and
the commit message that says so), and :func:`scoped_lock`, the one rule by which a
change confined to some tags (a verb that edits one stream) is merged into the
committed lock. The pass and the verbs both decide through here.

Pure: locks, reports and tag names in; a plan and a lock out.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from reconciler.core.lockdiff import TagChange
from reconciler.core.lockfile import Lock, TagLock
from reconciler.core.printable import escape_controls
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.resolution import Failure
from reconciler.core.streams import IMAGE_STREAM_TAG, TagRef, alias_target
from reconciler.core.triggers import TriggerRecord
from reconciler.core.validation import ValidationReport
from reconciler.core.writeback import ManifestEdit


@dataclass
class Plan:
    """Everything one pass decided, before anything is written: the validation report,
    the committed and the desired lock (with their bytes: "changed" is byte inequality,
    so a hand-reformatted but equal lock is not a change), the lock changes, the new
    trigger records (ids with no file yet), the manifest edits of a write-back, and the
    tags that failed this pass."""

    report: ValidationReport
    config: RepoConfig
    old_lock: Lock
    new_lock: Lock
    old_bytes: bytes | None
    new_bytes: bytes
    changes: list[TagChange]
    triggers: list[TriggerRecord]  # new records only (ids without a file yet)
    failures: dict[TagRef, Failure] = field(default_factory=dict)
    requested: list[TagRef] = field(default_factory=list)  # asked the registries about
    resolve_seconds: float = 0.0  # time spent waiting on registries this pass
    recheckable: list[TagRef] = field(default_factory=list)  # scheduled and build outputs
    # The scheduled tags the pass was handed as due, whether it asked a registry about
    # them or answered without asking (a hold; a policy tag kept at its floor): checked.
    due: list[TagRef] = field(default_factory=list)
    edits: list[ManifestEdit] = field(default_factory=list)  # write-back, same commit
    # For people: paused triggers whose tag moved, files a write-back could not edit.
    notes: list[str] = field(default_factory=list)

    @property
    def lock_changed(self) -> bool:
        """The lockfile's bytes would change (no lockfile is written for an empty lock)."""
        if self.old_bytes is None and not self.new_lock.tags and not self.new_lock.consumers:
            return False  # nothing to lock yet: no lockfile rather than an empty one
        return self.old_bytes != self.new_bytes

    @property
    def has_changes(self) -> bool:
        """Something would be committed: lock bytes, new records or manifest edits."""
        return self.lock_changed or bool(self.triggers) or bool(self.edits)

    @property
    def skipped(self) -> list[str]:
        """The invalid objects whose lock entries were kept as committed, sorted."""
        return sorted({o.display for o in self.report.invalid if not o.in_template})

    def commit_message(self) -> str:
        """A subject that counts what changed, then every lock change, record and
        skipped object: a reviewer reads the whole change in ``git log``. Names from
        the repo have their control characters escaped: git refuses a NUL."""
        moved = [c for c in self.changes if c.kind == "moved"]
        added = [c for c in self.changes if c.kind == "added"]
        head = []
        if added:
            head.append(f"pin {len(added)} new tag{'s' * (len(added) != 1)}")
        if moved:
            head.append(f"move {len(moved)} tag{'s' * (len(moved) != 1)}")
        if self.triggers:
            head.append(f"open {len(self.triggers)} trigger{'s' * (len(self.triggers) != 1)}")
        others = len(self.changes) - len(moved) - len(added)
        if others:
            head.append(f"{others} other lock change{'s' * (others != 1)}")
        writes = [w for e in self.edits for w in e.writes]
        if writes:
            head.append(f"write back {len(writes)} image{'s' * (len(writes) != 1)}")
        lines = ["reconciler: " + (", ".join(head) or "update lock"), ""]
        if self.changes:
            lines.append("Lock:")
            lines += [f"  {c.text}" for c in self.changes]
        if self.triggers:
            lines.append("Triggers:")
            lines += [f"  {t.id}: {t.summary()}" for t in self.triggers]
        if writes:
            lines.append("Written back:")
            lines += [f"  {e.file}: {w.text}" for e in self.edits for w in e.writes]
        if self.notes:
            lines.append("Notes:")
            lines += [f"  {note}" for note in self.notes]
        if self.skipped:
            lines.append("Skipped (invalid, lock entries kept):")
            lines += [f"  {name}" for name in self.skipped]
        return "\n".join(escape_controls(line) for line in lines).rstrip() + "\n"


def followers(lock: Lock, roots: Collection[TagRef]) -> set[TagRef]:
    """``roots`` plus every ImageStreamTag alias in ``lock`` that follows one of them,
    chains included."""
    # One look at each tag, then a walk from the roots: linear whatever the chains' depth.
    aliases: dict[TagRef, list[TagRef]] = {}
    for ref, entry in lock.tags.items():
        if entry.source.kind == IMAGE_STREAM_TAG:
            target = alias_target(ref, entry.source.name, entry.source.namespace)
            if target is not None:
                aliases.setdefault(target, []).append(ref)
    found = set(roots)
    pending = list(found)
    while pending:
        for alias in aliases.get(pending.pop(), ()):
            if alias not in found:
                found.add(alias)
                pending.append(alias)
    return found


def scoped_lock(committed: Lock, desired: Lock, scope: Collection[TagRef] | None) -> Lock:
    """The lock to commit. With no ``scope`` (a pass), ``desired`` itself. With a scope
    (a verb that edited those tags), ``committed`` with only the scope's tags, and the
    aliases that follow them, taken from ``desired`` (added, changed or removed), and
    the consumers' fingerprints as committed: nothing else moves."""
    if scope is None:
        return desired
    tags: dict[TagRef, TagLock] = dict(committed.tags)
    for ref in followers(desired, scope):
        entry = desired.tags.get(ref)
        if entry is None:
            tags.pop(ref, None)
        else:
            tags[ref] = entry
    return Lock(tags=tags, consumers=committed.consumers)
