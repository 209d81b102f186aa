"""Our schemas against the real-world corpus (../shared/corpus beside the project root).

Every ImageStream, BuildConfig and DeploymentConfig in ``corpus/real`` (including those
inside Lists and Templates) gets two verdicts: ours (``check_schema`` reports no errors)
and the reference's (the third-party Draft-4 "standalone strict" schemas in
``corpus/reference-schemas``, applied to the same body as is). The reference is strict
about unknown fields and about ``status``, and has no enums, so the verdicts differ on
purpose in a known set of places; ``DISAGREEMENTS`` lists every one with its reason, and
the test fails when the set changes in either direction.

The corpus's Kubernetes workloads (Deployments, a StatefulSet and a Job in Templates)
have no reference schema: ours must accept them, bar the listed ones. Then come
real-world-style workloads written here, one per form in which public repositories
write the ``image.openshift.io/triggers`` annotation (corpus/workload-trigger-forms.md):
each loads, validates and is followed (``FORMS`` below).

Run with ``-s`` to see the summary.
"""

from __future__ import annotations

import collections
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from reconciler.core.following import paused_notes, read_consumers
from reconciler.core.lockfile import Lock, TagLock, TagSource
from reconciler.core.manifests import ManifestObject, parse_manifests
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.streams import TagRef, stream_tags
from reconciler.core.triggerannotation import annotation_text, annotation_violations
from reconciler.core.triggers import derive_triggers
from reconciler.core.validation import validate_objects
from reconciler.core.violations import Violation
from reconciler.core.writeback import field_writes, manifest_edits
from reconciler.files.loader import load_file
from reconciler.files.schemas import check_schema

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
REAL = CORPUS / "real"
REFERENCE = CORPUS / "reference-schemas"
REFERENCE_FILES = {
    "ImageStream": "melmorabity__openshift-json-schemas__v4.17-standalone-strict__imagestream-image-v1.json",
    "BuildConfig": "melmorabity__openshift-json-schemas__v4.17-standalone-strict__buildconfig-build-v1.json",
    "DeploymentConfig": "melmorabity__openshift-json-schemas__v4.17-standalone-strict__deploymentconfig-apps-v1.json",
}

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")

# Why the verdicts differ. "We accept" rows: the reference refuses what OpenShift accepts
# (or the field is not ours to judge). "We reject" rows: OpenShift refuses the object and
# the reference, having no enums or cross-field rules, lets it through.
STATUS = "live status block, which we ignore (the reference marks most status fields required)"
AFFINITY = "unknown field 'affinity' in BuildConfig spec (kompose): OpenShift drops unknown fields, we warn"
CAPABILITIES = (
    "unknown field 'capabilities' on a container: OpenShift drops unknown fields, we warn"
)
CAPABILITIES_STATUS = (
    "unknown field 'capabilities' on a container (we warn) and a live status block (we ignore)"
)
POD_INTERNALS = (
    "pod template internals are Kubernetes' schema; we check only containers' name and image"
)
REPLICAS_PARAM = (
    "template parameter where an integer stands (replicas: ${REPLICAS}); the rest is pod internals"
)
SEMERU = (
    "misspelt 'imageOptimizationPOlicy' and 'automatic' in imageChange:"
    " OpenShift drops unknown fields, we warn"
)
SERVICE_NAME = (
    "unknown field 'serviceName' in DeploymentConfig spec: OpenShift drops unknown fields, we warn"
)
PIPELINE_TYPE = (
    "'type' misplaced under jenkinsPipelineStrategy: OpenShift drops unknown fields and"
    " derives the strategy from the block, we warn"
)
BC_IMAGE_CHANGE_PARAMS = (
    "'imageChangeParams' (a DeploymentConfig field) in a BuildConfig trigger:"
    " OpenShift drops unknown fields, we warn"
)
READ_ONLY = "unknown field 'readOnly' on a container: OpenShift drops unknown fields, we warn"
READYNESS = "unknown field 'readynessProbe': OpenShift drops unknown fields, we warn"
PULL_POLICY = (
    "unknown field 'imagePullPolicy' in dockerStrategy.from (we warn) and source.type 'Source'"
    " (OpenShift ignores source.type, we warn)"
)
BITBUCKET = (
    "we reject: trigger type 'BitBucket' (OpenShift: invalid trigger type; it is spelt"
    " 'Bitbucket'); the reference has no enum"
)
REPO_WITH_TAG = (
    "we reject: spec.dockerImageRepository carries a tag (OpenShift: the repository name"
    " may not contain a tag)"
)
DOCKER_IMAGE_NAMESPACE = (
    "we reject: a DockerImage builder reference with a namespace (OpenShift: namespace is"
    " not valid when used with a 'DockerImage')"
)
HELM = (
    "we reject: an unrendered Helm expression '{{ .Release.Namespace }}' is not a namespace"
    " name (OpenShift refuses it)"
)

KOMPOSE_ARGS = "kubernetes__kompose__script__test__fixtures__buildargs__output-os-template.json"
KOMPOSE_NNR = (
    "kubernetes__kompose__script__test__fixtures__nginx-node-redis__output-os-template.json"
)
GRAPH = "openshift__oc__pkg__helpers__graph__genericgraph__test__"
ANSIBLE = "openshift__openshift-ansible__roles__"
EXAMPLES = ANSIBLE + "openshift_examples__files__examples__"
GOWS = "redhat-cop__containers-quickstarts__build-s2i-gows__.openshift__templates__builds__template.yml"
LIBERTY = "redhat-cop__containers-quickstarts__build-s2i-liberty__.openshift__templates__build.yml"

DISAGREEMENTS: dict[tuple[str, str], str] = {
    (
        "Skatteetaten__boober__src__test__resources__no__skatteetaten__aurora__boober__unit__ResourceMergerTest__deploymentconfig.json",
        "DeploymentConfig/paas-boober2/referanse",
    ): STATUS,
    (KOMPOSE_ARGS, "DeploymentConfig/default/foo"): STATUS,
    (KOMPOSE_ARGS, "DeploymentConfig/default/foo1"): STATUS,
    (KOMPOSE_ARGS, "BuildConfig/default/foo"): AFFINITY,
    (KOMPOSE_ARGS, "BuildConfig/default/foo1"): AFFINITY,
    (KOMPOSE_NNR, "DeploymentConfig/default/nginx"): STATUS,
    (KOMPOSE_NNR, "DeploymentConfig/default/node1"): STATUS,
    (KOMPOSE_NNR, "DeploymentConfig/default/node2"): STATUS,
    (KOMPOSE_NNR, "DeploymentConfig/default/node3"): STATUS,
    (KOMPOSE_NNR, "DeploymentConfig/default/redis"): STATUS,
    (KOMPOSE_NNR, "BuildConfig/default/nginx"): AFFINITY,
    (KOMPOSE_NNR, "BuildConfig/default/node1"): AFFINITY,
    (KOMPOSE_NNR, "BuildConfig/default/node2"): AFFINITY,
    (KOMPOSE_NNR, "BuildConfig/default/node3"): AFFINITY,
    (
        "openshift__jenkins__openshift__templates__jenkins-ephemeral.json",
        "DeploymentConfig/default/${JENKINS_SERVICE_NAME}",
    ): CAPABILITIES,
    (
        "openshift__library__official__jenkins__templates__jenkins-persistent.json",
        "DeploymentConfig/default/${JENKINS_SERVICE_NAME}",
    ): CAPABILITIES,
    (
        "openshift__library__official__semeru__templates__openjdk-to-semeru-transition.json",
        "BuildConfig/default/${SEMERU_BASED_RED_HAT_CONTAINER_IMAGESTREAM_NAME}",
    ): SEMERU,
    (
        "openshift__library__official__sso__templates__sso76-ocp4-postgresql-persistent.json",
        "DeploymentConfig/default/${APPLICATION_NAME}-postgresql",
    ): POD_INTERNALS,
    (GRAPH + "available-deployment.yaml", "DeploymentConfig/default/example"): STATUS,
    (GRAPH + "bad_secret_refs.yaml", "ImageStream/default/ubuntu-debootstrap"): REPO_WITH_TAG,
    (GRAPH + "bad_secret_refs.yaml", "DeploymentConfig/default/docker-nfs-server"): STATUS,
    (GRAPH + "bare-dc.yaml", "DeploymentConfig/default/ruby-hello-world"): STATUS,
    (
        GRAPH + "new-project-deployed-app.yaml",
        "DeploymentConfig/example/database",
    ): CAPABILITIES_STATUS,
    (
        GRAPH + "new-project-deployed-app.yaml",
        "DeploymentConfig/example/frontend",
    ): CAPABILITIES_STATUS,
    (
        GRAPH + "new-project-two-deployment-configs.yaml",
        "DeploymentConfig/default/sinatra-app-example-a",
    ): CAPABILITIES_STATUS,
    (
        GRAPH + "new-project-two-deployment-configs.yaml",
        "DeploymentConfig/default/sinatra-app-example-b",
    ): CAPABILITIES_STATUS,
    (GRAPH + "overlapping-hpas-legacy.yaml", "DeploymentConfig/default/someotherdc"): STATUS,
    (
        GRAPH + "prereq-image-present-notag.yaml",
        "BuildConfig/default/ruby-hello-world",
    ): DOCKER_IMAGE_NAMESPACE,
    (GRAPH + "prereq-image-present-notag.yaml", "ImageStream/openshift/ruby-20-centos7"): STATUS,
    (GRAPH + "pushable-build.yaml", "DeploymentConfig/default/ruby-hello-world"): STATUS,
    (GRAPH + "unpushable-build.yaml", "DeploymentConfig/example/ruby-hello-world"): STATUS,
    (
        EXAMPLES + "v1.0__db-templates__mysql-persistent-template.json",
        "DeploymentConfig/default/${DATABASE_SERVICE_NAME}",
    ): CAPABILITIES_STATUS,
    (
        EXAMPLES + "v1.0__quickstart-templates__jenkins-ephemeral-template.json",
        "DeploymentConfig/default/${JENKINS_SERVICE_NAME}",
    ): CAPABILITIES,
    (
        EXAMPLES + "x86_64__db-templates__mongodb-persistent-template.json",
        "DeploymentConfig/default/${DATABASE_SERVICE_NAME}",
    ): CAPABILITIES_STATUS,
    (
        EXAMPLES + "x86_64__db-templates__postgresql-ephemeral-template.json",
        "DeploymentConfig/default/${DATABASE_SERVICE_NAME}",
    ): CAPABILITIES_STATUS,
    (
        EXAMPLES + "x86_64__quickstart-templates__amp.yml",
        "DeploymentConfig/default/system-memcache",
    ): POD_INTERNALS,
    (
        EXAMPLES + "x86_64__quickstart-templates__jenkins-persistent-template.json",
        "DeploymentConfig/default/${JENKINS_SERVICE_NAME}",
    ): CAPABILITIES,
    (
        ANSIBLE + "openshift_logging_eventrouter__files__eventrouter-template.yaml",
        "DeploymentConfig/default/logging-eventrouter",
    ): REPLICAS_PARAM,
    (
        ANSIBLE + "openshift_management__files__templates__manageiq__miq-template.yaml",
        "DeploymentConfig/default/${ANSIBLE_SERVICE_NAME}",
    ): SERVICE_NAME,
    (
        "openshift__origin__examples__jenkins__pipeline__nodejs-sample-pipeline.yaml",
        "BuildConfig/default/nodejs-sample-pipeline",
    ): PIPELINE_TYPE,
    (
        "openshift__origin__test__extended__testdata__cmd__test__cmd__testdata__test-deployment-config.yaml",
        "DeploymentConfig/default/test-deployment-config",
    ): STATUS,
    (
        "redhat-cop__containers-quickstarts__.openshift__templates__jenkins-agent-image-mgmt-template.yml",
        "BuildConfig/default/${JENKINS_AGENT_NAME}-skopeo",
    ): PULL_POLICY,
    (
        "redhat-cop__containers-quickstarts__build-docker-generic__.openshift__templates__docker-build-template-override-FROM.yml",
        "BuildConfig/default/${NAME}",
    ): BITBUCKET,
    (GOWS, "BuildConfig/default/gows-build"): BC_IMAGE_CHANGE_PARAMS,
    (GOWS, "BuildConfig/default/gows-busybox"): BC_IMAGE_CHANGE_PARAMS,
    (GOWS, "BuildConfig/default/gows-s2i"): BC_IMAGE_CHANGE_PARAMS,
    (GOWS, "BuildConfig/default/gows"): BC_IMAGE_CHANGE_PARAMS,
    (LIBERTY, "BuildConfig/default/websphere-liberty"): BC_IMAGE_CHANGE_PARAMS,
    (LIBERTY, "BuildConfig/default/hello-world-artifacts"): BC_IMAGE_CHANGE_PARAMS,
    (LIBERTY, "BuildConfig/default/hello-world"): BC_IMAGE_CHANGE_PARAMS,
    (
        "redhat-cop__containers-quickstarts__deprecated__motepair__templates__deploymentconfig.yaml",
        "DeploymentConfig/default/motepair-server",
    ): HELM,
    (
        "redhat-cop__containers-quickstarts__gitlab-ce__.openshift__templates__gitlab-ssl.yml",
        "DeploymentConfig/default/${APPLICATION_NAME}",
    ): READ_ONLY,
    (
        "redhat-cop__openshift-templates__jenkins-s2i-build__jenkins-s2i-build-template-with-git-secret-and-image-pull-secret.yml",
        "BuildConfig/default/${NAME}",
    ): BITBUCKET,
    (
        "redhat-cop__openshift-templates__nexus__nexus-deployment-template.yml",
        "DeploymentConfig/default/${NAME}",
    ): POD_INTERNALS,
    (
        "tjololo__custom-builder__custom-builder-build-template.json",
        "DeploymentConfig/default/${APPLICATION_NAME}",
    ): READYNESS,
}

# Objects OpenShift's API refuses that both verdicts reject: (file, object) -> the field
# and the message we must give (a fragment of it).
V10_CENTOS = EXAMPLES + "v1.0__image-streams__image-streams-centos7.json"
V10_RHEL = EXAMPLES + "v1.0__image-streams__image-streams-rhel7.json"
V10_CENTOS_STREAMS = [
    "ruby",
    "nodejs",
    "perl",
    "php",
    "python",
    "wildfly",
    "mysql",
    "postgresql",
    "mongodb",
    "jenkins",
]
V10_RHEL_STREAMS = [
    "ruby",
    "nodejs",
    "perl",
    "php",
    "python",
    "mysql",
    "postgresql",
    "mongodb",
    "jenkins",
]
CAPITALISED_FROM = ("spec.tags[1].from", "missing required field 'kind'")
REJECTED: dict[tuple[str, str], tuple[str, str]] = {
    **{(V10_CENTOS, f"ImageStream/default/{s}"): CAPITALISED_FROM for s in V10_CENTOS_STREAMS},
    **{(V10_RHEL, f"ImageStream/default/{s}"): CAPITALISED_FROM for s in V10_RHEL_STREAMS},
    (GRAPH + "prereq-image-present-with-sched.yaml", "ImageStream/example/ruby-20-centos7"): (
        "spec.tags[0].importPolicy.scheduled",
        "only tags pointing to a registry image (from.kind DockerImage) may be scheduled",
    ),
    (
        "redhat-cop__containers-quickstarts__hygieia__.openshift__templates__build-exec-ui.yml",
        "ImageStream/default/${COMPONENT}",
    ): ("metadata.annotations.labels", "must be a string (got an object)"),
}


@dataclass(frozen=True)
class Verdict:
    file: str
    key: str
    obj: ManifestObject
    violations: tuple[Violation, ...]
    ours: bool
    reference: bool


def _objects() -> Iterator[tuple[str, str, ManifestObject]]:
    if not REAL.is_dir() or not REFERENCE.is_dir():
        pytest.skip("../shared/corpus is absent (it lives beside the project root in CI)")
    for path in sorted(REAL.iterdir()):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        loaded = load_file(path, path.name, "default")
        assert loaded.violations == [], f"{path.name} does not load: {loaded.violations}"
        seen: collections.Counter[str] = collections.Counter()
        for obj in loaded.objects:
            seen[obj.display] += 1
            # The object's own name, or its position when a file holds two of that name.
            key = obj.display if seen[obj.display] == 1 else f"{obj.display}#{seen[obj.display]}"
            yield path.name, key, obj


@pytest.fixture(scope="module")
def verdicts() -> list[Verdict]:
    references = {
        kind: Draft4Validator(json.loads((REFERENCE / name).read_text(encoding="utf-8")))
        for kind, name in REFERENCE_FILES.items()
    }
    out = []
    for file, key, obj in _objects():
        if obj.kind not in REFERENCE_FILES:
            continue  # workloads: no reference schema (see workload_verdicts)
        violations = tuple(check_schema(obj))
        out.append(
            Verdict(
                file=file,
                key=key,
                obj=obj,
                violations=violations,
                ours=not any(v.is_error for v in violations),
                reference=references[obj.kind].is_valid(obj.body),
            )
        )
    return out


def test_the_corpus_is_all_there(verdicts: list[Verdict]) -> None:
    kinds = collections.Counter(v.obj.kind for v in verdicts)
    # SOURCES.md: ImageStream 200, BuildConfig 112, DeploymentConfig 111.
    assert kinds == {"ImageStream": 200, "BuildConfig": 112, "DeploymentConfig": 111}


def test_we_accept_what_the_reference_accepts_unless_listed(verdicts: list[Verdict]) -> None:
    unlisted = [
        (v.file, v.key, [x.text() for x in v.violations if x.is_error])
        for v in verdicts
        if v.reference and not v.ours and (v.file, v.key) not in DISAGREEMENTS
    ]
    assert unlisted == []


def test_disagreements_are_exactly_the_listed_ones(verdicts: list[Verdict]) -> None:
    found = {(v.file, v.key): v for v in verdicts if v.ours != v.reference}
    assert set(found) - set(DISAGREEMENTS) == set(), "new disagreements"
    assert set(DISAGREEMENTS) - set(found) == set(), "listed but no longer disagreeing"
    for key, reason in DISAGREEMENTS.items():
        verdict = found[key]
        assert reason.startswith("we reject") == (not verdict.ours), (key, reason)

    by_reason = collections.Counter(DISAGREEMENTS.values())
    agreements = len(verdicts) - len(found)
    print(f"\ncorpus: {len(verdicts)} objects checked, {agreements} agreements,")
    print(
        f"  accepted by both {sum(v.ours and v.reference for v in verdicts)},"
        f" rejected by both {sum(not v.ours and not v.reference for v in verdicts)};"
        f" {len(found)} disagreements:"
    )
    for reason, count in by_reason.most_common():
        print(f"  {count:3d}  {reason}")


def test_openshift_rejectable_objects_are_rejected_naming_the_field(
    verdicts: list[Verdict],
) -> None:
    index = {(v.file, v.key): v for v in verdicts}
    rejected_by_us = {key for key, v in index.items() if not v.ours}
    expected = set(REJECTED) | {k for k, r in DISAGREEMENTS.items() if r.startswith("we reject")}
    assert rejected_by_us == expected
    for key, (path, fragment) in REJECTED.items():
        errors = [(x.path, x.message) for x in index[key].violations if x.is_error]
        assert any(p == path and fragment in m for p, m in errors), (key, errors)


def test_capitalised_from_keys_get_a_did_you_mean(verdicts: list[Verdict]) -> None:
    streams = [v for v in verdicts if v.file in (V10_CENTOS, V10_RHEL)]
    assert len(streams) == len(V10_CENTOS_STREAMS) + len(V10_RHEL_STREAMS)
    for verdict in streams:
        warnings = {(x.path, x.message) for x in verdict.violations if not x.is_error}
        assert (
            "spec.tags[1].from.Kind",
            "unknown field 'Kind' (OpenShift drops unknown fields); did you mean 'kind'?",
        ) in warnings


def test_templates_are_checked_with_placeholders_allowed(verdicts: list[Verdict]) -> None:
    in_templates = [v for v in verdicts if v.obj.in_template]
    assert len(in_templates) > 150
    # A parameter never makes an error; only real mistakes do.
    about_parameters = [
        (v.file, v.key, x.path, x.message)
        for v in in_templates
        for x in v.violations
        if x.is_error and "${" in x.message
    ]
    assert about_parameters == []
    # Outside a Template, ${...} is text like any other: boober's generated JSON and the
    # Jenkins pipeline hold ${...} but are valid as written.
    assert all(v.ours for v in verdicts if not v.obj.in_template and "boober" in v.file)


# Workloads of the corpus that OpenShift 4 refuses, and the field and message we give.
MIQ = ANSIBLE + "openshift_management__files__templates__manageiq__miq-template.yaml"
V1BETA1 = ("apiVersion", "must be 'apps/v1' (apps/v1beta1, apps/v1beta2 and extensions/v1beta1")
WORKLOAD_REJECTED: dict[tuple[str, str], tuple[str, str]] = {
    (MIQ, "StatefulSet/default/${NAME}"): V1BETA1,
    (MIQ, "StatefulSet/default/${NAME}-backend"): V1BETA1,
}


@pytest.fixture(scope="module")
def workload_verdicts() -> list[tuple[str, str, ManifestObject, list[Violation]]]:
    return [
        (file, key, obj, [*check_schema(obj), *annotation_violations(obj)])
        for file, key, obj in _objects()
        if obj.kind in WORKLOAD_KINDS
    ]


def test_corpus_workloads_are_accepted_unless_openshift_refuses_them(
    workload_verdicts: list[tuple[str, str, ManifestObject, list[Violation]]],
) -> None:
    kinds = collections.Counter(obj.kind for _, _, obj, _ in workload_verdicts)
    assert kinds == {"Deployment": 7, "StatefulSet": 2, "Job": 1}
    rejected = {
        (file, key): [(v.path, v.message) for v in found if v.is_error]
        for file, key, _, found in workload_verdicts
        if any(v.is_error for v in found)
    }
    assert set(rejected) == set(WORKLOAD_REJECTED)
    for key, (path, fragment) in WORKLOAD_REJECTED.items():
        assert any(p == path and fragment in m for p, m in rejected[key]), rejected[key]
    # The Templates' trigger annotations name their tags with ${NAME}: checked, no error.
    annotated = [obj for _, _, obj, _ in workload_verdicts if annotation_text(obj) is not None]
    assert len(annotated) == 7


def test_a_deploymentconfig_field_in_a_deployment_is_a_warning(
    workload_verdicts: list[tuple[str, str, ManifestObject, list[Violation]]],
) -> None:
    # sclorg/nodejs-ex's Template carries DeploymentConfig triggers into a Deployment's
    # spec, where they do nothing: the API server drops the field.
    [found] = [
        found
        for file, _, _, found in workload_verdicts
        if file == "sclorg__nodejs-ex__openshift__templates__nodejs.json"
    ]
    assert [(v.path, v.severity) for v in found] == [("spec.triggers", "warning")]


# ---------------------------------------------------------------- trigger annotation forms
#
# Real-world-style workloads, written here from the forms that public repositories use
# for the image.openshift.io/triggers annotation (../shared/corpus/workload-trigger-forms.md,
# which says where each form was seen). Each loads, validates without errors and is
# followed: one record per unpaused trigger when its tag moves, and a write-back that
# changes exactly the lines of the images it sets.

FORM_STREAMS = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: web, namespace: shop}
spec:
  tags:
    - {name: prod, from: {kind: DockerImage, name: quay.io/shop/web:prod}}
    - {name: latest, from: {kind: DockerImage, name: quay.io/shop/web:latest}}
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: worker, namespace: shop}
spec:
  tags:
    - {name: latest, from: {kind: DockerImage, name: quay.io/shop/worker:latest}}
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: migrate, namespace: shop}
spec:
  tags:
    - {name: v1, from: {kind: DockerImage, name: quay.io/shop/migrate:v1}}
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: app, namespace: app-preprod}
spec:
  tags:
    - {name: latest, from: {kind: DockerImage, name: quay.io/shop/app:latest}}
"""


@dataclass(frozen=True)
class Form:
    """A workload file in one form, the triggers it must yield as (consumer, tag,
    container, paused), and how many placeholder warnings it gives."""

    text: str
    followed: tuple[tuple[str, str, str, bool], ...]
    placeholder_warnings: int = 0


FORMS = {
    # Folded block ">-" with "namespace" in "from", and a container image that is
    # already an internal-registry pull spec the trigger overwrites. Seen in Tekton
    # pipeline demos: a Deployment in a prod namespace following the preprod stream.
    "folded-with-namespace": Form(
        r"""# promoted by the pipeline: prod follows what preprod tested
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: app-prod
  labels:
    app: app
  annotations:
    image.openshift.io/triggers: >-
      [{"from":{"kind":"ImageStreamTag","name":"app:latest","namespace":"app-preprod"},
      "fieldPath":"spec.template.spec.containers[?(@.name==\"app\")].image"}]
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app
  template:
    metadata:
      labels:
        app: app
    spec:
      containers:
        - name: app
          image: image-registry.openshift-image-registry.svc:5000/app-preprod/app:latest  # set by the trigger
          ports:
            - containerPort: 8080
""",
        (("Deployment/app-prod/app", "app-preprod/app:latest", "app", False),),
    ),
    # Literal block "|", one line of JSON. Seen in Helm charts and lab guides.
    "literal-one-line": Form(
        r"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    image.openshift.io/triggers: |
      [{"from":{"kind":"ImageStreamTag","name":"web:prod"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image"}]
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: quay.io/shop/web:prod
""",
        (("Deployment/shop/web", "shop/web:prod", "web", False),),
    ),
    # Literal block "|-", one line of JSON, on a StatefulSet. Seen in Helm charts and
    # lab guides.
    "literal-strip-one-line": Form(
        r"""apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: cache
  namespace: shop
  annotations:
    image.openshift.io/triggers: |-
      [{"from":{"kind":"ImageStreamTag","name":"worker:latest"},"fieldPath":"spec.template.spec.containers[?(@.name==\"cache\")].image"}]
spec:
  serviceName: cache
  selector:
    matchLabels: {app: cache}
  template:
    metadata:
      labels: {app: cache}
    spec:
      containers:
        - name: cache
          image: 'worker'
""",
        (("StatefulSet/shop/cache", "shop/worker:latest", "cache", False),),
    ),
    # Literal block "|-" with pretty-printed JSON, one key per line, on a ReplicaSet in
    # a kind: List. Seen in Eclipse JKube's integration tests (generated).
    "pretty-printed-in-list": Form(
        r"""apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    annotations:
      jkube.io/git-branch: main
      image.openshift.io/triggers: |-
        [ {
          "from" : {
            "kind" : "ImageStreamTag",
            "name" : "worker:latest"
          },
          "fieldPath" : "spec.template.spec.containers[?(@.name==\"worker\")].image"
        } ]
    labels:
      app: worker
      provider: jkube
    name: worker
    namespace: shop
  spec:
    replicas: 1
    selector:
      matchLabels:
        app: worker
    template:
      metadata:
        labels:
          app: worker
      spec:
        containers:
        - image: worker:latest
          imagePullPolicy: IfNotPresent
          name: worker
""",
        (("ReplicaSet/shop/worker", "shop/worker:latest", "worker", False),),
    ),
    # Single-quoted one-line JSON, "paused" as a string. Seen in the Syndesis operator's
    # templates, workshop guides and the OpenShift console's tests (the console writes
    # single-line JSON).
    "single-quoted": Form(
        r"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: storefront
  namespace: shop
  annotations:
    image.openshift.io/triggers: '[{"from":{"kind":"ImageStreamTag","name":"web:latest"},"fieldPath":"spec.template.spec.containers[?(@.name==\"storefront\")].image","paused":"false"}]'
spec:
  selector:
    matchLabels: {app: storefront}
  template:
    metadata:
      labels: {app: storefront}
    spec:
      containers:
        - name: storefront
          image: web:latest
""",
        (("Deployment/shop/storefront", "shop/web:latest", "storefront", False),),
    ),
    # Double-quoted JSON with \" escapes, and fieldPath by index. Seen in Q&A threads.
    "double-quoted-by-index": Form(
        r"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  annotations:
    image.openshift.io/triggers: "[{\"from\":{\"kind\":\"ImageStreamTag\",\"name\":\"web:prod\"},\"fieldPath\":\"spec.template.spec.containers[0].image\"}]"
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: web:prod
        - name: proxy
          image: quay.io/shop/proxy:1.0
""",
        (("Deployment/shop/api", "shop/web:prod", "api", False),),
    ),
    # "pause": "false" (and "true") as strings in each entry. Seen in Helm charts with
    # values-driven triggers.
    "pause-as-string": Form(
        r"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: shopfront
  namespace: shop
  annotations:
    image.openshift.io/triggers: |-
      [
        {"from":{"kind":"ImageStreamTag","name":"web:prod"},"fieldPath":"spec.template.spec.containers[?(@.name==\"web\")].image","pause":"false"},
        {"from":{"kind":"ImageStreamTag","name":"worker:latest"},"fieldPath":"spec.template.spec.containers[?(@.name==\"worker\")].image","pause":"true"}
      ]
spec:
  selector:
    matchLabels: {app: shopfront}
  template:
    metadata:
      labels: {app: shopfront}
    spec:
      containers:
        - name: web
          image: " "
        - name: worker
          image: " "
""",
        (
            ("Deployment/shop/shopfront", "shop/web:prod", "web", False),
            ("Deployment/shop/shopfront", "shop/worker:latest", "worker", True),
        ),
    ),
    # {{ ... }} placeholders inside the JSON, on a CronJob (its jobTemplate's path). Seen
    # in Helm templates; treated as a Template parameter: the entry whose tag is one is
    # checked but not followed, the other is followed.
    "helm-placeholders-cronjob": Form(
        r"""apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: shop
  annotations:
    image.openshift.io/triggers: >-
      [{"from":{"kind":"ImageStreamTag","name":"migrate:v1"},"fieldPath":"spec.jobTemplate.spec.template.spec.containers[?(@.name==\"migrate\")].image"},
      {"from":{"kind":"ImageStreamTag","name":"migrate:{{ .Values.migrate.tag }}"},"fieldPath":"spec.jobTemplate.spec.template.spec.initContainers[?(@.name==\"{{ .Chart.Name }}-init\")].image"}]
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          initContainers:
            - name: migrate-init
              image: quay.io/shop/migrate:v1
          containers:
            - name: migrate
              image: quay.io/shop/migrate:v1
""",
        (("CronJob/shop/nightly", "shop/migrate:v1", "migrate", False),),
        placeholder_warnings=1,
    ),
    # {TAG} placeholders, as operator templates fill them in; initContainers by index,
    # on a Job. Seen in operator templates.
    "operator-placeholder-job": Form(
        r"""apiVersion: batch/v1
kind: Job
metadata:
  name: seed
  namespace: shop
  annotations:
    image.openshift.io/triggers: '[{"from":{"kind":"ImageStreamTag","name":"web:{TAG}"},"fieldPath":"spec.template.spec.containers[0].image"},{"from":{"kind":"ImageStreamTag","name":"worker:latest"},"fieldPath":"spec.template.spec.initContainers[0].image"}]'
spec:
  template:
    spec:
      restartPolicy: Never
      initContainers:
        - name: prepare
          image: " "
      containers:
        - name: seed
          image: " "
""",
        (("Job/shop/seed", "shop/worker:latest", "prepare", False),),
        placeholder_warnings=1,
    ),
    # A container image of a single space as the placeholder the trigger fills in, on a
    # DaemonSet. Seen in Q&A threads and the OpenShift documentation.
    "space-image-daemonset": Form(
        r"""apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: shop
  annotations:
    image.openshift.io/triggers: |
      [{"from": {"kind": "ImageStreamTag", "name": "worker:latest"}, "fieldPath": "spec.template.spec.containers[?(@.name==\"agent\")].image"}]
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
        - name: agent
          image: " "
""",
        (("DaemonSet/shop/agent", "shop/worker:latest", "agent", False),),
    ),
}


def _form_lock(objects: list[ManifestObject]) -> Lock:
    tags: dict[TagRef, TagLock] = {}
    for obj in objects:
        if obj.kind != "ImageStream":
            continue
        for tag in stream_tags(obj):
            digest = "sha256:" + hashlib.sha256(str(tag.ref).encode()).hexdigest()
            image = f"quay.io/{tag.ref.namespace}/{tag.ref.stream}@{digest}"
            tags[tag.ref] = TagLock(
                TagSource("DockerImage", tag.from_name), digest=digest, image=image
            )
    return Lock(tags=tags)


@pytest.mark.parametrize("name", sorted(FORMS))
def test_trigger_annotation_forms_load_validate_and_are_followed(name: str) -> None:
    form = FORMS[name]
    parsed = parse_manifests(FORM_STREAMS + "---\n" + form.text, "shop.yaml", "shop")
    assert parsed.violations == []
    workloads = [o for o in parsed.objects if o.kind in WORKLOAD_KINDS]
    assert len(workloads) == 1

    report = validate_objects(parsed.objects, RepoConfig(), check_schema)
    assert report.errors == []
    placeholders = [w for w in report.warnings if "placeholder" in w.message]
    assert len(placeholders) == form.placeholder_warnings
    assert len(report.warnings) == form.placeholder_warnings, report.warnings

    followed = read_consumers(report.valid, parsed.objects)
    [(obj, consumer)] = [(o, c) for o, c in followed if o.kind in WORKLOAD_KINDS]
    found = [
        (consumer.key.__str__(), str(t.source), t.container_names[0], paused)
        for paused, triggers in ((False, consumer.image_triggers), (True, consumer.paused))
        for t in triggers
    ]
    assert sorted(found) == sorted(form.followed)

    # The tags resolve: one record per unpaused trigger, a note for each paused one.
    lock = _form_lock(parsed.objects)
    records = derive_triggers(Lock(), lock, [consumer], "2026-01-01T00:00:00Z")
    unpaused = [f for f in form.followed if not f[3]]
    assert sorted((str(r.consumer), str(r.tag)) for r in records) == sorted(
        (c, t) for c, t, _, _ in unpaused
    )
    assert len(paused_notes(Lock(), lock, [consumer])) == len(form.followed) - len(unpaused)

    # Write-back sets each unpaused trigger's image: one changed line per image, the
    # rest of the file (comments, quoting, the annotation's own form) byte for byte.
    writes = field_writes(followed, lock)
    [edit], problems = manifest_edits([w for w in writes if w.obj is obj])
    assert problems == []
    before, after = obj.source.splitlines(), edit.text.splitlines()
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == len(unpaused)
    for _, line in changed:
        assert "image: " in line and "@sha256:" in line
    [again] = [
        o
        for o in parse_manifests(edit.text, "shop.yaml", "shop").objects
        if o is not None and o.kind in WORKLOAD_KINDS
    ]
    assert annotation_text(again) == annotation_text(obj)
    assert field_writes(read_consumers([again], parsed.objects), lock) == []
