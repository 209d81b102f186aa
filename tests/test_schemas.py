"""Table tests for reconciler.files.schemas: valid and invalid manifests, each asserting the
exact field path, line, column, severity and message of every violation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from reconciler.core.manifests import parse_manifests
from reconciler.files.schemas import _validators, check_schema, ecma_pattern, schema_dir

IS_HEAD = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: approved-apache
"""

BC_HEAD = """\
apiVersion: build.openshift.io/v1
kind: BuildConfig
metadata:
  name: example-app
"""

DC_HEAD = """\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: marsview
"""

DC_TEMPLATE = """\
  template:
    metadata:
      labels:
        app: marsview
    spec:
      containers:
      - name: main
        image: " "
"""

TEMPLATE_HEAD = """\
apiVersion: template.openshift.io/v1
kind: Template
metadata:
  name: t
objects:
"""


def run(text: str) -> list[tuple[str, str, int, int, str]]:
    parsed = parse_manifests(text, "m.yaml")
    assert parsed.violations == []
    assert len(parsed.objects) == 1
    return [
        (v.severity, v.path, v.line, v.column, v.message) for v in check_schema(parsed.objects[0])
    ]


VALID = {
    "seed image stream": IS_HEAD
    + """\
spec:
  tags:
  - name: "2.4"
    from:
      kind: DockerImage
      name: bitnami/apache:2.4
""",
    "every image stream field": """\
apiVersion: v1
kind: ImageStream
metadata:
  name: marsview
  namespace: toms-project
  labels: {app: marsview, version: "1.0", example.com/tier: ""}
  annotations: {openshift.io/display-name: Mars View}
  creationTimestamp: null
spec:
  lookupPolicy: {local: true}
  dockerImageRepository: registry.example.com:5000/engine/marsview
  tags:
  - name: latest
    annotations: null
    from: {kind: DockerImage, name: registry.marsrover.space/engine/marsview:latest}
    reference: false
    generation: 2
    importPolicy: {insecure: true, scheduled: true, importMode: PreserveOriginal}
    referencePolicy: {type: Local}
  - name: stable
    from: {kind: ImageStreamTag, name: "marsview:latest", namespace: other-project}
  - name: pinned
    from: {kind: ImageStreamImage, name: "marsview@sha256:abc"}
  - name: "no-from_yet.1"
status:
  dockerImageRepository: anything
  tags: [{tag: latest, items: null}]
""",
    "image stream without spec": IS_HEAD,
    "seed build config": BC_HEAD
    + """\
spec:
  runPolicy: Serial
  source:
    type: Git
    git: {uri: "https://github.com/example/app", ref: main}
    contextDir: app
  strategy:
    type: Source
    sourceStrategy:
      from:
        kind: ImageStreamTag
        name: 'nodejs-8-centos7:latest'
      env: [{name: NPM_MIRROR, value: x}]
  output:
    to:
      kind: ImageStreamTag
      name: 'example-app:latest'
  triggers:
  - type: ImageChange
  - type: ImageChange
    imageChange:
      from: {kind: ImageStreamTag, name: "base:1", namespace: openshift}
      lastTriggeredImageID: "registry/base@sha256:1"
  - type: ConfigChange
  - type: GitHub
    github: {secret: s3cr3t}
  - type: Generic
    generic: {secretReference: {name: hook-secret}, allowEnv: true}
""",
    "legacy lower-case trigger types": """\
apiVersion: v1
kind: BuildConfig
metadata:
  name: legacy
spec:
  strategy:
    dockerStrategy: {}
  triggers:
  - {type: github, github: {secret: a}}
  - {type: generic, generic: {secret: b}}
  - {type: imageChange, imageChange: {}}
""",
    "docker strategy defaulted from its type": BC_HEAD
    + """\
spec:
  strategy: {type: Docker}
  output: {to: {kind: DockerImage, name: quay.io/example/app:latest}}
""",
    "seed deployment config": DC_HEAD
    + """\
spec:
  replicas: 1
  selector: {app: marsview}
  strategy: {type: Rolling, rollingParams: {maxSurge: 25%}}
"""
    + DC_TEMPLATE
    + """\
  triggers:
  - type: ConfigChange
  - type: ImageChange
    imageChangeParams:
      automatic: true
      containerNames:
      - main
      from:
        kind: ImageStreamTag
        namespace: toms-project
        name: 'marsview:latest'
status: {latestVersion: 3}
""",
    "legacy ImageStream kind in a DeploymentConfig trigger": DC_HEAD
    + """\
spec:
"""
    + DC_TEMPLATE
    + """\
  triggers:
  - type: ImageChange
    imageChangeParams:
      containerNames: [main]
      from: {kind: ImageStream, name: marsview}
""",
    "template placeholders in scalar positions": TEMPLATE_HEAD
    + """\
- apiVersion: apps.openshift.io/v1
  kind: DeploymentConfig
  metadata:
    name: ${NAME}-db
    namespace: ${NAMESPACE}
    labels: {app: "${NAME}"}
  spec:
    replicas: ${REPLICAS}
    test: ${{IS_TEST}}
    strategy: {type: "${STRATEGY}"}
    template:
      spec:
        containers:
        - name: ${NAME}
          image: ${IMAGE}
    triggers:
    - type: ImageChange
      imageChangeParams:
        automatic: ${{AUTOMATIC}}
        containerNames: ["${NAME}"]
        from: {kind: "${KIND}", name: "${IMAGE_STREAM}", namespace: "${NS}"}
""",
}


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_valid(text: str) -> None:
    assert run(text) == []


INVALID = {
    "capitalised Kind and Name (openshift-ansible v1.0)": (
        IS_HEAD
        + """\
spec:
  tags:
  - name: latest
    from:
      Kind: ImageStreamTag
      Name: "2.4"
""",
        [
            ("error", "spec.tags[0].from", 8, 5, "missing required field 'kind'"),
            ("error", "spec.tags[0].from", 8, 5, "missing required field 'name'"),
            (
                "warning",
                "spec.tags[0].from.Kind",
                9,
                7,
                "unknown field 'Kind' (OpenShift drops unknown fields); did you mean 'kind'?",
            ),
            (
                "warning",
                "spec.tags[0].from.Name",
                10,
                7,
                "unknown field 'Name' (OpenShift drops unknown fields); did you mean 'name'?",
            ),
        ],
    ),
    "tag without a name": (
        IS_HEAD
        + """\
spec:
  tags:
  - from: {kind: DockerImage, name: "httpd:2.4"}
""",
        [
            ("error", "spec.tags[0]", 7, 5, "missing required field 'name'"),
        ],
    ),
    "bad stream, namespace and tag names": (
        """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: Apache
  namespace: My_Project
spec:
  tags:
  - name: -latest
""",
        [
            (
                "error",
                "metadata.name",
                4,
                3,
                "must be an image stream name: lower-case letters and digits, separated by '.', '_', '__' or dashes, starting and ending with a letter or digit (got 'Apache')",
            ),
            (
                "error",
                "metadata.namespace",
                5,
                3,
                "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (got 'My_Project')",
            ),
            (
                "error",
                "spec.tags[0].name",
                8,
                5,
                "must be a valid tag: letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128 characters (got '-latest')",
            ),
        ],
    ),
    "scheduled import of another stream's tag": (
        IS_HEAD
        + """\
spec:
  tags:
  - name: latest
    from: {kind: ImageStreamTag, name: "other:latest"}
    importPolicy: {scheduled: true}
""",
        [
            (
                "error",
                "spec.tags[0].importPolicy.scheduled",
                9,
                20,
                "only tags pointing to a registry image (from.kind DockerImage) may be scheduled for periodic import (got true)",
            ),
        ],
    ),
    "repository with a tag, bad policies": (
        IS_HEAD
        + """\
spec:
  dockerImageRepository: library/ubuntu:14.04
  tags:
  - name: latest
    from: {kind: DockerImage, name: ""}
    referencePolicy: {type: local}
    importPolicy: {importMode: Preserve}
""",
        [
            (
                "error",
                "spec.dockerImageRepository",
                6,
                3,
                "must be a repository without a tag or digest (got 'library/ubuntu:14.04')",
            ),
            ("error", "spec.tags[0].from.name", 9, 31, "must not be empty"),
            (
                "error",
                "spec.tags[0].referencePolicy.type",
                10,
                23,
                "must be one of Source, Local (got 'local'); did you mean 'Local'?",
            ),
            (
                "error",
                "spec.tags[0].importPolicy.importMode",
                11,
                20,
                "must be one of Legacy, PreserveOriginal (got 'Preserve')",
            ),
        ],
    ),
    "label and annotation values": (
        """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: approved-apache
  labels:
    version: 2.4
    app: "not a label value"
  annotations:
    labels: {app: x}
""",
        [
            ("error", "metadata.labels.version", 6, 5, "must be a string (got 2.4)"),
            (
                "error",
                "metadata.labels.app",
                7,
                5,
                "must be a label value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (got 'not a label value')",
            ),
            ("error", "metadata.annotations.labels", 9, 5, "must be a string (got an object)"),
        ],
    ),
    "wrong apiVersion, unknown top-level field": (
        """\
apiVersion: apps/v1
kind: ImageStream
metadata:
  name: approved-apache
specs: {}
""",
        [
            (
                "error",
                "apiVersion",
                1,
                1,
                "must be one of image.openshift.io/v1, v1 (got 'apps/v1')",
            ),
            (
                "warning",
                "specs",
                5,
                1,
                "unknown field 'specs' (OpenShift drops unknown fields); did you mean 'spec'?",
            ),
        ],
    ),
    "BitBucket trigger type": (
        BC_HEAD
        + """\
spec:
  strategy: {dockerStrategy: {}}
  triggers:
  - type: BitBucket
    bitbucket: {secret: x}
""",
        [
            (
                "error",
                "spec.triggers[0].type",
                8,
                5,
                "must be one of GitHub, Generic, GitLab, Bitbucket, ImageChange, ConfigChange, github, generic, imageChange (got 'BitBucket'); did you mean 'Bitbucket'?",
            ),
        ],
    ),
    "webhook without a secret, trigger without its block": (
        BC_HEAD
        + """\
spec:
  strategy: {dockerStrategy: {}}
  triggers:
  - type: GitHub
    github: {}
  - type: GitLab
  - type: imageChange
""",
        [
            (
                "error",
                "spec.triggers[0].github",
                9,
                5,
                "must provide a value for at least one of secret or secretReference",
            ),
            ("error", "spec.triggers[1]", 10, 5, "missing required field 'gitlab'"),
            ("error", "spec.triggers[2]", 11, 5, "missing required field 'imageChange'"),
        ],
    ),
    "image change trigger from a DockerImage": (
        BC_HEAD
        + """\
spec:
  strategy: {dockerStrategy: {}}
  triggers:
  - type: ImageChange
    imageChange:
      from: {kind: DockerImage, name: "quay.io/x/y:1"}
  - type: ImageChange
    imageChange:
      from: {kind: ImageStreamTag, name: nodejs}
""",
        [
            (
                "error",
                "spec.triggers[0].imageChange.from.kind",
                10,
                14,
                "must be 'ImageStreamTag': an ImageChange trigger watches an image stream tag (got 'DockerImage')",
            ),
            (
                "error",
                "spec.triggers[1].imageChange.from.name",
                13,
                36,
                "must be in the form <stream>:<tag> (got 'nodejs')",
            ),
        ],
    ),
    "output to an image, builder references": (
        BC_HEAD
        + """\
spec:
  strategy:
    type: Sauce
    dockerStrategy:
      from: {kind: DockerImage, name: "ubi8:latest", namespace: openshift}
      imageOptimizationPOlicy: SkipLayers
      env: [{name: 1BAD, value: x}]
  output:
    to: {kind: ImageStreamImage, name: "app@sha256:abc"}
""",
        [
            (
                "warning",
                "spec.strategy.type",
                7,
                5,
                "must be one of Source, Docker, Custom, JenkinsPipeline (got 'Sauce'); OpenShift ignores this field and derives the strategy from the *Strategy block that is set",
            ),
            (
                "error",
                "spec.strategy.dockerStrategy.from.namespace",
                9,
                54,
                "must be empty when kind is DockerImage (got 'openshift')",
            ),
            (
                "warning",
                "spec.strategy.dockerStrategy.imageOptimizationPOlicy",
                10,
                7,
                "unknown field 'imageOptimizationPOlicy' (OpenShift drops unknown fields); did you mean 'imageOptimizationPolicy'?",
            ),
            (
                "error",
                "spec.strategy.dockerStrategy.env[0].name",
                11,
                14,
                "must be a C identifier (letters, digits and '_', not starting with a digit) (got '1BAD')",
            ),
            (
                "error",
                "spec.output.to.kind",
                13,
                10,
                "must be one of ImageStreamTag, DockerImage, ImageStream (got 'ImageStreamImage')",
            ),
        ],
    ),
    "BuildConfig without spec": (
        BC_HEAD,
        [
            ("error", "", 1, 1, "missing required field 'spec'"),
        ],
    ),
    "replicas as a string outside a template": (
        DC_HEAD
        + """\
spec:
  replicas: "${REPLICAS}"
"""
        + DC_TEMPLATE,
        [
            ("error", "spec.replicas", 6, 3, "must be an integer (got '${REPLICAS}')"),
        ],
    ),
    "container without a name, misspelt probe": (
        DC_HEAD
        + """\
spec:
  template:
    spec:
      containers:
      - image: x
        readynessProbe: {}
""",
        [
            ("error", "spec.template.spec.containers[0]", 9, 9, "missing required field 'name'"),
            (
                "warning",
                "spec.template.spec.containers[0].readynessProbe",
                10,
                9,
                "unknown field 'readynessProbe' (OpenShift drops unknown fields); did you mean 'readinessProbe'?",
            ),
        ],
    ),
    "image change trigger problems": (
        DC_HEAD
        + """\
spec:
"""
        + DC_TEMPLATE
        + """\
  triggers:
  - type: ImageChange
  - type: ImageChange
    imageChangeParams:
      containerNames: []
      from: {kind: ImageStreamTag, name: marsview}
  - type: Image
""",
        [
            ("error", "spec.triggers[0]", 15, 5, "missing required field 'imageChangeParams'"),
            (
                "error",
                "spec.triggers[1].imageChangeParams.containerNames",
                18,
                7,
                "must have at least 1 item",
            ),
            (
                "error",
                "spec.triggers[1].imageChangeParams.from.name",
                19,
                36,
                "must be in the form <stream>:<tag> (got 'marsview')",
            ),
            (
                "error",
                "spec.triggers[2].type",
                20,
                5,
                "must be one of ConfigChange, ImageChange (got 'Image')",
            ),
        ],
    ),
    "placeholder does not excuse a missing field": (
        TEMPLATE_HEAD
        + """\
- apiVersion: v1
  kind: ImageStream
  metadata:
    name: ${NAME}
  spec:
    tags:
    - from: {kind: "${KIND}", name: "${IMAGE}"}
      importPolicy: {scheduled: "${SCHEDULED}"}
    - name: "${TAG}"
      from: {kind: DockerImage, name: x, extra: "${X}"}
""",
        [
            ("error", "spec.tags[0]", 12, 7, "missing required field 'name'"),
            (
                "warning",
                "spec.tags[1].from.extra",
                15,
                42,
                "unknown field 'extra' (OpenShift drops unknown fields)",
            ),
        ],
    ),
}

INVALID["tag from kind mis-cased"] = (
    IS_HEAD + "spec:\n  tags:\n  - name: '2.4'\n    from:\n      kind: Dockerimage\n"
    "      name: bitnami/apache:2.4\n",
    [
        (
            "error",
            "spec.tags[0].from.kind",
            9,
            7,
            "must be one of DockerImage, ImageStreamTag, ImageStreamImage (got 'Dockerimage');"
            " did you mean 'DockerImage'?",
        )
    ],
)
INVALID["no strategy block"] = (
    BC_HEAD + "spec:\n  strategy:\n    type: Source\n",
    [
        (
            "error",
            "spec.strategy",
            6,
            3,
            "must set exactly one of sourceStrategy, dockerStrategy, customStrategy,"
            " jenkinsPipelineStrategy",
        )
    ],
)
INVALID["two strategy blocks"] = (
    BC_HEAD
    + "spec:\n  strategy:\n    sourceStrategy: {from: {kind: DockerImage, name: x}}\n"
    + "    dockerStrategy: {}\n",
    [
        (
            "error",
            "spec.strategy",
            6,
            3,
            "must set exactly one of sourceStrategy, dockerStrategy, customStrategy,"
            " jenkinsPipelineStrategy",
        )
    ],
)


@pytest.mark.parametrize(("text", "expected"), INVALID.values(), ids=INVALID.keys())
def test_invalid(text: str, expected: list[tuple[str, str, int, int, str]]) -> None:
    assert run(text) == expected


def test_violation_names_file_line_column_object_and_field() -> None:
    text = INVALID["tag from kind mis-cased"][0]
    [obj] = parse_manifests(text, "streams/apache.yaml").objects
    [violation] = check_schema(obj)
    assert violation.text() == (
        "streams/apache.yaml:9:7: ImageStream/default/approved-apache: spec.tags[0].from.kind:"
        " must be one of DockerImage, ImageStreamTag, ImageStreamImage (got 'Dockerimage');"
        " did you mean 'DockerImage'?"
    )


def test_warnings_alone_leave_an_object_accepted() -> None:
    violations = check_schema(
        parse_manifests(
            IS_HEAD + "spec:\n  lookupPolicy: {local: false, Local: true}\n", "m.yaml"
        ).objects[0]
    )
    assert [v.severity for v in violations] == ["warning"]
    assert not any(v.is_error for v in violations)


def test_objects_in_a_list_report_positions_in_the_file() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n- " + IS_HEAD.replace("\n", "\n  ").rstrip()
    text += "\n  spec: {tags: [{name: latest, from: {kind: Docker, name: x}}]}\n"
    [obj] = parse_manifests(text, "m.yaml").objects
    assert [(v.path, v.line, v.column) for v in check_schema(obj)] == [
        ("spec.tags[0].from.kind", 8, 39)
    ]


def test_schema_dir_holds_our_schemas() -> None:
    names = sorted(p.name for p in schema_dir().glob("*.json"))
    assert names == [
        "buildconfig.json",
        "common.json",
        "cronjob.json",
        "daemon-config.json",
        "daemonset.json",
        "deployment.json",
        "deploymentconfig.json",
        "imagestream.json",
        "job.json",
        "replicaset.json",
        "repo-config.json",
        "statefulset.json",
        "workload.json",
    ]
    assert schema_dir() == Path(__file__).resolve().parents[1] / "schemas"


def test_schemas_are_draft_2020_12_and_compiled_once() -> None:
    for path in schema_dir().glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)
    assert _validators() is _validators()


TRAILING_BREAKS = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: "evil\\n"
  namespace: "team\\n"
  annotations:
    "example.com/key\\n": x
spec:
  tags:
  - name: "latest\\n"
    from:
      kind: DockerImage
      name: quay.io/x/y:latest
"""


def test_a_trailing_line_break_matches_no_pattern() -> None:
    # JSON Schema's "$" is the end of the text (ECMA 262), as jsonschema-rs and the API
    # server read it; Python's "$" also matched before a final "\n", so these four names
    # were valid and went into the lock, the records and the commit message.
    found = run(TRAILING_BREAKS)
    assert [(severity, path) for severity, path, _, _, _ in found] == [
        ("error", "metadata.name"),
        ("error", "metadata.namespace"),
        ("error", "metadata.annotations.example.com/key\n"),
        ("error", "spec.tags[0].name"),
    ]
    assert found[0][4].startswith("must be an image stream name")


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^a$", "a", True),
        ("^a$", "a\n", False),
        ("^a\\$$", "a$", True),
        ("^[$]$", "$", True),
        ("^[]$]+$", "]$", True),
        ("^[^]$]+$", "ab", True),
        ("^[^]$]+$", "a$", False),
        ("^(?!\\.\\.?$)[^/]+$", "..", False),
        ("^(?!\\.\\.?$)[^/]+$", "..a", True),
        # \s as ECMA 262 reads it: U+FEFF is a space, U+001F is not.
        ("^[^\\s]+$", "a\ufeffb", False),
        ("^[^\\s]+$", "a\x1fb", True),
        ("^a\\s*b$", "a\ufeff b", True),
        ("^\\S+$", "a\ufeffb", False),
        ("^\\S+$", "a\x1fb", True),
    ],
)
def test_patterns_read_dollar_as_the_end_of_the_text(
    pattern: str, text: str, matches: bool
) -> None:
    assert bool(ecma_pattern(pattern).search(text)) is matches
