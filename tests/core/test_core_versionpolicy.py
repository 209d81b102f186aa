"""Version policies (reconciler.core.versionpolicy, tagpattern, calver): what each admits,
the order (total and stable: the same tags in any order give the same choice), and the
errors, with the offset of the problem in the policy's text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.calver import LayoutError, parse_layout
from reconciler.core.lockrecords import PolicySpec
from reconciler.core.tagpattern import PatternError, compile_pattern
from reconciler.core.versionpolicy import PolicyError, compare, compile_policy, rank

ISSUE_TAGS = ["1.2.0", "1.4.6", "1.4.7", "1.5.0-rc.1", "2.0.0", "latest"]


def best(spec: PolicySpec, tags: list[str]) -> str | None:
    ranked = rank(compile_policy(spec), tags)
    return ranked[0].tag if ranked else None


@pytest.mark.parametrize(
    ("semver", "prereleases", "before", "after_148"),
    [
        ("~1.4", False, "1.4.7", "1.4.8"),
        ("~1.4", True, "1.4.7", "1.4.8"),
        ("^1", False, "1.4.7", "1.4.8"),
        ("^1", True, "1.5.0-rc.1", "1.5.0-rc.1"),
        (">=1.0 <3", False, "2.0.0", "2.0.0"),
        (">=1.0 <3", True, "2.0.0", "2.0.0"),
    ],
)
def test_the_issues_matrix(semver: str, prereleases: bool, before: str, after_148: str) -> None:
    spec = PolicySpec(semver=semver, prereleases=prereleases)
    assert best(spec, ISSUE_TAGS) == before
    assert best(spec, [*ISSUE_TAGS, "1.4.8"]) == after_148


def test_candidates_and_runner_up() -> None:
    ranked = rank(compile_policy(PolicySpec(semver="~1.4")), ISSUE_TAGS)
    assert [c.tag for c in ranked] == ["1.4.7", "1.4.6"]


def test_ties_are_broken_by_name() -> None:
    policy = compile_policy(PolicySpec(semver="^1"))
    assert [c.tag for c in rank(policy, ["1.4.7", "v1.4.7", "1.4.6"])] == [
        "v1.4.7",
        "1.4.7",
        "1.4.6",
    ]
    numeric = compile_policy(PolicySpec(pattern=r"^v(?P<version>\d+)$", order="numerical"))
    assert [c.tag for c in rank(numeric, ["v10", "v010", "v9"])] == ["v10", "v010", "v9"]
    assert compare(policy, "1.4.7", "v1.4.7") == -1
    assert compare(policy, "1.4.7", "1.4.7") == 0
    assert compare(policy, "2.0.0", "1.4.7") is None  # outside ^1


def test_excluded_tags_are_never_candidates() -> None:
    # exclude-tags: names and globs (* and ?), matched case-sensitively on the whole name.
    tags = [*ISSUE_TAGS, "1.4.8", "1.5.0", "1.5.1", "1.6.0"]
    spec = PolicySpec(semver="^1", exclude=("1.4.8", "1.5.*", "1.?.0-*"))
    assert [c.tag for c in rank(compile_policy(spec), tags)] == ["1.6.0", "1.4.7", "1.4.6", "1.2.0"]
    assert best(PolicySpec(semver="~1.4", exclude=("1.4.8",)), tags) == "1.4.7"
    assert best(PolicySpec(semver="~1.4", exclude=("1.4.?",)), tags) is None
    assert best(PolicySpec(semver="~1.4", exclude=("1.4",)), tags) == "1.4.8"  # whole names
    policy = compile_policy(PolicySpec(semver="^1", exclude=("v1.4.7",)))
    assert policy.key("1.4.7") is not None and policy.key("v1.4.7") is None
    assert compare(policy, "v1.4.7", "1.4.6") is None
    pattern = PolicySpec(pattern=r"^(?P<version>[a-z]+)$", order="alphabetical", exclude=("B*",))
    assert best(pattern, ["alpha", "beta", "Beta"]) == "beta"  # case matters
    # No character classes: a bracket is no glob (validation refuses it anyway).
    assert best(PolicySpec(semver="~1.4", exclude=("1.4.[78]",)), tags) == "1.4.8"
    assert best(PolicySpec(semver="~1.4", exclude=("1.4.[78]*",)), tags) == "1.4.8"


def test_numerical_and_alphabetical_patterns() -> None:
    tags = ["v2", "v10", "v9", "v1.5", "vx", "latest", "build-3"]
    numerical = PolicySpec(pattern=r"^v(?P<version>[0-9.]+)$", order="numerical")
    assert [c.tag for c in rank(compile_policy(numerical), tags)] == ["v10", "v9", "v2", "v1.5"]
    alphabetical = PolicySpec(pattern=r"^v(?P<version>.+)$", order="alphabetical")
    assert best(alphabetical, tags) == "vx"
    # Flux's example: a branch build stamped with a time.
    flux = PolicySpec(pattern=r"^main-[a-f0-9]+-(?P<version>[0-9]+)", order="numerical")
    assert best(
        flux, ["main-3a2b1c-1700000100", "main-ffee00-1700000009", "dev-aa-1800000000"]
    ) == ("main-3a2b1c-1700000100")


def test_calver() -> None:
    daily = PolicySpec(calver="YYYY.0M.0D")
    assert (
        best(daily, ["2026.01.31", "2026.02.01", "2026.02.30", "2026.2.5", "latest"])
        == "2026.02.01"
    )
    builds = PolicySpec(calver="YYYYMMDD-N")
    tags = ["20260131-2", "20260131-10", "20260130-99", "20261301-1"]
    assert [c.tag for c in rank(compile_policy(builds), tags)] == [
        "20260131-10",
        "20260131-2",
        "20260130-99",
    ]
    short = parse_layout("vYY.MM")
    assert short.key("v26.3") == (2026, 3, 0, 0)
    assert short.key("v26.13") is None


@pytest.mark.parametrize(
    ("layout", "offset", "words"),
    [
        ("", 0, "empty"),
        ("YYYY.MM.DDD", 10, "unexpected 'D'"),
        ("YYYY.Mm", 5, "unexpected 'M'"),
        ("MM.DD", 0, "no year"),
        ("YYYY.DD", 5, "no month"),
        ("YYYY.YY", 5, "year a second time"),
        ("YYYY N N", 4, "unexpected ' '"),
        ("YYYY.N.MICRO", 7, "build a second time"),
    ],
)
def test_layout_errors(layout: str, offset: int, words: str) -> None:
    with pytest.raises(LayoutError) as caught:
        parse_layout(layout)
    assert words in caught.value.message
    assert caught.value.offset == offset


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"^v(\d+", "not a regular expression"),
        (r"^v\d+$", "no (?P<version>...) group"),
        (r"^(?P<version>(a+)+)$", "only a single character or class may repeat"),
        (r"^(?P<version>(ab|cd)*)$", "only a single character or class may repeat"),
        (r"^.*-(?P<version>\d+)$", "may start with '-'"),
        (r"^(?P<version>\d+)\d*$", "may start with '0'"),
        (r".*.*.*(?P<version>x)", "may start with"),
        (r"(?P<version>\d+)(?P=version)", "back-references"),
        (r"(?<=v)(?P<version>\d+)", "look-ahead and look-behind"),
        (r"(?x)(?P<version>\d+)", "flags other than"),
    ],
)
def test_patterns_that_could_stall_are_refused(pattern: str, words: str) -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern(pattern)
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        # Each took seconds to minutes on one tag of under 128 characters before it was
        # refused ("a" * 28 + "b" for the first: 10 s; the second: minutes).
        ("^(?P<version>" + "a?" * 28 + "a" * 28 + ")$", "an optional part may start like"),
        ("^(?P<version>" + "(?:a|aa)" * 30 + ")$", "two alternatives may start alike"),
        ("^(?P<version>(?:-rc)?-[0-9]+)$", "an optional part may start like"),
        ("^(?P<version>x(?:)?(?:)?)$", "an optional part may match nothing"),
        ("^(?P<version>x(?:|)(?:|))$", "two alternatives may match nothing"),
        # (?i): the long s and the Kelvin sign match s and k ("s" * 100 + "-": 2 s at 5).
        ("(?i)^(?P<version>" + "[a-z]*\u017f" * 5 + ")$", "may start with 'S'"),
        ("(?i)^(?P<version>" + "[a-z]*\u212a" * 5 + ")$", "may start with 'K'"),
        ("(?i)^(?P<version>[a-z]*[\u0100-\u0200])$", "may start with"),
        ("^(?P<version>(?i:" + "[a-z]*\u017f" * 5 + "))$", "may start with 'S'"),
    ],
)
def test_ambiguities_that_are_not_repetitions_are_refused_too(pattern: str, words: str) -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern(pattern)
    assert words in caught.value.message


@pytest.mark.parametrize(
    "pattern",
    [
        r"^v(?P<version>\d+)$",
        r"^(?P<version>\d+\.\d+\.\d+)$",
        r"^main-[a-fA-F0-9]+-(?P<version>.*)",
        r"^(v|V)?(?P<version>[0-9]+)-[a-f0-9]{7}$",
        r"^(?P<version>[0-9]{4}[0-9]{2})",
        r"^(?P<version>\d+|latest)$",
        r"(?i)^release-(?P<version>[^-]+)-[a-z]+$",
        r"^v?(?P<version>[0-9]+(?:\.[0-9]+)?)$",
        r"^(?P<version>\d+)(?:-(?:alpha|beta|rc)\d*)?$",
        r"^(?:release|rc)-(?P<version>\d+)$",
    ],
)
def test_patterns_people_write_are_accepted(pattern: str) -> None:
    compile_pattern(pattern)


def test_an_accepted_pattern_runs_in_linear_time_on_hostile_tags() -> None:
    import time

    pattern = compile_pattern(r"^[a-z0-9]+-(?P<version>[0-9]+)\.[0-9]+$")
    hostile = ["a" * 127, "1" * 127, "a-" + "1" * 125, "a-1." + "1" * 100 + "x"]
    started = time.perf_counter()
    for _ in range(200):
        for tag in hostile:
            assert pattern.extract(tag) is None
    assert time.perf_counter() - started < 2.0


def test_policy_errors_name_the_kind_and_place() -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy(PolicySpec(semver=">=1.4 <"))
    assert (caught.value.kind, caught.value.offset) == ("semver", 7)
    with pytest.raises(PolicyError) as caught:
        compile_policy(PolicySpec(pattern="^v(", order="numerical"))
    assert caught.value.kind == "tag-pattern" and caught.value.offset == 2  # the open group
    with pytest.raises(PolicyError) as caught:
        compile_policy(PolicySpec(calver="YYYY.Q"))
    assert caught.value.kind == "calver" and caught.value.offset == 5


VERSIONS = st.builds(
    lambda a, b, c, pre, v: f"{'v' if v else ''}{a}.{b}.{c}{pre}",
    st.integers(0, 3),
    st.integers(0, 5),
    st.integers(0, 9),
    st.sampled_from(["", "", "-rc.1", "-rc.2", "-alpha", "-0", "-beta.11"]),
    st.booleans(),
)
TAGS = st.lists(st.one_of(VERSIONS, st.sampled_from(["latest", "1.4", "main", "v1"])), max_size=30)
SPECS = st.sampled_from(
    [
        PolicySpec(semver="~1.4"),
        PolicySpec(semver="^1", prereleases=True),
        PolicySpec(semver=">=1.0 <3"),
        PolicySpec(semver="*", prereleases=True),
        PolicySpec(pattern=r"^v?(?P<version>[0-9]+)\.", order="numerical"),
        PolicySpec(pattern=r"^(?P<version>[^.]+)", order="alphabetical"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(spec=SPECS, tags=TAGS, data=st.data())
def test_the_same_tags_in_any_order_give_the_same_choice(
    spec: PolicySpec, tags: list[str], data: st.DataObject
) -> None:
    policy = compile_policy(spec)
    shuffled = data.draw(st.permutations(tags))
    doubled = [*shuffled, *data.draw(st.lists(st.sampled_from(tags), max_size=5))] if tags else []
    first, second, third = rank(policy, tags), rank(policy, shuffled), rank(policy, doubled)
    assert first == second == third
    # Total: every pair of admitted tags is ordered, and only a tag equals itself.
    for i, a in enumerate(first):
        for b in first[i + 1 :]:
            assert compare(policy, a.tag, b.tag) == 1
            assert compare(policy, b.tag, a.tag) == -1


def test_calver_numbers_glued_together_read_one_way() -> None:
    # With nothing between them, MM and DD are two digits: 2024111 is not both the 1st
    # of November and the 11th of January.
    layout = parse_layout("YYYYMMDD-N")
    assert layout.key("20240111-2") == (2024, 1, 11, 2)
    assert layout.key("2024111-2") == (2024, 11, 1, 2)
    assert parse_layout("YYYY.MM.DD").key("2024.1.5") == (2024, 1, 5, 0)
    # A short year or a build number has no width to fall back on: refused at its place.
    for text, offset in (("YYMMDD", 0), ("YYYY.N0M", 5)):
        with pytest.raises(LayoutError, match="no fixed width") as refused:
            parse_layout(text)
        assert refused.value.offset == offset
