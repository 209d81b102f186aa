"""Table tests for the cross-object checks (reconciler.core.crosscheck) as seen through
reconciler.core.validation.validate_objects, with a stand-in schema check."""

from __future__ import annotations

import textwrap

import pytest

from reconciler.core.manifests import ManifestObject, parse_manifests
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.validation import validate_objects
from reconciler.core.violations import Violation

BASE = """\
kind: ImageStream
metadata:
  name: base
spec:
  tags:
  - name: "1"
    from:
      kind: DockerImage
      name: registry.example.com/base:1
"""


def pos(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based line and column of the nth occurrence of ``needle`` in ``text``."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return line, column


def load(files: dict[str, str]) -> list[ManifestObject]:
    objects: list[ManifestObject] = []
    for name, text in files.items():
        parsed = parse_manifests(textwrap.dedent(text), name)
        assert parsed.violations == [], parsed.violations
        objects += parsed.objects
    return objects


def no_schema_errors(obj: ManifestObject) -> list[Violation]:
    return []


def check(files: dict[str, str], config: RepoConfig | None = None):
    return validate_objects(load(files), config or RepoConfig(), no_schema_errors)


def stream(name: str, tags: str, namespace: str = "") -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"kind: ImageStream\nmetadata:\n  name: {name}{ns}\nspec:\n  tags:\n{tags}"


def alias(tag: str, target: str, extra: str = "") -> str:
    return f"  - name: {tag}\n    from:\n      kind: ImageStreamTag\n      name: {target}\n{extra}"


# ---------------------------------------------------------------------------
# one problem per case: file, position (of a needle), path, message fragments

SCHEDULED_ALIAS = stream("app", alias("x", "base:1", "    importPolicy:\n      scheduled: true\n"))
SCHEDULED_NO_FROM = stream("app", "  - name: x\n    importPolicy: {scheduled: true}\n")
DUP_TAGS = stream(
    "app",
    "  - name: a\n  - name: b\n  - name: a\n",
)
MISSING_ALIAS = stream("app", alias("x", "nope:2"))
MISSING_ALIAS_OTHER_NS = stream("app", alias("x", "base:1", "      namespace: elsewhere\n"))
MISSING_BARE_ALIAS = stream("app", alias("x", "nope"))
EMPTY_TAG_ALIAS = stream("app", alias("x", '"base:"'))
DC_IN_LIST_BAD_CONTAINER = (
    "kind: List\nitems:\n- "
    + (
        "kind: DeploymentConfig\nmetadata:\n  name: web\nspec:\n  triggers:\n  - type: ImageChange\n"
        "    imageChangeParams:\n      containerNames:\n      - nope\n"
        "      from: {kind: ImageStreamTag, name: 'base:1'}\n"
        "  template: {spec: {containers: [{name: web}]}}\n"
    )
    .replace("\n", "\n  ")
    .rstrip()
    + "\n"
)
BAD_ALIAS_NAME = stream("app", alias("x", "base@sha256:00"))
BAD_ISIMAGE = stream(
    "app", "  - name: x\n    from:\n      kind: ImageStreamImage\n      name: base:1\n"
)
MISSING_ISIMAGE_STREAM = stream(
    "app",
    "  - name: x\n    from:\n      kind: ImageStreamImage\n      name: gone@sha256:"
    + "a" * 64
    + "\n",
)
DC_MISSING = """\
kind: DeploymentConfig
metadata:
  name: web
spec:
  triggers:
  - type: ConfigChange
  - type: ImageChange
    imageChangeParams:
      automatic: true
      containerNames: [web]
      from:
        kind: ImageStreamTag
        name: base:2
  template:
    spec:
      containers:
      - name: web
"""
DC_BAD_CONTAINER = DC_MISSING.replace("name: base:2", "name: base:1").replace(
    "[web]", "[web, sidecar]"
)
BC_STRATEGY_MISSING = """\
kind: BuildConfig
metadata:
  name: b
spec:
  strategy:
    sourceStrategy:
      from:
        kind: ImageStreamTag
        name: builder:latest
  triggers:
  - type: ImageChange
    imageChange: {}
"""
BC_OWN_FROM_MISSING = """\
kind: BuildConfig
metadata:
  name: b
spec:
  strategy:
    dockerStrategy:
      from:
        kind: ImageStreamTag
        name: base:1
  triggers:
  - type: imageChange
    imageChange:
      from:
        kind: ImageStreamTag
        name: tools:9
        namespace: shared
"""
BC_OUTPUT_MISSING = """\
kind: BuildConfig
metadata:
  name: b
spec:
  output:
    to:
      kind: ImageStreamTag
      name: out:latest
"""


@pytest.mark.parametrize(
    ("text", "needle", "nth", "path", "fragments"),
    [
        pytest.param(
            SCHEDULED_ALIAS,
            "scheduled",
            0,
            "spec.tags[0].importPolicy.scheduled",
            ["scheduled import needs a DockerImage source, not ImageStreamTag"],
            id="scheduled-on-istag",
        ),
        pytest.param(
            SCHEDULED_NO_FROM,
            "scheduled",
            0,
            "spec.tags[0].importPolicy.scheduled",
            ["not no from"],
            id="scheduled-without-from",
        ),
        pytest.param(
            DUP_TAGS,
            "name: a\n",
            1,
            "spec.tags[2].name",
            ["duplicate tag 'a': also spec.tags[0] at line 6"],
            id="duplicate-tag",
        ),
        pytest.param(
            MISSING_ALIAS,
            "name: nope:2",
            0,
            "spec.tags[0].from.name",
            ["ImageStreamTag default/nope:2 is not defined in the repo", "external"],
            id="alias-target-missing",
        ),
        pytest.param(
            MISSING_ALIAS_OTHER_NS,
            "name: base:1",
            0,
            "spec.tags[0].from.name",
            ["ImageStreamTag elsewhere/base:1 is not defined"],
            id="alias-target-other-namespace",
        ),
        pytest.param(
            MISSING_BARE_ALIAS,
            "name: nope",
            0,
            "spec.tags[0].from.name",
            ["ImageStreamTag default/app:nope is not defined"],
            id="bare-alias-is-same-stream",
        ),
        pytest.param(
            EMPTY_TAG_ALIAS,
            'name: "base:"',
            0,
            "spec.tags[0].from.name",
            ["ImageStreamTag name must be stream:tag, got 'base:'"],
            id="alias-empty-tag",
        ),
        pytest.param(
            DC_IN_LIST_BAD_CONTAINER,
            "nope",
            0,
            "spec.triggers[0].imageChangeParams.containerNames[0]",
            ["container 'nope' is not in the pod template (containers: web)"],
            id="dc-in-list-container-name",
        ),
        pytest.param(
            BAD_ALIAS_NAME,
            "name: base@",
            0,
            "spec.tags[0].from.name",
            ["ImageStreamTag name must be stream:tag, got 'base@sha256:00'"],
            id="alias-name-malformed",
        ),
        pytest.param(
            BAD_ISIMAGE,
            "name: base:1",
            0,
            "spec.tags[0].from.name",
            ["ImageStreamImage name must be stream@sha256:<64 hex>"],
            id="isimage-malformed",
        ),
        pytest.param(
            MISSING_ISIMAGE_STREAM,
            "name: gone@",
            0,
            "spec.tags[0].from.name",
            ["image stream default/gone is not defined in the repo"],
            id="isimage-stream-missing",
        ),
        pytest.param(
            DC_MISSING,
            "name: base:2",
            0,
            "spec.triggers[1].imageChangeParams.from.name",
            ["ImageStreamTag default/base:2 is not defined in the repo"],
            id="dc-trigger-missing",
        ),
        pytest.param(
            DC_BAD_CONTAINER,
            "containerNames",
            0,  # flow sequence items carry their own column: point at the key's line
            "spec.triggers[1].imageChangeParams.containerNames[1]",
            ["container 'sidecar' is not in the pod template (containers: web)"],
            id="dc-container-name",
        ),
        pytest.param(
            BC_STRATEGY_MISSING,
            "name: builder:latest",
            0,
            "spec.strategy.sourceStrategy.from.name",
            ["ImageStreamTag default/builder:latest is not defined"],
            id="bc-strategy-from-missing",
        ),
        pytest.param(
            BC_OWN_FROM_MISSING,
            "name: tools:9",
            0,
            "spec.triggers[0].imageChange.from.name",
            ["ImageStreamTag shared/tools:9 is not defined"],
            id="bc-own-from-missing",
        ),
        pytest.param(
            BC_OUTPUT_MISSING,
            "name: out:latest",
            0,
            "spec.output.to.name",
            [
                "output image stream default/out is not defined in the repo",
                "the registry creates it on the first push",
                "external",
            ],
            id="bc-output-stream-missing",
        ),
    ],
)
def test_single_problem(text, needle, nth, path, fragments):
    report = check({"base.yaml": BASE, "x.yaml": text})
    (v,) = report.violations
    line, column = pos(text, needle, nth)
    assert v.file == "x.yaml"
    assert v.line == line
    if needle != "containerNames":
        assert v.column == column
    assert v.path == path
    for fragment in fragments:
        assert fragment in v.message, v.message
    if path == "spec.output.to.name":
        # a missing output stream is only a warning: the registry creates it on push
        assert v.severity == "warning"
        assert report.invalid == []
        assert len(report.valid) == 2
    else:
        assert v.is_error
        (bad,) = report.invalid
        assert bad.file == "x.yaml"
        assert [o.file for o in report.valid] == ["base.yaml"]


def test_container_name_column_points_at_the_item():
    (v,) = check({"base.yaml": BASE, "x.yaml": DC_BAD_CONTAINER}).violations
    assert (v.line, v.column) == pos(DC_BAD_CONTAINER, "sidecar")


# ---------------------------------------------------------------------------
# external patterns make a reference fine


@pytest.mark.parametrize(
    ("text", "patterns", "ok"),
    [
        (MISSING_ALIAS, ("default/nope:*",), True),
        (MISSING_ALIAS, ("default/nope:2",), True),
        (MISSING_ALIAS, ("*/*:*",), True),
        (MISSING_ALIAS, ("default/nope:1",), False),
        (MISSING_ALIAS, ("other/nope:*",), False),
        (DC_MISSING, ("default/base:2",), True),
        (BC_STRATEGY_MISSING, ("default/builder:*",), True),
        (BC_OWN_FROM_MISSING, ("shared/*",), True),
        (BC_OWN_FROM_MISSING, ("default/tools:9",), False),
        (BC_OUTPUT_MISSING, ("default/out:latest",), True),
        (MISSING_ISIMAGE_STREAM, ("default/gone:*",), True),
    ],
)
def test_external_patterns(text, patterns, ok):
    report = check({"base.yaml": BASE, "x.yaml": text}, RepoConfig(external=patterns))
    assert (report.violations == []) is ok, report.violations
    assert (len(report.valid) == 2) is ok


def test_build_output_defines_a_tag_for_consumers():
    out_stream = stream("out", '  - name: "1"\n')
    bc = BC_OUTPUT_MISSING.replace("out:latest", "out:pushed")
    dc = DC_MISSING.replace("base:2", "out:pushed")
    report = check({"base.yaml": BASE, "out.yaml": out_stream, "bc.yaml": bc, "dc.yaml": dc})
    assert report.violations == []
    assert len(report.valid) == 4


# ---------------------------------------------------------------------------
# duplicates: both flagged


def test_duplicate_objects_both_flagged():
    other = BASE.replace('  - name: "1"', '  - name: "2"')
    report = check({"a.yaml": BASE, "b.yaml": "---\n" + other})
    got = sorted((v.file, v.line, v.column, v.path, v.message) for v in report.violations)
    assert got == [
        ("a.yaml", 3, 3, "metadata.name", "duplicate object: also defined at b.yaml:2"),
        ("b.yaml", 4, 3, "metadata.name", "duplicate object: also defined at a.yaml:1"),
    ]
    assert report.valid == []
    assert len(report.invalid) == 2


@pytest.mark.parametrize(
    ("second", "dup"),
    [
        (BASE.replace("name: base", "name: base\n  namespace: default"), True),
        (BASE.replace("name: base", "name: base\n  namespace: other"), False),
        (BASE.replace("kind: ImageStream", "kind: BuildConfig"), False),
        ("kind: Template\nobjects:\n- " + BASE.replace("\n", "\n  ").rstrip() + "\n", False),
    ],
    ids=["same-key-explicit-ns", "other-namespace", "other-kind", "inside-template"],
)
def test_duplicate_object_identity(second, dup):
    report = check({"a.yaml": BASE, "b.yaml": second})
    dups = [v for v in report.violations if "duplicate object" in v.message]
    assert len(dups) == (2 if dup else 0)


# ---------------------------------------------------------------------------
# alias cycles: each tag reported once


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"c.yaml": stream("c", alias("a", "c:b") + alias("b", "c:a"))},
            {
                ("c.yaml", "spec.tags[0].from.name"): "default/c:a -> default/c:b -> default/c:a",
                ("c.yaml", "spec.tags[1].from.name"): "default/c:a -> default/c:b -> default/c:a",
            },
            id="two-cycle",
        ),
        pytest.param(
            {
                "p.yaml": stream("p", alias("x", "q:y")),
                "q.yaml": stream("q", alias("y", "r:z")),
                "r.yaml": stream("r", alias("z", "p:x") + alias("w", "p:x")),
            },
            {
                (f, "spec.tags[0].from.name"): "default/p:x -> default/q:y -> default/r:z -> "
                "default/p:x"
                for f in ("p.yaml", "q.yaml", "r.yaml")
            },
            id="three-cycle-with-tail",
        ),
        pytest.param(
            {"c.yaml": stream("c", alias("a", "b") + alias("b", '"a"'))},
            {
                ("c.yaml", "spec.tags[0].from.name"): "default/c:a -> default/c:b -> default/c:a",
                ("c.yaml", "spec.tags[1].from.name"): "default/c:a -> default/c:b -> default/c:a",
            },
            id="two-cycle-bare-names",
        ),
        pytest.param(
            {"s.yaml": stream("s", alias("me", "s:me"))},
            {("s.yaml", "spec.tags[0].from.name"): "default/s:me -> default/s:me"},
            id="self-alias",
        ),
        pytest.param(
            {"s.yaml": stream("s", alias("a", "s:b") + alias("b", "base:1"))},
            {},
            id="chain-no-cycle",
        ),
        pytest.param(
            {"s.yaml": stream("s", alias("a", "b") + "  - name: b\n")},
            {},
            id="bare-name-to-pushed-tag",
        ),
    ],
)
def test_alias_cycles(files, expected):
    report = check({"base.yaml": BASE, **files})
    got = {(v.file, v.path): v.message for v in report.violations}
    assert got == {k: f"alias cycle: {m}" for k, m in expected.items()}
    for (file, path), _ in expected.items():
        (v,) = [v for v in report.violations if v.file == file and v.path == path]
        text = files[file]
        index = int(path.split("[")[1].split("]")[0])
        assert v.line == pos(text, "      name: ", index)[0]


# ---------------------------------------------------------------------------
# schema-invalid objects: silent in cross-checks, still define their tags


def schema_error_for(name: str):
    def schema_check(obj: ManifestObject) -> list[Violation]:
        if obj.name == name:
            return [obj.violation(("spec",), "schema says no")]
        return []

    return schema_check


@pytest.mark.parametrize(
    ("bad_name", "expected_messages", "valid_names"),
    [
        # base is schema-invalid: its tag still exists, so app's alias is fine
        ("base", ["schema says no"], {"app"}),
        # app is schema-invalid: its missing-target message is not added
        ("app", ["schema says no"], {"base"}),
        # nobody is schema-invalid: the cross-check error is reported
        ("nobody", ["ImageStreamTag default/nope:2 is not defined"], {"base"}),
    ],
)
def test_schema_invalid_objects(bad_name, expected_messages, valid_names):
    app = (
        stream("app", alias("x", "base:1") + alias("y", "nope:2"))
        if bad_name != "base"
        else (stream("app", alias("x", "base:1")))
    )
    report = validate_objects(
        load({"base.yaml": BASE, "app.yaml": app}), RepoConfig(), schema_error_for(bad_name)
    )
    messages = [v.message for v in report.violations]
    assert len(messages) == len(expected_messages)
    for got, fragment in zip(messages, expected_messages, strict=True):
        assert fragment in got
    assert {o.name for o in report.valid} == valid_names


def test_schema_invalid_duplicate_still_flags_the_other_copy():
    report = validate_objects(
        load({"a.yaml": BASE, "b.yaml": BASE}), RepoConfig(), schema_error_for_file("a.yaml")
    )
    got = sorted((v.file, v.message.split(":")[0]) for v in report.violations)
    assert got == [("a.yaml", "schema says no"), ("b.yaml", "duplicate object")]


def schema_error_for_file(file: str):
    def schema_check(obj: ManifestObject) -> list[Violation]:
        return [obj.violation((), "schema says no")] if obj.file == file else []

    return schema_check


def test_warnings_do_not_make_objects_invalid():
    def warn(obj: ManifestObject) -> list[Violation]:
        return [obj.violation(("spec", "extra"), "unknown field", severity="warning")]

    report = validate_objects(load({"base.yaml": BASE}), RepoConfig(), warn)
    assert [v.severity for v in report.violations] == ["warning"]
    assert report.errors == []
    assert len(report.warnings) == 1
    assert len(report.valid) == 1


def test_file_violations_pass_through_sorted():
    file_v = Violation("z.yaml", 1, 1, "", "", "YAML syntax error: x")
    report = validate_objects(
        load({"x.yaml": MISSING_ALIAS}), RepoConfig(), no_schema_errors, [file_v]
    )
    assert [v.file for v in report.violations] == ["x.yaml", "z.yaml"]


def test_templates_are_not_cross_checked():
    template = "kind: Template\nobjects:\n- " + MISSING_ALIAS.replace("\n", "\n  ").rstrip() + "\n"
    report = check({"t.yaml": template})
    assert report.violations == []
    assert len(report.valid) == 1
