"""Pinning the tags a verb edited (``import-image``, ``tag``): the reconcile plan run on
the checkout, scoped to those tags and the aliases that follow them, so a verb that
edits one stream never moves another stream's scheduled tags."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from reconciler.cli import progress
from reconciler.config.settings import Settings, registry_client
from reconciler.core.consumers import read_consumer
from reconciler.core.lockfile import Lock, parse_lock, render_lock
from reconciler.core.manifests import BUILD_CONFIG, DEPLOYMENT_CONFIG
from reconciler.core.resolution import Failure
from reconciler.core.streams import IMAGE_STREAM_TAG, TagRef, alias_target
from reconciler.core.triggers import IMAGE_CHANGE, TriggerRecord, derive_triggers
from reconciler.core.validation import ValidationReport
from reconciler.files import triggerstore
from reconciler.passes.run import compute_plan, rfc3339, write_derived


@dataclass
class PinResult:
    lock: Lock
    old_lock: Lock
    lock_bytes: bytes
    lock_changed: bool
    triggers: list[TriggerRecord]
    failures: dict[TagRef, Failure]
    report: ValidationReport


def _followers(lock: Lock, roots: set[TagRef]) -> set[TagRef]:
    """``roots`` plus every ImageStreamTag alias that follows one of them (chains too)."""
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for ref, entry in lock.tags.items():
            if ref in found or entry.source.kind != IMAGE_STREAM_TAG:
                continue
            target = alias_target(ref, entry.source.name, entry.source.namespace)
            if target in found:
                found.add(ref)
                grew = True
    return found


def pin_tags(
    root: Path,
    settings: Settings,
    touched: set[TagRef],
    now: dt.datetime,
    *,
    reimport: set[TagRef] | None = None,
) -> PinResult:
    """Run the reconcile plan on the checkout and take from its lock only the ``touched``
    tags (and aliases following them): other scheduled tags are not moved by a verb that
    edits one stream. Trigger records for ImageChange consumers of the moved tags are
    derived as the pass would, so the next pass does not miss them."""
    stamp = rfc3339(now)
    with registry_client(settings) as client, progress.activity("asking the registries"):
        # ``reimport``: existing tags the rules would leave alone, asked about anyway.
        plan = compute_plan(root, settings, client, now, force=reimport or ())
        desired = dict(plan.new_lock.tags)
        failures = {ref: f for ref, f in plan.failures.items() if ref in touched}
    scope = _followers(Lock(tags=desired), set(touched))
    merged = dict(plan.old_lock.tags)
    for ref in scope:
        if ref in desired:
            merged[ref] = desired[ref]
        else:
            merged.pop(ref, None)
    lock = Lock(tags=merged, consumers=plan.old_lock.consumers)
    consumers = [
        read_consumer(o)
        for o in plan.report.valid
        if not o.in_template and o.kind in (BUILD_CONFIG, DEPLOYMENT_CONFIG)
    ]
    records = [
        r for r in derive_triggers(plan.old_lock, lock, consumers, stamp) if r.type == IMAGE_CHANGE
    ]
    existing = {r.id for r in triggerstore.read_records(root)[0]}
    new_bytes = render_lock(lock)
    changed = plan.old_bytes is None or parse_lock(plan.old_bytes) != lock
    if not changed and plan.old_bytes is not None:
        new_bytes = plan.old_bytes
    return PinResult(
        lock=lock,
        old_lock=plan.old_lock,
        lock_bytes=new_bytes,
        lock_changed=changed,
        triggers=[r for r in records if r.id not in existing],
        failures=failures,
        report=plan.report,
    )


def write_pins(root: Path, result: PinResult) -> list[str]:
    return write_derived(root, result.lock_bytes if result.lock_changed else None, result.triggers)
