"""What ``/status`` says about each tag: its digest, image, source, schedule, last and
next check, conditions, and its history as a timeline (each digest with when it was first
seen, the trigger records it opened, and where each record was delivered); and the
deliveries that failed. Pure: the lock, the records, the outbox and the check times in,
JSON out."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from reconciler.core.lockdiff import picked
from reconciler.core.lockfile import Lock, TagLock
from reconciler.core.schedule import ImportPolicy, next_due
from reconciler.core.streams import TagRef
from reconciler.core.triggers import TriggerRecord
from reconciler.daemon.delivery import target_host
from reconciler.daemon.state import FAILED, PENDING, Delivery


def index_records(
    records: Iterable[TriggerRecord],
) -> dict[tuple[TagRef, str], list[TriggerRecord]]:
    """ImageChange records by (tag, the digest they were opened for), oldest first."""
    found: dict[tuple[TagRef, str], list[TriggerRecord]] = {}
    for record in records:
        if record.tag is not None and record.to_digest:
            found.setdefault((record.tag, record.to_digest), []).append(record)
    for listed in found.values():
        listed.sort(key=lambda r: (r.created, r.id))
    return found


def delivery_data(item: Delivery) -> dict[str, Any]:
    """One delivery of a record to one target: the target by scheme and host only (a
    webhook URL often carries its secret)."""
    data: dict[str, Any] = {
        "target": target_host(item.url),
        "state": item.state,
        "attempts": item.attempts,
    }
    if item.last_error:
        data["lastError"] = item.last_error
    if item.delivered_at is not None:
        data["deliveredAt"] = item.delivered_at
    if item.state == PENDING and item.attempts:
        data["nextAttempt"] = item.next_attempt
    return data


def record_data(
    record: TriggerRecord, deliveries: Mapping[str, Sequence[Delivery]]
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": record.id,
        "consumer": str(record.consumer),
        "action": record.action,
        "status": record.status,
        "created": record.created,
        "deliveries": [delivery_data(d) for d in deliveries.get(record.id, ())],
    }
    if record.acknowledged:
        data["acknowledged"] = record.acknowledged
    return data


def tag_status(
    lock: Lock | None,
    checked: Mapping[TagRef, float],
    recheckable: Collection[TagRef],
    policy: ImportPolicy,
    records: Iterable[TriggerRecord] = (),
    outbox: Iterable[Delivery] = (),
) -> dict[str, Any]:
    """Every tag of ``lock`` by name, sorted, each with its ``history`` newest first: the
    records each digest opened (``records``), and their deliveries (``outbox``)."""
    tags: dict[str, Any] = {}
    if lock is None:
        return tags
    opened = index_records(records)
    deliveries = by_record(outbox)
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
        item.update(_choice(entry))
        item["history"] = [
            {
                **h.to_data(),
                "records": [record_data(r, deliveries) for r in opened.get((ref, h.digest), ())],
            }
            for h in entry.history
        ]
        tags[str(ref)] = item
    return tags


def _choice(entry: TagLock) -> dict[str, Any]:
    """How the pin is chosen, where the lock says (as ``describe -o json`` names it): the
    version policy and its pick (``picked``: the sentence), the minimum age and what waits
    it out, the hold. Nothing for a tag that has none of these."""
    data: dict[str, Any] = {}
    policy = entry.source.policy
    if policy is not None:
        data["policy"] = dict(policy.to_flow())
    if entry.chosen is not None:
        data["chosen"] = dict(entry.chosen.to_flow())
        if sentence := picked(entry):
            data["picked"] = sentence
    if entry.source.minimum_age:
        data["minimumAge"] = entry.source.minimum_age
    if entry.waiting:
        data["waiting"] = [dict(item.to_flow()) for item in entry.waiting]
    if entry.hold is not None:
        data["hold"] = dict(entry.hold.to_flow())
    return data


def by_record(items: Iterable[Delivery]) -> dict[str, list[Delivery]]:
    found: dict[str, list[Delivery]] = {}
    for item in items:
        found.setdefault(item.id, []).append(item)
    return found


def failed_deliveries(items: Iterable[Delivery]) -> list[dict[str, Any]]:
    """Deliveries abandoned after ``maxAttempts``, and those failing and waiting to be
    retried: the most attempted first."""
    failed = [d for d in items if d.state == FAILED or (d.state == PENDING and d.last_error)]
    failed.sort(key=lambda d: (d.state != FAILED, -d.attempts, d.id))
    return [{"record": d.id, "maxAttempts": d.max_attempts, **delivery_data(d)} for d in failed]
