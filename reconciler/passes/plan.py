"""Steps 2 to 4 of a pass, on a checkout: load and validate the manifests (files, core),
ask the registries about the tags that need an answer (registry), and compute the
desired lock, the trigger records that fall due and, with ``writeBack``, the manifest
edits (core). Nothing is written here.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from reconciler.config.settings import Settings
from reconciler.core import choosing, policy
from reconciler.core.consumers import Consumer
from reconciler.core.following import is_consumer_kind, paused_notes, read_consumers
from reconciler.core.lockdiff import lock_changes
from reconciler.core.lockfile import Lock, render_lock
from reconciler.core.manifests import IMAGE_STREAM, ManifestObject
from reconciler.core.plan import Plan, followers, scoped_lock
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.resolution import (
    PUSH,
    DesiredTags,
    Failure,
    ImportRequest,
    Outcome,
    answer_needed,
    build_lock,
    desired_tags,
    import_requests,
    overtaken,
    recheckable,
)
from reconciler.core.streams import IMAGE_STREAM_IMAGE, IMAGE_STREAM_TAG, TagRef
from reconciler.core.times import rfc3339
from reconciler.core.triggers import IMAGE_CHANGE, derive_triggers, render_record
from reconciler.core.validation import ValidationReport, validate_objects
from reconciler.core.writeback import field_writes, manifest_edits, policy_writes
from reconciler.files import loader, schemas, triggerstore
from reconciler.files.contentcache import ContentCache, blob_id
from reconciler.files.lockstore import read_lock
from reconciler.registry.errors import NOT_FOUND, REGISTRY_UNAVAILABLE, TIMEOUT

# The HTTP stack (the registry client, the resolver, the signature gate) loads when a
# pass first asks a registry: validating needs none of it.
if TYPE_CHECKING:
    from reconciler.registry.client import RegistryClient
    from reconciler.registry.signatures import SignatureCache

T = TypeVar("T")
ResolveCache = dict[ImportRequest, Outcome]
DueSelector = Callable[[list[TagRef]], Iterable[TagRef]]


def validate_repo(
    root: Path,
    settings: Settings | None = None,
    contents: ContentCache | None = None,
    blobs: Mapping[str, str] | None = None,
) -> tuple[RepoConfig, ValidationReport, int]:
    """Load and validate a checkout; returns the repo config, the report and the number
    of manifest files read. With ``settings``, the machine's import policy is checked
    too (allowed registries, platform annotations). ``blobs``: git's word for what the
    work tree holds (see :func:`reconciler.files.loader.load_repo`)."""
    contents = contents if contents is not None else ContentCache()
    config, config_problems = loader.read_repo_config(root)
    loaded = loader.load_repo(root, config.default_namespace, contents, blobs)
    problems = [*config_problems, *loaded.violations]
    # What the machine's import policy depends on; with the objects (the same objects for
    # the same bytes), the config and the file problems, all the report depends on.
    policy = (
        None if settings is None else (settings.registries, settings.allowed, settings.platform)
    )
    report = contents.memo(
        "report",
        (loaded.objects, config, problems, policy),
        lambda: validate_objects(
            loaded.objects,
            config,
            lambda obj: contents.schema_verdict(obj, schemas.check_schema),
            problems,
            [settings.policy_check()] if settings is not None else (),
        ),
    )
    return config, report, len(loaded.files)


def compute_plan(
    root: Path,
    settings: Settings,
    client: RegistryClient | None,
    now: dt.datetime,
    cache: ResolveCache | None = None,
    select_due: DueSelector | None = None,
    force: Iterable[TagRef] = (),
    *,
    scope: Collection[TagRef] | None = None,
    contents: ContentCache | None = None,
    answered_against: Lock | None = None,
    blobs: Mapping[str, str] | None = None,
    signature_cache: SignatureCache | None = None,
) -> Plan:
    """Steps 2 to 4 on a checkout at ``root``: nothing is written. Without a client the
    registries are not asked (an offline plan). ``select_due`` picks, from the scheduled
    and build-output tags, those to re-check now (None: all of them, as a one-shot pass
    does). ``force`` names tags to ask about whatever the rules say. ``scope`` confines
    the plan to those tags and their aliases (a verb's edit; see
    :func:`reconciler.core.plan.scoped_lock`). ``cache`` holds registry answers already
    had (push retries within a pass, a verb's preview): each tag is asked once.
    ``contents`` is the caller's :class:`ContentCache` (a daemon's lives across passes).
    ``answered_against`` is the committed lock the answers in ``cache`` were had against
    (the previous attempt's, after a rejected push): answers for tags whose committed
    entry has changed since are dropped and asked again (see
    :func:`reconciler.core.resolution.overtaken`). ``signature_cache`` holds the verified
    signatures of digests (the process's own by default); a tag that requires a signature
    pins nothing unverified (see :mod:`reconciler.passes.signatures`). ``blobs`` is git's
    listing of the work tree (repo path -> blob id), when the caller has one that is
    current: files the cache knows by blob id are then neither read nor parsed."""
    contents = contents if contents is not None else ContentCache()
    contents.sweep()
    config, report, _ = validate_repo(root, settings, contents, blobs)
    old_lock, old_bytes = read_lock(
        root, contents, blobs.get(loader.LOCKFILE_NAME) if blobs is not None else None
    )
    stamp = rfc3339(now)
    # A function of the report and the config alone: worked out once per tree.
    tree = contents.memo("tree", (report, config), lambda: _read_tree(report, config))
    invalid, streams, followed, consumers, desired = (
        tree.invalid,
        tree.streams,
        tree.followed,
        tree.consumers,
        tree.desired,
    )
    due = None if select_due is None else select_due(recheckable(desired, old_lock))
    held, expired = choosing.holds(desired, now)
    needed = answer_needed(desired, old_lock, due, force, scope, held)
    requests, failures = import_requests(desired, old_lock, needed=needed)
    # Version policies: list each policy tag's repository and pick; the picks are
    # resolved with the other requests (offline, nothing is listed and nothing moves).
    policy_tags = [ref for ref in needed if desired.sources[ref].policy is not None]
    step = None
    if policy_tags and client is not None:
        from reconciler.passes.choosing import pick_images

        step = pick_images(policy_tags, desired, old_lock, client, settings, config, now)
        requests += step.requests
        failures.update(step.failures)
    probes = step.probes if step else {}
    cache = cache if cache is not None else {}
    if answered_against is not None:
        # A probe's answer is its policy tag's: stale when that tag's entry is.
        owner = {r: probes[r][0] if r in probes else r.ref for r in cache}
        stale = overtaken(answered_against, old_lock, set(owner.values()))
        for request in [r for r in cache if owner[r] in stale]:
            del cache[request]
    todo = [r for r in [*requests, *probes] if r not in cache]
    started = time.perf_counter()
    if todo and client is not None:
        from reconciler.passes import clients
        from reconciler.registry.resolver import resolve_imports

        platforms = {
            (o.namespace, o.name): policy.stream_platform(o, settings.platform) for o in streams
        }
        with_outcomes = resolve_imports(
            todo,
            client,
            settings.registries,
            settings.platform,
            allowed=settings.allowed,
            pull_secrets=lambda r: clients.import_secret_names(config, settings, r.ref.namespace),
            platform_for=lambda r: platforms.get(
                (r.ref.namespace, r.ref.stream), settings.platform
            ),
        )
        by_ref = {r.ref: r for r in todo}
        for ref, outcome in with_outcomes.items():
            cache[by_ref[ref]] = outcome
    # Offline (no client, as ``watch`` runs): the tags to ask about stay as they were.
    outcomes: dict[TagRef, Outcome] = {r.ref: cache[r] for r in requests if r in cache}
    probed: dict[TagRef, dict[str, Outcome]] = {}
    for request, (ref, candidate) in probes.items():
        if request in cache:
            probed.setdefault(ref, {})[candidate] = cache[request]
    outcomes.update(failures)
    awaiting: dict[TagRef, str] = {}
    for ref in list(outcomes):
        outcome, source = outcomes[ref], desired.sources[ref]
        previous = old_lock.get(ref)
        if (
            source.kind == PUSH
            and isinstance(outcome, Failure)
            and outcome.reason in _NOT_PUSHED_YET
            and (previous is None or previous.digest is None)
        ):
            # A build output that no registry can answer for yet (no build has pushed it,
            # or the cluster's registry is not reachable from here) is waiting, not failing.
            del outcomes[ref]
            awaiting[ref] = _awaiting_note(ref, outcome, consumers)
    # The minimum age by digest (plain tags, policy tags' picks and candidates), then the
    # signed-image gate, between the registries' answers and the pins: a digest too young
    # to pin is not verified yet.
    outcomes, aged = choosing.age_gate(
        outcomes, desired, old_lock, now, step.picks if step else {}, probed
    )
    from reconciler.passes import signatures as signing

    gate = signing.prepare(config, settings, streams, desired)
    outcomes = gate.apply(
        outcomes, old_lock, desired, config, settings, client, signature_cache, scope
    )

    frozen_consumers = [o.key for o in invalid if is_consumer_kind(o)]
    built = build_lock(old_lock, desired, outcomes, consumers, frozen_consumers, config, stamp)
    built = choosing.finish_lock(
        built, old_lock, desired, outcomes, step.picks if step else {}, aged, held, stamp
    )
    new_lock = scoped_lock(old_lock, built, scope)
    if old_bytes is not None and old_lock == new_lock:
        # Same model, so keep the committed bytes: a hand-reformatted lock is not a change.
        new_bytes = old_bytes
    else:
        new_bytes = render_lock(new_lock)
        contents.remember_lock(new_bytes, new_lock)
    records = derive_triggers(old_lock, new_lock, consumers, stamp)
    if scope is not None:
        # A verb's edit feeds consumers new images; their own specs are the pass's to judge.
        records = [r for r in records if r.type == IMAGE_CHANGE]
    existing = {r.id for r in triggerstore.read_records(root, contents, blobs)[0]}
    new_records = [r for r in records if r.id not in existing]
    # What the pass will write, remembered by the blob id of its bytes: the next pass
    # finds these records in the cache instead of parsing them.
    for record in new_records:
        contents.remember_record(blob_id(render_record(record)), record)
    writes = (
        [
            *field_writes(
                followed, new_lock, None if scope is None else followers(new_lock, scope)
            ),
            *policy_writes(streams, desired.rules, new_lock, scope),
        ]
        if config.write_back
        else []
    )
    edits, edit_problems = manifest_edits(writes)
    return Plan(
        report=report,
        config=config,
        old_lock=old_lock,
        new_lock=new_lock,
        old_bytes=old_bytes,
        new_bytes=new_bytes,
        changes=lock_changes(old_lock, new_lock),
        triggers=new_records,
        failures={
            ref: f
            for ref, f in _failures(outcomes, desired, new_lock).items()
            if scope is None or ref in scope
        },
        requested=[r.ref for r in requests],
        resolve_seconds=time.perf_counter() - started if todo and client is not None else 0.0,
        recheckable=recheckable(desired, new_lock),
        due=sorted(due or ()),
        edits=edits,
        notes=[
            *paused_notes(old_lock, new_lock, consumers),
            *(awaiting[r] for r in sorted(awaiting) if scope is None or r in scope),
            *edit_problems,
            *gate.notes,
            *(step.notes if step else ()),
            *choosing.hold_notes(new_lock, in_scope(held, scope), in_scope(expired, scope)),
            *choosing.waiting_notes(new_lock, desired, now, scope),
            *(client.listing_notes() if client is not None else ()),
        ],
    )


def in_scope(found: Mapping[TagRef, T], scope: Collection[TagRef] | None) -> dict[TagRef, T]:
    """``found`` limited to ``scope`` (all of it when None)."""
    return {ref: value for ref, value in found.items() if scope is None or ref in scope}


@dataclass(frozen=True)
class _Tree:
    """What the pass reads from the valid and invalid objects: streams, consumers and
    the tags the manifests ask for."""

    invalid: list[ManifestObject]
    streams: list[ManifestObject]
    followed: list[tuple[ManifestObject, Consumer]]
    consumers: list[Consumer]
    desired: DesiredTags


def _read_tree(report: ValidationReport, config: RepoConfig) -> _Tree:
    live = [o for o in report.valid if not o.in_template]
    invalid = [o for o in report.invalid if not o.in_template]
    streams = [o for o in live if o.kind == IMAGE_STREAM]
    # Image lookup asks whether a stream exists, valid or not (as validation does).
    every_stream = [*streams, *(o for o in invalid if o.kind == IMAGE_STREAM)]
    followed = read_consumers(live, every_stream, config.write_back)
    consumers = [consumer for _, consumer in followed]
    # A file that did not parse, or an invalid object without a usable name, may hold
    # streams we cannot name: then nothing committed is dropped this pass.
    unreadable = any(v.is_error and not v.object for v in report.violations) or any(
        not o.name or not isinstance(o.metadata.get("name"), str) for o in invalid
    )
    desired = desired_tags(
        streams,
        [o for o in invalid if o.kind == IMAGE_STREAM],
        consumers,
        config,
        unreadable=unreadable,
        invalid_consumers=[consumer for _, consumer in read_consumers(invalid, every_stream)],
    )
    return _Tree(invalid, streams, followed, consumers, desired)


# What a registry says about a build output that no build has pushed: the repository or
# tag is not there (NotFound), or the local registry cannot be reached at all
# (RegistryUnavailable, Timeout: a cluster-internal name such as
# image-registry.openshift-image-registry.svc does not resolve outside the cluster).
_NOT_PUSHED_YET = frozenset({NOT_FOUND, REGISTRY_UNAVAILABLE, TIMEOUT})


def _awaiting_note(ref: TagRef, failure: Failure, consumers: Iterable[Consumer]) -> str:
    """``awaiting build: ns/stream:tag, pushed by BuildConfig/ns/name: not in the
    registry yet`` (or why the registry cannot be asked)."""
    builders = sorted(
        f"{c.key.kind}/{c.key.namespace}/{c.key.name}" for c in consumers if c.output == ref
    )
    who = f"pushed by {', '.join(builders)}" if builders else "which no build pushes yet"
    why = (
        "not in the registry yet"
        if failure.reason == NOT_FOUND
        else f"its registry cannot be reached from here: {failure.reason}: {failure.message}"
    )
    return f"awaiting build: {ref}, {who}: {why}"


def _failures(
    outcomes: Mapping[TagRef, Outcome], desired: DesiredTags, new_lock: Lock
) -> dict[TagRef, Failure]:
    """What failed this pass: registry answers, and the tags that follow other tags
    (aliases, image pins) whose target could not be followed."""
    failures = {ref: o for ref, o in outcomes.items() if isinstance(o, Failure)}
    for ref, source in desired.sources.items():
        entry = new_lock.get(ref)
        if (
            ref not in failures
            and source.kind in (IMAGE_STREAM_TAG, IMAGE_STREAM_IMAGE)
            and entry is not None
            and entry.condition is not None
        ):
            failures[ref] = Failure(entry.condition.reason, entry.condition.message)
    return failures
