"""The lockfile model (``images.lock.yaml``): for every image stream tag, where it comes
from, the digest it is pinned to, its history (newest first, like OpenShift's
``status.tags[].items[]``) and, when the last resolve failed, a failure condition; plus a
fingerprint of each consumer's spec, so ConfigChange triggers fire only on real change.

Owns rendering and parsing. Rendering is deterministic: sorted keys, fixed formatting,
no "last checked" times, so "nothing changed" is byte equality of the rendered lock.

Two formats are read; the second is written. ``reconciler.imagestreams.io/v1`` spelled
every field in block style. ``v2`` (issue 12) is the same model, smaller and faster to
read: a tag's ``from`` and ``importPolicy`` and each history item on one line, a history
item's ``image`` left out when it is the tag's image repository at that digest, and
``source`` left out when it is the tag's ``from.name`` (a resolved DockerImage tag).
Parsing fills in what was left out, so both give the same model; a v1 lock is kept as
it is until a pass changes something in it, then written as v2. A v2 tag may also carry
the records of how its image was chosen (``policy``, ``minimumAge``, ``chosen``, ``hold``,
``waiting``: :mod:`reconciler.core.lockrecords`), one line each; v1 has none.
Must not decide what the lock says (``reconciler.core.resolution`` does) nor read or write
the file (the pass and the verbs do).

Over 500 lines on purpose: writing and reading are the two halves of one format (a field
written must be read back the same, in v2 and v1 alike), kept side by side so that they
change together; the field checks they share are in ``lockfields.py`` and the records
of how a tag was chosen in ``lockrecords.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from reconciler.core import lockfields, lockrecords, yamlfast, yamlguard
from reconciler.core.errors import PermanentError
from reconciler.core.lockfields import IMPORT_MODES, REFERENCE_POLICIES, SOURCE_KINDS, Path
from reconciler.core.lockrecords import ChosenRecord, HoldRecord, PolicySpec, WaitingItem
from reconciler.core.manifests import ObjectKey
from reconciler.core.memo import pickled_by_fields
from reconciler.core.streams import TagRef
from reconciler.core.yamltext import Flow, dump_machine_yaml, machine_yaml

# apiVersion of trigger records, and of lockfiles before issue 12 (still read).
API_VERSION = "reconciler.imagestreams.io/v1"
# apiVersion of the lockfiles we write.
LOCK_API_VERSION = "reconciler.imagestreams.io/v2"
_LOCK_FORMATS = {API_VERSION: 1, LOCK_API_VERSION: 2}
LOCK_KIND = "ImageLock"
# The comment every rendered lock starts with.
HEADER = (
    "# Written by imagestream-reconciler from the manifests in this repo and what the\n"
    "# registries answered. Do not edit by hand: it is recomputed on every pass.\n"
)
# The condition type of a tag's import result, as OpenShift names it.
IMPORT_SUCCESS = "ImportSuccess"
# The condition type of the signed-image gate (see reconciler.core.signatures).
SIGNATURE_VERIFIED = "SignatureVerified"


class LockfileError(PermanentError):
    """The committed lockfile cannot be read. The pass stops rather than overwrite it:
    its history is the only record of what was deployed before."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One entry of a tag's history: a digest the tag pointed at, its pinned pull spec,
    when the reconciler first saw it there, and its generation (1, 2, ... per tag)."""

    digest: str
    image: str  # the pinned pull spec
    created: str  # RFC 3339, when the reconciler first saw the tag at this digest
    generation: int

    def to_data(self) -> dict[str, Any]:
        """Plain data in the lock's field order."""
        return {
            "digest": self.digest,
            "image": self.image,
            "created": self.created,
            "generation": self.generation,
        }


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Condition:
    """Why the last resolve failed, shaped like OpenShift's tag condition."""

    reason: str
    message: str
    last_transition: str
    type: str = IMPORT_SUCCESS
    status: str = "False"

    def to_data(self) -> dict[str, Any]:
        """Plain data in OpenShift's field names and order (``lastTransitionTime``)."""
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition,
        }


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class SignatureRecord:
    """Which configured key verified the pinned digest's signature: the key's name and
    the SHA-256 of its DER SubjectPublicKeyInfo (so a different key under the same name
    is not taken for the one that verified), and ``signed_digest`` when the signature
    names the index the pinned platform image was chosen from rather than the image."""

    key: str
    public_key: str  # sha256:<hex> of the key's DER SubjectPublicKeyInfo
    signed_digest: str | None = None

    def to_data(self) -> dict[str, Any]:
        """Plain data: ``key``, ``publicKey``, and ``signedDigest`` only when set."""
        data: dict[str, Any] = {"key": self.key, "publicKey": self.public_key}
        if self.signed_digest:
            data["signedDigest"] = self.signed_digest
        return data


@pickled_by_fields
@dataclass(frozen=True, slots=True)
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
    # A version policy (annotations on the spec tag): ``name`` is then the repository
    # whose tags the policy chooses from, without a tag.
    policy: PolicySpec | None = None
    minimum_age: str | None = None  # e.g. "24h": new digests wait this long to be pinned

    def to_data(self, flow: bool = False) -> dict[str, Any]:
        """Plain data as the lock writes a tag's spec: ``from``, ``importPolicy`` (with
        ``importMode`` always, the flags only when true), ``referencePolicy``, ``reference``
        only when true, and how the tag is chosen. ``flow``: ``from``, ``importPolicy`` and
        ``policy`` as the one-line mappings a v2 lock writes."""
        make: type[dict[str, Any]] = Flow if flow else dict
        origin = make(kind=self.kind, name=self.name)
        if self.namespace:
            origin["namespace"] = self.namespace
        policy = make(importMode=self.import_mode)
        if self.scheduled:
            policy["scheduled"] = True
        if self.insecure:
            policy["insecure"] = True
        out: dict[str, Any] = {
            "from": origin,
            "importPolicy": policy,
            "referencePolicy": self.reference_policy,
        }
        if self.reference:
            out["reference"] = True
        if self.policy is not None:
            out["policy"] = make(self.policy.to_flow())
        if self.minimum_age is not None:
            out["minimumAge"] = self.minimum_age
        return out


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class TagLock:
    """One tag's lock entry: its source, and what it is pinned to (``digest`` and
    ``image``, None until a resolve first succeeds and for ``reference`` tags), its history
    newest first, and ``condition``, set while the last resolve failed."""

    source: TagSource
    resolved_from: str | None = None  # the fully qualified registry reference asked for
    digest: str | None = None
    image: str | None = None
    history: tuple[HistoryItem, ...] = ()
    condition: Condition | None = None
    # Which key verified the pinned digest (tags that require a signature); None else.
    signature: SignatureRecord | None = None
    # How the pin was chosen (policy tags), what waits out the minimum age, the hold.
    chosen: ChosenRecord | None = None
    waiting: tuple[WaitingItem, ...] = ()
    hold: HoldRecord | None = None

    def to_data(self) -> dict[str, Any]:
        """Plain data: the source's fields, then the pin (and the key that verified it),
        history and condition; absent values left out."""
        data = self.source.to_data()
        if self.resolved_from:
            data["source"] = self.resolved_from
        if self.digest:
            data["digest"] = self.digest
        if self.image:
            data["image"] = self.image
        if self.signature:
            data["signature"] = self.signature.to_data()
        data.update(_choice_data(self))
        if self.history:
            data["history"] = [h.to_data() for h in self.history]
        if self.condition:
            data["conditions"] = [self.condition.to_data()]
        return data

    def moved_to(self, digest: str, image: str, now: str) -> TagLock:
        """The tag now points at ``digest``: a new history item on top, condition cleared
        (and the signature record, which was about the old digest)."""
        if digest == self.digest:
            if image == self.image and self.condition is None:
                return self  # nothing moved: the same entry
            return replace(self, image=image, condition=None)
        generation = (self.history[0].generation + 1) if self.history else 1
        item = HistoryItem(digest=digest, image=image, created=now, generation=generation)
        return replace(
            self,
            digest=digest,
            image=image,
            history=(item, *self.history),
            condition=None,
            signature=None,
        )

    def failed(
        self, reason: str, message: str, now: str, condition_type: str = IMPORT_SUCCESS
    ) -> TagLock:
        """The resolve failed: keep the last good digest, record the condition. An
        unchanged failure keeps its original time, so a failing tag does not rewrite the
        lock on every pass."""
        old = self.condition
        if (
            old is not None
            and old.type == condition_type
            and old.reason == reason
            and old.message == message
        ):
            return self
        when = old.last_transition if old is not None else now
        return replace(self, condition=Condition(reason, message, when, type=condition_type))


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Lock:
    """The whole lockfile: each tag's entry by TagRef, each consumer's spec hash by
    ObjectKey. ``Lock()`` is what a repo without a lockfile, or with an empty one, has."""

    tags: Mapping[TagRef, TagLock] = field(default_factory=dict)
    consumers: Mapping[ObjectKey, str] = field(default_factory=dict)  # key -> spec hash

    def get(self, ref: TagRef) -> TagLock | None:
        """The entry for ``ref``, or None when the lock has no such tag."""
        return self.tags.get(ref)


def _default_source(source: TagSource, digest: str | None) -> str | None:
    """The ``source`` a v2 lock leaves out: a resolved DockerImage tag asked for its
    ``from.name`` as written."""
    return source.name if source.kind == "DockerImage" and digest else None


def _default_item_image(image: str | None, digest: str) -> str | None:
    """The history ``image`` a v2 lock leaves out: the tag's image repository at that
    digest."""
    if not image or "@" not in image:
        return None
    return f"{image.rsplit('@', 1)[0]}@{digest}"


def _tag_to_data(tag: TagLock) -> dict[str, Any]:
    """One tag as a v2 lock writes it (see the module's docstring)."""
    source = tag.source
    data = source.to_data(flow=True)
    if tag.resolved_from != _default_source(source, tag.digest):
        data["source"] = tag.resolved_from
    if tag.digest:
        data["digest"] = tag.digest
    if tag.image:
        data["image"] = tag.image
    if tag.signature:
        data["signature"] = tag.signature.to_data()
    data.update(_choice_data(tag))
    if tag.history:
        items = []
        for h in tag.history:
            item = Flow(digest=h.digest)
            if h.image != _default_item_image(tag.image, h.digest):
                item["image"] = h.image
            item.update(created=h.created, generation=h.generation)
            items.append(item)
        data["history"] = items
    if tag.condition:
        data["conditions"] = [tag.condition.to_data()]
    return data


def _choice_data(tag: TagLock) -> dict[str, Any]:
    """How the pin was chosen, the candidates waiting, the hold: one line each."""
    data: dict[str, Any] = {}
    if tag.chosen is not None:
        data["chosen"] = tag.chosen.to_flow()
    if tag.hold is not None:
        data["hold"] = tag.hold.to_flow()
    if tag.waiting:
        data["waiting"] = [item.to_flow() for item in tag.waiting]
    return data


def lock_to_data(lock: Lock) -> dict[str, Any]:
    """Plain data in a fixed order: namespaces, streams and tags sorted by name, each
    tag's fields in reading order (where from, what it is pinned to, history)."""
    namespaces: dict[str, Any] = {}
    for ref in sorted(lock.tags):
        streams = namespaces.setdefault(ref.namespace, {}).setdefault("imageStreams", {})
        streams.setdefault(ref.stream, {})[ref.tag] = _tag_to_data(lock.tags[ref])
    for key in sorted(lock.consumers):
        consumers = namespaces.setdefault(key.namespace, {}).setdefault("consumers", {})
        consumers[f"{key.kind}/{key.name}"] = {"specHash": lock.consumers[key]}
    ordered = {name: namespaces[name] for name in sorted(namespaces)}
    return {"apiVersion": LOCK_API_VERSION, "kind": LOCK_KIND, "namespaces": ordered}


def render_lock(lock: Lock) -> bytes:
    """The lockfile's bytes, header comment first. Deterministic: equal locks give
    equal bytes whatever order they were built in, so "nothing changed" is byte
    equality."""
    return dump_machine_yaml(lock_to_data(lock), HEADER)


def _tag_from_data(data: Any, where: str, path: Path, version: int = 2) -> TagLock:
    if not isinstance(data, dict):
        raise lockfields.FieldError(f"{where}: not a mapping", path)
    image = lockfields.opt(data, "image", where, path)
    source = lockfields.req(data, "from", where, path, dict)
    from_where, from_path = f"{where}.from", (*path, "from")
    policy = lockfields.opt(data, "importPolicy", where, path, dict) or {}
    policy_where, policy_path = f"{where}.importPolicy", (*path, "importPolicy")
    history = []
    for i, raw in enumerate(lockfields.opt(data, "history", where, path, list) or []):
        w, p = f"{where}.history[{i}]", (*path, "history", i)
        if not isinstance(raw, dict):
            raise lockfields.FieldError(f"{w}: not a mapping", p)
        digest = lockfields.req(raw, "digest", w, p)
        default = _default_item_image(image, digest) if version >= 2 else None
        item = HistoryItem(
            digest=digest,
            image=lockfields.req(raw, "image", w, p)
            if default is None or "image" in raw
            else default,
            created=lockfields.req(raw, "created", w, p),
            generation=lockfields.req(raw, "generation", w, p, int),
        )
        lockfields.check_digest(item.digest, "digest", w, p)
        lockfields.check_time(item.created, "created", w, p)
        history.append(item)
    condition = None
    conditions = lockfields.opt(data, "conditions", where, path, list) or []
    if conditions:
        raw = conditions[0]
        w, p = f"{where}.conditions[0]", (*path, "conditions", 0)
        if not isinstance(raw, dict):
            raise lockfields.FieldError(f"{w}: not a mapping", p)
        condition = Condition(
            reason=lockfields.req(raw, "reason", w, p),
            message=lockfields.req(raw, "message", w, p),
            last_transition=lockfields.req(raw, "lastTransitionTime", w, p),
            type=lockfields.opt(raw, "type", w, p) or IMPORT_SUCCESS,
        )
        lockfields.check_time(condition.last_transition, "lastTransitionTime", w, p)
    signature = None
    raw_signature = lockfields.opt(data, "signature", where, path, dict)
    if raw_signature is not None:
        w, p = f"{where}.signature", (*path, "signature")
        signature = SignatureRecord(
            key=lockfields.req(raw_signature, "key", w, p),
            public_key=lockfields.req(raw_signature, "publicKey", w, p),
            signed_digest=lockfields.opt(raw_signature, "signedDigest", w, p),
        )
        lockfields.check_digest(signature.public_key, "publicKey", w, p)
        lockfields.check_digest(signature.signed_digest, "signedDigest", w, p)
    raw_policy = lockfields.opt(data, "policy", where, path, dict)
    policy_spec = (
        None
        if raw_policy is None
        else lockrecords.policy_from_data(raw_policy, f"{where}.policy", (*path, "policy"))
    )
    raw_chosen = lockfields.opt(data, "chosen", where, path, dict)
    raw_hold = lockfields.opt(data, "hold", where, path, dict)
    waiting = tuple(
        lockrecords.waiting_from_data(raw, f"{where}.waiting[{i}]", (*path, "waiting", i))
        for i, raw in enumerate(lockfields.opt(data, "waiting", where, path, list) or [])
    )
    tag_source = TagSource(
        kind=lockfields.req(source, "kind", from_where, from_path),
        name=lockfields.req(source, "name", from_where, from_path),
        namespace=lockfields.opt(source, "namespace", from_where, from_path),
        scheduled=lockfields.flag(policy, "scheduled", policy_where, policy_path),
        insecure=lockfields.flag(policy, "insecure", policy_where, policy_path),
        import_mode=lockfields.one_of(
            policy, "importMode", IMPORT_MODES, "Legacy", policy_where, policy_path
        ),
        reference_policy=lockfields.one_of(
            data, "referencePolicy", REFERENCE_POLICIES, "Source", where, path
        ),
        reference=lockfields.flag(data, "reference", where, path),
        policy=policy_spec,
        minimum_age=lockfields.opt(data, "minimumAge", where, path),
    )
    digest = lockfields.opt(data, "digest", where, path)
    lock = TagLock(
        source=tag_source,
        resolved_from=(
            lockfields.opt(data, "source", where, path)
            if version < 2 or "source" in data
            else _default_source(tag_source, digest)
        ),
        digest=digest,
        image=image,
        history=tuple(history),
        condition=condition,
        signature=signature,
        chosen=(
            None
            if raw_chosen is None
            else lockrecords.chosen_from_data(raw_chosen, f"{where}.chosen", (*path, "chosen"))
        ),
        waiting=waiting,
        hold=(
            None
            if raw_hold is None
            else lockrecords.hold_from_data(raw_hold, f"{where}.hold", (*path, "hold"))
        ),
    )
    lockfields.one_of(source, "kind", SOURCE_KINDS, None, from_where, from_path)
    lockfields.check_digest(lock.digest, "digest", where, path)
    return lock


def _lock_from_data(data: Any) -> Lock:
    if data is None:
        return Lock()
    if not isinstance(data, dict) or data.get("kind") != LOCK_KIND:
        path: Path = ("kind",) if isinstance(data, dict) else ()
        raise lockfields.FieldError(f"not an {LOCK_KIND} (kind: {LOCK_KIND} missing)", path)
    version = _LOCK_FORMATS.get(data.get("apiVersion"))  # type: ignore[arg-type]
    if version is None:
        raise lockfields.FieldError(
            f"unsupported apiVersion {data.get('apiVersion')!r}", ("apiVersion",)
        )
    tags: dict[TagRef, TagLock] = {}
    consumers: dict[ObjectKey, str] = {}
    for namespace, body in (lockfields.opt(data, "namespaces", "lock", (), dict) or {}).items():
        w, p = f"namespaces.{namespace}", ("namespaces", namespace)
        if not isinstance(body, dict):
            raise lockfields.FieldError(f"{w}: not a mapping", p)
        for stream, stream_tags in (lockfields.opt(body, "imageStreams", w, p, dict) or {}).items():
            sw, sp = f"{w}.imageStreams.{stream}", (*p, "imageStreams", stream)
            if not isinstance(stream_tags, dict):
                raise lockfields.FieldError(f"{sw}: not a mapping", sp)
            for tag, tag_data in stream_tags.items():
                ref = TagRef(str(namespace), str(stream), str(tag))
                tags[ref] = _tag_from_data(tag_data, f"{sw}.{tag}", (*sp, tag), version)
        for name, consumer in (lockfields.opt(body, "consumers", w, p, dict) or {}).items():
            kind, _, obj_name = str(name).partition("/")
            where, cp = f"{w}.consumers.{name}", (*p, "consumers", name)
            if not obj_name or not isinstance(consumer, dict):
                raise lockfields.FieldError(f"{where}: expected Kind/name with a specHash", cp)
            consumers[ObjectKey(kind, str(namespace), obj_name)] = lockfields.req(
                consumer, "specHash", where, cp
            )
    return Lock(tags=tags, consumers=consumers)


def _locate(text: bytes | str, path: Path) -> tuple[int, int]:
    """Line and column (1-based) of ``path`` in the text: the value of its last step when
    that is a scalar, else the key; as far as the path exists (a missing field points at
    the mapping that lacks it). A second, round-trip parse: only ever on the error path."""
    try:
        node = YAML(typ="rt").load(text)
    except Exception:  # the safe parse succeeded; be defensive all the same
        return 1, 1
    line, column = 0, 0
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, CommentedMap) and step in node:
            value = node[step]
            scalar = not isinstance(value, CommentedMap | CommentedSeq)
            line, column = node.lc.value(step) if last and scalar else node.lc.key(step)
            node = value
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
            line, column = node.lc.item(step)
            node = node[step]
        else:
            break
    return line + 1, column + 1


def parse_lock(text: bytes | str) -> Lock:
    """Read a committed lockfile; an empty text is ``Lock()``. Raises LockfileError naming
    the field, at its line, rather than guess: the pass must not overwrite history. The
    text passes the limits of :mod:`reconciler.core.yamlguard` first (all but the node
    count: a lock grows with the repo)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = exc.object[: exc.start].count(b"\n") + 1
            raise LockfileError("not UTF-8 text", line) from None
    # What we write is read by the fast reader, which takes only our dialect (no alias,
    # no control character, nesting far under the limits); anything else passes the
    # limits first, then the full YAML loader.
    data = yamlfast.load(text)
    if data is yamlfast.NOT_OURS:
        refusal = yamlguard.check_yaml(text, max_nodes=None)
        if refusal is not None:
            raise LockfileError(refusal.message, refusal.line, refusal.column)
    try:
        if data is yamlfast.NOT_OURS:
            data = machine_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise LockfileError(
            f"YAML error: {exc.problem}",
            (mark.line + 1) if mark else 1,
            (mark.column + 1) if mark else 1,
        ) from exc
    except yamlguard.LOAD_ERRORS as exc:
        problem = yamlguard.describe_error(exc, text)
        raise LockfileError(problem.message, problem.line, problem.column) from exc
    try:
        return _lock_from_data(data)
    except lockfields.FieldError as exc:
        line, column = _locate(text, exc.path)
        raise LockfileError(exc.message, line, column) from None
