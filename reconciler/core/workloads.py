"""Kubernetes workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) as
consumers of image stream tags, the two ways OpenShift lets them follow one:

- the ``image.openshift.io/triggers`` annotation (``reconciler.core.triggerannotation``):
  each unpaused entry is an ImageChange trigger on its tag, whose fieldPath names the
  container ``image`` a write-back sets;
- image lookup: a container ``image: stream:tag`` (no registry, no digest) where the
  workload's namespace has that stream with ``lookupPolicy.local: true`` is resolved by
  OpenShift to the tag's image, so the workload follows that tag (always automatic).

Also the checks that need the repo's streams: a tag the annotation names that the repo
does not define, and a container image that looks like a stream whose lookup is off.

Pure, lenient: never raises; problems are violations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.core.consumers import Consumer, ImageTrigger, fingerprint, without
from reconciler.core.fieldpaths import pod_spec_path
from reconciler.core.objects import IMAGE_STREAM, WORKLOAD_KINDS, ManifestObject
from reconciler.core.streams import TagRef, stream_tags
from reconciler.core.triggerannotation import (
    ANNOTATION_PATH,
    Annotation,
    Placer,
    read_annotation,
)
from reconciler.core.violations import Path, Violation

# What OpenShift's image policy resolves by lookup: a bare stream name (Docker's path
# component grammar) and an optional tag; no registry, no path, no digest.
_STREAM_IMAGE = re.compile(r"([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)(?::([\w][\w.-]{0,127}))?")


@dataclass(frozen=True)
class LookupStream:
    """What image lookup needs of a stream: whether ``lookupPolicy.local`` is on, and
    its tags."""

    local: bool
    tags: frozenset[str]


Lookups = Mapping[tuple[str, str], LookupStream]


def lookup_table(streams: Iterable[ManifestObject]) -> dict[tuple[str, str], LookupStream]:
    """The streams of the repo by (namespace, name), for image lookup."""
    table: dict[tuple[str, str], LookupStream] = {}
    for stream in streams:
        if stream.kind != IMAGE_STREAM or not stream.name:
            continue
        policy = stream.spec.get("lookupPolicy")
        local = isinstance(policy, dict) and policy.get("local") is True
        tags = frozenset(t.ref.tag for t in stream_tags(stream))
        table[(stream.namespace, stream.name)] = LookupStream(local, tags)
    return table


def is_workload(obj: ManifestObject) -> bool:
    """Whether ``obj`` is one of the Kubernetes workload kinds."""
    return obj.kind in WORKLOAD_KINDS


@dataclass(frozen=True)
class ContainerImage:
    """A container of the pod template: its path in the object, name and ``image``."""

    path: Path
    name: str
    image: str | None


def containers(obj: ManifestObject) -> list[ContainerImage]:
    """The pod template's init containers and containers, in that order."""
    spec: Any = obj.body
    base = pod_spec_path(obj.kind)
    for part in base:
        spec = spec.get(part) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return []
    found: list[ContainerImage] = []
    for key in ("initContainers", "containers"):
        items = spec.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                image = item.get("image")
                found.append(
                    ContainerImage(
                        (*base, key, i),
                        str(item.get("name") or ""),
                        image if isinstance(image, str) else None,
                    )
                )
    return found


def stream_image(image: str | None) -> tuple[str, str] | None:
    """``"web:prod"`` -> ("web", "prod"); ``"web"`` -> ("web", "latest"); None for a
    reference with a registry, a path or a digest."""
    if image is None:
        return None
    match = _STREAM_IMAGE.fullmatch(image)
    if match is None:
        return None
    return match.group(1), match.group(2) or "latest"


def _targeted(annotation: Annotation | None) -> set[Path]:
    if annotation is None:
        return set()
    return {t.container for t in annotation.triggers if t.container is not None}


def read_workload(
    obj: ManifestObject, lookups: Lookups, write_back: bool = False
) -> Consumer | None:
    """``obj`` as a consumer: its annotation's entries (paused ones apart) and its
    containers resolved by image lookup. None when it follows no tag at all."""
    key = obj.key
    annotation = read_annotation(obj)
    by_path = {c.path: c for c in containers(obj)}
    active: list[ImageTrigger] = []
    paused: list[ImageTrigger] = []
    for entry in annotation.triggers if annotation is not None else ():
        if entry.source is None:
            continue
        container = by_path.get(entry.container) if entry.container is not None else None
        names = (container.name,) if container is not None and container.name else ()
        targets = ((*entry.container, "image"),) if entry.container is not None else ()
        trigger = ImageTrigger(key, entry.source, True, names, ANNOTATION_PATH, targets)
        (paused if entry.paused else active).append(trigger)
    targeted = _targeted(annotation)
    for container in by_path.values():
        found = stream_image(container.image)
        if found is None or container.path in targeted:
            continue
        stream = lookups.get((obj.namespace, found[0]))
        if stream is not None and stream.local and found[1] in stream.tags:
            source = TagRef(obj.namespace, found[0], found[1])
            names = (container.name,) if container.name else ()
            active.append(ImageTrigger(key, source, True, names, (*container.path, "image")))
    if not active and not paused:
        return None
    written = [p for t in active for p in t.targets] if write_back else []
    template_path = pod_spec_path(obj.kind)[:-1]
    template: Any = without(obj.body, written)
    for part in template_path:
        template = template.get(part) if isinstance(template, dict) else None
    return Consumer(
        key=key,
        image_triggers=tuple(active),
        config_change=False,
        spec_hash=fingerprint(template),
        output=None,
        containers=tuple(c.name for c in by_path.values() if c.name),
        paused=tuple(paused),
        in_lock=bool(active),
    )


def workload_findings(
    obj: ManifestObject, missing: Callable[[TagRef], bool], lookups: Lookups
) -> list[Violation]:
    """What the repo's streams say about ``obj``: tags its annotation names that are not
    defined (errors, placed inside the annotation), and container images that look like
    a stream whose lookup is off, or a tag that stream lacks (warnings)."""
    found: list[Violation] = []
    annotation = read_annotation(obj)
    if annotation is not None:
        placer: Placer | None = None
        for entry in annotation.triggers:
            if entry.source is None or not missing(entry.source):
                continue
            placer = placer or Placer(obj, annotation.text)
            line_col = placer.place(entry.name_offset)
            found.append(
                obj.violation_at(
                    line_col,
                    (*ANNOTATION_PATH, entry.index, "from", "name"),
                    f"ImageStreamTag {entry.source} is not defined in the repo (add the tag "
                    "to an ImageStream, or list it under 'external' in .reconciler.yaml)",
                )
            )
    targeted = _targeted(annotation)
    for container in containers(obj):
        named = stream_image(container.image)
        if named is None or container.path in targeted:
            continue
        stream = lookups.get((obj.namespace, named[0]))
        if stream is None:
            continue
        where = (*container.path, "image")
        if not stream.local:
            found.append(
                obj.violation(
                    where,
                    f"image {container.image!r} looks like image stream "
                    f"{obj.namespace}/{named[0]}, whose lookupPolicy.local is not true: "
                    "OpenShift does not resolve it and the node pulls it as written (set "
                    "spec.lookupPolicy.local: true on the stream, or use the "
                    "image.openshift.io/triggers annotation)",
                    "warning",
                )
            )
        elif named[1] not in stream.tags:
            found.append(
                obj.violation(
                    where,
                    f"image stream {obj.namespace}/{named[0]} has no tag {named[1]!r}: "
                    "lookup finds nothing and the node pulls the image as written",
                    "warning",
                )
            )
    return found


def workloads_of(objects: Sequence[ManifestObject]) -> list[ManifestObject]:
    """The workloads among ``objects`` that have a name, in order."""
    return [o for o in objects if is_workload(o) and o.name]
