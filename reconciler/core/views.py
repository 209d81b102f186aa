"""The view model ``describe`` and ``get`` show: image streams, their tags and images,
built from the manifests and the lock as OpenShift would report them (``status.tags``).

Pure: manifests, lock and ``now`` in; data out. Must not lay out text: that is
``reconciler.core.describe``'s and ``reconciler.core.tables``' job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.lockfile import HistoryItem, Lock, TagLock
from reconciler.core.manifests import ManifestObject
from reconciler.core.references import InvalidReference, expand_digest, parse_image_reference
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.streams import (
    DOCKER_IMAGE,
    LOCAL,
    TagRef,
    TagSpec,
    stream_tags,
)
from reconciler.core.times import ago, parse_time

# apiVersion of the image objects ``get -o json`` shows.
IMAGE_API = "image.openshift.io/v1"


@dataclass(frozen=True)
class TagView:
    """One tag of a stream: its spec tag from the manifest and its lock entry, either
    of which may be None. The properties read the spec first, then the lock's source (a tag
    only the lock still has), then OpenShift's default."""

    name: str
    spec: TagSpec | None  # None: only in the lock (e.g. a tag removed from the manifest)
    lock: TagLock | None

    @property
    def history(self) -> tuple[HistoryItem, ...]:
        """The lock's history, newest first; empty without a lock entry."""
        return self.lock.history if self.lock else ()

    @property
    def updated(self) -> str | None:
        """When the tag last moved (its newest history item); None when it never
        resolved."""
        return self.history[0].created if self.history else None

    @property
    def from_kind(self) -> str | None:
        """``from.kind``; None when the spec tag has no ``from`` or nothing knows the tag."""
        if self.spec is not None:
            return self.spec.from_kind
        return self.lock.source.kind if self.lock else None

    @property
    def from_name(self) -> str:
        """``from.name``; "" when unknown."""
        if self.spec is not None:
            return self.spec.from_name
        return self.lock.source.name if self.lock else ""

    @property
    def from_namespace(self) -> str | None:
        """``from.namespace``; None when not given."""
        if self.spec is not None:
            return self.spec.from_namespace
        return self.lock.source.namespace if self.lock else None

    @property
    def scheduled(self) -> bool:
        """``importPolicy.scheduled``; False when unknown."""
        return self.spec.scheduled if self.spec else bool(self.lock and self.lock.source.scheduled)

    @property
    def insecure(self) -> bool:
        """``importPolicy.insecure``; False when unknown."""
        return self.spec.insecure if self.spec else bool(self.lock and self.lock.source.insecure)

    @property
    def reference(self) -> bool:
        """``reference``; False when unknown."""
        return self.spec.reference if self.spec else bool(self.lock and self.lock.source.reference)

    @property
    def reference_policy(self) -> str:
        """``referencePolicy.type``; ``Source`` when unknown."""
        if self.spec:
            return self.spec.reference_policy
        return self.lock.source.reference_policy if self.lock else "Source"

    @property
    def import_mode(self) -> str:
        """``importPolicy.importMode``; ``Legacy`` when unknown."""
        if self.spec:
            return self.spec.import_mode
        return self.lock.source.import_mode if self.lock else "Legacy"

    def to_data(self, now: dt.datetime) -> dict[str, Any]:
        """Plain data for ``describe -o json``: spec, pin, history (each item with its age
        at ``now``) and conditions."""
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
            **self._choice_data(now),
        }

    def _choice_data(self, now: dt.datetime) -> dict[str, Any]:
        """How the image is chosen, as the lock records it: the version policy and its
        pick, the minimum age and what waits it out, the hold."""
        lock = self.lock
        source = lock.source if lock else None
        return {
            "policy": dict(source.policy.to_flow()) if source and source.policy else None,
            "chosen": dict(lock.chosen.to_flow()) if lock and lock.chosen else None,
            "minimumAge": source.minimum_age if source else None,
            "waiting": [
                {**item.to_flow(), "age": ago(item.first_seen, now)}
                for item in (lock.waiting if lock else ())
            ],
            "hold": dict(lock.hold.to_flow()) if lock and lock.hold else None,
        }


@dataclass(frozen=True)
class StreamView:
    """One image stream as ``describe`` and ``get`` show it: from its manifest (``file``
    None when only the lock knows it) and the lock. :func:`stream_view` builds it, with
    ``tags`` in oc's order (newest update first)."""

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
        """How many distinct digests the tags' histories hold."""
        return len({item.digest for tag in self.tags for item in tag.history})

    @property
    def created(self) -> str | None:
        """The earliest time in any tag's history; None when no tag ever resolved."""
        items = [item for tag in self.tags for item in tag.history]
        return min(items, key=_first_seen).created if items else None

    @property
    def updated(self) -> str | None:
        """The latest tag update; None when no tag ever resolved."""
        times = [t.updated for t in self.tags if t.updated]
        return (
            max(times, key=lambda t: parse_time(t) or dt.datetime.min.replace(tzinfo=dt.UTC))
            if times
            else None
        )

    def to_data(self, now: dt.datetime) -> dict[str, Any]:
        """Plain data for ``describe -o json``, ages computed at ``now``."""
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
    """The view of stream ``namespace/name``: its manifest ``obj`` (None when only the
    lock knows it) joined with the lock's entries for it, tags in oc's order."""
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


@dataclass(frozen=True)
class IsTagView:
    """One image stream tag (``stream:tag``) or image stream image (``stream@sha256``)."""

    stream: StreamView
    tag: TagView | None  # None for an image stream image
    item: HistoryItem | None  # the image shown (current one for a tag)

    @property
    def name(self) -> str:
        """``stream:tag``, or ``stream@sha256:...`` for an image stream image."""
        if self.tag is None:
            assert self.item is not None
            return f"{self.stream.name}@{self.item.digest}"
        return f"{self.stream.name}:{self.tag.name}"

    def to_object(self) -> dict[str, Any]:
        """The ImageStreamTag or ImageStreamImage as ``oc get -o json`` shows it, built
        from the manifest and the lock."""
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
    """Every tag of ``views`` with its current image (None when never resolved): views
    in the order given, tags by name."""
    out: list[IsTagView] = []
    for view in views:
        for tag in sorted(view.tags, key=lambda t: t.name):
            out.append(IsTagView(view, tag, tag.history[0] if tag.history else None))
    return out


def expand_isimage(views: list[StreamView], text: str) -> str:
    """``stream@sha256:<prefix>`` with the prefix expanded to the one digest of the
    stream's history it starts; other names unchanged."""
    stream, at, digest = text.partition("@")
    if not at:
        return text
    known = (
        item.digest
        for view in views
        if view.name == stream
        for tag in view.tags
        for item in tag.history
    )
    return f"{stream}@{expand_digest(digest, known, text)}"


def _first_seen(item: HistoryItem) -> dt.datetime:
    """Sort key: when the lock saw the item (an unreadable time sorts last)."""
    return parse_time(item.created) or dt.datetime.max.replace(tzinfo=dt.UTC)


def find_istag(views: Sequence[StreamView], text: str) -> IsTagView | None:
    """``stream:tag`` (``latest`` when no tag) or ``stream@sha256:...``. An image that
    several tags hold is its earliest history item: when the stream first had it."""
    if "@" in text:
        stream, _, digest = text.partition("@")
        for view in views:
            if view.name != stream:
                continue
            items = [i for tag in view.tags for i in tag.history if i.digest == digest]
            if items:
                return IsTagView(view, None, min(items, key=_first_seen))
        return None
    stream, _, tag_name = text.partition(":")
    tag_name = tag_name or "latest"
    for view in views:
        if view.name == stream:
            for tag in view.tags:
                if tag.name == tag_name:
                    return IsTagView(view, tag, tag.history[0] if tag.history else None)
    return None


@dataclass(frozen=True)
class ImageView:
    """One image the lock's histories hold: its digest, a pull spec for it, and the
    tags whose history holds it."""

    digest: str
    image: str  # a pull spec: its source's (see _image_reference)
    used_by: tuple[str, ...]  # namespace/stream:tag whose history holds it

    def to_object(self) -> dict[str, Any]:
        """The image as an ``Image`` object, plus ``usedBy``."""
        return {
            "apiVersion": IMAGE_API,
            "kind": "Image",
            "metadata": {"name": self.digest},
            "dockerImageReference": self.image,
            "usedBy": list(self.used_by),
        }


def _image_reference(entry: TagLock, item: HistoryItem) -> tuple[int, str]:
    """How ``get images`` names ``item``, with its rank (lower wins). As an OpenShift
    Image's ``dockerImageReference``, it is where the image was imported from: a tag's
    ``referencePolicy: Local`` changes how that tag is pulled, not what the image is. So a
    Local tag's current image is named by its source repository (rank 0, like a Source
    pin); an older image of it, whose source the lock no longer says, by the local
    registry path (rank 1: any other tag's name for it wins)."""
    if entry.source.reference_policy != LOCAL:
        return 0, item.image
    if entry.source.kind == DOCKER_IMAGE and entry.resolved_from and item.digest == entry.digest:
        try:
            source = parse_image_reference(entry.resolved_from)
        except InvalidReference:
            return 1, item.image
        return 0, f"{source.name}@{item.digest}"
    return 1, item.image


def image_views(lock: Lock, namespace: str | None) -> list[ImageView]:
    """Every digest in the histories of ``namespace``'s tags (every namespace when
    None), sorted by digest; users in tag order. Each image is named as the first tag
    (in tag order) that pins it through its source names it (see
    :func:`_image_reference`): another stream's reference policy never changes it."""
    found: dict[str, tuple[tuple[int, str], list[str]]] = {}
    for ref in sorted(lock.tags):
        if namespace is not None and ref.namespace != namespace:
            continue
        entry = lock.tags[ref]
        for item in entry.history:
            reference = _image_reference(entry, item)
            best, users = found.setdefault(item.digest, (reference, []))
            if reference[0] < best[0]:
                found[item.digest] = (reference, users)
            if str(ref) not in users:
                users.append(str(ref))
    return [ImageView(d, found[d][0][1], tuple(found[d][1])) for d in sorted(found)]


def tag_ref(view: StreamView, tag: TagView) -> TagRef:
    """The TagRef of ``tag`` in ``view``."""
    return TagRef(view.namespace, view.name, tag.name)
