"""Every consumer among a set of objects, whatever its kind: BuildConfigs and
DeploymentConfigs (``reconciler.core.consumers``) and the Kubernetes workloads that
follow a tag (``reconciler.core.workloads``), each with the object it was read from (a
write-back edits that object), and what a paused trigger would have done.

Pure: objects in, consumers out.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.consumers import Consumer, read_consumer
from reconciler.core.lockfile import Lock
from reconciler.core.objects import BUILD_CONFIG, DEPLOYMENT_CONFIG, SHORT_KINDS, ManifestObject
from reconciler.core.workloads import is_workload, lookup_table, read_workload

# A consumer and the object it was read from.
Followed = tuple[ManifestObject, Consumer]


def is_consumer_kind(obj: ManifestObject) -> bool:
    """Whether objects of ``obj``'s kind may consume image stream tags."""
    return obj.kind in (BUILD_CONFIG, DEPLOYMENT_CONFIG) or is_workload(obj)


def read_consumers(
    objects: Sequence[ManifestObject], streams: Sequence[ManifestObject], write_back: bool = False
) -> list[Followed]:
    """The consumers among ``objects`` (in order), image lookup judged against
    ``streams``. A workload that follows nothing is not a consumer."""
    lookups = lookup_table(streams)
    found: list[Followed] = []
    for obj in objects:
        if obj.kind in (BUILD_CONFIG, DEPLOYMENT_CONFIG):
            found.append((obj, read_consumer(obj, write_back)))
        elif is_workload(obj):
            consumer = read_workload(obj, lookups, write_back)
            if consumer is not None:
                found.append((obj, consumer))
    return found


def paused_notes(old: Lock, new: Lock, consumers: Sequence[Consumer]) -> list[str]:
    """For each paused trigger whose tag moved (first resolution included), the line
    that says no record opens for it: ``paused: deploy/web follows web:prod (no
    record)``."""
    notes: set[str] = set()
    for consumer in consumers:
        for trigger in consumer.paused:
            after = new.get(trigger.source)
            before = old.get(trigger.source)
            if after is None or after.digest is None:
                continue
            if before is not None and before.digest == after.digest:
                continue
            source = trigger.source
            tag = f"{source.stream}:{source.tag}"
            if source.namespace != consumer.key.namespace:
                tag = f"{source.namespace}/{tag}"
            short = SHORT_KINDS.get(consumer.key.kind, consumer.key.kind.lower())
            notes.add(f"paused: {short}/{consumer.key.name} follows {tag} (no record)")
    return sorted(notes)
