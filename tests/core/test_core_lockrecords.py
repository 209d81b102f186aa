"""The lock's records of how a tag was chosen (reconciler.core.lockrecords): written on
one line each in a v2 lock, read back to the same model by the fast reader and by the
full YAML loader, refused with the field's line when malformed; v1 locks, which have
none of them, still load."""

from __future__ import annotations

import pytest

from reconciler.core import yamlfast
from reconciler.core.lockfile import (
    HistoryItem,
    Lock,
    LockfileError,
    TagLock,
    TagSource,
    parse_lock,
    render_lock,
)
from reconciler.core.lockrecords import ChosenRecord, HoldRecord, PolicySpec, WaitingItem
from reconciler.core.streams import TagRef
from reconciler.core.yamltext import machine_yaml

T1 = "2026-03-01T10:00:00Z"
T2 = "2026-03-02T10:00:00Z"


def d(c: str) -> str:
    return "sha256:" + c * 64


def policy_lock() -> Lock:
    repo = "registry.example/team/app"
    semver = TagLock(
        TagSource(
            "DockerImage",
            repo,
            scheduled=True,
            policy=PolicySpec(semver="~1.4", prereleases=True),
            minimum_age="24h",
        ),
        resolved_from=f"{repo}:1.4.7",
        digest=d("a"),
        image=f"{repo}@{d('a')}",
        history=(HistoryItem(d("a"), f"{repo}@{d('a')}", T1, 1),),
        chosen=ChosenRecord("1.4.7", 3, "1.4.6"),
        # A candidate with the digest it had when first seen; the pinned tag's own new
        # digest; an item of a lock written before digests were recorded (tag only).
        waiting=(
            WaitingItem(T2, tag="1.5.0-rc.1", digest=d("e")),
            WaitingItem(T2, tag="1.4.8"),
            WaitingItem(T1, tag="1.4.7", digest=d("f")),
        ),
        hold=HoldRecord("CVE-2026-1234: wait for the fix's review", T2, "2026-04-01T00:00:00Z"),
    )
    pattern = TagLock(
        TagSource(
            "DockerImage",
            repo,
            policy=PolicySpec(pattern=r"^v(?P<version>\d+)$", order="alphabetical"),
        ),
        resolved_from=f"{repo}:v12",
        digest=d("b"),
        image=f"{repo}@{d('b')}",
        chosen=ChosenRecord("v12", 1),
    )
    plain = TagLock(
        TagSource("DockerImage", f"{repo}:latest", minimum_age="1h30m"),
        digest=d("c"),
        resolved_from=f"{repo}:latest",
        image=f"{repo}@{d('c')}",
        waiting=(WaitingItem(T2, digest=d("d")),),
        hold=HoldRecord("it's 'frozen'", T1),
    )
    calver = TagLock(
        TagSource(
            "DockerImage",
            repo,
            # exclude-tags: a name and a glob, in the order written.
            policy=PolicySpec(
                calver="YYYY.0M.0D", allow_downgrade=True, exclude=("2026.03.01", "2026.02.*")
            ),
        )
    )
    return Lock(
        tags={
            TagRef("team", "app", "semver"): semver,
            TagRef("team", "app", "pattern"): pattern,
            TagRef("team", "app", "plain"): plain,
            TagRef("team", "app", "calver"): calver,
        }
    )


def test_records_round_trip_on_one_line_each() -> None:
    text = render_lock(policy_lock()).decode()
    assert "policy: {semver: '~1.4', prereleases: true}" in text
    assert "minimumAge: 24h" in text
    assert "chosen: {tag: 1.4.7, over: 1.4.6, candidates: 3}" in text
    assert "- {tag: 1.4.8, firstSeen: '2026-03-02T10:00:00Z'}" in text
    assert f"- {{tag: 1.4.7, digest: '{d('f')}', firstSeen: '2026-03-01T10:00:00Z'}}" in text
    assert "policy: {pattern: '^v(?P<version>\\d+)$', order: alphabetical}" in text
    assert (
        "policy: {calver: YYYY.0M.0D, allowDowngrade: true, exclude: [2026.03.01, '2026.02.*']}"
        in text
    )
    assert "hold: {reason: 'CVE-2026-1234: wait for the fix''s review'," in text
    assert parse_lock(text) == policy_lock()


def test_the_fast_reader_reads_them_as_the_full_loader_does() -> None:
    text = render_lock(policy_lock()).decode()
    fast = yamlfast.load(text)
    assert fast is not yamlfast.NOT_OURS
    assert fast == machine_yaml().load(text)
    # The lock read through either gives the same model ("---" sends it to the full one).
    assert yamlfast.load("---\n" + text) is yamlfast.NOT_OURS
    assert parse_lock("---\n" + text) == parse_lock(text) == policy_lock()
    # Both refuse an item with neither a tag nor a digest, at the same place.
    broken = text.replace("- {tag: 1.4.8, firstSeen:", "- {firstSeen:", 1)
    errors = []
    for variant in (broken, "---\n" + broken):
        with pytest.raises(LockfileError) as caught:
            parse_lock(variant)
        errors.append(str(caught.value))
    assert all("must name a tag, a digest or both" in e for e in errors), errors


def test_v1_locks_have_none_and_still_load() -> None:
    from test_core_lockfile import GOLDEN_V1

    lock = parse_lock(GOLDEN_V1.read_bytes())
    assert all(e.chosen is None and not e.waiting and e.hold is None for e in lock.tags.values())
    assert all(e.source.policy is None for e in lock.tags.values())


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (
            "policy: {semver: '~1.4', prereleases: true}",
            "policy: {prereleases: true}",
            "exactly one",
        ),
        (
            "policy: {semver: '~1.4', prereleases: true}",
            "policy: {semver: '~1.4', calver: YYYY}",
            "exactly one",
        ),
        ("order: alphabetical}", "order: sideways}", "'order' must be one of"),
        ("candidates: 3}", "candidates: 0}", "at least 1"),
        ("candidates: 3}", "candidates: three}", "'candidates' missing or not a int"),
        ("- {tag: 1.4.8, firstSeen: '2026-03-02T10:00:00Z'}", "- {tag: 1.4.8}", "'firstSeen'"),
        (
            "- {tag: 1.4.8, firstSeen: '2026-03-02T10:00:00Z'}",
            "- {firstSeen: '2026-03-02T10:00:00Z'}",
            "a tag, a digest or both",
        ),
        ("since: '2026-03-01T10:00:00Z'}", "since: yesterday}", "RFC 3339"),
        ("exclude: [2026.03.01, '2026.02.*']}", "exclude: []}", "list of 1 to 64"),
        ("exclude: [2026.03.01, '2026.02.*']}", "exclude: 2026.03.01}", "list of 1 to 64"),
        ("exclude: [2026.03.01, '2026.02.*']}", "exclude: [2026.03.01, '']}", "item 1: an empty"),
        (
            "exclude: [2026.03.01, '2026.02.*']}",
            "exclude: ['2026.0[1-3].*']}",
            "item 0: '[' cannot be",
        ),
    ],
)
def test_malformed_records_are_refused_at_their_line(old: str, new: str, words: str) -> None:
    text = render_lock(policy_lock()).decode()
    assert old in text
    broken = text.replace(old, new, 1)
    with pytest.raises(LockfileError) as caught:
        parse_lock(broken)
    assert words in str(caught.value)
    line = next(i for i, row in enumerate(broken.splitlines(), 1) if new in row)
    assert caught.value.line == line
