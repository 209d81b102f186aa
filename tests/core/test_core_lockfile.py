"""Table tests for reconciler.core.lockfile: the golden rendering, byte-identical round
trips, TagLock.moved_to / failed, and parse errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.lockfile import (
    HEADER,
    Condition,
    HistoryItem,
    Lock,
    LockfileError,
    TagLock,
    TagSource,
    parse_lock,
    render_lock,
)
from reconciler.core.manifests import ObjectKey
from reconciler.core.streams import TagRef

GOLDEN = Path(__file__).parent / "golden" / "lock_basic.yaml"
GOLDEN_V1 = Path(__file__).parent / "golden" / "lock_basic_v1.yaml"


def d(ch: str) -> str:
    return "sha256:" + ch * 64


T0, T1, T2, T3 = (f"2024-0{m}-01T00:00:00Z" for m in (1, 2, 3, 4))
NGINX = TagSource("DockerImage", "nginx:1.25", scheduled=True)


def nginx_lock() -> TagLock:
    return (
        TagLock(NGINX, resolved_from="docker.io/library/nginx:1.25")
        .moved_to(d("a"), "docker.io/library/nginx@" + d("a"), T0)
        .moved_to(d("b"), "docker.io/library/nginx@" + d("b"), T1)
    )


LOCAL_WEB = "image-registry.openshift-image-registry.svc:5000/zeta/web@" + d("c")


def basic_lock() -> Lock:
    """Inserted out of order on purpose: rendering must sort."""
    tags = {
        TagRef("zeta", "web", "latest"): TagLock(
            TagSource("ImageStreamTag", "web:1.0"),
            resolved_from="zeta/web:1.0",
            digest=d("c"),
            image="quay.io/team/web@" + d("c"),
            history=(HistoryItem(d("c"), "quay.io/team/web@" + d("c"), T2, 1),),
        ),
        TagRef("zeta", "web", "1.0"): TagLock(
            TagSource(
                "DockerImage",
                "quay.io/team/web:1.0",
                insecure=True,
                import_mode="PreserveOriginal",
                reference_policy="Local",
            ),
            resolved_from="quay.io/team/web:1.0",
            digest=d("c"),
            image=LOCAL_WEB,
            history=(HistoryItem(d("c"), LOCAL_WEB, T2, 1),),
        ),
        TagRef("alpha", "nginx", "stable"): nginx_lock().failed("NotFound", "manifest unknown", T3),
        TagRef("alpha", "builder", "pinned"): TagLock(
            TagSource("ImageStreamImage", "nginx@" + d("a"), namespace="alpha")
        ),
        TagRef("alpha", "app", "ref"): TagLock(
            TagSource("DockerImage", "registry.example.com/app:2", reference=True)
        ),
    }
    consumers = {
        ObjectKey("DeploymentConfig", "zeta", "web"): d("e"),
        ObjectKey("BuildConfig", "alpha", "app"): d("f"),
    }
    return Lock(tags=tags, consumers=consumers)


# ---------------------------------------------------------------------------
# rendering and round trips


def test_render_matches_golden():
    assert render_lock(basic_lock()).decode() == GOLDEN.read_text()


def test_v1_lockfile_still_loads_and_is_rewritten_as_v2():
    """The migration path: a lock written before issue 12 (v1: every field in block
    style, history images repeated) reads to the same model, and renders as v2."""
    old = GOLDEN_V1.read_bytes()
    assert b"apiVersion: reconciler.imagestreams.io/v1" in old
    parsed = parse_lock(old)
    assert parsed == basic_lock()
    assert render_lock(parsed) == GOLDEN.read_bytes()
    assert len(GOLDEN.read_bytes()) < 0.8 * len(old)


def test_v2_fills_in_what_it_leaves_out():
    """A history item's image other than the tag's repository at that digest, and a
    source other than from.name, are written; the defaults are not, and read back."""
    moved = TagLock(
        TagSource("DockerImage", "quay.io/a/b:1"),
        resolved_from="quay.io/a/b:1",
        digest=d("b"),
        image="quay.io/a/b@" + d("b"),
        history=(
            HistoryItem(d("b"), "quay.io/a/b@" + d("b"), T1, 2),
            HistoryItem(d("a"), "old.example.com/b@" + d("a"), T0, 1),
        ),
    )
    odd = TagLock(TagSource("DockerImage", "quay.io/a/c:1"), digest=d("c"), image="x@" + d("c"))
    lock = Lock(tags={TagRef("n", "s", "moved"): moved, TagRef("n", "s", "odd"): odd})
    text = render_lock(lock).decode()
    # The tags' own, and one history item's: the other is the tag's repository.
    assert text.count("image: ") == 3
    assert "image: 'old.example.com/b@" in text
    assert "source: null" in text  # odd was never asked for its from.name
    assert parse_lock(text) == lock


def test_golden_round_trip_is_byte_identical():
    text = GOLDEN.read_bytes()
    parsed = parse_lock(text)
    assert parsed == basic_lock()
    assert render_lock(parsed) == text


def test_golden_is_sorted_with_fixed_field_order():
    text = GOLDEN.read_text()
    assert text.startswith(HEADER)
    lines = text.splitlines()

    def keys_at(indent: int) -> list[str]:
        pad = " " * indent
        return [
            ln.strip().rstrip(":").strip("'")
            for ln in lines
            if ln.startswith(pad) and ln[indent : indent + 1] != " "
        ]

    assert keys_at(2) == ["alpha", "zeta"]
    assert keys_at(4) == ["imageStreams", "consumers", "imageStreams", "consumers"]
    assert keys_at(6) == [
        "app",
        "builder",
        "nginx",
        "BuildConfig/app",
        "web",
        "DeploymentConfig/web",
    ]
    assert [k for k in keys_at(8) if not k.startswith("specHash")] == [
        "ref",
        "pinned",
        "stable",
        "1.0",
        "latest",
    ]
    start = lines.index("        stable:") + 1
    end = lines.index("      web:")
    fields = [
        ln.split(":")[0].strip()
        for ln in lines[start:end]
        if ln.startswith(" " * 10) and ln[10:11] != " "
    ]
    assert fields == [
        "from",
        "importPolicy",
        "referencePolicy",
        "source",
        "digest",
        "image",
        "history",
        "conditions",
    ]


@pytest.mark.parametrize(
    "lock",
    [
        Lock(),
        Lock(tags={TagRef("n", "s", "t"): TagLock(TagSource("DockerImage", "x"))}),
        Lock(consumers={ObjectKey("DeploymentConfig", "n", "d"): d("1")}),
        Lock(tags={TagRef("n", "s", "2024-01-01"): TagLock(TagSource("DockerImage", "y:1"))}),
        Lock(tags={TagRef("123", "s", "true"): TagLock(TagSource("DockerImage", "y: 1 # no"))}),
        Lock(tags={TagRef("n", "s", "t"): nginx_lock().failed("Unauthorized", "a: b\nc", T2)}),
    ],
    ids=["empty", "one-tag", "consumer-only", "date-like-tag", "yaml-like-names", "multiline"],
)
def test_round_trip(lock):
    text = render_lock(lock)
    assert parse_lock(text) == lock
    assert render_lock(parse_lock(text)) == text


def test_render_is_independent_of_insertion_order():
    lock = basic_lock()
    reversed_lock = Lock(
        tags=dict(reversed(list(lock.tags.items()))),
        consumers=dict(reversed(list(lock.consumers.items()))),
    )
    assert render_lock(reversed_lock) == render_lock(lock)


# Fixed in 3c34e03 (consumer-only namespaces used to be rendered after the others).
def test_consumer_only_namespace_is_sorted_too():
    lock = Lock(
        tags={TagRef("b", "s", "t"): TagLock(TagSource("DockerImage", "x"))},
        consumers={ObjectKey("DeploymentConfig", "a", "d"): d("1")},
    )
    text = render_lock(lock).decode()
    assert text.index("\n  a:\n") < text.index("\n  b:\n")


def test_empty_text_is_empty_lock():
    assert parse_lock("") == Lock()
    assert parse_lock(b"# only a comment\n") == Lock()


# ---------------------------------------------------------------------------
# moved_to


@pytest.mark.parametrize(
    ("steps", "digest", "history"),
    [
        pytest.param([("a", T0)], "a", [("a", 1, T0)], id="first"),
        pytest.param([("a", T0), ("b", T1)], "b", [("b", 2, T1), ("a", 1, T0)], id="moved"),
        pytest.param([("a", T0), ("a", T1)], "a", [("a", 1, T0)], id="same-digest-no-history"),
        pytest.param(
            [("a", T0), ("b", T1), ("a", T2)],
            "a",
            [("a", 3, T2), ("b", 2, T1), ("a", 1, T0)],
            id="back-to-old-digest",
        ),
    ],
)
def test_moved_to(steps, digest, history):
    lock = TagLock(NGINX).failed("NotFound", "x", T0)
    for ch, when in steps:
        lock = lock.moved_to(d(ch), "img@" + d(ch), when)
    assert lock.digest == d(digest)
    assert lock.image == "img@" + d(digest)
    assert [(h.digest, h.generation, h.created) for h in lock.history] == [
        (d(c), g, t) for c, g, t in history
    ]
    assert all(h.image == "img@" + h.digest for h in lock.history)
    assert lock.condition is None


def test_moved_to_same_digest_updates_image_and_clears_condition():
    lock = nginx_lock().failed("NotFound", "gone", T2)
    after = lock.moved_to(d("b"), "local/ns/nginx@" + d("b"), T3)
    assert after.image == "local/ns/nginx@" + d("b")
    assert after.history == lock.history
    assert after.condition is None


def test_generation_continues_from_committed_history():
    lock = TagLock(NGINX, history=(HistoryItem(d("a"), "i@" + d("a"), T0, 7),), digest=d("a"))
    assert lock.moved_to(d("b"), "i@" + d("b"), T1).history[0].generation == 8


# ---------------------------------------------------------------------------
# failed


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        pytest.param(None, ("NotFound", "m", T1), ("NotFound", "m", T1), id="first-failure"),
        pytest.param(
            ("NotFound", "m", T0),
            ("NotFound", "m", T1),
            ("NotFound", "m", T0),
            id="same-keeps-time",
        ),
        pytest.param(
            ("NotFound", "m", T0),
            ("NotFound", "other", T1),
            # status stays False: per Kubernetes conditions the transition time is kept
            ("NotFound", "other", T0),
            id="new-message",
        ),
        pytest.param(
            ("NotFound", "m", T0),
            ("Unauthorized", "m", T1),
            ("Unauthorized", "m", T0),
            id="new-reason",
        ),
    ],
)
def test_failed(first, second, expected):
    lock = nginx_lock()
    if first is not None:
        lock = lock.failed(*first)
    after = lock.failed(*second)
    assert after.digest == d("b")  # the last good digest stays
    assert after.image == lock.image
    assert after.history == lock.history
    assert after.condition == Condition(*expected)
    assert after.condition.to_data()["status"] == "False"
    assert after.condition.to_data()["type"] == "ImportSuccess"


def test_same_failure_returns_identical_lock():
    lock = nginx_lock().failed("NotFound", "m", T0)
    assert lock.failed("NotFound", "m", T1) is lock
    assert render_lock(Lock(tags={TagRef("n", "s", "t"): lock})) == render_lock(
        Lock(tags={TagRef("n", "s", "t"): lock.failed("NotFound", "m", T2)})
    )


def test_failure_without_previous_digest():
    lock = TagLock(NGINX).failed("NotFound", "m", T0)
    assert lock.digest is None
    assert "digest" not in lock.to_data()
    assert lock.to_data()["conditions"][0]["reason"] == "NotFound"


# ---------------------------------------------------------------------------
# parse errors

HEAD = "apiVersion: reconciler.imagestreams.io/v1\nkind: ImageLock\n"
TAG = "namespaces:\n  ns:\n    imageStreams:\n      s:\n        t:\n"
FROM = "          from: {kind: DockerImage, name: x}\n"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param("kind: Other\n", ["not an ImageLock"], id="wrong-kind"),
        pytest.param("- a\n", ["not an ImageLock"], id="not-mapping"),
        pytest.param(
            "apiVersion: v2\nkind: ImageLock\n", ["unsupported apiVersion 'v2'"], id="api-version"
        ),
        pytest.param(
            HEAD + "namespaces: []\n", ["lock: field 'namespaces' is not a dict"], id="ns-list"
        ),
        pytest.param(
            HEAD + "namespaces:\n  ns: 5\n", ["namespaces.ns: not a mapping"], id="ns-body"
        ),
        pytest.param(
            HEAD + "namespaces:\n  ns:\n    imageStreams:\n      s: [a]\n",
            ["namespaces.ns.imageStreams.s: not a mapping"],
            id="stream-body",
        ),
        pytest.param(
            HEAD + TAG + "          digest: x\n",
            ["namespaces.ns.imageStreams.s.t: field 'from' missing or not a dict"],
            id="from-missing",
        ),
        pytest.param(
            HEAD + TAG + "          from: {kind: DockerImage}\n",
            ["namespaces.ns.imageStreams.s.t.from: field 'name' missing or not a str"],
            id="from-name-missing",
        ),
        pytest.param(
            HEAD + TAG + FROM + "          digest: 5\n",
            ["namespaces.ns.imageStreams.s.t: field 'digest' is not a str"],
            id="digest-type",
        ),
        pytest.param(
            HEAD + TAG + FROM + "          history: [{image: i, created: c, generation: 1}]\n",
            ["namespaces.ns.imageStreams.s.t.history[0]: field 'digest' missing or not a str"],
            id="history-digest",
        ),
        pytest.param(
            HEAD
            + TAG
            + FROM
            + "          history: [{digest: d, image: i, created: c, generation: x}]\n",
            ["history[0]: field 'generation' missing or not a int"],
            id="history-generation",
        ),
        pytest.param(
            HEAD + TAG + FROM + "          history: [x]\n",
            ["history[0]: not a mapping"],
            id="history-item",
        ),
        pytest.param(
            HEAD + TAG + FROM + "          conditions: [{reason: r, message: m}]\n",
            ["conditions[0]: field 'lastTransitionTime' missing or not a str"],
            id="condition-time",
        ),
        pytest.param(
            HEAD + "namespaces:\n  ns:\n    consumers:\n      web: {specHash: x}\n",
            ["namespaces.ns.consumers.web: expected Kind/name with a specHash"],
            id="consumer-name",
        ),
        pytest.param(
            HEAD + "namespaces:\n  ns:\n    consumers:\n      DeploymentConfig/web: {}\n",
            ["namespaces.ns.consumers.DeploymentConfig/web: field 'specHash' missing"],
            id="consumer-hash",
        ),
    ],
)
def test_parse_errors_name_the_field(text, fragments):
    with pytest.raises(LockfileError) as info:
        parse_lock(text)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        (HEAD + "namespaces: [\n", 4, 1, "YAML error"),  # found at end of stream
        (HEAD + "kind: ImageLock\n", 3, 1, "YAML error"),
        (HEAD + "namespaces:\n  ns:\n   bad: [\n", 6, 1, "YAML error"),
    ],
    ids=["unclosed-flow", "duplicate-key", "unclosed-nested"],
)
def test_parse_yaml_errors_carry_position(text, line, column, fragment):
    with pytest.raises(LockfileError) as info:
        parse_lock(text)
    assert fragment in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)


# ---------------------------------------------------------------------------
# errors in a hand-edited lock: the real line and column, and values that are checked

B64 = "b" * 64


def _edit(old: str, new: str, golden: Path = GOLDEN_V1) -> str:
    """A person's edit of a lock (a v1 one: each field on its own line)."""
    text = golden.read_text()
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


def _position(text: str, marker: str) -> tuple[int, int]:
    assert text.count(marker) == 1, marker
    index = text.index(marker)
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


@pytest.mark.parametrize(
    ("old", "new", "marker", "fragment"),
    [
        pytest.param(
            f"          digest: sha256:{B64}\n",
            "          digest: sha256:77dc\n",
            "sha256:77dc",
            "nginx.stable: field 'digest' is not sha256:<64 lowercase hex> (got 'sha256:77dc')",
            id="digest-short",
        ),
        pytest.param(
            f"            - digest: sha256:{B64}\n",
            f"            - digest: sha256:{B64.upper()}\n",
            f"sha256:{B64.upper()}",
            "nginx.stable.history[0]: field 'digest' is not sha256:<64 lowercase hex>",
            id="history-digest-uppercase",
        ),
        pytest.param(
            "            importMode: Legacy\n            scheduled: true\n",
            "            importMode: Sometimes\n            scheduled: true\n",
            "Sometimes",
            "nginx.stable.importPolicy: field 'importMode' must be one of Legacy, "
            "PreserveOriginal (got 'Sometimes')",
            id="import-mode",
        ),
        pytest.param(
            "          referencePolicy: Local\n",
            "          referencePolicy: Remote\n",
            "Remote",
            "web.1.0: field 'referencePolicy' must be one of Source, Local (got 'Remote')",
            id="reference-policy",
        ),
        pytest.param(
            "            kind: ImageStreamImage\n",
            "            kind: ImageStreamImages\n",
            "ImageStreamImages",
            "builder.pinned.from: field 'kind' must be one of DockerImage, ImageStreamTag, "
            "ImageStreamImage, Push (got 'ImageStreamImages')",
            id="from-kind",
        ),
        pytest.param(
            "              created: '2024-02-01T00:00:00Z'\n",
            "              created: yesterday\n",
            "yesterday",
            "nginx.stable.history[0]: field 'created' is not an RFC 3339 time",
            id="created-not-a-time",
        ),
        pytest.param(
            "              created: '2024-01-01T00:00:00Z'\n",
            "              created: '2024-13-01T00:00:00Z'\n",
            "'2024-13-01",
            "nginx.stable.history[1]: field 'created' is not an RFC 3339 time",
            id="created-month-13",
        ),
        pytest.param(
            "lastTransitionTime: '2024-04-01T00:00:00Z'\n",
            "lastTransitionTime: '2024-04-01 00:00'\n",
            "'2024-04-01 00:00'",
            "nginx.stable.conditions[0]: field 'lastTransitionTime' is not an RFC 3339 time",
            id="transition-time",
        ),
        pytest.param(
            "              generation: 2\n",
            "              generation: two\n",
            "two",
            "nginx.stable.history[0]: field 'generation' missing or not a int",
            id="generation-type",
        ),
        pytest.param(
            "            name: nginx:1.25\n",
            "",
            None,  # a missing field: the mapping that lacks it (see the next test)
            "nginx.stable.from: field 'name' missing or not a str",
            id="from-name-missing",
        ),
        pytest.param(
            "            scheduled: true\n",
            "            scheduled: 'yes'\n",
            "'yes'",
            "nginx.stable.importPolicy: field 'scheduled' must be true or false (got 'yes')",
            id="scheduled-not-bool",
        ),
    ],
)
def test_hand_edit_errors_carry_the_real_position(old, new, marker, fragment):
    text = _edit(old, new)
    with pytest.raises(LockfileError) as info:
        parse_lock(text)
    assert fragment in str(info.value)
    if marker is not None:
        assert (info.value.line, info.value.column) == _position(text, marker)
    else:
        assert info.value.line > 20  # deep in the file, not 1:1


def test_missing_field_points_at_the_mapping_that_lacks_it():
    text = _edit("            name: nginx:1.25\n", "")
    with pytest.raises(LockfileError) as info:
        parse_lock(text)
    lines = text.splitlines()
    # the "from:" key of nginx.stable
    expected = lines.index("        stable:") + 2
    assert lines[expected - 1] == "          from:"
    assert (info.value.line, info.value.column) == (expected, 11)


@pytest.mark.parametrize(
    ("old", "new", "marker", "fragment"),
    [
        pytest.param(
            "{kind: DockerImage, name: 'nginx:1.25'}",
            "{kind: DockerImages, name: 'nginx:1.25'}",
            "DockerImages",
            "nginx.stable.from: field 'kind' must be one of",
            id="flow-from-kind",
        ),
        pytest.param(
            "created: '2024-01-01T00:00:00Z', generation: 1}",
            "created: '2024-01-01T00:00:00Z', generation: one}",
            "one}",
            "nginx.stable.history[1]: field 'generation' missing or not a int",
            id="flow-history-generation",
        ),
    ],
)
def test_v2_hand_edit_errors_carry_the_real_position(old, new, marker, fragment):
    text = _edit(old, new, GOLDEN)
    with pytest.raises(LockfileError) as info:
        parse_lock(text)
    assert fragment in str(info.value)
    assert (info.value.line, info.value.column) == _position(text, marker)


def test_missing_spec_hash_points_at_the_consumer():
    text = _edit("        specHash: sha256:" + "f" * 64 + "\n", "        other: x\n")
    with pytest.raises(LockfileError) as info:
        parse_lock(text)
    assert "consumers.BuildConfig/app: field 'specHash' missing" in str(info.value)
    assert (info.value.line, info.value.column) == _position(text, "BuildConfig/app:")


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        pytest.param(HEAD + "namespaces:\n  ns: 5\n", 4, 7, id="ns-body"),
        pytest.param(HEAD + TAG + "          from: {kind: DockerImage}\n", 8, 11, id="flow-from"),
        pytest.param(HEAD + TAG + FROM + "          digest: 5\n", 9, 19, id="digest-type"),
        pytest.param("kind: ImageLock\napiVersion: v9\n", 2, 13, id="api-version"),
    ],
)
def test_structural_errors_carry_position(text, line, column):
    with pytest.raises(LockfileError) as info:
        parse_lock(text)
    assert (info.value.line, info.value.column) == (line, column)


@pytest.mark.parametrize(
    "when",
    ["2024-01-31T12:00:00Z", "2024-01-31t12:00:00z", "2024-01-31T12:00:00.123+02:00"],
)
def test_rfc3339_times_are_accepted(when):
    item = HistoryItem(d("a"), "i@" + d("a"), when, 1)
    lock = Lock(tags={TagRef("n", "s", "t"): TagLock(NGINX, digest=d("a"), history=(item,))})
    text = render_lock(lock)
    assert parse_lock(text) == lock
    assert render_lock(parse_lock(text)) == text
