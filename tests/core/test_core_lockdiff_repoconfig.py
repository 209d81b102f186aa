"""Table tests for reconciler.core.lockdiff (what changed, in a reviewer's words) and
reconciler.core.repoconfig (.reconciler.yaml)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.lockdiff import lock_changes, short
from reconciler.core.lockfile import Lock, TagLock, TagSource
from reconciler.core.lockrecords import ChosenRecord, PolicySpec
from reconciler.core.repoconfig import DEFAULT_LOCAL_REGISTRY, RepoConfig, parse_repo_config
from reconciler.core.streams import TagRef

NOW = "2024-06-01T00:00:00Z"
REF = TagRef("ns", "web", "latest")
SRC = TagSource("DockerImage", "nginx:1.25")


def d(ch: str) -> str:
    return "sha256:" + ch * 64


def at(digest: str, source: TagSource = SRC) -> TagLock:
    return TagLock(source).moved_to(digest, "docker.io/library/nginx@" + digest, NOW)


# ---------------------------------------------------------------------------
# lockdiff


def test_a_move_off_an_excluded_tag_says_why() -> None:
    # The commit message's words: the pinned 1.4.8 is in exclude-tags, so the policy
    # moved down to 1.4.7.
    semver = PolicySpec(semver="~1.4")
    before = replace(
        at(d("a"), TagSource("DockerImage", "quay.io/team/app", policy=semver)),
        chosen=ChosenRecord("1.4.8", 3, "1.4.7"),
    )
    excluding = TagSource(
        "DockerImage", "quay.io/team/app", policy=replace(semver, exclude=("1.4.8",))
    )
    after = replace(at(d("b"), excluding), chosen=ChosenRecord("1.4.7", 2, "1.4.6"))
    (change,) = lock_changes(Lock({REF: before}), Lock({REF: after}))
    assert change.kind == "moved"
    assert change.text == (
        f"{REF}: {d('a')[:19]} -> {d('b')[:19]} (1.4.8 -> 1.4.7: 1.4.8 excluded (exclude-tags); "
        "picked 1.4.7 over 1.4.6 by semver ~1.4 (2 candidates))"
    )
    # A move up with an exclusion list says nothing of it.
    up = replace(after, chosen=ChosenRecord("1.4.9", 3, "1.4.7"))
    (change,) = lock_changes(
        Lock({REF: replace(before, chosen=ChosenRecord("1.4.7", 2))}), Lock({REF: up})
    )
    assert "excluded" not in change.text and "1.4.7 -> 1.4.9: picked 1.4.9" in change.text


@pytest.mark.parametrize(
    ("old", "new", "kind", "text"),
    [
        pytest.param(
            None,
            at(d("a")),
            "added",
            f"ns/web:latest: added, from nginx:1.25 -> {d('a')[:19]}",
            id="added",
        ),
        pytest.param(
            None,
            TagLock(SRC).failed("NotFound", "x", NOW),
            "added",
            "ns/web:latest: added, from nginx:1.25 (failed: NotFound)",
            id="added-failed",
        ),
        pytest.param(
            None, TagLock(SRC), "added", "ns/web:latest: added, from nginx:1.25", id="added-bare"
        ),
        pytest.param(
            at(d("a")), None, "removed", f"ns/web:latest: removed (was {d('a')[:19]})", id="removed"
        ),
        pytest.param(
            TagLock(SRC),
            None,
            "removed",
            "ns/web:latest: removed (was (none))",
            id="removed-unresolved",
        ),
        pytest.param(
            at(d("a")),
            at(d("a")).moved_to(d("b"), "i@" + d("b"), NOW),
            "moved",
            f"ns/web:latest: {d('a')[:19]} -> {d('b')[:19]}",
            id="moved",
        ),
        pytest.param(
            at(d("a")),
            at(d("a"), TagSource("DockerImage", "nginx:1.26")),
            "spec",
            "ns/web:latest: spec changed, now from nginx:1.26",
            id="spec",
        ),
        pytest.param(
            at(d("a")),
            at(d("a")).failed("Unauthorized", "denied", NOW),
            "failed",
            "ns/web:latest: import failed (Unauthorized): denied",
            id="failed",
        ),
        pytest.param(
            at(d("a")).failed("Unauthorized", "denied", NOW),
            at(d("a")).failed("Unauthorized", "still denied", NOW),
            "failed",
            "ns/web:latest: import failed (Unauthorized): still denied",
            id="failed-differently",
        ),
        pytest.param(
            at(d("a")).failed("Unauthorized", "denied", NOW),
            at(d("a")),
            "recovered",
            "ns/web:latest: import succeeded again",
            id="recovered",
        ),
        pytest.param(
            at(d("a")),
            TagLock(SRC, digest=d("a"), image="other@" + d("a"), history=at(d("a")).history),
            "spec",
            "ns/web:latest: updated",
            id="updated-image",
        ),
    ],
)
def test_lock_changes(old, new, kind, text):
    old_lock = Lock(tags={REF: old}) if old else Lock()
    new_lock = Lock(tags={REF: new}) if new else Lock()
    (change,) = lock_changes(old_lock, new_lock)
    assert (change.ref, change.kind, change.text) == (REF, kind, text)


def test_no_changes():
    lock = Lock(tags={REF: at(d("a"))})
    assert lock_changes(lock, lock) == []
    assert lock_changes(Lock(), Lock()) == []


def test_changes_sorted_by_tag():
    refs = [
        TagRef("b", "s", "t"),
        TagRef("a", "z", "t"),
        TagRef("a", "s", "u"),
        TagRef("a", "s", "t"),
    ]
    new = Lock(tags={r: at(d("a")) for r in refs})
    assert [c.ref for c in lock_changes(Lock(), new)] == sorted(refs)


@pytest.mark.parametrize(
    ("digest", "text"), [(None, "(none)"), ("", "(none)"), (d("f"), "sha256:ffffffffffff")]
)
def test_short(digest, text):
    assert short(digest) == text


# ---------------------------------------------------------------------------
# repoconfig


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", RepoConfig(), id="empty"),
        pytest.param("# nothing\n", RepoConfig(), id="comment-only"),
        pytest.param(
            "defaultNamespace: team\nlocalRegistry: reg.local:5000/\nlocalRegistryInsecure: true\n"
            "external: ['openshift/*:*', 'team/base:1']\n",
            RepoConfig("team", "reg.local:5000", True, ("openshift/*:*", "team/base:1")),
            id="all-set-trailing-slash-trimmed",
        ),
        pytest.param("external: []\n", RepoConfig(), id="empty-external"),
    ],
)
def test_repo_config_values(text, expected):
    config, problems = parse_repo_config(text, ".reconciler.yaml")
    assert problems == []
    assert config == expected


@pytest.mark.parametrize(
    ("text", "key", "line", "column", "fragment", "field", "default"),
    [
        pytest.param(
            "defaultNamespace: a\nlocalRegistry: r.io\nexternals: []\n",
            "externals", 3, 1, "unknown setting (known: defaultNamespace, external, localRegistry, "
            "localRegistryInsecure, pullSecrets, signatures, writeBack)", None, None, id="unknown-key",
        ),
        pytest.param(
            "defaultNamespace: 5\n", "defaultNamespace", 1, 1, "must be a non-empty string",
            "default_namespace", "default", id="namespace-int",
        ),
        pytest.param(
            "external: []\ndefaultNamespace: ''\n", "defaultNamespace", 2, 1,
            "must be a non-empty string", "default_namespace", "default", id="namespace-empty",
        ),
        pytest.param(
            "defaultNamespace: Toms_Project\n", "defaultNamespace", 1, 1,
            "must be a DNS-1123 label", "default_namespace", "default", id="namespace-not-a-label",
        ),
        pytest.param(
            "defaultNamespace: " + "a" * 64 + "\n", "defaultNamespace", 1, 1,
            "at most 63 characters", "default_namespace", "default", id="namespace-too-long",
        ),
        pytest.param(
            "localRegistry: [a]\n", "localRegistry", 1, 1, "must be a registry host",
            "local_registry", DEFAULT_LOCAL_REGISTRY, id="registry-list",
        ),
        pytest.param(
            "  localRegistryInsecure: 'yes'\n", "localRegistryInsecure", 1, 3,
            "must be true or false", "local_registry_insecure", False, id="insecure-string",
        ),
        pytest.param(
            "external: 'team/*'\n", "external", 1, 1, "must be a list of", "external", (),
            id="external-string",
        ),
        pytest.param(
            "external: [a, 1]\n", "external", 1, 1, "must be a list of", "external", (),
            id="external-mixed",
        ),
    ],
)  # fmt: skip
def test_repo_config_problems(text, key, line, column, fragment, field, default):
    config, problems = parse_repo_config(text, "repo/.reconciler.yaml")
    (v,) = problems
    assert (v.file, v.line, v.column, v.path, v.object) == (
        "repo/.reconciler.yaml",
        line,
        column,
        key,
        "",
    )
    assert fragment in v.message
    assert v.is_error
    if field is not None:
        assert getattr(config, field) == default


def test_bad_field_does_not_spoil_the_good_ones():
    config, problems = parse_repo_config(
        "defaultNamespace: team\nlocalRegistryInsecure: 1\nexternal: ['x/*:*']\n", "c.yaml"
    )
    assert [v.path for v in problems] == ["localRegistryInsecure"]
    assert config == RepoConfig(default_namespace="team", external=("x/*:*",))


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("- a\n- b\n", 1, "must be a mapping"),
        ("defaultNamespace: [\n", 2, "YAML error"),
        ("a: 1\na: 2\n", 2, "YAML error"),
    ],
)
def test_repo_config_file_problems(text, line, fragment):
    config, problems = parse_repo_config(text, "c.yaml")
    assert config == RepoConfig()
    (v,) = problems
    assert v.line == line
    assert fragment in v.message


@pytest.mark.parametrize(
    ("patterns", "tag", "external"),
    [
        ((), ("ns", "s", "t"), False),
        (("ns/s:t",), ("ns", "s", "t"), True),
        (("ns/s:*",), ("ns", "s", "anything"), True),
        (("ns/*",), ("ns", "s", "t"), True),
        (("NS/s:t",), ("ns", "s", "t"), False),  # case-sensitive
        (("ns/s:t",), ("ns", "s", "t2"), False),
        (("other/*", "ns/s:?"), ("ns", "s", "t"), True),
    ],
)
def test_is_external(patterns, tag, external):
    assert RepoConfig(external=patterns).is_external(*tag) is external
