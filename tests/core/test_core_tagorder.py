"""The order a capped bulk import takes a repository's tags in: OpenShift's
(library-go ``imageutil.PrioritizeTags``, used by openshift-apiserver's importer)."""

from __future__ import annotations

import itertools

import pytest

from reconciler.core.tagorder import Version, compare_semver, parse_semver, prioritize_tags


# The cases of library-go's own test (pkg/image/imageutil/helpers_test.go,
# TestPrioritizeTags), verbatim.
@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            ["other", "latest", "v5.5", "5.2.3", "5.5", "v5.3.6-bother", "5.3.6-abba", "5.6"],
            ["latest", "5.6", "5.5", "v5.5", "v5.3.6-bother", "5.3.6-abba", "5.2.3", "other"],
        ),
        (
            ["1.1-beta1", "1.2-rc1", "1.1-rc1", "1.1-beta2", "1.2-beta1", "1.2-alpha1",
             "1.2-beta4", "latest"],
            ["latest", "1.2-rc1", "1.2-beta4", "1.2-beta1", "1.2-alpha1", "1.1-rc1",
             "1.1-beta2", "1.1-beta1"],
        ),
        (["7.1", "v7.1", "7.1.0"], ["7.1", "v7.1", "7.1.0"]),
        (["7.1.0", "v7.1", "7.1"], ["7.1", "v7.1", "7.1.0"]),
    ],
)  # fmt: skip
def test_library_go_cases(tags: list[str], expected: list[str]) -> None:
    assert prioritize_tags(tags) == expected


def test_numbers_compare_as_numbers_and_the_rest_by_name() -> None:
    tags = ["9.0.1", "10.0.0", "1.10", "1.9", "zeta", "Alpha", "alpha", "2.0.0-rc.10", "2.0.0-rc.9"]
    assert prioritize_tags(tags) == [
        "1.10", "1.9", "10.0.0", "9.0.1", "2.0.0-rc.10", "2.0.0-rc.9", "Alpha", "alpha", "zeta",
    ]  # fmt: skip


def test_what_blang_semver_refuses_is_just_a_name() -> None:
    # Leading zeros, an underscore or an empty pre-release part, four parts: not versions.
    tags = ["01.2.3", "1.02", "1.2-rc_1", "1.2.3-", "1.2.3.4", "1.2.3-01", "1.2.3"]
    assert prioritize_tags(tags) == [
        "1.2.3", "01.2.3", "1.02", "1.2-rc_1", "1.2.3-", "1.2.3-01", "1.2.3.4",
    ]  # fmt: skip


def test_an_empty_tag_is_latest_and_duplicates_go() -> None:
    assert prioritize_tags(["", "1.0", "latest", "1.0"]) == ["latest", "1.0"]


def test_a_bulk_cap_keeps_the_newest_versions_not_the_first_names() -> None:
    tags = [f"1.{i}" for i in range(12)] + ["latest", "edge"]
    assert prioritize_tags(tags)[:3] == ["latest", "1.11", "1.10"]


def test_semver_compare() -> None:
    def v(text: str) -> Version:
        parsed = parse_semver(text)
        assert parsed is not None, text
        return parsed

    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]  # fmt: skip  # semver.org's own example
    for lower, higher in itertools.pairwise(order):
        assert compare_semver(v(lower), v(higher)) == -1
        assert compare_semver(v(higher), v(lower)) == 1
    assert compare_semver(v("1.2.3+build.1"), v("1.2.3")) == 0
    assert parse_semver("18446744073709551616.0.0") is None  # beyond uint64
