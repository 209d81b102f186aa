"""The prune policy for tag history in the lock, as ``oc adm prune images`` reads its
flags: keep the newest ``--keep-tag-revisions`` revisions of each tag and anything
younger than ``--keep-younger-than``; drop history entries whose image is gone from its
registry; never the current image of a tag, and never an image another tag pins
(``ImageStreamImage``), since that pin reads the stream's history.

Pure: the lock, ``now`` and the set of images known to be gone come in; the pruned lock
and a list of removals with their reasons come out. Asking the registries which images
are gone, and writing the lock, are the ``prune`` verb's job.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass, replace

from reconciler.core.errors import ConfigurationError
from reconciler.core.lockfile import HistoryItem, Lock, TagLock
from reconciler.core.streams import IMAGE_STREAM_IMAGE, TagRef, parse_isimage_name
from reconciler.core.times import parse_time

# oc adm prune images' defaults.
DEFAULT_KEEP_REVISIONS = 3
DEFAULT_KEEP_YOUNGER_THAN = dt.timedelta(minutes=60)
# Removal reasons.
OLD_REVISION = "revision"
MISSING = "missing"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")


class DurationError(ConfigurationError, ValueError):
    """A duration flag (``--keep-younger-than``) is not Go's duration syntax."""


def parse_duration(text: str) -> dt.timedelta:
    """Go's duration syntax as ``oc`` takes it: ``60m``, ``1h30m``, ``90s``, ``0``."""
    text = text.strip()
    if text == "0":
        return dt.timedelta(0)
    pos = 0
    total = dt.timedelta(0)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += dt.timedelta(seconds=float(match.group(1)) * units[match.group(2)])
        pos = match.end()
    if pos != len(text) or not text:
        raise DurationError(f"invalid duration {text!r}: expected e.g. 60m, 1h30m, 90s")
    return total


@dataclass(frozen=True)
class PrunePolicy:
    """What prune keeps, as ``oc adm prune images`` flags say it:
    ``--keep-tag-revisions`` and ``--keep-younger-than``."""

    keep_revisions: int = DEFAULT_KEEP_REVISIONS
    keep_younger_than: dt.timedelta = DEFAULT_KEEP_YOUNGER_THAN


@dataclass(frozen=True)
class Removal:
    """One history entry pruned from one tag, and why (OLD_REVISION or MISSING)."""

    ref: TagRef
    item: HistoryItem
    reason: str  # OLD_REVISION | MISSING

    def text(self) -> str:
        """One line for people: tag, pull spec, generation and reason."""
        why = (
            "image no longer in its registry"
            if self.reason == MISSING
            else "older revision beyond the ones kept"
        )
        return f"{self.ref}: {self.item.image} (generation {self.item.generation}): {why}"

    def to_data(self) -> dict[str, object]:
        """Plain data for machine output: the tag, the history item's fields, the
        reason."""
        return {"tag": str(self.ref), **self.item.to_data(), "reason": self.reason}


def pinned_images(lock: Lock) -> set[tuple[str, str, str]]:
    """(namespace, stream, digest) that an ImageStreamImage tag pins: never pruned."""
    out: set[tuple[str, str, str]] = set()
    for ref, entry in lock.tags.items():
        if entry.source.kind != IMAGE_STREAM_IMAGE:
            continue
        parsed = parse_isimage_name(entry.source.name)
        if parsed is not None:
            out.add((entry.source.namespace or ref.namespace, parsed[0], parsed[1]))
    return out


def _is_current(entry: TagLock, index: int, item: HistoryItem) -> bool:
    return index == 0 or item.digest == entry.digest


def check_candidates(
    lock: Lock, pinned: set[tuple[str, str, str]] | None = None
) -> list[tuple[TagRef, HistoryItem]]:
    """History entries that could go if their image is missing (not current, not pinned):
    the ones worth asking the registry about. ``pinned`` defaults to the pins in ``lock``;
    pass the whole lock's when ``lock`` is one namespace of it."""
    pinned = pinned_images(lock) if pinned is None else pinned
    out = []
    for ref in sorted(lock.tags):
        entry = lock.tags[ref]
        for index, item in enumerate(entry.history):
            if _is_current(entry, index, item):
                continue
            if (ref.namespace, ref.stream, item.digest) in pinned:
                continue
            out.append((ref, item))
    return out


def prune_lock(
    lock: Lock,
    policy: PrunePolicy,
    now: dt.datetime,
    missing: Collection[str] = (),
    pinned: set[tuple[str, str, str]] | None = None,
) -> tuple[Lock, list[Removal]]:
    """``missing``: pinned pull specs (``HistoryItem.image``) the registry says are gone.
    ``pinned``: images ImageStreamImage tags pin anywhere in the repo (default: in
    ``lock``), which are never pruned."""
    pinned = pinned_images(lock) if pinned is None else pinned
    removals: list[Removal] = []
    tags: dict[TagRef, TagLock] = {}
    for ref in sorted(lock.tags):
        entry = lock.tags[ref]
        kept: list[HistoryItem] = []
        for index, item in enumerate(entry.history):
            if (
                _is_current(entry, index, item)
                or (ref.namespace, ref.stream, item.digest) in pinned
            ):
                kept.append(item)
                continue
            if item.image in missing:
                removals.append(Removal(ref, item, MISSING))
                continue
            created = parse_time(item.created)
            young = created is not None and now - created < policy.keep_younger_than
            if index < policy.keep_revisions or young:
                kept.append(item)
                continue
            removals.append(Removal(ref, item, OLD_REVISION))
        tags[ref] = (
            replace(entry, history=tuple(kept)) if len(kept) != len(entry.history) else entry
        )
    return Lock(tags=tags, consumers=lock.consumers), removals
