"""When scheduled imports are due: the equivalent of OpenShift's
``ScheduledImageImportMinimumIntervalSeconds``, ``MaxScheduledImageImportsPerMinute`` and
``disableScheduledImport``.

A scheduled tag (or a build-output tag, which builds push to) is due when its interval
has passed since it was last checked; each tag's interval is stretched by a fixed
per-tag jitter (up to 10 %) so that thousands of tags added at once do not fall due in
the same second forever. Never sooner than the minimum interval. At most ``per_minute``
tags per rolling minute; the most overdue go first.

Pure: the caller passes ``now`` (seconds) and the last-check times. Must not keep state
or sleep: recording checks and waking up are the daemon's job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.core.streams import TagRef

# The most a tag's interval is stretched by its jitter (see jitter).
JITTER_FRACTION = 0.1


@dataclass(frozen=True)
class ImportPolicy:
    """The scheduler's limits, OpenShift's defaults: at least ``minimum_interval`` seconds
    between checks of one tag, at most ``per_minute`` checks per rolling minute,
    ``disabled`` for no scheduled checks at all. ``max_bulk_per_repository`` (OpenShift's
    ``maxImagesBulkImportedPerRepository``) is not the scheduler's: it is carried to the
    registry settings."""

    minimum_interval: float = 900.0
    per_minute: int = 60
    disabled: bool = False
    max_bulk_per_repository: int = 50


def jitter(ref: TagRef, interval: float) -> float:
    """A stable per-tag offset in [0, JITTER_FRACTION * interval)."""
    h = int.from_bytes(hashlib.sha256(str(ref).encode()).digest()[:8], "big")
    return (h / 2**64) * JITTER_FRACTION * interval


def next_due(ref: TagRef, last_checked: float | None, policy: ImportPolicy) -> float:
    """When ``ref`` is next due, in the caller's seconds: 0.0 (at once) when never
    checked, else the last check plus the minimum interval plus the tag's fixed jitter."""
    if last_checked is None:
        return 0.0
    return last_checked + policy.minimum_interval + jitter(ref, policy.minimum_interval)


@dataclass(frozen=True)
class DueTags:
    """:func:`due_tags`' answer: the tags to check now, most overdue first; how many
    due tags the per-minute cap held back; when to wake up next (None: nothing waits)."""

    due: list[TagRef]
    deferred: int  # due but over the per-minute cap
    next_wakeup: float | None  # when the next not-yet-due tag falls due


def due_tags(
    candidates: Iterable[TagRef],
    last_checked: Mapping[TagRef, float],
    recent_checks: int,
    now: float,
    policy: ImportPolicy,
) -> DueTags:
    """Which of ``candidates`` to re-check now. ``recent_checks`` is how many scheduled
    checks ran in the last 60 s (for the per-minute cap)."""
    if policy.disabled:
        return DueTags([], 0, None)
    due: list[tuple[float, TagRef]] = []
    eligible: list[tuple[float, TagRef]] = []
    upcoming: float | None = None
    for ref in candidates:
        checked = last_checked.get(ref)
        when = next_due(ref, checked, policy)
        if when <= now:
            due.append((when, ref))
        else:
            if checked is not None and checked + policy.minimum_interval <= now:
                eligible.append((when, ref))
            if upcoming is None or when < upcoming:
                upcoming = when
    if due:
        # A pass is going to run anyway: take along the tags whose minimum interval has
        # passed but whose jitter has not, rather than one pass (and fetch) per tag.
        due.extend(eligible)
    due.sort()
    budget = max(0, policy.per_minute - recent_checks)
    chosen = [ref for _, ref in due[:budget]]
    deferred = len(due) - len(chosen)
    if deferred and (upcoming is None or now + 1.0 < upcoming):
        upcoming = now + 1.0
    return DueTags(chosen, deferred, upcoming)
