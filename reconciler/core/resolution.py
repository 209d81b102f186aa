"""The resolution plan: from the valid manifests and the committed lock, which tags need
a registry answer this pass, and, given the answers, the desired lock.

Rules (OpenShift's, see DESIGN.md):
- a DockerImage tag is resolved when it first appears, when its spec changes, when the
  last attempt failed, and on every pass when it is ``scheduled``; otherwise it stays put;
- a tag with no ``from`` that a BuildConfig writes to (``output.to``) is read from the
  local registry on every pass, since builds push there;
- an ImageStreamTag alias follows its target, chains included;
- an ImageStreamImage tag pins the named image of another stream's history;
- tags of invalid streams keep their committed entries untouched;
- a failure keeps the last good digest and records a condition;
- a digest the signed-image gate refused is a failure like any other (its condition is
  ``SignatureVerified``); one it verified carries the key, which the lock records;
- a tag with a version policy is not asked about here: ``reconciler.core.choosing`` picks
  its upstream tag from a listing, and that pick is resolved like any tag; a held tag is
  not asked about at all (it keeps its digest).

Pure: registry answers come in as data, ``now`` as a string. Must not ask a registry:
the pass sends :func:`import_requests` to ``reconciler.registry`` and hands the answers to
:func:`build_lock`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from reconciler.core.consumers import Consumer
from reconciler.core.lockfile import IMPORT_SUCCESS, Lock, SignatureRecord, TagLock, TagSource
from reconciler.core.manifests import ManifestObject, ObjectKey
from reconciler.core.references import ImageReference, InvalidReference, parse_image_reference
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.streams import (
    DOCKER_IMAGE,
    IMAGE_STREAM_IMAGE,
    IMAGE_STREAM_TAG,
    LOCAL,
    TagRef,
    TagSpec,
    alias_target,
    parse_isimage_name,
    stream_tags,
)
from reconciler.core.tagrules import TagRules, rules_of

PUSH = "Push"  # our name for "filled by pushes to the local registry" (build outputs)


@dataclass(frozen=True)
class ImportRequest:
    """One tag to ask the registries about."""

    ref: TagRef
    image: ImageReference  # as written: may be unqualified (search registries apply)
    insecure: bool
    import_mode: str
    # The digest pinned for this same source already (the registry may confirm it without
    # the manifest being read again); None when the tag is new or its source changed. Not
    # part of equality: an answer had this pass (push retries) is verified either way.
    known_digest: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Resolution:
    """A registry's answer for one tag."""

    digest: str
    source: str  # the qualified reference that answered, e.g. docker.io/library/nginx:1.25
    # The index a Legacy platform image was chosen from (its signature counts too). Not
    # part of equality: the answer is the digest.
    index_digest: str | None = field(default=None, compare=False)
    # The key that verified ``digest``, when the tag requires a signature.
    signature: SignatureRecord | None = None


@dataclass(frozen=True)
class Failure:
    """Why one tag could not be resolved: a CamelCase ``reason`` and a message for
    people. Becomes the tag's condition; its last good digest stays."""

    reason: str  # CamelCase constant
    message: str
    condition: str = IMPORT_SUCCESS  # the condition type it is recorded as


# A registry's answer for one tag.
Outcome = Resolution | Failure


@dataclass(frozen=True)
class DesiredTags:
    """What the manifests ask for: each tag's source, and the tags we must not touch."""

    sources: Mapping[TagRef, TagSource]
    frozen_streams: frozenset[tuple[str, str]]  # (namespace, stream) of invalid streams
    # Some manifest could not be read far enough to know which streams it holds (a YAML
    # error, an object without a name): no committed entry may be dropped this pass.
    keep_unlisted: bool = False
    # Output tags of invalid BuildConfigs: kept as committed, like invalid streams' tags.
    frozen_tags: frozenset[TagRef] = frozenset()
    # What the annotations say about how tags are chosen: policies, minimum ages, holds.
    rules: Mapping[TagRef, TagRules] = field(default_factory=dict)


def desired_tags(
    valid_streams: Sequence[ManifestObject],
    invalid_streams: Sequence[ManifestObject],
    consumers: Sequence[Consumer],
    config: RepoConfig,
    *,
    unreadable: bool = False,
    invalid_consumers: Sequence[Consumer] = (),
) -> DesiredTags:
    """What the manifests ask for this pass: a source for every tag of
    ``valid_streams``, and a ``Push`` source (the local registry) for a tag without
    ``from`` and for a BuildConfig output no stream tag imports. Tags of
    ``invalid_streams`` and outputs of ``invalid_consumers`` are frozen (kept as committed);
    ``unreadable`` (some manifest could not be read) means no committed entry is dropped."""
    sources: dict[TagRef, TagSource] = {}
    rules: dict[TagRef, TagRules] = {}
    for stream in valid_streams:
        found = rules_of(stream)
        rules.update(found)
        for tag in stream_tags(stream):
            sources[tag.ref] = _source_of(tag, config, found.get(tag.ref))
    frozen = frozenset((s.namespace, s.name) for s in invalid_streams)
    for consumer in consumers:
        out = consumer.output
        if out is None or (out.namespace, out.stream) in frozen:
            continue
        existing = sources.get(out)
        if existing is None or existing.kind == PUSH:
            sources[out] = TagSource(
                kind=PUSH,
                name=f"{config.local_registry}/{out.namespace}/{out.stream}:{out.tag}",
                insecure=config.local_registry_insecure,
                reference_policy=LOCAL,
            )
    frozen_outputs = frozenset(
        c.output for c in invalid_consumers if c.output is not None and c.output not in sources
    )
    return DesiredTags(sources, frozen, unreadable, frozen_outputs, rules)


def _source_of(tag: TagSpec, config: RepoConfig, rules: TagRules | None = None) -> TagSource:
    if tag.from_kind is None:
        kind, name = (
            PUSH,
            f"{config.local_registry}/{tag.ref.namespace}/{tag.ref.stream}:{tag.ref.tag}",
        )
        insecure = config.local_registry_insecure
    else:
        kind, name, insecure = tag.from_kind, tag.from_name, tag.insecure
    policy = rules.policy if rules is not None else None
    if policy is not None and rules is not None and rules.repository is not None:
        # The tag written after the repository is the one last chosen (write-back keeps it
        # current): not part of the spec, or every move would look like a spec change.
        name = rules.repository
    return TagSource(
        kind=kind,
        name=name,
        namespace=tag.from_namespace,
        scheduled=tag.scheduled,
        insecure=insecure,
        import_mode=tag.import_mode,
        reference_policy=tag.reference_policy,
        reference=tag.reference,
        policy=policy,
        minimum_age=rules.minimum_age if rules is not None else None,
    )


def import_requests(
    desired: DesiredTags,
    lock: Lock,
    *,
    scheduled_due: Iterable[TagRef] | None = None,
    force: Iterable[TagRef] = (),
    only: Collection[TagRef] | None = None,
    held: Collection[TagRef] = (),
    needed: Iterable[TagRef] | None = None,
) -> tuple[list[ImportRequest], dict[TagRef, Failure]]:
    """The tags to resolve this pass, and failures known without asking (a name that is
    not an image reference). ``scheduled_due`` limits which scheduled and build-output
    tags are re-checked (all of them when None, as in a one-shot pass). ``force``
    names tags to ask about whatever the rules say (``import-image`` of an existing
    tag, as ``oc import-image`` re-imports it). ``only`` confines the requests to those
    tags (a verb pins what it edited and asks about nothing else). ``held`` tags are
    not asked about; tags with a version policy are left to ``reconciler.core.choosing``.
    ``needed``: :func:`answer_needed`'s answer, when the caller has it already."""
    requests: list[ImportRequest] = []
    failures: dict[TagRef, Failure] = {}
    if needed is None:
        needed = answer_needed(desired, lock, scheduled_due, force, only, held)
    for ref in needed:
        source = desired.sources[ref]
        if source.policy is not None:
            continue
        old = lock.get(ref)
        try:
            image = parse_image_reference(source.name)
        except InvalidReference as exc:
            failures[ref] = Failure("InvalidImageReference", str(exc))
            continue
        if image.tag is None and image.digest is None:
            image = replace(image, tag="latest")
        known = old.digest if old is not None and old.source == source else None
        requests.append(ImportRequest(ref, image, source.insecure, source.import_mode, known))
    return requests, failures


def answer_needed(
    desired: DesiredTags,
    lock: Lock,
    scheduled_due: Iterable[TagRef] | None = None,
    force: Iterable[TagRef] = (),
    only: Collection[TagRef] | None = None,
    held: Collection[TagRef] = (),
) -> list[TagRef]:
    """The registry tags (imported, or build outputs) that need an answer this pass, by
    the rules of the module's docstring: new, changed in spec, failing, with a candidate
    waiting out its minimum age or a hold just released, or scheduled (those when due).
    Held tags never do. Sorted."""
    due = None if scheduled_due is None else set(scheduled_due)
    forced = set(force)
    out = []
    for ref in sorted(desired.sources):
        source = desired.sources[ref]
        if (only is not None and ref not in only) or ref in held:
            continue
        if source.kind not in (DOCKER_IMAGE, PUSH) or source.reference:
            continue
        old = lock.get(ref)
        failing = old is not None and (old.digest is None or old.condition is not None)
        pending = old is not None and (bool(old.waiting) or old.hold is not None)
        if (
            ref in forced
            or old is None
            or old.source != source
            # Scheduled tags, build outputs, failing tags and tags with a candidate waiting
            # are re-asked when due (a scheduler's choice; every pass in a one-shot run): a
            # failing tag is not hammered on every pass a daemon makes for other reasons.
            or (
                (source.scheduled or source.kind == PUSH or failing or pending)
                and (due is None or ref in due)
            )
        ):
            out.append(ref)
    return out


def overtaken(answered_against: Lock, committed: Lock, refs: Iterable[TagRef]) -> set[TagRef]:
    """Of ``refs``, the tags whose committed entry is not what it was when their registry
    answer was had (``answered_against``): someone else committed to them since, from an
    answer that may be newer than ours. Such an answer must be asked again, never applied:
    applied, it could move the tag back to an older digest (a replica's retry after a
    rejected push). An unchanged entry was written before we asked, so our answer is at
    least as new as what it records."""
    return {ref for ref in refs if answered_against.get(ref) != committed.get(ref)}


def pinned_reference(
    source: TagSource, ref: TagRef, repository: str, digest: str, config: RepoConfig
) -> str:
    """The pull spec ``ref`` is pinned to: ``repository@digest``, or with
    ``referencePolicy: Local`` the same digest in the local registry under ``ref``'s
    namespace and stream."""
    if source.reference_policy == LOCAL:
        return f"{config.local_registry}/{ref.namespace}/{ref.stream}@{digest}"
    return f"{repository}@{digest}"


def repository_of(source_text: str) -> str:
    """The repository (no tag, no digest) of ``source_text``, a reference a registry
    answered; best effort when it does not parse. Never raises."""
    try:
        image = parse_image_reference(source_text)
    except InvalidReference:
        return source_text.split("@")[0].rsplit(":", 1)[0]
    return image.name


def build_lock(
    old: Lock,
    desired: DesiredTags,
    outcomes: Mapping[TagRef, Outcome],
    consumers: Sequence[Consumer],
    frozen_consumers: Iterable[ObjectKey],
    config: RepoConfig,
    now: str,
) -> Lock:
    """The desired lock: registry answers applied, aliases and image pins followed,
    invalid objects' entries carried over unchanged. A tag with no outcome keeps its pin;
    a tag no longer desired is dropped unless frozen or ``desired.keep_unlisted``. Pure:
    ``old`` is not changed."""
    tags: dict[TagRef, TagLock] = {}
    for ref, entry in old.tags.items():
        if (
            (ref.namespace, ref.stream) in desired.frozen_streams
            or ref in desired.frozen_tags
            or (desired.keep_unlisted and ref not in desired.sources)
        ):
            tags[ref] = entry

    pending: dict[TagRef, TagSource] = {}
    for ref, source in desired.sources.items():
        previous = old.get(ref)
        base = previous if previous is not None else TagLock(source=source)
        if base.source != source:  # a no-op pass changes nothing: no copies
            base = replace(base, source=source)
        if source.kind in (DOCKER_IMAGE, PUSH) and not source.reference:
            outcome = outcomes.get(ref)
            if isinstance(outcome, Resolution):
                repository = repository_of(outcome.source)
                image = pinned_reference(source, ref, repository, outcome.digest, config)
                if base.resolved_from != outcome.source:
                    base = replace(base, resolved_from=outcome.source)
                moved = base.moved_to(outcome.digest, image, now)
                if outcome.signature is not None and moved.signature != outcome.signature:
                    moved = replace(moved, signature=outcome.signature)
                tags[ref] = moved
            elif isinstance(outcome, Failure):
                if (
                    base.condition is not None
                    and base.condition.reason == outcome.reason
                    and base.condition.type == outcome.condition
                ):
                    # The same failure goes on: keep the condition as first recorded. Its
                    # wording drifts (connection refused, then "backed off"), and a lock
                    # that changes while nothing changes is a commit on every pass.
                    tags[ref] = base
                else:
                    tags[ref] = base.failed(outcome.reason, outcome.message, now, outcome.condition)
            else:
                tags[ref] = base
        elif source.reference:
            tags[ref] = replace(base, digest=None, image=None, resolved_from=None, signature=None)
        else:
            tags[ref] = base
            pending[ref] = source

    # Image pins first (they read histories), then aliases (which may point at pins).
    for ref, source in sorted(pending.items()):
        if source.kind == IMAGE_STREAM_IMAGE:
            tags[ref] = _pin_image(ref, source, tags, config, now)
    for ref, source in sorted(pending.items()):
        if source.kind == IMAGE_STREAM_TAG:
            tags[ref] = _follow(ref, desired.sources, tags, config, now, ())

    hashes: dict[ObjectKey, str] = {}
    frozen = set(frozen_consumers)
    for key, value in old.consumers.items():
        if key in frozen or desired.keep_unlisted:
            hashes[key] = value
    for consumer in consumers:
        if consumer.in_lock:
            hashes[consumer.key] = consumer.spec_hash
    return Lock(tags=tags, consumers=hashes)


def _pin_image(
    ref: TagRef, source: TagSource, tags: Mapping[TagRef, TagLock], config: RepoConfig, now: str
) -> TagLock:
    entry = tags[ref]
    parsed = parse_isimage_name(source.name)
    if parsed is None:
        return entry.failed(
            "InvalidImageStreamImage", f"{source.name!r} is not stream@sha256:...", now
        )
    stream, digest = parsed
    namespace = source.namespace or ref.namespace
    for other_ref in sorted(tags):
        other = tags[other_ref]
        if other_ref.namespace != namespace or other_ref.stream != stream:
            continue
        for item in other.history:
            if item.digest == digest:
                repository = item.image.split("@")[0]
                image = pinned_reference(source, ref, repository, digest, config)
                return replace(entry, resolved_from=item.image).moved_to(digest, image, now)
    return entry.failed(
        "NotFound",
        f"image {digest} is not in the history of image stream {namespace}/{stream}",
        now,
    )


def _follow(
    ref: TagRef,
    sources: Mapping[TagRef, TagSource],
    tags: dict[TagRef, TagLock],
    config: RepoConfig,
    now: str,
    seen: tuple[TagRef, ...],
) -> TagLock:
    entry = tags[ref]
    source = sources[ref]
    target = alias_target(ref, source.name, source.namespace)
    if target is None:
        return entry.failed("InvalidImageStreamTag", f"{source.name!r} is not stream:tag", now)
    if target in seen or target == ref:
        return entry.failed("AliasCycle", f"alias cycle through {target}", now)
    target_source = sources.get(target)
    if target_source is not None and target_source.kind == IMAGE_STREAM_TAG and target in tags:
        target_entry = _follow(target, sources, tags, config, now, (*seen, ref))
        tags[target] = target_entry
    else:
        target_entry = tags.get(target)  # type: ignore[assignment]
    if target_entry is None or target_entry.digest is None or target_entry.image is None:
        return entry.failed("NotFound", f"tag {target} has no image yet", now)
    repository = target_entry.image.split("@")[0]
    image = pinned_reference(source, ref, repository, target_entry.digest, config)
    return replace(entry, resolved_from=str(target)).moved_to(target_entry.digest, image, now)


def recheckable(desired: DesiredTags, lock: Lock | None = None) -> list[TagRef]:
    """The tags a scheduler re-checks over time: scheduled imports, build outputs, and
    imported tags whose last resolve failed or that have a candidate waiting out its
    minimum age (retried at the same pace)."""

    def failing(ref: TagRef) -> bool:
        entry = lock.get(ref) if lock is not None else None
        return entry is not None and (
            entry.digest is None or entry.condition is not None or bool(entry.waiting)
        )

    return sorted(
        ref
        for ref, source in desired.sources.items()
        if (source.scheduled and source.kind == DOCKER_IMAGE)
        or source.kind == PUSH
        or (source.kind == DOCKER_IMAGE and not source.reference and failing(ref))
    )
