"""``spec.dockerImageRepository`` is refused, not ignored: the stream is invalid with an
error at the field that says how to import the repository's tags. An empty value (what
kompose and the OpenShift library write) and a Template's stream are left alone."""

from __future__ import annotations

import textwrap

from reconciler.core.manifests import parse_manifests
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.validation import validate_objects
from reconciler.core.violations import Violation

STREAM = """\
kind: ImageStream
metadata:
  name: complex
spec:
  dockerImageRepository: {value}
  tags:
  - name: "1"
    from:
      kind: DockerImage
      name: registry.example.com/base:1
"""


def report(text: str):  # type: ignore[no-untyped-def]
    parsed = parse_manifests(textwrap.dedent(text), "is.yaml")
    return validate_objects(parsed.objects, RepoConfig(), lambda obj: list[Violation]())


def test_a_repository_is_refused_at_the_field() -> None:
    result = report(STREAM.format(value="docker.registry:5000/org_test/complex"))
    assert [o.name for o in result.invalid] == ["complex"]
    (error,) = result.errors
    assert (error.line, error.column, error.path) == (5, 3, "spec.dockerImageRepository")
    assert "not imported" in error.message
    assert "reconciler import-image complex --all --confirm" in error.message


def test_an_empty_repository_is_fine() -> None:
    assert report(STREAM.format(value='""')).errors == []


def test_a_template_is_not_judged() -> None:
    body = textwrap.indent(STREAM.format(value="quay.io/x/y"), "    ")
    template = (
        "apiVersion: template.openshift.io/v1\nkind: Template\nmetadata:\n  name: t\n"
        "objects:\n  - " + body.lstrip()
    )
    assert report(template).errors == []
