"""Validation of the image.openshift.io/triggers annotation: every problem with its line,
and its column inside the annotation's string, in each YAML form the string takes
(single- and double-quoted, literal and folded blocks, pretty-printed JSON, a JSON
manifest). Each case checks the place twice: the numbers, and the text found there."""

from __future__ import annotations

import pytest

from reconciler.core.manifests import ManifestObject, parse_manifests
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.validation import validate_objects
from reconciler.core.violations import Violation
from reconciler.files.schemas import check_schema

STREAMS = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: web, namespace: shop}
spec:
  tags:
    - {name: prod, from: {kind: DockerImage, name: quay.io/shop/web:prod}}
"""

HEAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    image.openshift.io/triggers: """
TAIL = """
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: " "
"""
ANNOTATION = "metadata.annotations.image.openshift.io/triggers"
FP = "spec.template.spec.containers[0].image"


def validate(text: str, file: str = "d.yaml") -> list[Violation]:
    objects: list[ManifestObject] = [
        *parse_manifests(STREAMS, "s.yaml", "shop").objects,
        *parse_manifests(text, file, "shop").objects,
    ]
    config = RepoConfig(default_namespace="shop", external=("other/*",))
    report = validate_objects(objects, config, check_schema)
    return [v for v in report.violations if v.file == file]


CASES = [
    pytest.param(
        """'[{"from": {"kind": "ImageStreamTag", "name": "web:prod"}, "fieldPath": "<FP>"]'""".replace(
            "<FP>", FP
        ),
        "",
        "not JSON: Expecting ',' delimiter",
        (7, 146),
        "]'",
        id="not-json-single-quoted",
    ),
    pytest.param(
        """|-
      [ {
        "from" : {"kind" : "ImageStreamTag", "name" : "web:prod"},
        "fieldPath" : "<FP>",
        "pasued" : true
      } ]""".replace("<FP>", FP),
        "[0].pasued",
        "unknown key 'pasued' (known: from, fieldPath, paused, pause); did you mean 'paused'?",
        (11, 9),
        '"pasued"',
        id="unknown-key-pretty-printed",
    ),
    pytest.param(
        """|
      [{"from": {"kind": "ImageStreamTag", "name": "web:prod", "namepsace": "shop"}, "fieldPath": "<FP>"}]""".replace(
            "<FP>", FP
        ),
        "[0].from.namepsace",
        "unknown key 'namepsace' (known: kind, name, namespace, apiVersion); did you mean "
        "'namespace'?",
        (8, 64),
        '"namepsace"',
        id="unknown-from-key-literal",
    ),
    pytest.param(
        """>-
      [{"fieldPath": "<FP>",
      "from": {"kind": "DockerImage", "name": "quay.io/shop/web:prod"}}]""".replace("<FP>", FP),
        "[0].from.kind",
        "must be 'ImageStreamTag' (got 'DockerImage'): the trigger controller follows image "
        "stream tags only",
        (9, 24),
        '"DockerImage"',
        id="from-kind-folded",
    ),
    pytest.param(
        r'''"[{\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"web:prod\"},\"fieldPath\":\"spec.template.spec.containers[?(@.name=='web')].image\"}]"''',
        "[0].fieldPath",
        'container selector "?(@.name==\'web\')" must be an index ([0]) or ?(@.name=="NAME"), '
        "with double quotes and no spaces",
        (7, 144),
        "?(@.name=='web')",
        id="fieldpath-selector-double-quoted-with-escapes",
    ),
    pytest.param(
        """'[{"from": {"kind": "ImageStreamTag", "name": "web:prod"}, "fieldPath": "spec.containers[0].image"}]'""",
        "[0].fieldPath",
        "must start with 'spec.template.spec.' for a Deployment",
        (7, 112),
        "containers[0]",
        id="fieldpath-prefix",
    ),
    pytest.param(
        """'[{"from": {"kind": "ImageStreamTag", "name": "web:prod"}, "fieldPath": "spec.template.spec.containers[0].name"}]'""",
        "[0].fieldPath",
        "must end with '.image' after the container",
        (7, 139),
        ".name",
        id="fieldpath-not-image",
    ),
    pytest.param(
        """|
      [{"from": {"kind": "ImageStreamTag", "name": "web:prod"},
        "fieldPath": "spec.template.spec.containers[?(@.name==\\"api\\")].image"}]""",
        "[0].fieldPath",
        "names container 'api', which is not in the pod template (containers: web)",
        (9, 22),
        '"spec.template',
        id="container-not-in-template",
    ),
    pytest.param(
        """'[{"from": {"kind": "ImageStreamTag", "name": "web:prod"}, "fieldPath": "spec.template.spec.initContainers[0].image"}]'""",
        "[0].fieldPath",
        "names container index 0, which is not in the pod template (containers: web)",
        (7, 106),
        '"spec.template',
        id="init-container-index-out-of-range",
    ),
    pytest.param(
        """'[{"from": {"kind": "ImageStreamTag", "name": "web:nope"}, "fieldPath": "<FP>"}]'""".replace(
            "<FP>", FP
        ),
        "[0].from.name",
        "ImageStreamTag shop/web:nope is not defined in the repo (add the tag to an "
        "ImageStream, or list it under 'external' in .reconciler.yaml)",
        (7, 80),
        '"web:nope"',
        id="tag-not-in-repo",
    ),
    pytest.param(
        """'[{"from": {"kind": "ImageStreamTag", "name": "web"}, "fieldPath": "<FP>"}]'""".replace(
            "<FP>", FP
        ),
        "[0].from.name",
        "must be <stream>:<tag> (got 'web')",
        (7, 80),
        '"web"',
        id="name-without-tag",
    ),
    pytest.param(
        """'[{"from": {"kind": "ImageStreamTag", "name": "web:prod"}, "fieldPath": "<FP>", "paused": "maybe"}]'""".replace(
            "<FP>", FP
        ),
        "[0].paused",
        "must be true or false (got 'maybe')",
        (7, 158),
        '"maybe"',
        id="paused-not-a-boolean",
    ),
    pytest.param(
        """|-
      [{"from": {"kind": "ImageStreamTag", "name": "web:prod"}, "fieldPath": "<FP>"},
       {"from": {"kind": "ImageStreamTag", "name": "web:prod"}, "fieldPath": "<FP>"}]""".replace(
            "<FP>", FP
        ),
        "[1].fieldPath",
        "duplicate fieldPath: also entry [0] (OpenShift then ignores every trigger of the "
        "annotation)",
        (9, 78),
        '"spec.template',
        id="duplicate-fieldpath",
    ),
    pytest.param(
        """'{"from": {"kind": "ImageStreamTag", "name": "web:prod"}, "fieldPath": "<FP>"}'""".replace(
            "<FP>", FP
        ),
        "",
        'must be a JSON array of triggers: [{"from": {...}, "fieldPath": "..."}]',
        (7, 35),
        '{"from"',
        id="not-an-array",
    ),
    pytest.param(
        """'[{"fieldPath": "<FP>"}]'""".replace("<FP>", FP),
        "[0].from",
        "'from' is missing",
        (7, 36),
        '{"fieldPath"',
        id="from-missing",
    ),
]


@pytest.mark.parametrize(("annotation", "path", "message", "place", "token"), CASES)
def test_annotation_problem_is_placed_inside_the_string(
    annotation: str, path: str, message: str, place: tuple[int, int], token: str
) -> None:
    text = HEAD + annotation + TAIL
    found = [v for v in validate(text) if v.message.startswith(message)]
    assert len(found) == 1, [v.text() for v in validate(text)]
    [violation] = found
    assert violation.is_error
    assert violation.path == ANNOTATION + path
    assert (violation.line, violation.column) == place
    line = text.splitlines()[violation.line - 1]
    assert line[violation.column - 1 :].startswith(token), line[violation.column - 1 :]


def test_a_correct_annotation_in_each_form_has_no_problem() -> None:
    entry = '{"from": {"kind": "ImageStreamTag", "name": "web:prod"}, "fieldPath": "<FP>"}'.replace(
        "<FP>", FP
    )
    forms = [
        f"'[{entry}]'",
        '"[' + entry.replace('"', '\\"') + ']"',
        f"|\n      [{entry}]",
        f"|-\n      [{entry}]",
        f">-\n      [{entry}]",
    ]
    for annotation in forms:
        assert validate(HEAD + annotation + TAIL) == [], annotation


def test_an_external_tag_is_no_error() -> None:
    annotation = (
        """'[{"from": {"kind": "ImageStreamTag", "name": "base:1", "namespace": "other"},"""
        """ "fieldPath": "<FP>"}]'""".replace("<FP>", FP)
    )
    assert validate(HEAD + annotation + TAIL) == []


def test_in_a_json_manifest_the_place_is_inside_the_escaped_string() -> None:
    text = (
        '{"apiVersion": "apps/v1", "kind": "Deployment",\n'
        ' "metadata": {"name": "web", "namespace": "shop", "annotations": {\n'
        '   "image.openshift.io/triggers": "[{\\"from\\":{\\"kind\\":\\"ImageStream\\",'
        '\\"name\\":\\"web:prod\\"},\\"fieldPath\\":\\"<FP>\\"}]"}},\n'
        ' "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"spec":'
        ' {"containers": [{"name": "web", "image": " "}]}}}}\n'.replace("<FP>", FP)
    )
    [violation] = validate(text, "d.json")
    assert violation.message.startswith("must be 'ImageStreamTag' (got 'ImageStream')")
    assert (violation.line, violation.column) == (3, 57)
    assert text.splitlines()[2][56:].startswith('\\"ImageStream\\"')


def test_a_form_that_cannot_be_followed_is_reported_at_the_key() -> None:
    # "|+" keeps trailing blank lines: not a form the place finder follows.
    annotation = '|+\n      [{"from": {"kind": "Image"}, "fieldPath": "<FP>"}]\n\n'.replace(
        "<FP>", FP
    )
    [violation] = [v for v in validate(HEAD + annotation + TAIL) if "ImageStreamTag" in v.message]
    assert (violation.line, violation.column) == (7, 5)


def test_placeholders_are_allowed_and_their_entries_not_followed() -> None:
    annotation = (
        """'[{"from": {"kind": "ImageStreamTag", "name": "web:{{ .Values.tag }}"},"""
        """ "fieldPath": "<FP>", "paused": {{ .Values.paused }}}]'""".replace("<FP>", FP)
    )
    [violation] = validate(HEAD + annotation + TAIL)
    assert violation.severity == "warning"
    assert violation.message.startswith("names its tag with a placeholder")
    assert (violation.line, violation.column) == (7, 80)


def test_an_oversized_annotation_is_refused_without_parsing() -> None:
    annotation = "'[" + " " * (256 * 1024) + "]'"
    [violation] = validate(HEAD + annotation + TAIL)
    assert violation.message.startswith("is 262146 characters long")
    assert (violation.line, violation.column) == (7, 5)


def test_deep_json_nesting_is_a_problem_not_a_crash() -> None:
    annotation = "'" + "[" * 100_000 + "]" * 100_000 + "'"
    [violation] = validate(HEAD + annotation + TAIL)
    assert violation.message == "not JSON: nested too deeply"
