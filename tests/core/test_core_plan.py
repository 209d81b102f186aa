"""Table tests for reconciler.core.resolution: desired_tags, import_requests and build_lock."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from reconciler.core.consumers import Consumer, read_consumer
from reconciler.core.lockfile import (
    Condition,
    Lock,
    TagLock,
    TagSource,
    parse_lock,
    render_lock,
)
from reconciler.core.manifests import ManifestObject, ObjectKey, parse_manifests
from reconciler.core.references import ImageReference
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.resolution import (
    PUSH,
    DesiredTags,
    Failure,
    Resolution,
    build_lock,
    desired_tags,
    import_requests,
    overtaken,
    recheckable,
)
from reconciler.core.streams import TagRef

NOW = "2024-06-01T00:00:00Z"
EARLIER = "2024-01-01T00:00:00Z"
LOCAL_REG = "registry.local:5000"
CONFIG = RepoConfig(local_registry=LOCAL_REG)


def d(ch: str) -> str:
    return "sha256:" + ch * 64


def objects(text: str) -> list[ManifestObject]:
    parsed = parse_manifests(textwrap.dedent(text), "m.yaml", default_namespace="ns")
    assert parsed.violations == []
    return parsed.objects


def r(tag: str, stream: str = "s", namespace: str = "ns") -> TagRef:
    return TagRef(namespace, stream, tag)


def docker(name: str, **kw) -> TagSource:
    return TagSource("DockerImage", name, **kw)


def resolved(source: TagSource, digest: str, repo: str = "docker.io/library/nginx") -> TagLock:
    return TagLock(source, resolved_from=f"{repo}:x").moved_to(digest, f"{repo}@{digest}", EARLIER)


STREAMS = """\
kind: ImageStream
metadata: {name: s}
spec:
  tags:
  - name: plain
    from: {kind: DockerImage, name: "nginx:1.25"}
  - name: sched
    from: {kind: DockerImage, name: "quay.io/org/app:2"}
    importPolicy: {scheduled: true, insecure: true, importMode: PreserveOriginal}
  - name: alias
    from: {kind: ImageStreamTag, name: "s:plain"}
  - name: pushed
  - name: ref
    from: {kind: DockerImage, name: "nginx:1.26"}
    reference: true
  - name: local
    from: {kind: DockerImage, name: "nginx:1.25"}
    referencePolicy: {type: Local}
---
kind: ImageStream
metadata: {name: broken}
spec:
  tags:
  - name: t
    from: {kind: DockerImage, name: "x:1"}
---
kind: BuildConfig
metadata: {name: b1}
spec:
  output:
    to: {kind: ImageStreamTag, name: "out:latest"}
---
kind: BuildConfig
metadata: {name: b2}
spec:
  output:
    to: {kind: ImageStreamTag, name: "s:plain"}
---
kind: BuildConfig
metadata: {name: b3}
spec:
  output:
    to: {kind: ImageStreamTag, name: "s:pushed"}
---
kind: BuildConfig
metadata: {name: b4}
spec:
  output:
    to: {kind: ImageStreamTag, name: "broken:t2"}
"""


def desired(config: RepoConfig = CONFIG, **kw) -> DesiredTags:
    objs = objects(STREAMS)
    streams = [o for o in objs if o.kind == "ImageStream"]
    consumers = [read_consumer(o) for o in objs if o.kind == "BuildConfig"]
    valid = [s for s in streams if s.name != "broken"]
    invalid = [s for s in streams if s.name == "broken"]
    return desired_tags(valid, invalid, consumers, config, **kw)


# ---------------------------------------------------------------------------
# desired_tags


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (r("plain"), docker("nginx:1.25")),
        (
            r("sched"),
            docker(
                "quay.io/org/app:2", scheduled=True, insecure=True, import_mode="PreserveOriginal"
            ),
        ),
        (r("alias"), TagSource("ImageStreamTag", "s:plain")),
        # a tag with no from is filled by pushes to the local registry; a build writing
        # to it makes the Push source Local
        (r("pushed"), TagSource(PUSH, f"{LOCAL_REG}/ns/s:pushed", reference_policy="Local")),
        (r("ref"), docker("nginx:1.26", reference=True)),
        (r("local"), docker("nginx:1.25", reference_policy="Local")),
        # a build output to a stream not declared here
        (
            r("latest", "out"),
            TagSource(PUSH, f"{LOCAL_REG}/ns/out:latest", reference_policy="Local"),
        ),
    ],
)
def test_desired_sources(ref, expected):
    assert desired().sources[ref] == expected


def test_desired_tags_set():
    got = desired()
    # the build output to s:plain does not override its DockerImage source; the output to
    # the invalid stream is left alone, as are the invalid stream's tags
    assert set(got.sources) == {
        r("plain"),
        r("sched"),
        r("alias"),
        r("pushed"),
        r("ref"),
        r("local"),
        r("latest", "out"),
    }
    assert got.frozen_streams == frozenset({("ns", "broken")})
    assert got.keep_unlisted is False
    assert desired(unreadable=True).keep_unlisted is True


def test_push_tag_insecure_follows_local_registry_setting():
    config = RepoConfig(local_registry=LOCAL_REG, local_registry_insecure=True)
    got = desired(config).sources
    assert got[r("pushed")].insecure is True
    assert got[r("latest", "out")].insecure is True
    assert got[r("plain")].insecure is False


# ---------------------------------------------------------------------------
# import_requests


def one_tag(source: TagSource, ref: TagRef | None = None) -> DesiredTags:
    return DesiredTags({ref or r("t"): source}, frozenset())


NGINX = docker("nginx:1.25")
SCHED = docker("nginx:1.25", scheduled=True)
PUSH_SRC = TagSource(PUSH, f"{LOCAL_REG}/ns/s:t")
PUSH_OLD = resolved(PUSH_SRC, d("a"))


@pytest.mark.parametrize(
    ("source", "old", "due", "requested"),
    [
        pytest.param(NGINX, None, None, True, id="new-tag"),
        pytest.param(NGINX, resolved(NGINX, d("a")), None, False, id="unchanged-not-scheduled"),
        pytest.param(SCHED, resolved(SCHED, d("a")), None, True, id="scheduled-always"),
        pytest.param(SCHED, resolved(SCHED, d("a")), [r("t")], True, id="scheduled-due"),
        pytest.param(SCHED, resolved(SCHED, d("a")), [r("x")], False, id="scheduled-not-due"),
        pytest.param(SCHED, resolved(NGINX, d("a")), [], True, id="became-scheduled-spec"),
        pytest.param(
            docker("nginx:1.26"), resolved(NGINX, d("a")), None, True, id="spec-change-name"
        ),
        pytest.param(
            docker("nginx:1.25", import_mode="PreserveOriginal"),
            resolved(NGINX, d("a")),
            None,
            True,
            id="spec-change-mode",
        ),
        pytest.param(
            NGINX,
            resolved(NGINX, d("a")).failed("Unauthorized", "no", EARLIER),
            None,
            True,
            id="failed-before",
        ),
        pytest.param(NGINX, TagLock(NGINX), None, True, id="never-resolved"),
        pytest.param(PUSH_SRC, PUSH_OLD, None, True, id="push-one-shot"),
        pytest.param(PUSH_SRC, PUSH_OLD, [r("t")], True, id="push-due"),
        pytest.param(PUSH_SRC, PUSH_OLD, [], False, id="push-not-due"),
        pytest.param(PUSH_SRC, None, [], True, id="push-new"),
        pytest.param(docker("nginx:1", reference=True), None, None, False, id="reference-only"),
        pytest.param(TagSource("ImageStreamTag", "s:a"), None, None, False, id="alias"),
        pytest.param(
            TagSource("ImageStreamImage", "s@" + d("a")), None, None, False, id="image-pin"
        ),
    ],
)
def test_import_requested(source, old, due, requested):
    lock = Lock(tags={r("t"): old}) if old is not None else Lock()
    requests, failures = import_requests(one_tag(source), lock, scheduled_due=due)
    assert failures == {}
    assert [q.ref for q in requests] == ([r("t")] if requested else [])


@pytest.mark.parametrize(
    ("source", "image", "insecure", "mode"),
    [
        (NGINX, ImageReference(None, "nginx", "1.25"), False, "Legacy"),
        (docker("nginx"), ImageReference(None, "nginx", "latest"), False, "Legacy"),
        (docker("nginx@" + d("a")), ImageReference(None, "nginx", None, d("a")), False, "Legacy"),
        (
            docker("Docker.io/nginx:1", insecure=True, import_mode="PreserveOriginal"),
            ImageReference("docker.io", "library/nginx", "1"),
            True,
            "PreserveOriginal",
        ),
        (
            TagSource(PUSH, "registry.local:5000/ns/s:t", insecure=True),
            ImageReference("registry.local:5000", "ns/s", "t"),
            True,
            "Legacy",
        ),
    ],
)
def test_import_request_fields(source, image, insecure, mode):
    (request,), _ = import_requests(one_tag(source), Lock())
    assert request.image == image
    assert request.insecure is insecure
    assert request.import_mode == mode


@pytest.mark.parametrize(
    ("source", "old", "known"),
    [
        pytest.param(SCHED, None, None, id="new-tag"),
        pytest.param(SCHED, resolved(SCHED, d("a")), d("a"), id="same-source"),
        pytest.param(
            SCHED,
            resolved(SCHED, d("a")).failed("Timeout", "slow", EARLIER),
            d("a"),
            id="failing-keeps-last-good",
        ),
        pytest.param(SCHED, resolved(NGINX, d("a")), None, id="source-changed"),
        pytest.param(SCHED, TagLock(SCHED), None, id="never-resolved"),
        pytest.param(PUSH_SRC, PUSH_OLD, d("a"), id="build-output"),
    ],
)
def test_import_request_carries_the_digest_pinned_for_the_same_source(source, old, known):
    # The registry may confirm that digest by HEAD alone; any other is read before it is
    # pinned (reconciler.registry.client). A changed source never vouches for the old one.
    lock = Lock(tags={r("t"): old}) if old is not None else Lock()
    (request,), _ = import_requests(one_tag(source), lock)
    assert request.known_digest == known
    # Not part of equality: an answer had earlier in the pass is reused whatever it says.
    assert request == replace(request, known_digest=None if known else d("b"))


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Nginx:1", "repository names must be lowercase"),
        ("nginx:bad tag", "tag 'bad tag'"),
        ("", "empty image reference"),
        ("nginx@sha256:123", "is not sha256:<64 lowercase hex>"),
    ],
)
def test_invalid_reference_is_a_failure_not_a_request(name, fragment):
    requests, failures = import_requests(one_tag(docker(name)), Lock())
    assert requests == []
    assert list(failures) == [r("t")]
    assert failures[r("t")].reason == "InvalidImageReference"
    assert fragment in failures[r("t")].message


def test_requests_are_sorted_and_skip_non_imports():
    requests, failures = import_requests(desired(), Lock())
    assert failures == {}
    assert [q.ref for q in requests] == [
        r("latest", "out"),
        r("local"),
        r("plain"),
        r("pushed"),
        r("sched"),
    ]


def test_committed_lock_round_trip_asks_nothing_for_settled_tags():
    """After a pass the lock is committed and read back; unchanged non-scheduled tags
    must then compare equal to the desired sources, or they would be re-imported
    forever."""
    want = desired()
    old = Lock(
        tags={
            ref: resolved(src, d("a"))
            for ref, src in want.sources.items()
            if src.kind in ("DockerImage", PUSH)
        }
    )
    reread = parse_lock(render_lock(old))
    requests, _ = import_requests(want, reread, scheduled_due=[])
    assert requests == []
    # a one-shot pass re-checks what can move by itself: scheduled tags and build outputs
    requests, _ = import_requests(want, reread)
    assert [q.ref.tag for q in requests] == ["latest", "pushed", "sched"]
    assert [q.ref for q in requests] == recheckable(want)


# ---------------------------------------------------------------------------
# build_lock


def build(
    sources: dict[TagRef, TagSource],
    outcomes=None,
    old: Lock | None = None,
    frozen=(),
    consumers=(),
    frozen_consumers=(),
    keep_unlisted=False,
) -> Lock:
    want = DesiredTags(sources, frozenset(frozen), keep_unlisted)
    return build_lock(
        old or Lock(), want, outcomes or {}, list(consumers), frozen_consumers, CONFIG, NOW
    )


@pytest.mark.parametrize(
    ("source", "outcome", "image", "resolved_from"),
    [
        pytest.param(
            NGINX,
            Resolution(d("a"), "docker.io/library/nginx:1.25"),
            "docker.io/library/nginx@" + d("a"),
            "docker.io/library/nginx:1.25",
            id="source-policy",
        ),
        pytest.param(
            docker("nginx:1.25", reference_policy="Local"),
            Resolution(d("a"), "docker.io/library/nginx:1.25"),
            f"{LOCAL_REG}/ns/s@" + d("a"),
            "docker.io/library/nginx:1.25",
            id="local-policy",
        ),
        pytest.param(
            TagSource(PUSH, f"{LOCAL_REG}/ns/s:t", reference_policy="Local"),
            Resolution(d("a"), f"{LOCAL_REG}/ns/s:t"),
            f"{LOCAL_REG}/ns/s@" + d("a"),
            f"{LOCAL_REG}/ns/s:t",
            id="push",
        ),
        pytest.param(
            docker("quay.io/o/a@" + d("a")),
            Resolution(d("a"), "quay.io/o/a@" + d("a")),
            "quay.io/o/a@" + d("a"),
            "quay.io/o/a@" + d("a"),
            id="by-digest",
        ),
    ],
)
def test_resolution_pins(source, outcome, image, resolved_from):
    lock = build({r("t"): source}, {r("t"): outcome})
    entry = lock.get(r("t"))
    assert entry.source == source
    assert entry.digest == d("a")
    assert entry.image == image
    assert entry.resolved_from == resolved_from
    assert [(h.digest, h.image, h.created, h.generation) for h in entry.history] == [
        (d("a"), image, NOW, 1)
    ]
    assert entry.condition is None


def test_failure_keeps_last_digest():
    old = Lock(tags={r("t"): resolved(NGINX, d("a"))})
    lock = build({r("t"): NGINX}, {r("t"): Failure("NotFound", "manifest unknown")}, old)
    entry = lock.get(r("t"))
    assert entry.digest == d("a")
    assert entry.history == old.get(r("t")).history
    assert entry.condition == Condition("NotFound", "manifest unknown", NOW)


def test_spec_change_moves_and_records_new_source():
    old = Lock(tags={r("t"): resolved(NGINX, d("a"))})
    new_source = docker("nginx:1.26")
    lock = build(
        {r("t"): new_source}, {r("t"): Resolution(d("b"), "docker.io/library/nginx:1.26")}, old
    )
    entry = lock.get(r("t"))
    assert entry.source == new_source
    assert [h.generation for h in entry.history] == [2, 1]
    assert entry.resolved_from == "docker.io/library/nginx:1.26"


def test_no_outcome_keeps_entry():
    old = Lock(tags={r("t"): resolved(NGINX, d("a"))})
    assert build({r("t"): NGINX}, {}, old) == old


def test_same_digest_again_changes_nothing():
    old = Lock(tags={r("t"): resolved(NGINX, d("a"))})
    outcome = Resolution(d("a"), "docker.io/library/nginx:x")
    assert render_lock(build({r("t"): NGINX}, {r("t"): outcome}, old)) == render_lock(old)


def test_reference_tags_pin_nothing():
    ref_source = docker("nginx:1", reference=True)
    old = Lock(tags={r("t"): resolved(NGINX, d("a"))})
    entry = build({r("t"): ref_source}, {}, old).get(r("t"))
    assert (entry.digest, entry.image, entry.resolved_from) == (None, None, None)
    assert entry.source == ref_source


# aliases ------------------------------------------------------------------


def alias(name: str, namespace: str | None = None, **kw) -> TagSource:
    return TagSource("ImageStreamTag", name, namespace=namespace, **kw)


BASE_OK = {r("base"): NGINX}
BASE_OUT = {r("base"): Resolution(d("a"), "docker.io/library/nginx:1.25")}
PINNED = "docker.io/library/nginx@" + d("a")


@pytest.mark.parametrize(
    ("aliases", "expect"),
    [
        pytest.param({r("a"): alias("s:base")}, {r("a"): (PINNED, "ns/s:base")}, id="direct"),
        pytest.param({r("a"): alias("base")}, {r("a"): (PINNED, "ns/s:base")}, id="bare-name"),
        pytest.param(
            {r("a"): alias("s:b"), r("b"): alias("s:c"), r("c"): alias("s:base")},
            {
                r("a"): (PINNED, "ns/s:b"),
                r("b"): (PINNED, "ns/s:c"),
                r("c"): (PINNED, "ns/s:base"),
            },
            id="chain-sorted-before-target",
        ),
        pytest.param(
            {r("z"): alias("s:y"), r("y"): alias("s:base")},
            {r("z"): (PINNED, "ns/s:y"), r("y"): (PINNED, "ns/s:base")},
            id="chain-sorted-after-target",
        ),
        pytest.param(
            {r("a", "t", "other"): alias("s:base", namespace="ns")},
            {r("a", "t", "other"): (PINNED, "ns/s:base")},
            id="cross-namespace",
        ),
        pytest.param(
            {r("a"): alias("s:base", reference_policy="Local")},
            {r("a"): (f"{LOCAL_REG}/ns/s@" + d("a"), "ns/s:base")},
            id="alias-local-policy",
        ),
    ],
)
def test_aliases_follow_targets(aliases, expect):
    lock = build({**BASE_OK, **aliases}, BASE_OUT)
    for ref, (image, resolved_from) in expect.items():
        entry = lock.get(ref)
        assert entry.digest == d("a"), ref
        assert entry.image == image
        assert entry.resolved_from == resolved_from
        assert entry.condition is None
        assert [h.generation for h in entry.history] == [1]


@pytest.mark.parametrize(
    ("aliases", "ref", "reason", "fragment"),
    [
        pytest.param({r("a"): alias("s:nope")}, r("a"), "NotFound", "ns/s:nope has no image yet"),
        pytest.param({r("a"): alias("s:a")}, r("a"), "AliasCycle", "alias cycle through ns/s:a"),
        pytest.param(
            {r("a"): alias("s:b"), r("b"): alias("s:a")}, r("a"), None, None, id="two-cycle"
        ),
        pytest.param({r("a"): alias("x:")}, r("a"), "InvalidImageStreamTag", "'x:' is not"),
    ],
)
def test_alias_failures(aliases, ref, reason, fragment):
    lock = build({**BASE_OK, **aliases}, BASE_OUT)
    entry = lock.get(ref)
    assert entry.digest is None
    assert entry.condition is not None
    if reason is not None:
        assert entry.condition.reason == reason
        assert fragment in entry.condition.message
    # the real tag is unaffected
    assert lock.get(r("base")).digest == d("a")


def test_alias_follows_target_move_and_keeps_history():
    old = build({**BASE_OK, r("a"): alias("s:base")}, BASE_OUT)
    moved = build(
        {**BASE_OK, r("a"): alias("s:base")},
        {r("base"): Resolution(d("b"), "docker.io/library/nginx:1.25")},
        old,
    )
    entry = moved.get(r("a"))
    assert [h.digest for h in entry.history] == [d("b"), d("a")]
    assert [h.generation for h in entry.history] == [2, 1]


def test_alias_to_frozen_stream_follows_committed_entry():
    committed = resolved(docker("q.io/x:1"), d("c"), "q.io/x")
    old = Lock(tags={r("t", "frozen"): committed})
    lock = build({r("a"): alias("frozen:t")}, {}, old, frozen={("ns", "frozen")})
    assert lock.get(r("t", "frozen")) is committed
    assert lock.get(r("a")).image == "q.io/x@" + d("c")


# image pins ---------------------------------------------------------------


def history_lock() -> Lock:
    entry = (
        TagLock(NGINX)
        .moved_to(d("a"), "docker.io/library/nginx@" + d("a"), EARLIER)
        .moved_to(d("b"), "docker.io/library/nginx@" + d("b"), EARLIER)
    )
    return Lock(tags={r("base"): entry})


@pytest.mark.parametrize(
    ("name", "namespace", "digest", "reason"),
    [
        pytest.param("s@" + d("a"), None, d("a"), None, id="older-history-item"),
        pytest.param("s@" + d("b"), "ns", d("b"), None, id="current-explicit-ns"),
        pytest.param("s@" + d("c"), None, None, "NotFound", id="not-in-history"),
        pytest.param("s@" + d("a"), "other", None, "NotFound", id="other-namespace"),
        pytest.param("s:base", None, None, "InvalidImageStreamImage", id="malformed"),
    ],
)
def test_image_stream_image_pins(name, namespace, digest, reason):
    source = TagSource("ImageStreamImage", name, namespace=namespace)
    lock = build({r("base"): NGINX, r("pin"): source}, {}, history_lock())
    entry = lock.get(r("pin"))
    assert entry.digest == digest
    if reason is None:
        assert entry.image == "docker.io/library/nginx@" + digest
        assert entry.resolved_from == "docker.io/library/nginx@" + digest
        assert entry.condition is None
    else:
        assert entry.condition.reason == reason


def test_alias_may_point_at_an_image_pin():
    sources = {
        r("base"): NGINX,
        r("pin"): TagSource("ImageStreamImage", "s@" + d("a")),
        r("a"): alias("s:pin"),
    }
    lock = build(sources, {}, history_lock())
    assert lock.get(r("a")).digest == d("a")


# frozen, removed, unlisted ------------------------------------------------


def test_frozen_streams_keep_entries_byte_for_byte():
    frozen_entry = resolved(docker("q.io/x:1"), d("c"), "q.io/x").failed("NotFound", "m", EARLIER)
    old = Lock(tags={r("t", "frozen"): frozen_entry, r("u", "frozen"): TagLock(NGINX)})
    lock = build({r("plain"): NGINX}, {}, old, frozen={("ns", "frozen")})
    assert lock.get(r("t", "frozen")) == frozen_entry
    assert lock.get(r("u", "frozen")) == TagLock(NGINX)
    only_frozen = Lock(tags={k: v for k, v in lock.tags.items() if k.stream == "frozen"})
    assert render_lock(only_frozen) == render_lock(old)


def test_removed_tags_disappear():
    old = Lock(tags={r("gone"): resolved(NGINX, d("a")), r("kept"): resolved(NGINX, d("a"))})
    lock = build({r("kept"): NGINX}, {}, old)
    assert set(lock.tags) == {r("kept")}


def test_unreadable_manifests_keep_unlisted_entries():
    old = Lock(
        tags={r("gone"): resolved(NGINX, d("a"))},
        consumers={ObjectKey("DeploymentConfig", "ns", "d"): d("1")},
    )
    lock = build({}, {}, old, keep_unlisted=True)
    assert lock == old


# consumers ----------------------------------------------------------------


def consumer(name: str, spec_hash: str) -> Consumer:
    return Consumer(ObjectKey("DeploymentConfig", "ns", name), (), True, spec_hash, None, ())


def test_consumer_hashes():
    old = Lock(
        consumers={
            ObjectKey("DeploymentConfig", "ns", "live"): d("1"),
            ObjectKey("DeploymentConfig", "ns", "frozen"): d("2"),
            ObjectKey("DeploymentConfig", "ns", "removed"): d("3"),
        }
    )
    lock = build(
        {},
        old=old,
        consumers=[consumer("live", d("4")), consumer("new", d("5"))],
        frozen_consumers=[ObjectKey("DeploymentConfig", "ns", "frozen")],
    )
    assert lock.consumers == {
        ObjectKey("DeploymentConfig", "ns", "live"): d("4"),
        ObjectKey("DeploymentConfig", "ns", "frozen"): d("2"),
        ObjectKey("DeploymentConfig", "ns", "new"): d("5"),
    }


def test_invalid_build_keeps_its_output_tag_entry():
    bc = objects(
        "kind: BuildConfig\nmetadata: {name: b}\nspec:\n"
        "  output:\n    to: {kind: ImageStreamTag, name: 's:built'}\n"
    )[0]
    stream = objects("kind: ImageStream\nmetadata: {name: s}\nspec: {tags: [{name: x}]}\n")
    push = TagSource(PUSH, f"{LOCAL_REG}/ns/s:built", reference_policy="Local")
    committed = resolved(push, d("a"), f"{LOCAL_REG}/ns/s")
    old = Lock(tags={r("built"): committed})
    # this pass the BuildConfig is invalid (say, a schema error): it reaches desired_tags
    # as an invalid consumer, and the build is listed as frozen
    want = desired_tags(stream, [], [], CONFIG, invalid_consumers=[read_consumer(bc)])
    lock = build_lock(old, want, {}, [], [bc.key], CONFIG, NOW)
    assert lock.get(r("built")) == committed


def _pinned(digest: str, *older: str) -> TagLock:
    source = TagSource(kind="DockerImage", name="example.com/app:latest", scheduled=True)
    entry = TagLock(source=source)
    for n, item in enumerate(reversed((digest, *older))):
        entry = entry.moved_to(item, f"example.com/app@{item}", f"2024-01-0{n + 1}T00:00:00Z")
    return entry


A, B, C = TagRef("ns", "s", "a"), TagRef("ns", "s", "b"), TagRef("ns", "s", "c")


@pytest.mark.parametrize(
    ("before", "after", "stale"),
    [
        # Nobody else committed: every answer stands.
        ({A: _pinned(d("1"))}, {A: _pinned(d("1"))}, set()),
        # Another replica pinned a newer digest: our answer may be older, ask again.
        ({A: _pinned(d("1"))}, {A: _pinned(d("3"), d("1"))}, {A}),
        # It recorded a failure, or a first pin, or dropped the tag: ask again too.
        (
            {A: _pinned(d("1")), B: _pinned(d("2"))},
            {A: _pinned(d("1")).failed("NotFound", "gone", NOW), C: _pinned(d("4"))},
            {A, B, C},
        ),
    ],
)
def test_overtaken_answers_are_those_whose_committed_entry_changed(before, after, stale):
    assert overtaken(Lock(tags=before), Lock(tags=after), [A, B, C]) == stale


def test_followers_walk_alias_chains_across_streams_and_nothing_else() -> None:
    from reconciler.core.plan import followers

    def alias(name: str, namespace: str | None = None) -> TagLock:
        return TagLock(source=TagSource("ImageStreamTag", name, namespace))

    root = TagRef("ns", "app", "1.0")
    lock = Lock(
        tags={
            root: TagLock(source=TagSource("DockerImage", "reg/app:1.0")),
            TagRef("ns", "app", "stable"): alias("1.0"),  # same stream, bare name
            TagRef("ns", "web", "prod"): alias("app:stable"),  # a chain, another stream
            TagRef("other", "web", "prod"): alias("app:stable", "ns"),  # another namespace
            TagRef("other", "web", "dev"): alias("app:stable"),  # other/app: not ours
            TagRef("ns", "db", "1"): TagLock(source=TagSource("DockerImage", "reg/db:1")),
        }
    )
    assert followers(lock, {root}) == {
        root,
        TagRef("ns", "app", "stable"),
        TagRef("ns", "web", "prod"),
        TagRef("other", "web", "prod"),
    }
