"""Version policies in a pass (part of step 3): list the tags of each policy tag's
repository, have ``reconciler.core.choosing`` pick one, and turn each pick into an import
request that is then resolved like any tag.

Each repository is listed once per pass, however many policy tags choose from it, through
the same places as an import (search registries, registries.conf mirrors first, the
allow-list) and the same pull secrets; a listing that fails is the tag's failure (its
last good digest stays). The listing itself, with its pagination and its caching, is the
registry client's (``RegistryClient.list_tags``). With a minimum age, the best waiting
candidate (and any whose digest the lock does not record yet) is resolved too, so that a
candidate re-pushed while it waits starts its clock again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from reconciler.config.settings import Settings
from reconciler.core.choosing import Pick, choose
from reconciler.core.lockfile import Lock
from reconciler.core.references import ImageReference, InvalidReference, parse_image_reference
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.resolution import DesiredTags, Failure, ImportRequest
from reconciler.core.streams import TagRef
from reconciler.core.tagrules import TagRules
from reconciler.passes import clients
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from reconciler.registry.places import Located, first_answer, locations

# Tags asked for per page of a listing (the registry may send fewer).
PAGE_SIZE = 1000


@dataclass
class PolicyStep:
    """What the policy tags gave this pass: requests for the picked tags, the picks,
    failures (a listing that failed, a repository with no candidate), notes."""

    requests: list[ImportRequest] = field(default_factory=list)
    # Waiting candidates resolved to learn their digests (the minimum age goes by digest):
    # each request, under a ref of its own, -> (the policy tag, the upstream tag).
    probes: dict[ImportRequest, tuple[TagRef, str]] = field(default_factory=dict)
    picks: dict[TagRef, Pick] = field(default_factory=dict)
    failures: dict[TagRef, Failure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def pick_images(
    refs: Sequence[TagRef],
    desired: DesiredTags,
    old_lock: Lock,
    client: RegistryClient,
    settings: Settings,
    config: RepoConfig,
    now: dt.datetime,
) -> PolicyStep:
    """List and pick for each policy tag of ``refs`` (the ones due this pass)."""
    step = PolicyStep()
    listings: dict[tuple[str, bool, str], tuple[Located, list[str]] | Failure] = {}
    for ref in refs:
        source = desired.sources[ref]
        # One listing per repository, as a namespace's pull secrets see it.
        key = (source.name, source.insecure, ref.namespace)
        if key not in listings:
            listings[key] = _list(
                source.name, source.insecure, ref.namespace, client, settings, config
            )
        listed = listings[key]
        if isinstance(listed, Failure):
            step.failures[ref] = listed
            continue
        place, tags = listed
        old = old_lock.get(ref)
        pick = choose(ref, source, desired.rules.get(ref, TagRules()), tags, old, now)
        step.picks[ref] = pick
        if pick.note:
            step.notes.append(pick.note)
        if pick.failure is not None:
            step.failures[ref] = pick.failure
        recorded = {w.tag: w.digest for w in pick.waiting}
        for candidate in pick.probes:
            probe = ImportRequest(
                probe_ref(ref, candidate),
                replace(place.logical, tag=candidate, digest=None),
                source.insecure,
                source.import_mode,
                recorded.get(candidate),
            )
            step.probes[probe] = (ref, candidate)
        if pick.tag is None:
            continue
        known = (
            old.digest
            if old is not None
            and old.source == source
            and old.chosen is not None
            and old.chosen.tag == pick.tag
            else None
        )
        image: ImageReference = replace(place.logical, tag=pick.tag, digest=None)
        step.requests.append(ImportRequest(ref, image, source.insecure, source.import_mode, known))
    return step


def probe_ref(ref: TagRef, candidate: str) -> TagRef:
    """The ref a waiting candidate of ``ref`` is resolved under: ``stable@1.4.8`` (``@``
    is in no tag name, so it is no tag's)."""
    return TagRef(ref.namespace, ref.stream, f"{ref.tag}@{candidate}")


def _list(
    repository: str,
    insecure: bool,
    namespace: str,
    client: RegistryClient,
    settings: Settings,
    config: RepoConfig,
) -> tuple[Located, list[str]] | Failure:
    try:
        image = parse_image_reference(repository)
    except InvalidReference as exc:
        return Failure("InvalidImageReference", str(exc))
    secrets = clients.import_secret_names(config, settings, namespace)
    try:
        return first_answer(
            locations(image, settings.registries, insecure, settings.allowed),
            lambda place: client.list_tags(
                place.endpoint,
                page_size=PAGE_SIZE,
                insecure=place.insecure,
                pull_secrets=secrets,
                namespace=namespace,
                logical_registry=place.logical.registry,
            ),
        )
    except ResolveError as exc:
        return Failure(exc.reason, f"cannot list the tags of {repository}: {exc.message}")
