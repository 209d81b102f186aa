"""Table tests for reconciler.core.streams (names, spec.tags defaults) and
reconciler.core.consumers (triggers, outputs, spec fingerprints)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from reconciler.core.consumers import Consumer, read_consumer, spec_fingerprint
from reconciler.core.lockfile import Lock, TagLock, TagSource
from reconciler.core.manifests import ManifestObject, ObjectKey, parse_manifests
from reconciler.core.streams import (
    TagRef,
    alias_target,
    parse_isimage_name,
    parse_istag_name,
    stream_tags,
)
from reconciler.core.triggers import CONFIG_CHANGE, IMAGE_CHANGE, TriggerRecord, derive_triggers

DIGEST = "sha256:" + "0123456789abcdef" * 4


def one(text: str, namespace: str = "dflt") -> ManifestObject:
    parsed = parse_manifests(textwrap.dedent(text), "f.yaml", default_namespace=namespace)
    assert parsed.violations == []
    (obj,) = parsed.objects
    return obj


# ---------------------------------------------------------------------------
# names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nodejs:16", TagRef("ns", "nodejs", "16")),
        ("nodejs", TagRef("ns", "nodejs", "latest")),
        ("my-app:v1.2.3", TagRef("ns", "my-app", "v1.2.3")),
        ("", None),
        (":16", None),
        ("nodejs@" + DIGEST, None),
        ("other/nodejs:16", None),
        ("quay.io/x/nodejs:16", None),
        ("nodejs:", None),  # empty tag (fixed in 8610272)
        ("a:b:c", None),  # a second colon (fixed in 8610272)
    ],
)
def test_parse_istag_name(name, expected):
    assert parse_istag_name(name, "ns") == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nodejs@" + DIGEST, ("nodejs", DIGEST)),
        ("nodejs@sha256:abc", None),  # too short
        ("nodejs@sha512:" + "0" * 64, None),
        ("@" + DIGEST, None),
        ("nodejs:16", None),
        ("nodejs", None),
    ],
)
def test_parse_isimage_name(name, expected):
    assert parse_isimage_name(name) == expected


@pytest.mark.parametrize(
    ("name", "namespace", "expected"),
    [
        ("3.2", None, TagRef("ns", "s", "3.2")),  # bare name: same stream
        ("3.2", "other", TagRef("other", "s", "3.2")),
        ("t:3.2", None, TagRef("ns", "t", "3.2")),
        ("t:3.2", "other", TagRef("other", "t", "3.2")),
        ("", None, None),
        ("x@" + DIGEST, None, None),
        ("a/b", None, None),
    ],
)
def test_alias_target(name, namespace, expected):
    assert alias_target(TagRef("ns", "s", "latest"), name, namespace) == expected


# ---------------------------------------------------------------------------
# stream_tags

STREAM = """\
kind: ImageStream
metadata:
  name: web
  namespace: team
spec:
  tags:
  - name: plain
    from: {kind: DockerImage, name: nginx:1.25}
  - name: full
    from: {kind: ImageStreamTag, name: "other:1", namespace: shared}
    importPolicy: {scheduled: true, insecure: true, importMode: PreserveOriginal}
    referencePolicy: {type: Local}
    reference: true
  - name: pushed
  - from: {kind: DockerImage, name: nameless}
  - name: ""
  - name: odd
    from: {kind: "", name: 5, namespace: ""}
    importPolicy: {scheduled: "true", importMode: Weird}
    referencePolicy: {type: Nope}
    reference: "yes"
  - not-a-mapping
"""


@pytest.mark.parametrize(
    ("tag", "field", "expected"),
    [
        ("plain", "ref", TagRef("team", "web", "plain")),
        ("plain", "from_kind", "DockerImage"),
        ("plain", "from_name", "nginx:1.25"),
        ("plain", "from_namespace", None),
        ("plain", "scheduled", False),
        ("plain", "insecure", False),
        ("plain", "import_mode", "Legacy"),
        ("plain", "reference_policy", "Source"),
        ("plain", "reference", False),
        ("plain", "index", 0),
        ("plain", "path", ("spec", "tags", 0)),
        ("plain", "from_path", ("spec", "tags", 0, "from")),
        ("full", "from_kind", "ImageStreamTag"),
        ("full", "from_namespace", "shared"),
        ("full", "scheduled", True),
        ("full", "insecure", True),
        ("full", "import_mode", "PreserveOriginal"),
        ("full", "reference_policy", "Local"),
        ("full", "reference", True),
        ("full", "index", 1),
        ("pushed", "from_kind", None),
        ("pushed", "from_name", ""),
        ("pushed", "index", 2),
        # odd values are read leniently, never raised
        ("odd", "from_kind", None),
        ("odd", "from_name", "5"),
        ("odd", "from_namespace", None),
        ("odd", "scheduled", False),
        ("odd", "import_mode", "Legacy"),
        ("odd", "reference_policy", "Source"),
        ("odd", "reference", False),
        ("odd", "index", 5),
    ],
)
def test_stream_tags_fields(tag, field, expected):
    tags = {t.ref.tag: t for t in stream_tags(one(STREAM))}
    assert getattr(tags[tag], field) == expected


def test_stream_tags_skips_nameless_and_keeps_order():
    assert [t.ref.tag for t in stream_tags(one(STREAM))] == ["plain", "full", "pushed", "odd"]


@pytest.mark.parametrize(
    ("tag", "target"),
    [
        ("plain", None),
        ("full", TagRef("shared", "other", "1")),
    ],
)
def test_tag_target(tag, target):
    tags = {t.ref.tag: t for t in stream_tags(one(STREAM))}
    assert tags[tag].target() == target


@pytest.mark.parametrize("spec", ["spec: {tags: nope}", "spec: []", "spec: {}", "status: {}"])
def test_stream_tags_without_tag_list(spec):
    assert stream_tags(one(f"kind: ImageStream\nmetadata: {{name: s}}\n{spec}\n")) == []


def test_stream_namespace_default():
    (tag,) = stream_tags(
        one("kind: ImageStream\nmetadata: {name: s}\nspec: {tags: [{name: a}]}\n", "nsx")
    )
    assert tag.ref == TagRef("nsx", "s", "a")


# ---------------------------------------------------------------------------
# read_consumer: DeploymentConfig

DC = """\
kind: DeploymentConfig
metadata:
  name: web
  {ns}
spec:
  triggers:
  - type: ConfigChange
  - type: ImageChange
    imageChangeParams:
      automatic: true
      containerNames: [web]
      from: {{kind: ImageStreamTag, name: "app:1"}}
  - type: ImageChange
    imageChangeParams:
      containerNames: [init, side]
      from: {{kind: ImageStreamTag, name: tools, namespace: shared}}
  - type: ImageChange
    imageChangeParams:
      from: {{kind: DockerImage, name: "nginx:1"}}
  template:
    spec:
      initContainers:
      - name: init
      containers:
      - name: web
      - name: side
      - image: nameless
"""


@pytest.mark.parametrize(
    ("ns_line", "namespace"),
    [("", "dflt"), ("namespace: prod", "prod")],
)
def test_read_consumer_dc(ns_line, namespace):
    obj = one(DC.format(ns=ns_line))
    consumer = read_consumer(obj)
    key = ObjectKey("DeploymentConfig", namespace, "web")
    assert consumer.key == key
    assert consumer.config_change is True
    assert consumer.output is None
    assert consumer.containers == ("web", "side", "init")
    got = [(t.source, t.automatic, t.container_names, t.path) for t in consumer.image_triggers]
    assert got == [
        (
            TagRef(namespace, "app", "1"),
            True,
            ("web",),
            ("spec", "triggers", 1, "imageChangeParams", "from"),
        ),
        (
            TagRef("shared", "tools", "latest"),
            False,  # automatic missing: not automatic
            ("init", "side"),
            ("spec", "triggers", 2, "imageChangeParams", "from"),
        ),
    ]
    assert all(t.consumer == key for t in consumer.image_triggers)


def test_dc_without_config_change():
    obj = one(DC.format(ns="").replace("  - type: ConfigChange\n", ""))
    assert read_consumer(obj).config_change is False


# ---------------------------------------------------------------------------
# read_consumer: BuildConfig

BC = """\
kind: BuildConfig
metadata: {{name: b}}
spec:
  strategy:
    {strategy}:
      from: {{kind: ImageStreamTag, name: "builder:1"}}
  output:
    to: {{kind: ImageStreamTag, name: "out:2"}}
  triggers:
  - type: {type}
    imageChange: {own}
  - type: configChange
"""
OWN = '{from: {kind: ImageStreamTag, name: "base:3", namespace: lib}}'


@pytest.mark.parametrize(
    ("strategy", "type_", "own", "source", "path"),
    [
        pytest.param(
            "sourceStrategy",
            "ImageChange",
            "{}",
            TagRef("dflt", "builder", "1"),
            ("spec", "strategy", "sourceStrategy", "from"),
            id="source-strategy",
        ),
        pytest.param(
            "dockerStrategy",
            "ImageChange",
            "{}",
            TagRef("dflt", "builder", "1"),
            ("spec", "strategy", "dockerStrategy", "from"),
            id="docker-strategy",
        ),
        pytest.param(
            "customStrategy",
            "imageChange",  # OpenShift 3 spelling
            "{lastTriggeredImageID: x}",
            TagRef("dflt", "builder", "1"),
            ("spec", "strategy", "customStrategy", "from"),
            id="custom-strategy-legacy-type",
        ),
        pytest.param(
            "sourceStrategy",
            "ImageChange",
            OWN,
            TagRef("lib", "base", "3"),
            ("spec", "triggers", 0, "imageChange", "from"),
            id="own-from",
        ),
        pytest.param(
            "jenkinsPipelineStrategy",
            "ImageChange",
            "{}",
            None,
            None,
            id="no-strategy-from",
        ),
    ],
)
def test_read_consumer_bc(strategy, type_, own, source, path):
    consumer = read_consumer(one(BC.format(strategy=strategy, type=type_, own=own)))
    assert consumer.key == ObjectKey("BuildConfig", "dflt", "b")
    assert consumer.output == TagRef("dflt", "out", "2")
    assert consumer.config_change is True  # lower-case configChange too
    assert consumer.containers == ()
    got = [(t.source, t.automatic, t.container_names, t.path) for t in consumer.image_triggers]
    assert got == ([] if source is None else [(source, True, (), path)])


def test_bc_strategy_from_docker_image_is_no_trigger():
    text = BC.format(strategy="sourceStrategy", type="ImageChange", own="{}").replace(
        'kind: ImageStreamTag, name: "builder:1"', 'kind: DockerImage, name: "builder:1"'
    )
    assert read_consumer(one(text)).image_triggers == ()


def test_bc_output_docker_image_is_no_output():
    text = BC.format(strategy="sourceStrategy", type="ImageChange", own="{}").replace(
        'to: {kind: ImageStreamTag, name: "out:2"}', 'to: {kind: DockerImage, name: "q.io/x:1"}'
    )
    assert read_consumer(one(text)).output is None


# ---------------------------------------------------------------------------
# spec_fingerprint


def bc_with(own: str, extra: str = "") -> ManifestObject:
    return one(BC.format(strategy="sourceStrategy", type="ImageChange", own=own) + extra)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(
            bc_with("{}"), bc_with("{lastTriggeredImageID: 'q.io/x@sha256:1'}"), True, id="bc-ltid"
        ),
        pytest.param(
            bc_with("{lastTriggeredImageID: a}"),
            bc_with("{lastTriggeredImageID: b}"),
            True,
            id="bc-ltid-changed",
        ),
        pytest.param(bc_with("{}"), bc_with(OWN), False, id="bc-trigger-from"),
        pytest.param(
            bc_with("{}"), bc_with("{}", "  runPolicy: Serial\n"), False, id="bc-other-field"
        ),
        pytest.param(
            bc_with("{}"),
            one(
                BC.format(strategy="sourceStrategy", type="ImageChange", own="{}").replace(
                    "metadata: {name: b}", "metadata: {name: b, labels: {x: y}}"
                )
            ),
            True,
            id="bc-metadata-ignored",
        ),
        pytest.param(
            one(DC.format(ns="")),
            one(DC.format(ns="").replace("- name: side", "- name: side2")),
            False,
            id="dc-pod-template",
        ),
        pytest.param(
            one(DC.format(ns="")),
            one(DC.format(ns="").replace("automatic: true", "automatic: false")),
            True,
            id="dc-triggers-not-watched",
        ),
        pytest.param(
            one(DC.format(ns="")),
            one(DC.format(ns="namespace: other")),
            True,
            id="dc-namespace-not-watched",
        ),
    ],
)
def test_spec_fingerprint(a, b, same):
    fa, fb = spec_fingerprint(a), spec_fingerprint(b)
    assert fa.startswith("sha256:") and len(fa) == 71
    assert (fa == fb) is same


def test_spec_fingerprint_key_order_independent():
    a = one("kind: DeploymentConfig\nmetadata: {name: d}\nspec:\n  template: {x: 1, y: 2}\n")
    b = one("kind: DeploymentConfig\nmetadata: {name: d}\nspec:\n  template: {y: 2, x: 1}\n")
    assert spec_fingerprint(a) == spec_fingerprint(b)
    assert read_consumer(a).spec_hash == spec_fingerprint(a)


# ---------------------------------------------------------------------------
# ConfigChange records: the same spec fingerprinted another way is no change

PINNED = """\
kind: DeploymentConfig
metadata: {name: web, namespace: prod}
spec:
  triggers:
  - type: ConfigChange
  - type: ImageChange
    imageChangeParams:
      automatic: AUTOMATIC
      containerNames: [web]
      from: {kind: ImageStreamTag, name: "app:1"}
  template:
    spec:
      containers:
      - name: web
        image: IMAGE
        env: [{name: MODE, value: MODE_VALUE}]
"""


def dc(
    automatic: str = "true", image: str = "reg/app@" + DIGEST, mode: str = "a"
) -> ManifestObject:
    text = PINNED.replace("AUTOMATIC", automatic).replace("IMAGE", image)
    return one(text.replace("MODE_VALUE", mode))


def config_records(before: Consumer, after: Consumer) -> list[TriggerRecord]:
    old = Lock(tags={}, consumers={before.key: before.spec_hash})
    new = Lock(tags={}, consumers={after.key: after.spec_hash})
    return [r for r in derive_triggers(old, new, [after], "t") if r.type == CONFIG_CHANGE]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # writeBack turned on, then off: the image fields leave and re-enter the hash.
        (lambda: read_consumer(dc()), lambda: read_consumer(dc(), write_back=True)),
        (lambda: read_consumer(dc(), write_back=True), lambda: read_consumer(dc())),
        # Under writeBack, a trigger made manual (`set triggers --manual`).
        (
            lambda: read_consumer(dc(), write_back=True),
            lambda: read_consumer(dc(automatic="false"), write_back=True),
        ),
        # Under writeBack, the write-back moving the image is an ImageChange.
        (
            lambda: read_consumer(dc(), write_back=True),
            lambda: read_consumer(dc(image="reg/app@sha256:" + "1" * 64), write_back=True),
        ),
    ],
    ids=["write-back-on", "write-back-off", "made-manual", "written-back"],
)
def test_a_spec_fingerprinted_another_way_opens_no_config_change(
    before: Callable[[], Consumer], after: Callable[[], Consumer]
) -> None:
    assert config_records(before(), after()) == []


@pytest.mark.parametrize("write_back", [False, True])
def test_a_real_spec_change_still_opens_a_config_change(write_back: bool) -> None:
    before = read_consumer(dc(), write_back=write_back)
    after = read_consumer(dc(mode="b"), write_back=write_back)
    assert len(config_records(before, after)) == 1


def test_an_image_edited_by_hand_without_write_back_is_a_config_change() -> None:
    before = read_consumer(dc())
    after = read_consumer(dc(image="reg/app@sha256:" + "1" * 64))
    assert len(config_records(before, after)) == 1


def test_a_new_deployment_config_rolls_out_once() -> None:
    consumer = read_consumer(dc())
    ref = consumer.image_triggers[0].source
    tag = TagLock(
        source=TagSource("DockerImage", "reg/app:1"), digest=DIGEST, image="reg/app@" + DIGEST
    )
    new = Lock(tags={ref: tag}, consumers={consumer.key: consumer.spec_hash})
    records = derive_triggers(Lock(tags={}, consumers={}), new, [consumer], "t")
    assert [r.type for r in records] == [IMAGE_CHANGE]
    # Without an image to roll out, the new spec is the one record.
    unresolved = Lock(tags={}, consumers={consumer.key: consumer.spec_hash})
    records = derive_triggers(Lock(tags={}, consumers={}), unresolved, [consumer], "t")
    assert [r.type for r in records] == [CONFIG_CHANGE]
