"""Trigger records: which rebuilds and redeploys a lock change makes due, as records
with ids derived from (consumer, tag, new digest) so that deriving them again never
duplicates one; plus their YAML form under ``triggers/``.

Pure: the caller passes the old and new lock, the consumers and ``now``; writing the
files and skipping ids that already exist is the shell's job.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from reconciler.core import yamlfast, yamlguard
from reconciler.core.consumers import Consumer
from reconciler.core.errors import PermanentError
from reconciler.core.lockfile import API_VERSION, Lock
from reconciler.core.manifests import BUILD_CONFIG, ObjectKey
from reconciler.core.objects import SHORT_KINDS
from reconciler.core.streams import TagRef
from reconciler.core.yamltext import dump_machine_yaml, machine_yaml

# A record's kind, its two types (OpenShift's trigger names) and its two statuses.
RECORD_KIND = "TriggerRecord"
IMAGE_CHANGE = "ImageChange"
CONFIG_CHANGE = "ConfigChange"
OPEN = "open"
ACKNOWLEDGED = "acknowledged"
_ID_RE = re.compile(r"[a-z0-9][a-z0-9.-]*")  # fullmatch: "$" takes a final "\n"


class TriggerRecordError(PermanentError, ValueError):
    """A file under triggers/ is not a trigger record we can read."""


@dataclass(frozen=True)
class TriggerRecord:
    """A rebuild or redeploy that a lock change made due, as committed under
    ``triggers/``. ``from_digest`` None: the consumer's first input; ``tag``, the digests
    and ``image`` are None for a ConfigChange. ``status`` goes from ``open`` to
    ``acknowledged`` (with its time); the id never changes."""

    id: str
    type: str  # ImageChange | ConfigChange
    consumer: ObjectKey
    tag: TagRef | None  # None for ConfigChange
    from_digest: str | None
    to_digest: str | None
    image: str | None
    automatic: bool
    container_names: tuple[str, ...]
    created: str
    status: str = OPEN
    acknowledged: str | None = None
    spec_hash: str | None = None  # ConfigChange: the consumer spec that was committed

    @property
    def action(self) -> str:
        """``rebuild`` for a BuildConfig, ``redeploy`` for a DeploymentConfig or a
        workload."""
        return "rebuild" if self.consumer.kind == BUILD_CONFIG else "redeploy"

    @property
    def filename(self) -> str:
        """The record's file name under ``triggers/``: ``<id>.yaml``."""
        return f"{self.id}.yaml"

    def summary(self) -> str:
        """One line for people: the action, the consumer and what changed."""
        if self.type == CONFIG_CHANGE:
            return f"{self.action} {self.consumer}: its spec changed"
        old = _short(self.from_digest) if self.from_digest else "(none)"
        return f"{self.action} {self.consumer}: {self.tag} {old} -> {_short(self.to_digest)}"

    def acknowledge(self, now: str) -> TriggerRecord:
        """A copy marked acknowledged at ``now`` (RFC 3339)."""
        return replace(self, status=ACKNOWLEDGED, acknowledged=now)

    def to_data(self) -> dict[str, Any]:
        """Plain data in the record file's field order; an ImageChange and a ConfigChange
        record each write only their own fields."""
        data: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": RECORD_KIND,
            "id": self.id,
            "type": self.type,
            "action": self.action,
            "consumer": {
                "kind": self.consumer.kind,
                "namespace": self.consumer.namespace,
                "name": self.consumer.name,
            },
        }
        if self.type == IMAGE_CHANGE:
            data["tag"] = str(self.tag)
            data["fromDigest"] = self.from_digest
            data["toDigest"] = self.to_digest
            data["image"] = self.image
            data["automatic"] = self.automatic
            if self.container_names:
                data["containerNames"] = list(self.container_names)
        else:
            data["specHash"] = self.spec_hash
        data["created"] = self.created
        data["status"] = self.status
        if self.acknowledged:
            data["acknowledged"] = self.acknowledged
        return data


def _short(digest: str | None) -> str:
    return (digest or "")[:19]


def record_id(consumer: ObjectKey, subject: str, digest: str, previous: str | None = None) -> str:
    """``dc-marsview-<12 hex>`` (``deploy-web-...`` for a Deployment: `oc`'s short kind
    names): a readable prefix and a hash of (consumer, tag, new
    digest, previous digest). The previous digest is in the material so that moving
    back to a digest the tag had before (a rollback) is a new record, not the old one."""
    material = f"{consumer.kind}/{consumer.namespace}/{consumer.name}|{subject}|{digest}"
    if previous:
        material += f"|from:{previous}"
    digest_hex = hashlib.sha256(material.encode()).hexdigest()[:12]
    prefix = SHORT_KINDS.get(consumer.kind, consumer.kind.lower())
    name = re.sub(r"[^a-z0-9.-]", "-", consumer.name.lower())[:40]
    return f"{prefix}-{name}-{digest_hex}"


def derive_triggers(
    old: Lock, new: Lock, consumers: Sequence[Consumer], now: str
) -> list[TriggerRecord]:
    """One record per consumer per input digest change (first resolution included), and
    one per ConfigChange consumer whose spec fingerprint changed. Two triggers of one
    consumer on one tag (two containers) make one record naming both containers; a
    paused trigger makes none."""
    records: dict[str, TriggerRecord] = {}
    rolled_out: set[ObjectKey] = set()  # consumers with an image record in this pass
    for consumer in consumers:
        for trigger in consumer.image_triggers:
            after = new.get(trigger.source)
            before = old.get(trigger.source)
            to_digest = after.digest if after else None
            # A consumer the lock has not seen yet (new, or invalid until now) has not
            # been fed its input: its first observation is a change, as in OpenShift.
            seen = consumer.key in old.consumers
            from_digest = before.digest if before and seen else None
            if to_digest is None or to_digest == from_digest:
                continue
            rid = record_id(consumer.key, str(trigger.source), to_digest, from_digest)
            names = trigger.container_names
            if rid in records:
                earlier = records[rid].container_names
                names = (*earlier, *(n for n in names if n not in earlier))
            rolled_out.add(consumer.key)
            records[rid] = TriggerRecord(
                id=rid,
                type=IMAGE_CHANGE,
                consumer=consumer.key,
                tag=trigger.source,
                from_digest=from_digest,
                to_digest=to_digest,
                image=after.image if after else None,
                automatic=trigger.automatic,
                container_names=names,
                created=now,
            )
        previous_hash = old.consumers.get(consumer.key)
        # A consumer seen for the first time rolls out once, as OpenShift deploys a new
        # DeploymentConfig once: its image records say it, a ConfigChange one would too.
        first_rollout = previous_hash is None and consumer.key in rolled_out
        if (
            consumer.config_change
            and previous_hash != consumer.spec_hash
            # The same spec fingerprinted another way (writeBack turned on or off, a
            # trigger made manual): the spec did not change.
            and previous_hash not in consumer.equivalent_hashes
            and not first_rollout
        ):
            rid = record_id(consumer.key, "ConfigChange", consumer.spec_hash, previous_hash)
            records[rid] = TriggerRecord(
                id=rid,
                type=CONFIG_CHANGE,
                consumer=consumer.key,
                tag=None,
                from_digest=None,
                to_digest=None,
                image=None,
                automatic=True,
                container_names=(),
                created=now,
                spec_hash=consumer.spec_hash,
            )
    return [records[k] for k in sorted(records)]


def record_from_data(data: Any, where: str) -> TriggerRecord:
    """A record from loaded YAML ``data``. Raises TriggerRecordError naming ``where``
    when it is not a TriggerRecord, a field is missing or malformed, or the id has
    characters a record id never has (it becomes a file name)."""
    if not isinstance(data, dict) or data.get("kind") != RECORD_KIND:
        raise TriggerRecordError(f"{where}: not a {RECORD_KIND}")
    try:
        consumer = data["consumer"]
        key = ObjectKey(str(consumer["kind"]), str(consumer["namespace"]), str(consumer["name"]))
        tag: TagRef | None = None
        if data.get("tag"):
            ns, _, rest = str(data["tag"]).partition("/")
            stream, _, name = rest.partition(":")
            tag = TagRef(ns, stream, name)
        rid = str(data["id"])
        if not _ID_RE.fullmatch(rid):
            raise TriggerRecordError(f"{where}: bad id {rid!r}")
        return TriggerRecord(
            id=rid,
            type=str(data["type"]),
            consumer=key,
            tag=tag,
            from_digest=_optional_text(data, "fromDigest"),
            to_digest=_optional_text(data, "toDigest"),
            image=_optional_text(data, "image"),
            automatic=data.get("automatic", True) is True,
            container_names=tuple(str(n) for n in data.get("containerNames") or ()),
            created=str(data["created"]),
            status=str(data.get("status", OPEN)),
            acknowledged=str(data["acknowledged"]) if data.get("acknowledged") else None,
            spec_hash=_optional_text(data, "specHash"),
        )
    except (KeyError, TypeError) as exc:
        raise TriggerRecordError(f"{where}: missing or malformed field {exc}") from exc


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(repr(key))
    return value


def parse_record(raw: bytes, file: str) -> TriggerRecord:
    """A record file's bytes. Raises TriggerRecordError, its message starting
    ``file:line:column:``, when the text is not UTF-8, breaks a limit of
    :mod:`reconciler.core.yamlguard`, is not YAML, or is not a record (those at 1:1, the
    document)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TriggerRecordError(f"{file}:{line}:1: not UTF-8 text") from None
    # Our own dialect goes through the fast reader (within the limits by construction);
    # anything else passes the limits first, then the full YAML loader.
    data = yamlfast.load(text)
    if data is yamlfast.NOT_OURS:
        refusal = yamlguard.check_yaml(text)
        if refusal is not None:
            raise TriggerRecordError(refusal.text(file))
    try:
        if data is yamlfast.NOT_OURS:
            data = machine_yaml().load(text)
    except yamlguard.LOAD_ERRORS as exc:
        raise TriggerRecordError(yamlguard.describe_error(exc, text).text(file)) from exc
    return record_from_data(data, f"{file}:1:1")


def render_record(record: TriggerRecord) -> bytes:
    """A record's file bytes. Deterministic: the same record gives the same bytes."""
    return dump_machine_yaml(record.to_data())
