"""What ``/status`` says about each tag: its digest, image, source, schedule, last and
next check, and conditions. Pure: the lock and the state's check times in, JSON out."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from reconciler.core.lockfile import Lock
from reconciler.core.schedule import ImportPolicy, next_due
from reconciler.core.streams import TagRef


def tag_status(
    lock: Lock | None,
    checked: Mapping[TagRef, float],
    recheckable: Collection[TagRef],
    policy: ImportPolicy,
) -> dict[str, Any]:
    """Every tag of ``lock`` by name, sorted."""
    tags: dict[str, Any] = {}
    if lock is None:
        return tags
    for ref, entry in sorted(lock.tags.items()):
        item: dict[str, Any] = {
            "digest": entry.digest,
            "image": entry.image,
            "from": entry.source.name,
            "scheduled": entry.source.scheduled,
        }
        if ref in checked:
            item["lastChecked"] = checked[ref]
            if ref in recheckable:
                item["nextCheck"] = next_due(ref, checked[ref], policy)
        if entry.condition is not None:
            item["conditions"] = [entry.condition.to_data()]
        tags[str(ref)] = item
    return tags
