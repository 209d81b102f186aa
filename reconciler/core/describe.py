"""What ``describe`` and ``get`` show about image streams, tags and images, built from the
manifests and the lock, and rendered the way ``oc describe is`` / ``oc get`` do.

Pure: manifests, lock and ``now`` in; data and text out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.lockfile import HistoryItem, Lock, TagLock
from reconciler.core.manifests import ManifestObject
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.streams import (
    DOCKER_IMAGE,
    IMAGE_STREAM_IMAGE,
    IMAGE_STREAM_TAG,
    LOCAL,
    TagRef,
    TagSpec,
    stream_tags,
)

IMAGE_API = "image.openshift.io/v1"


# ---------------------------------------------------------------- time


def parse_time(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def human_duration(delta: dt.timedelta) -> str:
    """Go's ``units.HumanDuration``, which ``oc`` uses: "About a minute", "19 minutes"."""
    seconds = int(delta.total_seconds())
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(delta.total_seconds() / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(delta.total_seconds() / 3600) // 24 // 365} years"


def ago(text: str | None, now: dt.datetime) -> str:
    moment = parse_time(text) if text else None
    if moment is None:
        return "<unknown>"
    return f"{human_duration(now - moment)} ago"


# ---------------------------------------------------------------- model


@dataclass(frozen=True)
class TagView:
    name: str
    spec: TagSpec | None  # None: only in the lock (e.g. a tag removed from the manifest)
    lock: TagLock | None

    @property
    def history(self) -> tuple[HistoryItem, ...]:
        return self.lock.history if self.lock else ()

    @property
    def updated(self) -> str | None:
        return self.history[0].created if self.history else None

    @property
    def from_kind(self) -> str | None:
        if self.spec is not None:
            return self.spec.from_kind
        return self.lock.source.kind if self.lock else None

    @property
    def from_name(self) -> str:
        if self.spec is not None:
            return self.spec.from_name
        return self.lock.source.name if self.lock else ""

    @property
    def from_namespace(self) -> str | None:
        if self.spec is not None:
            return self.spec.from_namespace
        return self.lock.source.namespace if self.lock else None

    @property
    def scheduled(self) -> bool:
        return self.spec.scheduled if self.spec else bool(self.lock and self.lock.source.scheduled)

    @property
    def insecure(self) -> bool:
        return self.spec.insecure if self.spec else bool(self.lock and self.lock.source.insecure)

    @property
    def reference(self) -> bool:
        return self.spec.reference if self.spec else bool(self.lock and self.lock.source.reference)

    @property
    def reference_policy(self) -> str:
        if self.spec:
            return self.spec.reference_policy
        return self.lock.source.reference_policy if self.lock else "Source"

    @property
    def import_mode(self) -> str:
        if self.spec:
            return self.spec.import_mode
        return self.lock.source.import_mode if self.lock else "Legacy"

    def to_data(self, now: dt.datetime) -> dict[str, Any]:
        lock = self.lock
        return {
            "name": self.name,
            "from": {
                "kind": self.from_kind,
                "name": self.from_name,
                "namespace": self.from_namespace,
            }
            if self.from_kind
            else None,
            "scheduled": self.scheduled,
            "insecure": self.insecure,
            "reference": self.reference,
            "importMode": self.import_mode,
            "referencePolicy": self.reference_policy,
            "inManifest": self.spec is not None,
            "source": lock.resolved_from if lock else None,
            "digest": lock.digest if lock else None,
            "image": lock.image if lock else None,
            "items": [{**item.to_data(), "age": ago(item.created, now)} for item in self.history],
            "conditions": [lock.condition.to_data()] if lock and lock.condition else [],
        }


@dataclass(frozen=True)
class StreamView:
    namespace: str
    name: str
    file: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    lookup_local: bool
    image_repository: str
    tags: tuple[TagView, ...]
    spec: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def unique_images(self) -> int:
        return len({item.digest for tag in self.tags for item in tag.history})

    @property
    def created(self) -> str | None:
        times = [item.created for tag in self.tags for item in tag.history]
        return (
            min(times, key=lambda t: parse_time(t) or dt.datetime.max.replace(tzinfo=dt.UTC))
            if times
            else None
        )

    @property
    def updated(self) -> str | None:
        times = [t.updated for t in self.tags if t.updated]
        return (
            max(times, key=lambda t: parse_time(t) or dt.datetime.min.replace(tzinfo=dt.UTC))
            if times
            else None
        )

    def to_data(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "file": self.file,
            "created": self.created,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "imageRepository": self.image_repository,
            "imageLookup": {"local": self.lookup_local},
            "uniqueImages": self.unique_images,
            "tags": [tag.to_data(now) for tag in self.tags],
        }

    def to_object(self) -> dict[str, Any]:
        """The stream as ``oc get is -o json`` shows it: spec as written plus a status
        built from the lock (``status.tags[].items[]``, newest first)."""
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        for key in ("labels", "annotations"):
            if self.metadata.get(key):
                metadata[key] = self.metadata[key]
        status_tags = []
        for tag in self.tags:
            entry: dict[str, Any] = {
                "tag": tag.name,
                "items": [
                    {
                        "created": item.created,
                        "dockerImageReference": item.image,
                        "image": item.digest,
                        "generation": item.generation,
                    }
                    for item in tag.history
                ],
            }
            if tag.lock and tag.lock.condition:
                entry["conditions"] = [tag.lock.condition.to_data()]
            status_tags.append(entry)
        return {
            "apiVersion": IMAGE_API,
            "kind": "ImageStream",
            "metadata": metadata,
            "spec": dict(self.spec),
            "status": {"dockerImageRepository": self.image_repository, "tags": status_tags},
        }


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _tag_order(tags: Iterable[TagView]) -> list[TagView]:
    """Newest update first, as ``oc`` sorts status tags; never-resolved tags last."""

    def key(tag: TagView) -> tuple[int, float, str]:
        moment = parse_time(tag.updated) if tag.updated else None
        return (0, -moment.timestamp(), tag.name) if moment else (1, 0.0, tag.name)

    return sorted(tags, key=key)


def stream_view(
    namespace: str,
    name: str,
    obj: ManifestObject | None,
    lock: Lock,
    config: RepoConfig,
) -> StreamView:
    specs = {t.ref.tag: t for t in stream_tags(obj)} if obj is not None else {}
    locked = {
        ref.tag: entry
        for ref, entry in lock.tags.items()
        if ref.namespace == namespace and ref.stream == name
    }
    tags = [TagView(tag, specs.get(tag), locked.get(tag)) for tag in {*specs, *locked}]
    lookup = obj.spec.get("lookupPolicy") if obj is not None else None
    return StreamView(
        namespace=namespace,
        name=name,
        file=obj.file if obj is not None else None,
        labels=_str_map(obj.metadata.get("labels")) if obj else {},
        annotations=_str_map(obj.metadata.get("annotations")) if obj else {},
        lookup_local=isinstance(lookup, dict) and lookup.get("local") is True,
        image_repository=f"{config.local_registry}/{namespace}/{name}",
        tags=tuple(_tag_order(tags)),
        spec=obj.spec if obj is not None else {},
        metadata=obj.metadata if obj is not None else {},
    )


def stream_views(
    streams: Sequence[ManifestObject], lock: Lock, config: RepoConfig, namespace: str | None
) -> list[StreamView]:
    """Every stream of ``namespace`` (all when None): from the manifests, plus streams
    only the lock still knows. Sorted by namespace and name."""
    by_key: dict[tuple[str, str], ManifestObject] = {}
    for obj in streams:
        by_key.setdefault((obj.namespace, obj.name), obj)
    keys = set(by_key) | {(r.namespace, r.stream) for r in lock.tags}
    return [
        stream_view(ns, name, by_key.get((ns, name)), lock, config)
        for ns, name in sorted(keys)
        if namespace is None or ns == namespace
    ]


# ---------------------------------------------------------------- describe


def _source_line(tag: TagView) -> str:
    kind, name = tag.from_kind, tag.from_name
    if tag.from_namespace and kind in (IMAGE_STREAM_TAG, IMAGE_STREAM_IMAGE):
        name = f"{tag.from_namespace}/{name}"
    if tag.spec is None and tag.lock is not None and kind != "Push":
        return "  no spec tag (removed from the manifests; the lock keeps its history)"
    if kind is None or kind == "Push":
        return "  tag without source image (pushed by builds)"
    if kind == DOCKER_IMAGE:
        if tag.reference:
            return f"  reference to registry {name}"
        if tag.scheduled:
            return f"  updates automatically from registry {name}"
        return f"  tagged from {name}"
    if kind == IMAGE_STREAM_TAG:
        if tag.reference:
            return f"  reference to {name}"
        return f"  tagged from {name}"
    if kind == IMAGE_STREAM_IMAGE:
        if tag.reference:
            return f"  reference to image {name}"
        return f"  tagged from {name}"
    return f"  tagged from {kind} {name}"


def _table(rows: Sequence[tuple[str, str]]) -> list[str]:
    width = max(len(label) for label, _ in rows) + 1 + 2
    out: list[str] = []
    for label, value in rows:
        lines = value.split("\n")
        out.append(f"{label + ':':<{width}}{lines[0]}".rstrip())
        out.extend(f"{'':<{width}}{line}" for line in lines[1:])
    return out


def _format_map(values: Mapping[str, str]) -> str:
    if not values:
        return "<none>"
    return "\n".join(f"{k}={v}" for k, v in sorted(values.items()))


def render_describe(view: StreamView, now: dt.datetime) -> str:
    """``oc describe is`` for one stream."""
    lines = _table(
        [
            ("Name", view.name),
            ("Namespace", view.namespace),
            ("Created", ago(view.created, now) if view.created else "<unknown>"),
            ("Labels", _format_map(view.labels)),
            ("Annotations", _format_map(view.annotations)),
            ("Image Repository", view.image_repository),
            ("Image Lookup", f"local={'true' if view.lookup_local else 'false'}"),
            ("Unique Images", str(view.unique_images)),
            ("Tags", str(len(view.tags)) if view.tags else "<none>"),
        ]
    )
    lines.append("")
    for tag in view.tags:
        lines.append(tag.name)
        lines.append(_source_line(tag))
        if tag.insecure:
            lines.append("    will use insecure HTTPS or HTTP connections")
        if tag.reference_policy == LOCAL:
            lines.append("    prefer registry pullthrough when referencing this tag")
        lines.append("")
        condition = tag.lock.condition if tag.lock else None
        if condition is not None:
            lines.append(f"  ! error: Import failed ({condition.reason}): {condition.message}")
            lines.append(f"      {ago(condition.last_transition, now)}")
        for index, item in enumerate(tag.history):
            marker = "  * " if index == 0 else "    "
            lines.append(f"{marker}{item.image}")
            lines.append(f"      {ago(item.created, now)}")
        if condition is not None or tag.history:
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------- get tables


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as kubectl's tab writer lays them out (min width 10, padding 3)."""
    widths = [
        max(10, max((len(r[i]) for r in [header, *rows]), default=0) + 3)
        for i in range(len(header))
    ]
    out = []
    for row in [header, *rows]:
        cells = [f"{cell:<{widths[i]}}" if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        out.append("".join(cells).rstrip())
    return "\n".join(out) + "\n"


def short_tags(names: Sequence[str], limit: int | None = 3) -> str:
    if limit is not None and len(names) > limit:
        return f"{','.join(names[:limit])} + {len(names) - limit} more..."
    return ",".join(names)


def is_rows(
    views: Sequence[StreamView], now: dt.datetime, *, wide: bool, all_namespaces: bool
) -> tuple[list[str], list[list[str]]]:
    header = ["NAME", "IMAGE REPOSITORY", "TAGS", "UPDATED"]
    if wide:
        header.append("FILE")
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = []
    for view in views:
        names = [t.name for t in view.tags]
        row = [
            view.name,
            view.image_repository,
            short_tags(names, None if wide else 3),
            ago(view.updated, now) if view.updated else "",
        ]
        if wide:
            row.append(view.file or "<lock only>")
        if all_namespaces:
            row.insert(0, view.namespace)
        rows.append(row)
    return header, rows


@dataclass(frozen=True)
class IsTagView:
    """One image stream tag (``stream:tag``) or image stream image (``stream@sha256``)."""

    stream: StreamView
    tag: TagView | None  # None for an image stream image
    item: HistoryItem | None  # the image shown (current one for a tag)

    @property
    def name(self) -> str:
        if self.tag is None:
            assert self.item is not None
            return f"{self.stream.name}@{self.item.digest}"
        return f"{self.stream.name}:{self.tag.name}"

    def to_object(self) -> dict[str, Any]:
        image = (
            {
                "metadata": {"name": self.item.digest},
                "dockerImageReference": self.item.image,
                "created": self.item.created,
            }
            if self.item
            else None
        )
        data: dict[str, Any] = {
            "apiVersion": IMAGE_API,
            "kind": "ImageStreamImage" if self.tag is None else "ImageStreamTag",
            "metadata": {"name": self.name, "namespace": self.stream.namespace},
        }
        if self.tag is not None:
            spec = None
            if self.tag.spec is not None and self.tag.from_kind:
                spec = {
                    "name": self.tag.name,
                    "from": {
                        k: v
                        for k, v in (
                            ("kind", self.tag.from_kind),
                            ("name", self.tag.from_name),
                            ("namespace", self.tag.from_namespace),
                        )
                        if v
                    },
                    "importPolicy": {
                        "scheduled": self.tag.scheduled,
                        "insecure": self.tag.insecure,
                        "importMode": self.tag.import_mode,
                    },
                    "referencePolicy": {"type": self.tag.reference_policy},
                    "reference": self.tag.reference,
                }
            data["tag"] = spec
            data["generation"] = self.item.generation if self.item else None
            lock = self.tag.lock
            data["conditions"] = [lock.condition.to_data()] if lock and lock.condition else []
        data["image"] = image
        return data


def istag_views(views: Sequence[StreamView]) -> list[IsTagView]:
    out: list[IsTagView] = []
    for view in views:
        for tag in sorted(view.tags, key=lambda t: t.name):
            out.append(IsTagView(view, tag, tag.history[0] if tag.history else None))
    return out


def find_istag(views: Sequence[StreamView], text: str) -> IsTagView | None:
    """``stream:tag`` (``latest`` when no tag) or ``stream@sha256:...``."""
    if "@" in text:
        stream, _, digest = text.partition("@")
        for view in views:
            if view.name != stream:
                continue
            for tag in view.tags:
                for item in tag.history:
                    if item.digest == digest:
                        return IsTagView(view, None, item)
        return None
    stream, _, tag_name = text.partition(":")
    tag_name = tag_name or "latest"
    for view in views:
        if view.name == stream:
            for tag in view.tags:
                if tag.name == tag_name:
                    return IsTagView(view, tag, tag.history[0] if tag.history else None)
    return None


def istag_rows(
    tags: Sequence[IsTagView], now: dt.datetime, *, wide: bool, all_namespaces: bool
) -> tuple[list[str], list[list[str]]]:
    header = ["NAME", "IMAGE REFERENCE", "UPDATED"]
    if wide:
        header += ["FROM", "SCHEDULED"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = []
    for view in tags:
        item = view.item
        row = [view.name, item.image if item else "", ago(item.created, now) if item else ""]
        if wide:
            tag = view.tag
            source = f"{tag.from_kind} {tag.from_name}" if tag and tag.from_kind else ""
            row += [source, ("true" if tag.scheduled else "false") if tag else ""]
        if all_namespaces:
            row.insert(0, view.stream.namespace)
        rows.append(row)
    return header, rows


@dataclass(frozen=True)
class ImageView:
    digest: str
    image: str  # a pull spec (the first seen)
    used_by: tuple[str, ...]  # namespace/stream:tag whose history holds it

    def to_object(self) -> dict[str, Any]:
        return {
            "apiVersion": IMAGE_API,
            "kind": "Image",
            "metadata": {"name": self.digest},
            "dockerImageReference": self.image,
            "usedBy": list(self.used_by),
        }


def image_views(lock: Lock, namespace: str | None) -> list[ImageView]:
    found: dict[str, tuple[str, list[str]]] = {}
    for ref in sorted(lock.tags):
        if namespace is not None and ref.namespace != namespace:
            continue
        for item in lock.tags[ref].history:
            _image, users = found.setdefault(item.digest, (item.image, []))
            if str(ref) not in users:
                users.append(str(ref))
    return [ImageView(d, found[d][0], tuple(found[d][1])) for d in sorted(found)]


def image_rows(images: Sequence[ImageView], *, wide: bool) -> tuple[list[str], list[list[str]]]:
    header = ["NAME", "IMAGE REFERENCE"]
    if wide:
        header.append("USED BY")
    rows = []
    for image in images:
        row = [image.digest, image.image]
        if wide:
            row.append(",".join(image.used_by))
        rows.append(row)
    return header, rows


def tag_ref(view: StreamView, tag: TagView) -> TagRef:
    return TagRef(view.namespace, view.name, tag.name)
