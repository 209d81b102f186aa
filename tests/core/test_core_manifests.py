"""Table tests for reconciler.core.manifests.parse_manifests: unpacking (documents, List
items, Template objects), positions, and the file-level refusals."""

from __future__ import annotations

import pytest

from reconciler.core.manifests import MAX_ALIAS_EXPANSION, ObjectKey, parse_manifests

STREAM_IN_LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: image.openshift.io/v1
  kind: ImageStream
  metadata:
    name: web
    creationTimestamp: 2024-01-02T03:04:05Z
  spec:
    tags:
    - name: latest
      from:
        kind: DockerImage
        name: nginx:1.25
- apiVersion: v1
  kind: Service
  metadata:
    name: web
"""

MULTI = """\
kind: ImageStream
metadata:
  name: one
  namespace: team
---
kind: Route
metadata:
  name: r
---
# an empty document is neither ours nor counted
---
kind: Template
metadata:
  name: t
objects:
- kind: BuildConfig
  metadata:
    name: ${NAME}
- kind: ConfigMap
  metadata:
    name: c
- kind: DeploymentConfig
  metadata:
    name: d
"""


# ---------------------------------------------------------------------------
# unpacking


@pytest.mark.parametrize(
    ("text", "expected", "others"),
    [
        pytest.param(
            STREAM_IN_LIST,
            [(ObjectKey("ImageStream", "ns0", "web"), 0, ("items", 0), False)],
            1,
            id="list-items",
        ),
        pytest.param(
            MULTI,
            [
                (ObjectKey("ImageStream", "team", "one"), 0, (), False),
                (ObjectKey("BuildConfig", "ns0", "${NAME}"), 3, ("objects", 0), True),
                (ObjectKey("DeploymentConfig", "ns0", "d"), 3, ("objects", 2), True),
            ],
            2,  # the Route, the ConfigMap inside the Template
            id="multi-doc-template",
        ),
        pytest.param(
            "kind: ImageStreamList\nitems:\n- kind: ImageStream\n  metadata: {name: x}\n",
            [(ObjectKey("ImageStream", "ns0", "x"), 0, ("items", 0), False)],
            0,
            id="typed-list",
        ),
        pytest.param(
            "kind: List\nitems:\n- kind: Template\n  objects:\n  - kind: ImageStream\n"
            "    metadata: {name: deep}\n",
            [(ObjectKey("ImageStream", "ns0", "deep"), 0, ("items", 0, "objects", 0), True)],
            0,
            id="template-in-list",
        ),
        pytest.param("kind: List\nitems: nope\n", [], 0, id="list-without-items-list"),
        pytest.param("- a\n- b\n", [], 0, id="top-level-sequence"),
        pytest.param("kind: Secret\n", [], 1, id="other-kind"),
        pytest.param("metadata: {name: x}\n", [], 1, id="no-kind"),
        pytest.param("", [], 0, id="empty-file"),
    ],
)
def test_unpack(text, expected, others):
    parsed = parse_manifests(text, "f.yaml", default_namespace="ns0")
    assert parsed.violations == []
    got = [(o.key, o.document, o.base, o.in_template) for o in parsed.objects]
    assert got == expected
    assert parsed.other_documents == others
    assert all(o.file == "f.yaml" for o in parsed.objects)


# ---------------------------------------------------------------------------
# positions


@pytest.mark.parametrize(
    ("path", "where"),
    [
        pytest.param((), (4, 3), id="object-itself"),
        pytest.param(("kind",), (5, 3), id="kind"),
        pytest.param(("metadata", "name"), (7, 5), id="name"),
        pytest.param(("spec", "tags"), (10, 5), id="tags"),
        pytest.param(("spec", "tags", 0), (11, 7), id="tag-item"),
        pytest.param(("spec", "tags", 0, "from", "name"), (14, 9), id="from-name"),
        # missing fields: the nearest ancestor that is written
        pytest.param(("spec", "tags", 0, "importPolicy", "scheduled"), (11, 7), id="missing-leaf"),
        pytest.param(("spec", "tags", 5, "name"), (10, 5), id="missing-index"),
        pytest.param(("status",), (4, 3), id="missing-top"),
    ],
)
def test_locate_nested(path, where):
    (obj,) = parse_manifests(STREAM_IN_LIST, "f.yaml").objects
    assert obj.locate(path) == where


@pytest.mark.parametrize(
    ("path", "rendered", "where"),
    [
        (("spec", "tags", 0, "from", "kind"), "spec.tags[0].from.kind", (13, 9)),
        (("metadata", "labels"), "metadata.labels", (6, 3)),
    ],
)
def test_violation_carries_position_and_path(path, rendered, where):
    (obj,) = parse_manifests(STREAM_IN_LIST, "dir/f.yaml").objects
    v = obj.violation(path, "boom", severity="warning")
    assert (v.file, v.line, v.column) == ("dir/f.yaml", *where)
    assert v.object == "ImageStream/default/web"
    assert v.path == rendered
    assert v.severity == "warning"
    assert v.message == "boom"


def test_positions_of_second_document_are_its_own():
    parsed = parse_manifests(MULTI, "m.yaml")
    dc = next(o for o in parsed.objects if o.kind == "DeploymentConfig")
    assert dc.locate(()) == (22, 3)
    assert dc.locate(("metadata", "name")) == (24, 5)
    first = parsed.objects[0]
    assert first.locate(("metadata", "namespace")) == (4, 3)


# ---------------------------------------------------------------------------
# scalars and JSON


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00"),
        ("2024-01-02", "2024-01-02"),
        ("'2024-01-02'", "2024-01-02"),
        ("12", 12),
        ("1.5", 1.5),
        ("true", True),
        ("null", None),
        ("plain", "plain"),
    ],
)
def test_scalars_are_plain_json(yaml_value, expected):
    text = f"kind: ImageStream\nmetadata:\n  name: x\n  annotations:\n    v: {yaml_value}\n"
    (obj,) = parse_manifests(text, "f.yaml").objects
    value = obj.metadata["annotations"]["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_json_text_input():
    text = (
        '{"kind": "ImageStream",\n'
        ' "metadata": {"name": "j", "namespace": "jn"},\n'
        ' "spec": {"tags": [{"name": "a", "from": {"kind": "DockerImage", "name": "x"}}]}}\n'
    )
    parsed = parse_manifests(text, "f.json")
    (obj,) = parsed.objects
    assert obj.key == ObjectKey("ImageStream", "jn", "j")
    assert obj.spec["tags"][0]["from"] == {"kind": "DockerImage", "name": "x"}
    assert obj.locate(("metadata",)) == (2, 2)  # the key's opening quote
    assert obj.locate(("spec", "tags")) == (3, 11)


# ---------------------------------------------------------------------------
# refusals: one violation, no objects


BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n"
    for i in range(6)
)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragments"),
    [
        pytest.param(
            "kind: ImageStream\nmetadata:\n  name: a\n  name: b\n",
            4,
            3,
            ['duplicate key: duplicate key "name"'],
            id="duplicate-key",
        ),
        pytest.param(
            "kind: ImageStream\n---\nkind: ImageStream\nspec:\n  tags: [a\n  x: 1\n",
            6,
            4,
            ["YAML syntax error", "flow sequence"],
            id="syntax-error-second-doc",
        ),
        pytest.param(
            "kind: ImageStream\nmetadata:\n\tname: x\n",
            3,
            1,
            ["YAML syntax error"],
            id="tab-indent",
        ),
        pytest.param(
            BOMB,
            4,  # the anchor whose next use crosses the limit
            4,
            ["refused", f"expand past {MAX_ALIAS_EXPANSION} nodes"],
            id="alias-bomb",
        ),
        pytest.param("&a [ *a ]\n", 1, 1, ["refused: recursive YAML alias"], id="recursive-seq"),
    ],
)
def test_file_level_refusals(text, line, column, fragments):
    parsed = parse_manifests(text, "bad.yaml")
    assert parsed.objects == []
    assert parsed.other_documents == 0
    (v,) = parsed.violations
    assert (v.file, v.line, v.column, v.object, v.path) == ("bad.yaml", line, column, "", "")
    for fragment in fragments:
        assert fragment in v.message
    assert v.is_error


def test_duplicate_key_message_omits_value():
    (v,) = parse_manifests("a: 1\na: secret-value\n", "d.yaml").violations
    assert "secret-value" not in v.message


def test_modest_aliases_are_fine():
    text = (
        "kind: ImageStream\nmetadata:\n  name: x\nspec:\n  tags:\n"
        "  - name: a\n    importPolicy: &p {scheduled: true}\n"
        "  - name: b\n    importPolicy: *p\n"
    )
    parsed = parse_manifests(text, "f.yaml")
    assert parsed.violations == []
    (obj,) = parsed.objects
    assert obj.spec["tags"][1]["importPolicy"] == {"scheduled": True}
    # alias copies get no positions of their own: the tag item stands for them
    assert obj.locate(("spec", "tags", 1, "importPolicy", "scheduled")) == (9, 5)


# Fixed in c640774 (was: ruamel loaded the inner alias as null and the object passed).
@pytest.mark.parametrize(
    "text",
    [
        "kind: ImageStream\nmetadata: &m\n  name: x\n  labels:\n    self: *m\n",
        "kind: ImageStream\nspec: &s\n  tags:\n  - name: a\n    more: [*s]\n",
        "kind: ImageStream\n---\nkind: List\nitems: &i\n- *i\n",
    ],
    ids=["mapping-in-mapping", "mapping-via-sequence", "second-document"],
)
def test_recursive_mapping_alias_refused(text):
    parsed = parse_manifests(text, "r.yaml")
    assert parsed.objects == []
    assert [v.message for v in parsed.violations] == ["refused: recursive YAML alias"]


MERGED = """\
kind: ImageStream
metadata: {name: s}
spec:
  tags:
  - &base
    name: a
    importPolicy: {scheduled: true}
    from: {kind: DockerImage, name: x}
  - <<: *base
    name: b
"""


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (("spec", "tags", 1, "name"), (10, 5)),  # written in the merging mapping
        (("spec", "tags", 1, "importPolicy"), (9, 5)),  # merged in: the merging item
        (("spec", "tags", 1, "from", "name"), (9, 5)),
        (("spec", "tags", 0, "from", "name"), (8, 31)),
    ],
)
def test_merge_keys_values_and_positions(path, where):
    parsed = parse_manifests(MERGED, "m.yaml")
    assert parsed.violations == []
    (obj,) = parsed.objects
    assert obj.spec["tags"][1] == {
        "name": "b",
        "importPolicy": {"scheduled": True},
        "from": {"kind": "DockerImage", "name": "x"},
    }
    assert obj.locate(path) == where


def test_positions_survive_a_tab_before_a_comment():
    """The fast loader accepts a tab before a comment, the round-trip one does not: the
    positions of a violation in such a file are still exact."""
    text = (
        "kind: ImageStream\n"
        "metadata:\n"
        "  name: web\t# the web stream\n"
        "spec:\n"
        "  tags:\n"
        "  - name: a\n"
        "    from: {kind: Dockerimage, name: x}\n"
    )
    (obj,) = parse_manifests(text, "s.yaml").objects
    assert obj.locate(("spec", "tags", 0, "from", "kind")) == (7, 12)
