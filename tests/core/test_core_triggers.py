"""Table tests for reconciler.core.triggers: which records a lock change opens, their ids,
and their YAML form."""

from __future__ import annotations

import pytest

from reconciler.core.consumers import Consumer, ImageTrigger
from reconciler.core.lockfile import Lock, TagLock, TagSource
from reconciler.core.manifests import ObjectKey
from reconciler.core.streams import TagRef
from reconciler.core.triggers import (
    ACKNOWLEDGED,
    CONFIG_CHANGE,
    IMAGE_CHANGE,
    OPEN,
    TriggerRecord,
    TriggerRecordError,
    derive_triggers,
    record_from_data,
    record_id,
    render_record,
)
from reconciler.core.yamltext import machine_yaml

NOW = "2024-06-01T00:00:00Z"
TAG = TagRef("ns", "app", "1")
OTHER = TagRef("ns", "tools", "latest")
DC = ObjectKey("DeploymentConfig", "ns", "web")
BC = ObjectKey("BuildConfig", "ns", "Build_Me")


def d(ch: str) -> str:
    return "sha256:" + ch * 64


def entry(digest: str | None) -> TagLock:
    src = TagSource("DockerImage", "q.io/app:1")
    if digest is None:
        return TagLock(src)
    return TagLock(src).moved_to(digest, "q.io/app@" + digest, NOW)


def lock(digests: dict[TagRef, str | None], hashes: dict[ObjectKey, str] | None = None) -> Lock:
    return Lock(tags={ref: entry(dg) for ref, dg in digests.items()}, consumers=hashes or {})


def consumer(
    key: ObjectKey,
    sources=(TAG,),
    config_change: bool = False,
    spec_hash: str = d("1"),
    automatic: bool = True,
    names: tuple[str, ...] = (),
) -> Consumer:
    triggers = tuple(ImageTrigger(key, s, automatic, names, ("spec",)) for s in sources)
    return Consumer(key, triggers, config_change, spec_hash, None, ())


# ---------------------------------------------------------------------------
# which records open


@pytest.mark.parametrize(
    ("old", "new", "consumers", "expected"),
    [
        pytest.param(
            lock({}),
            lock({TAG: d("a")}),
            [consumer(DC)],
            [(IMAGE_CHANGE, DC, None, d("a"))],
            id="first-resolution",
        ),
        pytest.param(
            lock({TAG: None}),
            lock({TAG: d("a")}),
            [consumer(DC)],
            [(IMAGE_CHANGE, DC, None, d("a"))],
            id="first-digest-after-failures",
        ),
        pytest.param(
            lock({TAG: d("a")}, {DC: d("1")}),
            lock({TAG: d("a")}),
            [consumer(DC)],
            [],
            id="unchanged",
        ),
        pytest.param(
            lock({TAG: d("a")}),
            lock({TAG: d("a")}),
            [consumer(DC)],
            [(IMAGE_CHANGE, DC, None, d("a"))],
            id="new-consumer-of-a-resolved-tag",
        ),
        pytest.param(
            lock({TAG: d("a")}, {DC: d("1"), BC: d("1")}),
            lock({TAG: d("b")}),
            [consumer(DC), consumer(BC)],
            [(IMAGE_CHANGE, BC, d("a"), d("b")), (IMAGE_CHANGE, DC, d("a"), d("b"))],
            id="moved-bc-and-dc",
        ),
        pytest.param(lock({TAG: d("a")}), lock({}), [consumer(DC)], [], id="tag-removed"),
        pytest.param(lock({}), lock({TAG: None}), [consumer(DC)], [], id="never-resolved"),
        pytest.param(
            lock({TAG: d("a"), OTHER: d("c")}, {DC: d("1")}),
            lock({TAG: d("a"), OTHER: d("d")}),
            [consumer(DC, sources=(TAG, OTHER))],
            [(IMAGE_CHANGE, DC, d("c"), d("d"))],
            id="only-the-moved-input",
        ),
        pytest.param(
            lock({}, {DC: d("1")}),
            lock({}),
            [consumer(DC, (), True, d("2"))],
            [(CONFIG_CHANGE, DC, None, None)],
            id="config-change-on-spec-change",
        ),
        pytest.param(
            lock({}),
            lock({}),
            [consumer(DC, (), True, d("2"))],
            [(CONFIG_CHANGE, DC, None, None)],
            id="config-change-on-first-sight",
        ),
        pytest.param(
            lock({}, {DC: d("2")}),
            lock({}),
            [consumer(DC, (), True, d("2"))],
            [],
            id="config-unchanged",
        ),
        pytest.param(
            lock({}, {DC: d("1")}),
            lock({}),
            [consumer(DC, (), False, d("2"))],
            [],
            id="no-config-change-trigger",
        ),
        pytest.param(
            lock({TAG: d("a")}, {DC: d("1")}),
            lock({TAG: d("b")}),
            [consumer(DC, (TAG,), True, d("2"))],
            [(IMAGE_CHANGE, DC, d("a"), d("b")), (CONFIG_CHANGE, DC, None, None)],
            id="both",
        ),
    ],
)
def test_derive_triggers(old, new, consumers, expected):
    records = derive_triggers(old, new, consumers, NOW)
    got = [(rec.type, rec.consumer, rec.from_digest, rec.to_digest) for rec in records]
    assert sorted(got, key=str) == sorted(expected, key=str)
    assert [rec.id for rec in records] == sorted(rec.id for rec in records)
    for rec in records:
        assert rec.created == NOW
        assert rec.status == OPEN
        if rec.type == IMAGE_CHANGE:
            assert rec.image == "q.io/app@" + rec.to_digest
            assert rec.spec_hash is None
        else:
            assert rec.tag is None and rec.image is None
            assert rec.spec_hash == consumers[0].spec_hash


def test_image_change_record_fields():
    c = consumer(DC, automatic=False, names=("web", "side"))
    (rec,) = derive_triggers(lock({}), lock({TAG: d("a")}), [c], NOW)
    assert rec.tag == TAG
    assert rec.automatic is False
    assert rec.container_names == ("web", "side")
    assert rec.action == "redeploy"
    assert rec.summary() == f"redeploy {DC}: ns/app:1 (none) -> {d('a')[:19]}"
    assert rec.filename == rec.id + ".yaml"


def test_build_record_action():
    old = lock({TAG: d("a")}, {BC: d("1")})
    (rec,) = derive_triggers(old, lock({TAG: d("b")}), [consumer(BC)], NOW)
    assert rec.action == "rebuild"
    assert rec.summary() == f"rebuild {BC}: ns/app:1 {d('a')[:19]} -> {d('b')[:19]}"


def test_config_change_summary():
    (rec,) = derive_triggers(lock({}), lock({}), [consumer(BC, (), True)], NOW)
    assert rec.summary() == f"rebuild {BC}: its spec changed"


# ---------------------------------------------------------------------------
# ids


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ((DC, "ns/app:1", d("a")), (DC, "ns/app:1", d("a")), True),
        ((DC, "ns/app:1", d("a")), (DC, "ns/app:1", d("b")), False),
        ((DC, "ns/app:1", d("a")), (DC, "ns/app:2", d("a")), False),
        (
            (DC, "ns/app:1", d("a")),
            (ObjectKey("DeploymentConfig", "x", "web"), "ns/app:1", d("a")),
            False,
        ),
        (
            (DC, "ns/app:1", d("a")),
            (ObjectKey("BuildConfig", "ns", "web"), "ns/app:1", d("a")),
            False,
        ),
    ],
)
def test_record_id_identity(a, b, same):
    assert (record_id(*a) == record_id(*b)) is same


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        (DC, "dc-web-"),
        (BC, "bc-build-me-"),
        (ObjectKey("Other", "ns", "X.y"), "other-x.y-"),
        (ObjectKey("DeploymentConfig", "ns", "n" * 60), "dc-" + "n" * 40 + "-"),
    ],
)
def test_record_id_shape(key, prefix):
    rid = record_id(key, "ns/app:1", d("a"))
    assert rid.startswith(prefix)
    tail = rid[len(prefix) :]
    assert len(tail) == 12 and all(c in "0123456789abcdef" for c in tail)


def test_ids_are_stable_across_passes_and_times():
    first = derive_triggers(lock({TAG: d("a")}), lock({TAG: d("b")}), [consumer(DC)], NOW)
    again = derive_triggers(lock({}), lock({TAG: d("b")}), [consumer(DC)], "2030-01-01T00:00:00Z")
    assert [r.id for r in first] == [r.id for r in again]
    assert first[0].id == record_id(DC, "ns/app:1", d("b"))


def test_two_triggers_on_the_same_tag_make_one_record():
    c = consumer(DC, sources=(TAG, TAG))
    assert len(derive_triggers(lock({}), lock({TAG: d("a")}), [c], NOW)) == 1


# ---------------------------------------------------------------------------
# YAML form


def sample_records() -> list[TriggerRecord]:
    image = derive_triggers(
        lock({TAG: d("a")}), lock({TAG: d("b")}), [consumer(DC, names=("web",))], NOW
    )[0]
    first = derive_triggers(lock({}), lock({TAG: d("b")}), [consumer(BC, automatic=False)], NOW)[0]
    config = derive_triggers(lock({}), lock({}), [consumer(DC, (), True)], NOW)[0]
    return [image, first, config, image.acknowledge("2024-06-02T00:00:00Z")]


@pytest.mark.parametrize("index", range(4), ids=["image", "first-no-from", "config", "acked"])
def test_render_record_round_trip(index):
    rec = sample_records()[index]
    text = render_record(rec)
    back = record_from_data(machine_yaml().load(text), "triggers/x.yaml")
    assert back == rec
    assert render_record(back) == text


def test_rendered_record_fields():
    image, _, config, acked = sample_records()
    data = machine_yaml().load(render_record(image))
    assert list(data) == [
        "apiVersion", "kind", "id", "type", "action", "consumer", "tag", "fromDigest",
        "toDigest", "image", "automatic", "containerNames", "created", "status",
    ]  # fmt: skip
    assert data["tag"] == "ns/app:1"
    cdata = machine_yaml().load(render_record(config))
    assert "tag" not in cdata and cdata["specHash"] == d("1")
    adata = machine_yaml().load(render_record(acked))
    assert (adata["status"], adata["acknowledged"]) == (ACKNOWLEDGED, "2024-06-02T00:00:00Z")
    assert b"created: '2024-06-01T00:00:00Z'" in render_record(image)


GOOD = {
    "kind": "TriggerRecord",
    "id": "dc-web-0123456789ab",
    "type": "ImageChange",
    "consumer": {"kind": "DeploymentConfig", "namespace": "ns", "name": "web"},
    "tag": "ns/app:1",
    "toDigest": "sha256:x",
    "created": NOW,
}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        pytest.param(None, "not a TriggerRecord", id="none"),
        pytest.param(["x"], "not a TriggerRecord", id="list"),
        pytest.param({**GOOD, "kind": "ImageLock"}, "not a TriggerRecord", id="kind"),
        pytest.param(
            {k: v for k, v in GOOD.items() if k != "consumer"}, "'consumer'", id="no-consumer"
        ),
        pytest.param({**GOOD, "consumer": "web"}, "malformed", id="consumer-string"),
        pytest.param(
            {**GOOD, "consumer": {"kind": "DeploymentConfig", "name": "w"}},
            "'namespace'",
            id="consumer-namespace",
        ),
        pytest.param({k: v for k, v in GOOD.items() if k != "id"}, "'id'", id="no-id"),
        pytest.param({**GOOD, "id": "../../etc/passwd"}, "bad id", id="path-id"),
        pytest.param({**GOOD, "id": "Dc-Web"}, "bad id", id="upper-id"),
        # The id is a file name: "dc-web\n" would be "triggers/dc-web\n.yaml".
        pytest.param({**GOOD, "id": "dc-web\n"}, "bad id", id="line-break-id"),
        pytest.param({k: v for k, v in GOOD.items() if k != "type"}, "'type'", id="no-type"),
        pytest.param(
            {k: v for k, v in GOOD.items() if k != "created"}, "'created'", id="no-created"
        ),
        pytest.param({**GOOD, "containerNames": 5}, "malformed", id="container-names"),
    ],
)
def test_bad_record_data(data, fragment):
    with pytest.raises(TriggerRecordError) as info:
        record_from_data(data, "triggers/bad.yaml")
    assert str(info.value).startswith("triggers/bad.yaml: ")
    assert fragment in str(info.value)


def test_minimal_record_defaults():
    rec = record_from_data(GOOD, "w")
    assert rec.status == OPEN
    assert rec.automatic is True
    assert rec.from_digest is None
    assert rec.tag == TAG
    assert rec.acknowledged is None


def test_rollback_to_an_earlier_digest_opens_a_new_record():
    known = {DC: d("1")}
    (first,) = derive_triggers(lock({TAG: d("a")}, known), lock({TAG: d("b")}), [consumer(DC)], NOW)
    (back,) = derive_triggers(lock({TAG: d("b")}, known), lock({TAG: d("a")}), [consumer(DC)], NOW)
    (initial,) = derive_triggers(lock({}), lock({TAG: d("a")}), [consumer(DC)], NOW)
    assert len({first.id, back.id, initial.id}) == 3
    # ...and deriving the same change again gives the same id.
    (again,) = derive_triggers(lock({TAG: d("b")}, known), lock({TAG: d("a")}), [consumer(DC)], NOW)
    assert again.id == back.id
