"""Which image a tag may pin (reconciler.core.choosing), with an injected clock: a
policy's pick and its floor (never below the pinned tag, nor the tag written in
from.name, unless allow-downgrade), the minimum age by first sighting, holds and their
end, and the lock records that follow."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from reconciler.core.choosing import (
    INVALID_POLICY,
    MAX_WAITING,
    NO_CANDIDATES,
    Pick,
    age_gate,
    choose,
    finish_lock,
    hold_notes,
    holds,
    waiting_notes,
)
from reconciler.core.lockfile import Lock, TagLock, TagSource
from reconciler.core.lockrecords import ChosenRecord, HoldRecord, PolicySpec, WaitingItem
from reconciler.core.resolution import DesiredTags, Failure, Resolution
from reconciler.core.streams import TagRef
from reconciler.core.tagrules import Hold, TagRules
from reconciler.core.times import rfc3339

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
REF = TagRef("shop", "app", "stable")
REPO = "quay.io/shop/app"
TAGS = ["1.2.0", "1.4.6", "1.4.7", "1.5.0-rc.1", "2.0.0", "latest"]


def d(c: str) -> str:
    return "sha256:" + c * 64


def ago(**delta: float) -> str:
    return rfc3339(NOW - dt.timedelta(**delta))


def source(
    semver: str = "~1.4", *, allow_downgrade: bool = False, minimum_age: str | None = None
) -> TagSource:
    return TagSource(
        "DockerImage",
        REPO,
        scheduled=True,
        policy=PolicySpec(semver=semver, allow_downgrade=allow_downgrade),
        minimum_age=minimum_age,
    )


def pinned(tag: str, digest: str = d("a"), **kw: object) -> TagLock:
    return TagLock(
        source(),
        resolved_from=f"{REPO}:{tag}",
        digest=digest,
        image=f"{REPO}@{digest}",
        chosen=ChosenRecord(tag, 2),
        **kw,  # type: ignore[arg-type]
    )


def test_the_best_candidate_and_its_runner_up() -> None:
    pick = choose(REF, source(), TagRules(), TAGS, None, NOW)
    assert (pick.tag, pick.record) == ("1.4.7", ChosenRecord("1.4.7", 2, "1.4.6"))
    assert pick.note is None and pick.failure is None


def test_a_shorter_listing_never_moves_back() -> None:
    # 1.4.8 was pinned; the registry no longer lists it (or lists fewer tags this time).
    pick = choose(REF, source(), TagRules(), TAGS, pinned("1.4.8"), NOW)
    assert pick.tag is None
    assert pick.note is not None and "kept 1.4.8" in pick.note and "best listed: 1.4.7" in pick.note
    # The tag written in from.name is a floor too (a lock taken from the other side of a
    # merge, or lost).
    pick = choose(REF, source(), TagRules(current="1.4.8"), TAGS, None, NOW)
    assert pick.tag is None and pick.note is not None
    # ... unless the policy no longer admits it: the user changed the policy.
    pick = choose(REF, source("^2"), TagRules(), TAGS, pinned("1.4.7"), NOW)
    assert pick.tag == "2.0.0"


def test_allow_downgrade_moves_back_and_says_so() -> None:
    pick = choose(REF, source(allow_downgrade=True), TagRules(), TAGS, pinned("1.4.8"), NOW)
    assert pick.tag == "1.4.7"
    assert pick.note == f"{REF}: moving down from 1.4.8 to 1.4.7 (allow-downgrade)"


def excluding(*entries: str, **kw: object) -> TagSource:
    base = source(**kw)  # type: ignore[arg-type]
    assert base.policy is not None
    return replace(base, policy=replace(base.policy, exclude=entries))


def test_an_excluded_tag_is_no_candidate() -> None:
    pick = choose(REF, excluding("1.4.7"), TagRules(), [*TAGS, "1.4.8"], pinned("1.4.6"), NOW)
    assert (pick.tag, pick.record) == ("1.4.8", ChosenRecord("1.4.8", 2, "1.4.6"))
    assert pick.note is None  # a move up, as any


def test_an_excluded_pinned_tag_is_no_floor_and_the_policy_moves_down() -> None:
    # 1.4.8 is pinned and the user says it is bad: the best remaining candidate, lower.
    tags = [*TAGS, "1.4.8"]
    pick = choose(REF, excluding("1.4.8"), TagRules(), tags, pinned("1.4.8"), NOW)
    assert (pick.tag, pick.record) == ("1.4.7", ChosenRecord("1.4.7", 2, "1.4.6"))
    assert pick.note == (f"{REF}: moving down from 1.4.8 to 1.4.7 (1.4.8 excluded by exclude-tags)")
    # A glob does it too, and so does the tag written in from.name (no lock).
    pick = choose(REF, excluding("1.4.[8]", "1.4.8*"), TagRules(current="1.4.8"), tags, None, NOW)
    assert pick.tag == "1.4.7" and pick.note is not None and "from 1.4.8 to 1.4.7" in pick.note
    # The floor still holds what is not excluded: 1.4.8 pinned, 1.4.7 excluded too.
    pick = choose(REF, excluding("1.4.7"), TagRules(), tags, pinned("1.4.8"), NOW)
    assert pick.tag == "1.4.8" and pick.note is None
    # Excluding a tag below the pinned one moves nothing.
    pick = choose(REF, excluding("1.4.6"), TagRules(), TAGS, pinned("1.4.7"), NOW)
    assert pick.tag == "1.4.7" and pick.note is None


def test_when_exclude_tags_leave_nothing_the_pinned_tag_stays() -> None:
    pick = choose(REF, excluding("1.4.*"), TagRules(), TAGS, pinned("1.4.7"), NOW)
    assert pick.tag is None and pick.failure is None
    assert pick.note == (
        f"{REF}: no tag of {REPO} matches semver ~1.4 outside exclude-tags (6 listed); kept 1.4.7"
    )
    pick = choose(REF, excluding("1.4.*"), TagRules(), TAGS, None, NOW)
    assert pick.failure == Failure(
        NO_CANDIDATES, f"no tag of {REPO} matches semver ~1.4 outside exclude-tags (6 listed)"
    )


def test_an_excluded_pinned_tags_replacement_waits_out_the_minimum_age() -> None:
    # Moving off an excluded tag is a pick like any other: with a minimum age, the
    # remaining candidate waits from its first sighting; what is pinned stays meanwhile.
    pick = choose(REF, excluding("1.4.8"), DAY, [*TAGS, "1.4.8"], pinned("1.4.8"), NOW)
    assert pick.tag is None
    assert [w.tag for w in pick.waiting] == ["1.4.7", "1.4.6"]


def test_the_pinned_tag_is_picked_again_so_a_repush_is_followed() -> None:
    pick = choose(REF, source(), TagRules(), TAGS, pinned("1.4.7"), NOW)
    assert pick.tag == "1.4.7"


def test_no_candidate_is_a_failure_only_when_nothing_is_pinned() -> None:
    pick = choose(REF, source("~9"), TagRules(), TAGS, None, NOW)
    assert pick.failure == Failure(NO_CANDIDATES, f"no tag of {REPO} matches semver ~9 (6 listed)")
    pick = choose(REF, source("~9"), TagRules(), TAGS, pinned("9.0.0"), NOW)
    assert pick.failure is None and pick.tag is None and pick.note is not None


def test_an_invalid_policy_is_a_failure() -> None:
    pick = choose(REF, source(">=<"), TagRules(), TAGS, None, NOW)
    assert pick.failure is not None and pick.failure.reason == INVALID_POLICY


DAY = TagRules(minimum_age="24h", minimum_age_seconds=86400)


def test_minimum_age_for_candidates() -> None:
    rules = DAY
    old = pinned("1.4.6", waiting=(WaitingItem(ago(hours=3), tag="1.4.7", digest=d("7")),))
    pick = choose(REF, source(minimum_age="24h"), rules, TAGS, old, NOW)
    # 1.4.7 waits (first seen 3h ago, kept); 1.4.6 is the pinned one: picked again.
    assert pick.tag == "1.4.6"
    assert pick.waiting == (WaitingItem(ago(hours=3), tag="1.4.7", digest=d("7")),)
    assert pick.probes == ("1.4.7",)  # the best waiting candidate is resolved every pass
    old = pinned("1.4.6", waiting=(WaitingItem(ago(hours=24), tag="1.4.7", digest=d("7")),))
    pick = choose(REF, source(minimum_age="24h"), rules, [*TAGS, "1.4.8"], old, NOW)
    # 1.4.7 has waited long enough; 1.4.8 is new and waits, recorded as first seen now
    # (its digest is learnt by resolving it this pass).
    assert pick.tag == "1.4.7"
    assert pick.waiting == (WaitingItem(rfc3339(NOW), tag="1.4.8"),)
    assert pick.probes == ("1.4.8",)
    assert pick.record == ChosenRecord("1.4.7", 3, "1.4.6")


def test_at_most_so_many_candidates_wait() -> None:
    many = [f"1.4.{n}" for n in range(40)]
    rules = TagRules(minimum_age="1h", minimum_age_seconds=3600)
    pick = choose(REF, source(minimum_age="1h"), rules, many, None, NOW)
    assert pick.tag is None
    assert [w.tag for w in pick.waiting] == [f"1.4.{n}" for n in range(39, 39 - MAX_WAITING, -1)]
    # Seen for the first time, each recorded one is resolved once to learn its digest.
    assert pick.probes == tuple(w.tag for w in pick.waiting)


def gate(
    old: TagLock,
    listing: list[str],
    answer: str | None = None,
    probed: dict[str, str] | None = None,
    now: dt.datetime = NOW,
) -> tuple[bool, tuple[WaitingItem, ...], Pick]:
    """One pass of a policy tag with minimum-age 24h: the pick from ``listing``, the
    registry's digest for it (``answer``) and for the probed candidates; whether the
    answer may be pinned, and the waiting list the lock records."""
    src = source(minimum_age="24h")
    pick = choose(REF, src, DAY, listing, old, now)
    outcomes = {REF: Resolution(answer, f"{REPO}:{pick.tag}")} if answer else {}
    answers = {tag: Resolution(digest, f"{REPO}:{tag}") for tag, digest in (probed or {}).items()}
    out, waiting = age_gate(
        outcomes, desired(DAY, src), Lock({REF: old}), now, {REF: pick}, {REF: answers}
    )
    return REF in out, waiting[REF], pick


def test_the_pinned_tags_new_digest_waits_like_a_plain_tags() -> None:
    # Pinned 1.4.7 at d(a); 1.4.7 is re-pushed upstream with new content (d(b)).
    moved, waiting, pick = gate(pinned("1.4.7"), TAGS, answer=d("b"))
    assert pick.tag == "1.4.7" and not moved
    assert waiting == (WaitingItem(rfc3339(NOW), tag="1.4.7", digest=d("b")),)
    # Ten minutes later it still waits, first seen when it was.
    old = pinned("1.4.7", waiting=waiting)
    moved, waiting, _ = gate(old, TAGS, answer=d("b"), now=NOW + dt.timedelta(minutes=10))
    assert not moved and waiting == (WaitingItem(rfc3339(NOW), tag="1.4.7", digest=d("b")),)
    # A day after it was first seen, it is pinned and nothing waits.
    moved, waiting, _ = gate(old, TAGS, answer=d("b"), now=NOW + dt.timedelta(hours=24))
    assert moved and waiting == ()
    # The pinned digest answered again: nothing waits, as before.
    moved, waiting, _ = gate(pinned("1.4.7"), TAGS, answer=d("a"))
    assert moved and waiting == ()


def test_a_candidate_re_pushed_while_it_waits_starts_its_clock_again() -> None:
    listing = [*TAGS, "1.4.8"]
    # 1.4.8 first seen at d(8) 23h50m ago; re-pushed since (the registry now says d(9)).
    item = WaitingItem(ago(hours=23, minutes=50), tag="1.4.8", digest=d("8"))
    moved, waiting, pick = gate(
        pinned("1.4.7", waiting=(item,)), listing, answer=d("a"), probed={"1.4.8": d("9")}
    )
    assert pick.tag == "1.4.7" and pick.probes == ("1.4.8",)
    assert waiting == (WaitingItem(rfc3339(NOW), tag="1.4.8", digest=d("9")),)
    # Ten minutes later the old first sighting would be a day old; the new digest is
    # ten minutes old and is not picked.
    later = NOW + dt.timedelta(minutes=10)
    moved, waiting, pick = gate(
        pinned("1.4.7", waiting=waiting), listing, d("a"), {"1.4.8": d("9")}, later
    )
    assert pick.tag == "1.4.7"
    assert waiting == (WaitingItem(rfc3339(NOW), tag="1.4.8", digest=d("9")),)
    # The same digest answered all along: it is pinned once a day old.
    moved, waiting, pick = gate(
        pinned("1.4.7", waiting=(WaitingItem(ago(hours=24), tag="1.4.8", digest=d("8")),)),
        listing,
        answer=d("8"),
    )
    assert pick.tag == "1.4.8" and moved and waiting == ()


def test_a_candidate_old_enough_but_re_pushed_since_is_not_pinned() -> None:
    # Picked as a day old, but the answer is not the digest first seen: the clock starts
    # again and the pinned tag stays.
    item = WaitingItem(ago(hours=25), tag="1.4.8", digest=d("8"))
    moved, waiting, pick = gate(pinned("1.4.7", waiting=(item,)), [*TAGS, "1.4.8"], d("9"))
    assert pick.tag == "1.4.8" and not moved
    assert waiting == (WaitingItem(rfc3339(NOW), tag="1.4.8", digest=d("9")),)


def test_an_item_without_a_digest_starts_again_when_its_digest_is_recorded() -> None:
    # A lock written before digests were recorded: 1.4.8 first seen by name 30h ago.
    # Its content then is unknown, so it is not pinned; it is resolved, its digest
    # recorded, and its clock starts then.
    item = WaitingItem(ago(hours=30), tag="1.4.8")
    moved, waiting, pick = gate(
        pinned("1.4.7", waiting=(item,)), [*TAGS, "1.4.8"], d("a"), {"1.4.8": d("8")}
    )
    assert pick.tag == "1.4.7" and pick.probes == ("1.4.8",) and moved  # (the pinned digest)
    assert waiting == (WaitingItem(rfc3339(NOW), tag="1.4.8", digest=d("8")),)


def test_a_first_seen_in_the_future_counts_as_now() -> None:
    # A hand-edited lock, or a CI job whose clock ran ahead: a year ahead.
    future = rfc3339(NOW + dt.timedelta(days=365))
    item = WaitingItem(future, tag="1.4.8", digest=d("8"))
    moved, waiting, _ = gate(pinned("1.4.7", waiting=(item,)), [*TAGS, "1.4.8"], d("a"))
    assert waiting == (WaitingItem(rfc3339(NOW), tag="1.4.8", digest=d("8")),)  # rewritten
    a_day_on = NOW + dt.timedelta(hours=24)
    moved, waiting, pick = gate(
        pinned("1.4.7", waiting=waiting), [*TAGS, "1.4.8"], d("8"), now=a_day_on
    )
    assert pick.tag == "1.4.8" and moved and waiting == ()
    # The pinned tag's new digest, and a plain tag's.
    old = pinned("1.4.7", waiting=(WaitingItem(future, tag="1.4.7", digest=d("b")),))
    moved, waiting, _ = gate(old, TAGS, answer=d("b"))
    assert not moved and waiting == (WaitingItem(rfc3339(NOW), tag="1.4.7", digest=d("b")),)
    plain = TagSource("DockerImage", f"{REPO}:latest", minimum_age="1h")
    want = desired(TagRules(minimum_age="1h", minimum_age_seconds=3600), plain)
    lock = Lock({REF: TagLock(plain, digest=d("a"), waiting=(WaitingItem(future, digest=d("b")),))})
    answer = Resolution(d("b"), f"{REPO}:latest")
    out, aged = age_gate({REF: answer}, want, lock, NOW)
    assert out == {} and aged == {REF: (WaitingItem(rfc3339(NOW), digest=d("b")),)}
    out, aged = age_gate(
        {REF: answer},
        want,
        Lock({REF: replace(lock.tags[REF], waiting=aged[REF])}),
        NOW + dt.timedelta(hours=1),
    )
    assert out == {REF: answer}
    # What plan says of it.
    notes = waiting_notes(
        Lock({REF: pinned("1.4.7", waiting=(WaitingItem(future, tag="1.4.8", digest=d("8")),))}),
        desired(DAY, source(minimum_age="24h")),
        NOW,
    )
    assert notes == [f"waiting: {REF} 1.4.8 first seen now, pinnable in 24 hours (minimum-age 24h)"]


def desired(rules: TagRules, src: TagSource) -> DesiredTags:
    return DesiredTags({REF: src}, frozenset(), rules={REF: rules})


def test_age_gate_for_a_plain_tags_digests() -> None:
    plain = TagSource("DockerImage", f"{REPO}:latest", minimum_age="1h")
    want = desired(TagRules(minimum_age="1h", minimum_age_seconds=3600), plain)
    old = Lock({REF: TagLock(plain, digest=d("a"), image=f"{REPO}@{d('a')}")})
    answer = Resolution(d("b"), f"{REPO}:latest")
    out, waiting = age_gate({REF: answer}, want, old, NOW)
    assert out == {} and waiting == {REF: (WaitingItem(rfc3339(NOW), digest=d("b")),)}
    seen = Lock(
        {REF: TagLock(plain, digest=d("a"), waiting=(WaitingItem(ago(minutes=61), digest=d("b")),))}
    )
    out, waiting = age_gate({REF: answer}, want, seen, NOW)
    assert out == {REF: answer} and waiting == {REF: ()}
    # The registry answers the pinned digest again: nothing waits any more.
    out, waiting = age_gate({REF: Resolution(d("a"), f"{REPO}:latest")}, want, seen, NOW)
    assert REF in out and waiting == {REF: ()}


def test_holds_end_at_their_time() -> None:
    until = NOW + dt.timedelta(hours=1)
    want = DesiredTags(
        {REF: source()}, frozenset(), rules={REF: TagRules(hold=Hold("frozen", until))}
    )
    assert holds(want, NOW) == ({REF: Hold("frozen", until)}, {})
    assert holds(want, until) == ({}, {REF: Hold("frozen", until)})
    (note,) = hold_notes(Lock({REF: pinned("1.4.7")}), {REF: Hold("frozen", until)}, {})
    assert note == f"held: {REF} at 1.4.7 ({d('a')[:19]}): frozen (until 2026-03-01T13:00:00Z)"
    (note,) = hold_notes(Lock(), {}, {REF: Hold("frozen", until)})
    assert note.startswith(f"hold expired: {REF}: the hold (frozen) ended at 2026-03-01T13:00:00Z")


def test_finish_lock_records_the_pick_only_when_it_moves() -> None:
    rules = TagRules()
    want = desired(rules, source())
    old = Lock({REF: pinned("1.4.7")})
    pick = choose(REF, source(), rules, [*TAGS, "1.9.9-rc.1"], old.tags[REF], NOW)
    same = finish_lock(
        old,
        old,
        want,
        {REF: Resolution(d("a"), f"{REPO}:1.4.7")},
        {REF: pick},
        {},
        {},
        rfc3339(NOW),
    )
    assert same.tags[REF].chosen == ChosenRecord("1.4.7", 2)  # as it was: nothing moved
    # build_lock moved the digest and carried the old record over.
    moved = Lock({REF: replace(old.tags[REF], digest=d("b"), resolved_from=f"{REPO}:1.4.8")})
    pick = choose(REF, source(), rules, [*TAGS, "1.4.8"], old.tags[REF], NOW)
    done = finish_lock(
        moved,
        old,
        want,
        {REF: Resolution(d("b"), f"{REPO}:1.4.8")},
        {REF: pick},
        {},
        {},
        rfc3339(NOW),
    )
    assert done.tags[REF].chosen == ChosenRecord("1.4.8", 3, "1.4.7")


def test_finish_lock_mirrors_holds_and_keeps_since() -> None:
    hold = Hold("frozen")
    want = DesiredTags({REF: source()}, frozenset(), rules={REF: TagRules(hold=hold)})
    lock = Lock({REF: pinned("1.4.7")})
    held = finish_lock(lock, lock, want, {}, {}, {}, {REF: hold}, ago(hours=2))
    assert held.tags[REF].hold == HoldRecord("frozen", ago(hours=2))
    again = finish_lock(held, held, want, {}, {}, {}, {REF: hold}, rfc3339(NOW))
    assert again.tags[REF].hold == HoldRecord("frozen", ago(hours=2))
    # `hold` again with a new reason and an end: still held since the freeze began.
    longer = Hold("frozen: INC-12", dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    want_longer = DesiredTags({REF: source()}, frozenset(), rules={REF: TagRules(hold=longer)})
    renewed = finish_lock(again, again, want_longer, {}, {}, {}, {REF: longer}, rfc3339(NOW))
    assert renewed.tags[REF].hold == HoldRecord(
        "frozen: INC-12", ago(hours=2), "2030-01-01T00:00:00Z"
    )
    released = finish_lock(held, held, want, {}, {}, {}, {}, rfc3339(NOW))
    assert released.tags[REF].hold is None


def test_waiting_notes_say_when() -> None:
    rules = TagRules(minimum_age="24h", minimum_age_seconds=86400)
    lock = Lock({REF: pinned("1.4.7", waiting=(WaitingItem(ago(hours=3), tag="1.4.8"),))})
    assert waiting_notes(lock, desired(rules, source(minimum_age="24h")), NOW) == [
        f"waiting: {REF} 1.4.8 first seen 3 hours ago, pinnable in 21 hours (minimum-age 24h)"
    ]


def test_a_held_alias_does_not_follow_its_target() -> None:
    alias = TagSource("ImageStreamTag", "app:stable")
    ref = TagRef("shop", "app", "prod")
    hold = Hold("release freeze")
    want = DesiredTags({ref: alias}, frozenset(), rules={ref: TagRules(hold=hold)})
    old = Lock({ref: TagLock(alias, digest=d("a"), image=f"{REPO}@{d('a')}")})
    followed = Lock({ref: TagLock(alias, digest=d("b"), image=f"{REPO}@{d('b')}")})
    done = finish_lock(followed, old, want, {}, {}, {}, {ref: hold}, rfc3339(NOW))
    assert done.tags[ref].digest == d("a")
    assert done.tags[ref].hold == HoldRecord("release freeze", rfc3339(NOW))
