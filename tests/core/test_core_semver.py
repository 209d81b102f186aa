"""Semantic versions and node-semver ranges (reconciler.core.semver)."""

from __future__ import annotations

import pytest

from reconciler.core.semver import RangeError, parse_range, parse_version


def v(text: str):  # type: ignore[no-untyped-def]
    version = parse_version(text)
    assert version is not None, text
    return version


@pytest.mark.parametrize(
    "text",
    ["1.2.3", "v1.2.3", "0.0.0", "1.2.3-rc.1", "1.2.3-0", "1.2.3-alpha-b.7", "1.2.3+build.5"],
)
def test_versions(text: str) -> None:
    assert parse_version(text) is not None


@pytest.mark.parametrize(
    "text",
    ["1.2", "1", "latest", "01.2.3", "1.02.3", "1.2.3-01", "1.2.3.4", "V1.2.3", "1.2.3-", "=1.2.3"],
)
def test_not_versions(text: str) -> None:
    assert parse_version(text) is None


def test_precedence_follows_semver_org() -> None:
    # semver.org section 11's example, in order.
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
        "10.0.0",
    ]
    keys = [v(t).key for t in ordered]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert v("1.0.0+a").key == v("v1.0.0").key == v("1.0.0").key


# (range, versions it admits, versions it refuses), without pre-releases asked for.
CASES = [
    ("~1.4", ["1.4.0", "1.4.7", "v1.4.99"], ["1.3.9", "1.5.0", "1.4.8-rc.1", "1.5.0-0"]),
    ("~1.4.6", ["1.4.6", "1.4.7"], ["1.4.5", "1.5.0"]),
    ("~1", ["1.0.0", "1.9.9"], ["2.0.0", "0.9.9"]),
    ("~>1.4", ["1.4.2"], ["1.5.0"]),
    ("^1", ["1.0.0", "1.4.7", "1.99.0"], ["2.0.0", "0.9.0", "1.5.0-rc.1", "2.0.0-rc.1"]),
    ("^1.4.6", ["1.4.6", "1.9.0"], ["1.4.5", "2.0.0"]),
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
    ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
    ("^0.0", ["0.0.0", "0.0.9"], ["0.1.0"]),
    ("^0.x", ["0.0.1", "0.9.9"], ["1.0.0"]),
    ("^1.2.x", ["1.2.0", "1.9.0"], ["2.0.0", "1.1.9"]),
    (">=1.4 <2", ["1.4.0", "1.9.9"], ["1.3.9", "2.0.0", "2.0.0-rc.1"]),
    (">=1.0 <3", ["1.2.0", "2.0.0"], ["3.0.0", "1.5.0-rc.1", "0.9.0"]),
    (">= 1.4, < 2", ["1.4.0"], ["2.0.0"]),
    (">1", ["2.0.0"], ["1.9.9", "1.0.0"]),
    (">1.2", ["1.3.0"], ["1.2.9"]),
    ("<1.2", ["1.1.9"], ["1.2.0", "1.2.0-rc.1"]),
    ("<=1.2", ["1.2.9"], ["1.3.0"]),
    ("=1.2", ["1.2.0", "1.2.5"], ["1.3.0"]),
    ("1.4.7", ["1.4.7", "v1.4.7"], ["1.4.6", "1.4.8"]),
    ("1.x", ["1.0.0", "1.9.0"], ["2.0.0"]),
    ("1.2.*", ["1.2.3"], ["1.3.0"]),
    ("*", ["0.0.1", "9.9.9"], ["1.0.0-rc.1"]),
    ("x", ["1.0.0"], []),
    ("1.2 - 2.3.4", ["1.2.0", "2.3.4"], ["1.1.9", "2.3.5"]),
    ("1.2.3 - 2", ["1.2.3", "2.9.9"], ["3.0.0"]),
    ("1.2.3 - 2.3", ["2.3.9"], ["2.4.0"]),
    ("1.x || >=2.5.0 || 5.0.0 - 7.2.3", ["1.2.3", "2.5.0", "8.0.0"], ["2.0.0", "2.4.9"]),
    ("1.x || 5.0.0 - 7.2.3", ["6.0.0"], ["8.0.0", "3.0.0"]),
    # A set that names a pre-release of the same MAJOR.MINOR.PATCH admits its siblings.
    (">=1.5.0-rc.0 <2", ["1.5.0-rc.1", "1.5.0", "1.9.0"], ["1.6.0-rc.1"]),
    ("^1.5.0-rc.1", ["1.5.0-rc.2", "1.5.1"], ["1.5.0-rc.0", "1.6.0-beta"]),
    (">1", ["2.0.0"], ["2.0.0-rc.1"]),
    ("<0.0.0", [], ["0.0.0"]),
]


@pytest.mark.parametrize(("text", "admits", "refuses"), CASES)
def test_ranges_as_node_semver_reads_them(text: str, admits: list[str], refuses: list[str]) -> None:
    semver_range = parse_range(text)
    for version in admits:
        assert semver_range.satisfied_by(v(version)), (text, version, semver_range.describe())
    for version in refuses:
        assert not semver_range.satisfied_by(v(version)), (text, version, semver_range.describe())


PRERELEASE_CASES = [
    ("^1", ["1.5.0-rc.1", "1.0.0-0", "1.4.7"], ["2.0.0-rc.1", "0.9.0"]),
    ("~1.4", ["1.4.0-rc.1", "1.4.8-beta"], ["1.5.0-0", "1.3.9"]),
    (">=1.0 <3", ["1.5.0-rc.1", "2.0.0"], ["3.0.0-rc.1", "1.0.0-rc.1"]),
    ("1.x", ["1.0.0-rc.1"], ["2.0.0-0"]),
    ("*", ["0.0.1-alpha"], []),
]


@pytest.mark.parametrize(("text", "admits", "refuses"), PRERELEASE_CASES)
def test_with_prereleases_they_are_ordinary_versions(
    text: str, admits: list[str], refuses: list[str]
) -> None:
    semver_range = parse_range(text, include_prereleases=True)
    for version in admits:
        assert semver_range.satisfied_by(v(version)), (text, version, semver_range.describe())
    for version in refuses:
        assert not semver_range.satisfied_by(v(version)), (text, version, semver_range.describe())


def test_desugared_forms() -> None:
    assert parse_range("~1.4").describe() == ">=1.4.0 <1.5.0-0"
    assert parse_range("^1").describe() == ">=1.0.0 <2.0.0-0"
    assert parse_range("^1", include_prereleases=True).describe() == ">=1.0.0-0 <2.0.0-0"
    assert parse_range(">=1.4 <2").describe() == ">=1.4.0 <2.0.0-0"
    assert parse_range("*").describe() == "*"


@pytest.mark.parametrize(
    ("text", "offset", "words"),
    [
        ("", 0, "empty"),
        ("   ", 3, "empty"),
        ("~1.4 ||", 7, "after ||"),
        (">=", 2, "after '>='"),
        (">=1.4 <", 7, "after '<'"),
        ("1.4.a", 0, "not a version"),
        ("01.4", 0, "not a version"),
        ("~1.4 @2", 5, "unexpected '@'"),
        ("banana", 0, "unexpected 'b'"),
        ("1.2-rc.1", 0, "full MAJOR.MINOR.PATCH"),
        ("1.2.3-01", 0, "leading zero"),
        (">=1.4,", 6, "after ','"),
        (", 1.4", 0, "no comparator before"),
        ("1.2.3 - ", 8, "after ' - '"),
        ("~1.4)", 4, "unexpected ')'"),
    ],
)
def test_errors_say_where(text: str, offset: int, words: str) -> None:
    with pytest.raises(RangeError) as caught:
        parse_range(text)
    assert words in caught.value.message
    assert caught.value.offset == offset, caught.value.message


def test_long_numbers_are_not_versions() -> None:
    assert parse_version("1" * 19 + ".0.0") is None
    with pytest.raises(RangeError):
        parse_range("~" + "9" * 30)
    with pytest.raises(RangeError):
        parse_range("1.0.0 " * 60)
