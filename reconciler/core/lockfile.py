"""The lockfile model (``images.lock.yaml``): for every image stream tag, where it comes
from, the digest it is pinned to, its history (newest first, like OpenShift's
``status.tags[].items[]``) and, when the last resolve failed, a failure condition; plus a
fingerprint of each consumer's spec, so ConfigChange triggers fire only on real change.

Owns rendering and parsing. Rendering is deterministic: sorted keys, fixed formatting,
no "last checked" times, so "nothing changed" is byte equality of the rendered lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reconciler.core.manifests import ObjectKey
from reconciler.core.streams import TagRef
from reconciler.core.yamltext import dump_machine_yaml, load_machine_yaml

API_VERSION = "reconciler.imagestreams.io/v1"
LOCK_KIND = "ImageLock"
HEADER = (
    "# Written by imagestream-reconciler from the manifests in this repo and what the\n"
    "# registries answered. Do not edit by hand: it is recomputed on every pass.\n"
)
IMPORT_SUCCESS = "ImportSuccess"


class LockfileError(Exception):
    """The committed lockfile cannot be read. The pass stops rather than overwrite it:
    its history is the only record of what was deployed before."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class HistoryItem:
    digest: str
    image: str  # the pinned pull spec
    created: str  # RFC 3339, when the reconciler first saw the tag at this digest
    generation: int

    def to_data(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "image": self.image,
            "created": self.created,
            "generation": self.generation,
        }


@dataclass(frozen=True)
class Condition:
    """Why the last resolve failed, shaped like OpenShift's tag condition."""

    reason: str
    message: str
    last_transition: str
    type: str = IMPORT_SUCCESS
    status: str = "False"

    def to_data(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition,
        }


@dataclass(frozen=True)
class TagSource:
    """What the manifest says the tag comes from: a change here is a spec change."""

    kind: str  # DockerImage | ImageStreamTag | ImageStreamImage | Push
    name: str
    namespace: str | None = None
    scheduled: bool = False
    insecure: bool = False
    import_mode: str = "Legacy"
    reference_policy: str = "Source"
    reference: bool = False

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.namespace:
            data["namespace"] = self.namespace
        policy: dict[str, Any] = {"importMode": self.import_mode}
        if self.scheduled:
            policy["scheduled"] = True
        if self.insecure:
            policy["insecure"] = True
        out: dict[str, Any] = {
            "from": data,
            "importPolicy": policy,
            "referencePolicy": self.reference_policy,
        }
        if self.reference:
            out["reference"] = True
        return out


@dataclass(frozen=True)
class TagLock:
    source: TagSource
    resolved_from: str | None = None  # the fully qualified registry reference asked for
    digest: str | None = None
    image: str | None = None
    history: tuple[HistoryItem, ...] = ()
    condition: Condition | None = None

    def to_data(self) -> dict[str, Any]:
        data = self.source.to_data()
        if self.resolved_from:
            data["source"] = self.resolved_from
        if self.digest:
            data["digest"] = self.digest
        if self.image:
            data["image"] = self.image
        if self.history:
            data["history"] = [h.to_data() for h in self.history]
        if self.condition:
            data["conditions"] = [self.condition.to_data()]
        return data

    def moved_to(self, digest: str, image: str, now: str) -> TagLock:
        """The tag now points at ``digest``: a new history item on top, condition cleared."""
        if digest == self.digest:
            return replace(self, image=image, condition=None)
        generation = (self.history[0].generation + 1) if self.history else 1
        item = HistoryItem(digest=digest, image=image, created=now, generation=generation)
        return replace(
            self, digest=digest, image=image, history=(item, *self.history), condition=None
        )

    def failed(self, reason: str, message: str, now: str) -> TagLock:
        """The resolve failed: keep the last good digest, record the condition. An
        unchanged failure keeps its original time, so a failing tag does not rewrite the
        lock on every pass."""
        old = self.condition
        if old is not None and old.reason == reason and old.message == message:
            return self
        when = old.last_transition if old is not None else now
        return replace(self, condition=Condition(reason, message, when))


@dataclass(frozen=True)
class Lock:
    tags: Mapping[TagRef, TagLock] = field(default_factory=dict)
    consumers: Mapping[ObjectKey, str] = field(default_factory=dict)  # key -> spec hash

    def get(self, ref: TagRef) -> TagLock | None:
        return self.tags.get(ref)


def lock_to_data(lock: Lock) -> dict[str, Any]:
    """Plain data in a fixed order: namespaces, streams and tags sorted by name, each
    tag's fields in reading order (where from, what it is pinned to, history)."""
    namespaces: dict[str, Any] = {}
    for ref in sorted(lock.tags):
        streams = namespaces.setdefault(ref.namespace, {}).setdefault("imageStreams", {})
        streams.setdefault(ref.stream, {})[ref.tag] = lock.tags[ref].to_data()
    for key in sorted(lock.consumers):
        consumers = namespaces.setdefault(key.namespace, {}).setdefault("consumers", {})
        consumers[f"{key.kind}/{key.name}"] = {"specHash": lock.consumers[key]}
    ordered = {name: namespaces[name] for name in sorted(namespaces)}
    return {"apiVersion": API_VERSION, "kind": LOCK_KIND, "namespaces": ordered}


def render_lock(lock: Lock) -> bytes:
    return dump_machine_yaml(lock_to_data(lock), HEADER)


def _req(data: Mapping[str, Any], key: str, where: str, kind: type = str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise LockfileError(f"{where}: field {key!r} missing or not a {kind.__name__}")
    return value


def _opt(data: Mapping[str, Any], key: str, where: str, kind: type = str) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise LockfileError(f"{where}: field {key!r} is not a {kind.__name__}")
    return value


def _tag_from_data(data: Any, where: str) -> TagLock:
    if not isinstance(data, dict):
        raise LockfileError(f"{where}: not a mapping")
    source = _req(data, "from", where, dict)
    policy = _opt(data, "importPolicy", where, dict) or {}
    history = []
    for i, raw in enumerate(_opt(data, "history", where, list) or []):
        w = f"{where}.history[{i}]"
        if not isinstance(raw, dict):
            raise LockfileError(f"{w}: not a mapping")
        history.append(
            HistoryItem(
                digest=_req(raw, "digest", w),
                image=_req(raw, "image", w),
                created=str(_req(raw, "created", w)),
                generation=_req(raw, "generation", w, int),
            )
        )
    condition = None
    conditions = _opt(data, "conditions", where, list) or []
    if conditions:
        raw = conditions[0]
        w = f"{where}.conditions[0]"
        if not isinstance(raw, dict):
            raise LockfileError(f"{w}: not a mapping")
        condition = Condition(
            reason=_req(raw, "reason", w),
            message=_req(raw, "message", w),
            last_transition=str(_req(raw, "lastTransitionTime", w)),
        )
    return TagLock(
        source=TagSource(
            kind=_req(source, "kind", f"{where}.from"),
            name=_req(source, "name", f"{where}.from"),
            namespace=_opt(source, "namespace", f"{where}.from"),
            scheduled=policy.get("scheduled") is True,
            insecure=policy.get("insecure") is True,
            import_mode=str(policy.get("importMode", "Legacy")),
            reference_policy=str(data.get("referencePolicy", "Source")),
            reference=data.get("reference") is True,
        ),
        resolved_from=_opt(data, "source", where),
        digest=_opt(data, "digest", where),
        image=_opt(data, "image", where),
        history=tuple(history),
        condition=condition,
    )


def parse_lock(text: bytes | str) -> Lock:
    """Read a committed lockfile. Raises LockfileError naming the line or field."""
    try:
        data = load_machine_yaml(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise LockfileError(
            f"YAML error: {exc.problem}",
            (mark.line + 1) if mark else 1,
            (mark.column + 1) if mark else 1,
        ) from exc
    except YAMLError as exc:
        raise LockfileError(f"YAML error: {exc}") from exc
    if data is None:
        return Lock()
    if not isinstance(data, dict) or data.get("kind") != LOCK_KIND:
        raise LockfileError(f"not an {LOCK_KIND} (kind: {LOCK_KIND} missing)")
    if data.get("apiVersion") != API_VERSION:
        raise LockfileError(f"unsupported apiVersion {data.get('apiVersion')!r}")
    tags: dict[TagRef, TagLock] = {}
    consumers: dict[ObjectKey, str] = {}
    for namespace, body in (_opt(data, "namespaces", "lock", dict) or {}).items():
        w = f"namespaces.{namespace}"
        if not isinstance(body, dict):
            raise LockfileError(f"{w}: not a mapping")
        for stream, stream_tags in (_opt(body, "imageStreams", w, dict) or {}).items():
            if not isinstance(stream_tags, dict):
                raise LockfileError(f"{w}.imageStreams.{stream}: not a mapping")
            for tag, tag_data in stream_tags.items():
                ref = TagRef(str(namespace), str(stream), str(tag))
                tags[ref] = _tag_from_data(tag_data, f"{w}.imageStreams.{stream}.{tag}")
        for name, consumer in (_opt(body, "consumers", w, dict) or {}).items():
            kind, _, obj_name = str(name).partition("/")
            where = f"{w}.consumers.{name}"
            if not obj_name or not isinstance(consumer, dict):
                raise LockfileError(f"{where}: expected Kind/name with a specHash")
            consumers[ObjectKey(kind, str(namespace), obj_name)] = _req(consumer, "specHash", where)
    return Lock(tags=tags, consumers=consumers)
