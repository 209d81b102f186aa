"""Which image a tag may pin this pass, beyond "what the registry answered": a version
policy's pick from a listing, the guard against moving back, the minimum age, and holds.

Rules:
- **A policy picks** the best tag of the listing in the policy's order
  (:mod:`reconciler.core.versionpolicy`); that tag is then resolved like any tag.
- **It never moves back**: the floor is the tag pinned now (the lock's ``chosen``) or the
  tag written in ``from.name``, whichever ranks higher, when the policy admits it; a
  candidate below the floor is never picked unless ``allow-downgrade``. A tag that
  disappears upstream, or a registry that lists fewer tags, changes nothing. A tag that
  ``exclude-tags`` names is no candidate and no floor: when it is the pinned one, the
  policy picks the best remaining candidate, lower or not (the one way besides
  ``allow-downgrade`` to move down: the user said that release is bad).
- **Minimum age**: a digest is pinnable only once the reconciler first saw it that long
  ago, whether it is a plain tag's new digest, a policy candidate's (a tag name better
  than the pinned one, recorded with the digest it had when first seen) or the pinned
  tag's own new digest. First sightings are kept in the lock (``waiting``), so the clock
  survives restarts and works in CI. A policy tag pins the best candidate that is old
  enough; better ones wait, at most :data:`MAX_WAITING` of them recorded. Each pass the
  pass resolves the best waiting candidate (and any whose digest is not recorded yet):
  a candidate whose digest changed starts its clock again (:func:`age_gate`). A
  ``firstSeen`` later than now (a hand edit, a clock that ran ahead) counts as now.
- **Holds**: a held tag is not asked about and keeps its digest; its hold is mirrored
  into the lock. A hold whose ``hold-until`` has passed no longer holds, and says so.
- The ``chosen`` record (tag, runner-up, candidates) changes only when the pick does (or
  the policy), so a new tag the policy does not pick changes nothing in the lock.

Pure: listings, answers and ``now`` in; picks, lock entries and notes out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from reconciler.core.lockfile import Lock, TagLock, TagSource
from reconciler.core.lockrecords import ChosenRecord, HoldRecord, PolicySpec, WaitingItem
from reconciler.core.resolution import DesiredTags, Failure, Outcome, Resolution
from reconciler.core.streams import TagRef
from reconciler.core.tagexclude import excluded
from reconciler.core.tagrules import HOLD, Hold, TagRules
from reconciler.core.times import human_duration, parse_time, rfc3339
from reconciler.core.versionpolicy import Candidate, PolicyError, compile_policy, rank

MAX_WAITING = 16
NO_CANDIDATES = "NoCandidates"
INVALID_POLICY = "InvalidPolicy"


# -- holds -----------------------------------------------------------------------------


def holds(desired: DesiredTags, now: dt.datetime) -> tuple[dict[TagRef, Hold], dict[TagRef, Hold]]:
    """The holds in force at ``now``, and those whose ``hold-until`` has passed."""
    active: dict[TagRef, Hold] = {}
    expired: dict[TagRef, Hold] = {}
    for ref, rules in desired.rules.items():
        if rules.hold is not None and ref in desired.sources:
            (active if rules.hold.active(now) else expired)[ref] = rules.hold
    return active, expired


def hold_record(hold: Hold, old: TagLock | None, now: str) -> HoldRecord:
    """``hold`` as the lock records it: since when the tag has been held without a break
    (a new reason or end keeps that moment: the freeze began then)."""
    previous = old.hold if old is not None else None
    since = previous.since if previous is not None else now
    return HoldRecord(hold.reason, since, hold.until_text)


# -- a policy's pick -------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """What a policy tag's listing gives: the upstream tag to pin now (``tag``; None:
    keep what is pinned), the record it would leave in the lock, the candidates waiting
    out the minimum age, and a note for people when nothing moves for a reason they
    should see."""

    tag: str | None
    record: ChosenRecord | None = None
    waiting: tuple[WaitingItem, ...] = ()
    note: str | None = None
    failure: Failure | None = None
    # Waiting candidates to resolve this pass, to learn their digests (see age_gate): the
    # best one, and any whose digest the lock does not record yet.
    probes: tuple[str, ...] = ()


def seen_at(first_seen: str, now: dt.datetime) -> str:
    """``first_seen``, or ``now`` when it is later than ``now`` (a hand-edited lock, a CI
    job whose clock ran ahead): a sighting in the future would make a tag wait forever."""
    moment = parse_time(first_seen)
    return rfc3339(now) if moment is None or moment > now else first_seen


def _candidates_seen(old: TagLock | None, pinned: str | None) -> dict[str, WaitingItem]:
    """The policy candidates the lock records as waiting (the pinned tag's own new digest
    is not a candidate)."""
    return {w.tag: w for w in (old.waiting if old else ()) if w.tag is not None and w.tag != pinned}


def _old_enough(first_seen: str, now: dt.datetime, seconds: int) -> bool:
    moment = parse_time(first_seen)
    return moment is not None and (now - moment).total_seconds() >= seconds


def choose(
    ref: TagRef,
    source: TagSource,
    rules: TagRules,
    listing: Sequence[str],
    old: TagLock | None,
    now: dt.datetime,
) -> Pick:
    """The pick for policy tag ``ref`` from ``listing`` (the repository's tags)."""
    assert source.policy is not None
    try:
        policy = compile_policy(source.policy)
    except PolicyError as exc:  # validation refuses it first; be safe all the same
        return Pick(None, failure=Failure(INVALID_POLICY, f"{source.policy.describe()}: {exc}"))
    ranked = rank(policy, listing)
    described = policy.describe()
    pinned = old.chosen.tag if old is not None and old.chosen is not None and old.digest else None
    floor: Candidate | None = None
    for name in (pinned, rules.current):
        key = policy.key(name) if name is not None else None
        if name is not None and key is not None and (floor is None or Candidate(key, name) > floor):
            floor = Candidate(key, name)
    eligible = [c for c in ranked if source.policy.allow_downgrade or floor is None or c >= floor]
    stamp = rfc3339(now)
    seen = _candidates_seen(old, pinned)
    waiting: list[WaitingItem] = []
    chosen: Candidate | None = None
    for candidate in eligible:
        if rules.minimum_age_seconds <= 0 or candidate.tag == pinned:
            chosen = candidate
            break
        item = seen.get(candidate.tag)
        first = seen_at(item.first_seen, now) if item is not None else stamp
        digest = item.digest if item is not None else None
        # Old enough by a recorded digest: the pick (age_gate checks the digest is still
        # that one). A candidate whose digest is not known yet cannot be.
        if digest is not None and _old_enough(first, now, rules.minimum_age_seconds):
            chosen = candidate
            break
        if len(waiting) < MAX_WAITING:
            waiting.append(WaitingItem(first, tag=candidate.tag, digest=digest))
    probes = tuple(
        w.tag for i, w in enumerate(waiting) if w.tag is not None and (i == 0 or w.digest is None)
    )
    if chosen is None:
        if not ranked:
            outside = " outside exclude-tags" if source.policy.exclude else ""
            message = (
                f"no tag of {source.name} matches {described}{outside} ({len(set(listing))} listed)"
            )
            if old is not None and old.digest:
                return Pick(
                    None,
                    waiting=tuple(waiting),
                    note=f"{ref}: {message}; kept {pinned or old.digest[:19]}",
                    probes=probes,
                )
            return Pick(None, failure=Failure(NO_CANDIDATES, message))
        if not eligible and floor is not None:
            note = (
                f"{ref}: kept {floor.tag}: {source.name} lists nothing {described} admits at or "
                f"above it (best listed: {ranked[0].tag}); a policy never moves back without "
                "allow-downgrade"
            )
            return Pick(None, note=note)
        return Pick(None, waiting=tuple(waiting), probes=probes)
    index = ranked.index(chosen)
    runner_up = ranked[index + 1].tag if index + 1 < len(ranked) else None
    record = ChosenRecord(chosen.tag, len(ranked), runner_up)
    moving_down = ""
    if floor is not None and chosen < floor:
        moving_down = f"{ref}: moving down from {floor.tag} to {chosen.tag} (allow-downgrade)"
    elif dropped := _excluded_down(source.policy, (pinned, rules.current), chosen):
        moving_down = (
            f"{ref}: moving down from {dropped} to {chosen.tag} ({dropped} excluded by "
            "exclude-tags)"
        )
    return Pick(chosen.tag, record, tuple(waiting), moving_down or None, probes=probes)


def _excluded_down(
    spec: PolicySpec, floors: tuple[str | None, ...], chosen: Candidate
) -> str | None:
    """The highest of ``floors`` (the pinned tag, the one in ``from.name``) that
    ``exclude-tags`` took out of the floor and that ranks above ``chosen`` by the policy
    alone; None when there is none (the pick is no move down)."""
    if not spec.exclude:
        return None
    unfiltered = compile_policy(replace(spec, exclude=()))
    above = [
        Candidate(key, name)
        for name in floors
        if name is not None
        and excluded(name, spec.exclude)
        and (key := unfiltered.key(name)) is not None
        and Candidate(key, name) > Candidate(unfiltered.key(chosen.tag) or (), chosen.tag)
    ]
    return max(above).tag if above else None


def age_gate(
    outcomes: Mapping[TagRef, Outcome],
    desired: DesiredTags,
    lock: Lock,
    now: dt.datetime,
    picks: Mapping[TagRef, Pick] | None = None,
    probed: Mapping[TagRef, Mapping[str, Outcome]] | None = None,
) -> tuple[dict[TagRef, Outcome], dict[TagRef, tuple[WaitingItem, ...]]]:
    """The minimum age by digest, between the registries' answers and the pins.

    A plain tag's answer with a digest the tag does not pin yet is held back until the
    reconciler first saw that digest ``minimum-age`` ago. A policy tag's (``picks``, with
    ``probed``: the answers for its waiting candidates, by upstream tag) likewise: the
    pinned tag's own new digest waits as a plain tag's does; a candidate picked as old
    enough is pinned only if the registry still answers the digest recorded when it was
    first seen; and a waiting candidate whose answer is another digest than the one
    recorded (or the first one recorded: an item of an older lock, or a probe that
    failed before) starts its clock again now. Returns the outcomes that may be applied,
    and each gated tag's waiting list (empty: nothing waits; a tag not in it keeps its
    list as it was)."""
    out = dict(outcomes)
    waiting: dict[TagRef, tuple[WaitingItem, ...]] = {}
    stamp = rfc3339(now)
    for ref, pick in (picks or {}).items():
        rules = desired.rules.get(ref)
        if rules is None or rules.minimum_age_seconds <= 0:
            continue
        items = list(pick.waiting)
        for tag, answer in (probed or {}).get(ref, {}).items():
            if not isinstance(answer, Resolution):
                continue  # asked again next pass; the item stays as it was
            for i, item in enumerate(items):
                if item.tag == tag and item.digest != answer.digest:
                    items[i] = WaitingItem(stamp, tag=tag, digest=answer.digest)
        outcome = outcomes.get(ref)
        old = lock.get(ref)
        if pick.tag is not None and isinstance(outcome, Resolution):
            pinned = old is not None and old.chosen is not None and old.digest is not None
            recorded = [w for w in (old.waiting if old else ()) if w.tag == pick.tag]
            if pinned and old is not None and old.chosen is not None and old.chosen.tag == pick.tag:
                # The pinned tag: a new digest is gated by digest, as a plain tag's.
                first = next(
                    (seen_at(w.first_seen, now) for w in recorded if w.digest == outcome.digest),
                    stamp,
                )
                if outcome.digest != old.digest and not _old_enough(
                    first, now, rules.minimum_age_seconds
                ):
                    del out[ref]
                    items = [
                        *items[: MAX_WAITING - 1],
                        WaitingItem(first, tag=pick.tag, digest=outcome.digest),
                    ]
            elif not any(w.digest == outcome.digest for w in recorded):
                # Picked as old enough, but the tag now has another digest: a re-push
                # starts its clock again. What is pinned stays this pass.
                del out[ref]
                items = [
                    *items[: MAX_WAITING - 1],
                    WaitingItem(stamp, tag=pick.tag, digest=outcome.digest),
                ]
        waiting[ref] = tuple(items)
    for ref, outcome in outcomes.items():
        rules = desired.rules.get(ref)
        source = desired.sources.get(ref)
        if (
            rules is None
            or rules.minimum_age_seconds <= 0
            or source is None
            or source.policy is not None  # a policy tag's: above, by its pick
            or not isinstance(outcome, Resolution)
        ):
            continue
        old = lock.get(ref)
        if old is not None and old.digest == outcome.digest:
            waiting[ref] = ()
            continue
        earlier = next(
            (
                seen_at(w.first_seen, now)
                for w in (old.waiting if old else ())
                if w.digest == outcome.digest
            ),
            stamp,
        )
        if _old_enough(earlier, now, rules.minimum_age_seconds):
            waiting[ref] = ()
        else:
            del out[ref]
            waiting[ref] = (WaitingItem(earlier, digest=outcome.digest),)
    return out, waiting


# -- the lock --------------------------------------------------------------------------


def finish_lock(
    built: Lock,
    old: Lock,
    desired: DesiredTags,
    outcomes: Mapping[TagRef, Outcome],
    picks: Mapping[TagRef, Pick],
    waiting: Mapping[TagRef, tuple[WaitingItem, ...]],
    active: Mapping[TagRef, Hold],
    now: str,
) -> Lock:
    """``built`` (the lock :func:`reconciler.core.resolution.build_lock` made) with the
    records of this module: each pick that was pinned records what it was chosen over,
    waiting lists as worked out this pass, holds mirrored. Tags this pass did not ask
    about keep their records."""
    tags = dict(built.tags)
    for ref, entry in built.tags.items():
        source = desired.sources.get(ref)
        if source is None:
            continue  # kept as committed (an invalid stream's tag)
        previous = old.get(ref)
        new = entry
        if ref in active and previous is not None and previous.digest != entry.digest:
            # Held: whatever kind of tag (an alias would follow its target), it keeps what
            # it pins.
            new = replace(previous, source=entry.source)
        pick = picks.get(ref)
        if source.policy is None:
            new = replace(new, chosen=None) if new.chosen is not None else new
        elif (
            pick is not None and pick.tag is not None and isinstance(outcomes.get(ref), Resolution)
        ):
            same_policy = previous is not None and previous.source.policy == source.policy
            if new.chosen is None or new.chosen.tag != pick.tag or not same_policy:
                new = replace(new, chosen=pick.record)
        if source.minimum_age is None:
            items: tuple[WaitingItem, ...] = ()
        elif ref in waiting:
            items = waiting[ref]
        elif pick is not None:
            items = pick.waiting
        else:
            items = new.waiting
        if items != new.waiting:
            new = replace(new, waiting=items)
        hold = active.get(ref)
        record = hold_record(hold, previous, now) if hold is not None else None
        if record != new.hold:
            new = replace(new, hold=record)
        if new is not entry:
            tags[ref] = new
    return Lock(tags=tags, consumers=built.consumers)


# -- what people are told --------------------------------------------------------------


def waiting_notes(
    lock: Lock,
    desired: DesiredTags,
    now: dt.datetime,
    scope: Collection[TagRef] | None = None,
) -> list[str]:
    """``waiting: team/app:stable 1.4.8 first seen 3 hours ago, pinnable in 21 hours
    (minimum-age 24h)``, one per waiting candidate of a tag, best first."""
    notes = []
    for ref in sorted(lock.tags):
        entry = lock.tags[ref]
        rules = desired.rules.get(ref)
        if not entry.waiting or rules is None or rules.minimum_age_seconds <= 0:
            continue
        if scope is not None and ref not in scope:
            continue
        pinned = entry.chosen.tag if entry.chosen is not None and entry.digest else None
        for item in entry.waiting:
            seen = parse_time(seen_at(item.first_seen, now)) or now
            age = now - seen
            left = dt.timedelta(seconds=rules.minimum_age_seconds) - age
            when = "now" if age.total_seconds() < 1 else f"{human_duration(age).lower()} ago"
            name = item.name
            if item.tag is not None and item.tag == pinned and item.digest is not None:
                name = f"{item.tag} (new digest {item.digest[:19]})"
            notes.append(
                f"waiting: {ref} {name} first seen {when}, pinnable in "
                f"{human_duration(left).lower()} (minimum-age {rules.minimum_age})"
            )
    return notes


def hold_notes(
    lock: Lock, active: Mapping[TagRef, Hold], expired: Mapping[TagRef, Hold]
) -> list[str]:
    """``held: team/app:stable at 1.4.7 (sha256:...): <reason> (until ...)`` for each hold
    in force, and for each that has expired a line saying it released itself."""
    notes = []
    for ref in sorted(active):
        entry = lock.get(ref)
        at = ""
        if entry is not None and entry.digest:
            where = (
                f"{entry.chosen.tag} ({entry.digest[:19]})" if entry.chosen else entry.digest[:19]
            )
            at = f" at {where}"
        until = f" (until {active[ref].until_text})" if active[ref].until is not None else ""
        notes.append(f"held: {ref}{at}: {active[ref].reason}{until}")
    for ref in sorted(expired):
        notes.append(
            f"hold expired: {ref}: the hold ({expired[ref].reason}) ended at "
            f"{expired[ref].until_text} and no longer applies; remove the {HOLD} annotations "
            f"(reconciler release {ref.stream}:{ref.tag} -n {ref.namespace})"
        )
    return notes
