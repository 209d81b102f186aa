"""Table tests for the workload consumers: the YAML scalar place finder, the fieldPath
parser, consumers by annotation and by image lookup, paused notes, records, the
write-back edits (one line each, quoting kept; DeploymentConfig and BuildConfig images
too) and the repo setting that turns them on."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from reconciler.core.consumers import read_consumer
from reconciler.core.fieldpaths import FieldPathError, parse_field_path
from reconciler.core.following import paused_notes, read_consumers
from reconciler.core.lockfile import Lock, TagLock, TagSource
from reconciler.core.manifests import ManifestObject, parse_manifests
from reconciler.core.repoconfig import _KNOWN_KEYS, parse_repo_config
from reconciler.core.scalartext import scalar_span, split_lines, value_places
from reconciler.core.streams import TagRef
from reconciler.core.triggers import derive_triggers
from reconciler.core.workloads import lookup_table, workload_findings
from reconciler.core.writeback import field_writes, manifest_edits
from reconciler.files.manifeststore import write_edits

# ---------------------------------------------------------------- scalar places


@pytest.mark.parametrize(
    ("yaml_value", "token"),
    [
        pytest.param("plain value here  # comment", "here", id="plain"),
        pytest.param("'it''s here'", "here", id="single-quoted"),
        pytest.param('"tab\\there \\"q\\""', "here", id="double-quoted-escapes"),
        pytest.param('"\\u00e9 here"', "here", id="unicode-escape"),
        pytest.param("'first line\n    and here'", "here", id="single-quoted-folded"),
        pytest.param('"first \\\n    here"', "here", id="double-quoted-escaped-break"),
        pytest.param("|\n    one\n\n    two here\n", "here", id="literal-keep-one"),
        pytest.param("|-\n    one\n    two here", "here", id="literal-strip"),
        pytest.param(">-\n    one\n    two\n\n    three here", "here", id="folded-with-empty-line"),
        pytest.param(">\n    one\n      more\n    here", "here", id="folded-more-indented"),
        pytest.param("|2-\n    x here", "here", id="explicit-indentation"),
    ],
)
def test_value_places_find_each_character(yaml_value: str, token: str) -> None:
    text = f"top:\n  key: {yaml_value}\nnext: 1\n"
    value = YAML(typ="safe").load(text)["top"]["key"]
    places = value_places(split_lines(text), 2, 3, value)
    assert places is not None and len(places) == len(value) + 1
    line, column = places[value.index(token)]
    assert text.splitlines()[line - 1][column - 1 :].startswith(token)


def test_value_places_refuse_what_does_not_read_back() -> None:
    text = "key: |+\n  kept\n\n\nnext: 1\n"
    assert value_places(split_lines(text), 1, 1, "kept\n\n\n") is None
    assert value_places(split_lines("key: a\n"), 1, 1, "b") is None
    assert value_places(split_lines("key:\n  on the next\n"), 1, 1, "on the next") is None


@pytest.mark.parametrize(
    ("line", "span"),
    [
        ("  image: quay.io/x:1  # pinned", (2, 10, 21, "plain")),
        ("  image: 'quay.io/x:1'", (2, 10, 23, "'")),
        ('  image: " "', (2, 10, 13, '"')),
        ('  "image": ""', (2, 12, 14, '"')),
    ],
)
def test_scalar_span_of_one_line_scalars(line: str, span: tuple[int, int, int, str]) -> None:
    text = f"c:\n{line}\n"
    value = YAML(typ="safe").load(text)["c"]["image"]
    assert scalar_span(split_lines(text), 2, 3, value) == span


def test_scalar_span_refuses_blocks_and_flow_plain() -> None:
    assert scalar_span(split_lines("image: |\n  x\n"), 1, 1, "x\n") is None
    assert scalar_span(split_lines("{name: a, image: x}\n"), 1, 11, "x") is None


# ---------------------------------------------------------------- fieldPath


@pytest.mark.parametrize(
    ("text", "kind", "init", "index", "name"),
    [
        ('spec.template.spec.containers[?(@.name=="web")].image', "Deployment", False, None, "web"),
        ("spec.template.spec.containers[0].image", "StatefulSet", False, 0, None),
        ('spec.template.spec.initContainers[?(@.name=="i")].image', "Job", True, None, "i"),
        ("spec.jobTemplate.spec.template.spec.containers[2].image", "CronJob", False, 2, None),
    ],
)
def test_field_paths_openshift_follows(
    text: str, kind: str, init: bool, index: int | None, name: str | None
) -> None:
    parsed = parse_field_path(text, kind)
    assert (parsed.init, parsed.index, parsed.name) == (init, index, name)


@pytest.mark.parametrize(
    ("text", "kind", "offset", "fragment"),
    [
        ("spec.template.spec.containers[0].image", "CronJob", 5, "spec.jobTemplate"),
        ("spec.template.spec.sidecars[0].image", "Deployment", 19, "containers[...]"),
        ("spec.template.spec.containers[0.image", "Deployment", 37, "']' is missing"),
        ("spec.template.spec.containers[-1].image", "Deployment", 30, "an index"),
        ('spec.template.spec.containers[?(@.name == "a")].image', "Deployment", 30, "no spaces"),
        ("spec.template.spec.containers[0].image.tag", "Deployment", 32, "end with '.image'"),
        ("spec.template.spec.containers[0]", "Deployment", 32, "end with '.image'"),
    ],
)
def test_malformed_field_paths_say_where(text: str, kind: str, offset: int, fragment: str) -> None:
    with pytest.raises(FieldPathError) as caught:
        parse_field_path(text, kind)
    assert caught.value.offset == offset and fragment in str(caught.value)


# ---------------------------------------------------------------- consumers

STREAMS = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: web, namespace: shop}
spec:
  lookupPolicy: {local: true}
  tags:
    - {name: prod, from: {kind: DockerImage, name: quay.io/shop/web:prod}}
    - {name: latest, from: {kind: DockerImage, name: quay.io/shop/web:latest}}
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: tools, namespace: shop}
spec:
  tags:
    - {name: latest, from: {kind: DockerImage, name: quay.io/shop/tools:latest}}
"""


def workload(annotation: str | None, containers: str, kind: str = "Deployment") -> str:
    notes = (
        f"  annotations:\n    image.openshift.io/triggers: '{annotation}'\n" if annotation else ""
    )
    return (
        f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: app\n  namespace: shop\n"
        f"{notes}spec:\n  selector: {{matchLabels: {{app: a}}}}\n  template:\n    spec:\n"
        f"      containers:\n{textwrap.indent(textwrap.dedent(containers), '        ')}"
    )


def objects(*texts: str) -> list[ManifestObject]:
    found: list[ManifestObject] = []
    for index, text in enumerate(texts):
        found += parse_manifests(text, f"f{index}.yaml", "shop").objects
    return found


def entry(tag: str, container: str, paused: bool | str = False) -> str:
    fp = f'spec.template.spec.containers[?(@.name==\\"{container}\\")].image'
    return json.dumps(
        {"from": {"kind": "ImageStreamTag", "name": tag}, "fieldPath": "FP", "paused": paused}
    ).replace('"FP"', f'"{fp}"')


def test_lookup_makes_a_consumer_of_a_stream_tag_with_local_lookup() -> None:
    objs = objects(
        STREAMS,
        workload(
            None,
            "- {name: a, image: web}\n- {name: b, image: 'web:prod'}\n- {name: c, image: tools}\n",
        ),
    )
    [(_, consumer)] = [(o, c) for o, c in read_consumers(objs, objs) if o.kind == "Deployment"]
    assert [(str(t.source), t.container_names, t.targets) for t in consumer.image_triggers] == [
        ("shop/web:latest", ("a",), ()),
        ("shop/web:prod", ("b",), ()),
    ]
    assert consumer.in_lock


def test_lookup_warnings_name_the_stream() -> None:
    objs = objects(
        STREAMS,
        workload(
            None,
            "- {name: a, image: 'tools:latest'}\n- {name: b, image: web:nope}\n- {name: c, image: nginx}\n",
        ),
    )
    obj = objs[-1]
    found = workload_findings(obj, lambda ref: False, lookup_table(objs))
    assert [(v.severity, v.path, v.message.split(":")[0]) for v in found] == [
        ("warning", "spec.template.spec.containers[0].image", "image 'tools"),
        (
            "warning",
            "spec.template.spec.containers[1].image",
            "image stream shop/web has no tag 'nope'",
        ),
    ]
    assert "shop/tools, whose lookupPolicy.local is not true" in found[0].message


def test_a_workload_with_only_paused_triggers_is_not_in_the_lock() -> None:
    objs = objects(
        STREAMS, workload(f"[{entry('web:prod', 'a', 'true')}]", "- {name: a, image: ' '}\n")
    )
    [(_, consumer)] = [(o, c) for o, c in read_consumers(objs, objs) if o.kind == "Deployment"]
    assert consumer.image_triggers == () and len(consumer.paused) == 1 and not consumer.in_lock
    lock = pinned(objs)
    assert derive_triggers(Lock(), lock, [consumer], "t") == []
    assert paused_notes(Lock(), lock, [consumer]) == [
        "paused: deploy/app follows web:prod (no record)"
    ]
    assert paused_notes(lock, lock, [consumer]) == []  # the tag did not move


def test_two_containers_on_one_tag_make_one_record_naming_both() -> None:
    annotation = f"[{entry('web:prod', 'a')},{entry('web:prod', 'b')}]"
    objs = objects(
        STREAMS, workload(annotation, "- {name: a, image: ' '}\n- {name: b, image: ' '}\n")
    )
    consumers = [c for o, c in read_consumers(objs, objs) if o.kind == "Deployment"]
    [record] = derive_triggers(Lock(), pinned(objs), consumers, "t")
    assert record.container_names == ("a", "b")
    assert record.id.startswith("deploy-app-") and record.action == "redeploy"


def pinned(objs: list[ManifestObject], seed: str = "1") -> Lock:
    tags = {}
    for obj in objs:
        for tag in obj.spec.get("tags", []) if obj.kind == "ImageStream" else []:
            ref = TagRef(obj.namespace, obj.name, tag["name"])
            digest = "sha256:" + (seed + obj.name + tag["name"]).encode().hex().ljust(64, "0")[:64]
            image = f"quay.io/{obj.name}@{digest}"
            tags[ref] = TagLock(TagSource("DockerImage", "x"), digest=digest, image=image)
    return Lock(tags=tags)


# ---------------------------------------------------------------- write-back

DC = """\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata: {name: legacy, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: legacy
          image: 'web:prod'   # rewritten by the trigger
        - name: side
          image: quay.io/side:1
  triggers:
    - type: ConfigChange
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames: [legacy]
        from: {kind: ImageStreamTag, name: "web:prod"}
    - type: ImageChange
      imageChangeParams:
        automatic: false
        containerNames: [side]
        from: {kind: ImageStreamTag, name: "web:latest"}
"""

BC = """\
apiVersion: build.openshift.io/v1
kind: BuildConfig
metadata: {name: img, namespace: shop}
spec:
  strategy:
    dockerStrategy:
      from: {kind: DockerImage, name: "quay.io/base:1"}
  triggers:
    - type: ImageChange
      imageChange:
        from: {kind: ImageStreamTag, name: "web:latest"}
"""


def test_write_back_sets_deploymentconfig_and_buildconfig_images_in_place() -> None:
    objs = objects(STREAMS, DC, BC)
    lock = pinned(objs)
    edits, problems = manifest_edits(field_writes(read_consumers(objs, objs, True), lock))
    assert problems == []
    by_file = {e.file: e.text for e in edits}
    prod = lock.get(TagRef("shop", "web", "prod")).image  # type: ignore[union-attr]
    latest = lock.get(TagRef("shop", "web", "latest")).image  # type: ignore[union-attr]
    assert by_file["f1.yaml"] == DC.replace("'web:prod'", f"'{prod}'")  # automatic only
    assert by_file["f2.yaml"] == BC.replace('"quay.io/base:1"', f'"{latest}"')


def test_write_back_leaves_the_fingerprint_alone() -> None:
    # The image a write-back sets is an ImageChange, never a ConfigChange: with
    # writeBack the written fields are out of the fingerprint.
    before = objects(DC)[0]
    after = objects(DC.replace("'web:prod'", "'quay.io/web@sha256:" + "a" * 64 + "'"))[0]
    assert read_consumer(before, True).spec_hash == read_consumer(after, True).spec_hash
    assert read_consumer(before).spec_hash != read_consumer(after).spec_hash


def test_a_container_without_an_image_gets_one_through_the_editor() -> None:
    text = workload(f"[{entry('web:prod', 'a')}]", "- name: a\n  ports:\n    - containerPort: 80\n")
    objs = objects(STREAMS, text)
    [edit], problems = manifest_edits(field_writes(read_consumers(objs, objs), pinned(objs)))
    assert problems == []
    lines = edit.text.splitlines()
    added = lines.pop(lines.index("        - name: a") + 1)
    assert lines == text.splitlines()
    assert added.startswith("          image: quay.io/web@sha256:")
    # Where the editor would re-spell its neighbours (ruamel writes [{a: 1}] as
    # [a: 1]), nothing is written and the plan says why.
    text = workload(f"[{entry('web:prod', 'a')}]", "- name: a\n  ports: [{containerPort: 80}]\n")
    objs = objects(STREAMS, text)
    edits, [problem] = manifest_edits(field_writes(read_consumers(objs, objs), pinned(objs)))
    assert edits == [] and problem.startswith("f1.yaml: not written back: the editor would")


def test_the_manifest_store_keeps_line_endings_and_bom(tmp_path: Path) -> None:
    text = workload(f"[{entry('web:prod', 'a')}]", "- {name: a, image: ' '}\n")
    raw = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
    (tmp_path / "f1.yaml").write_bytes(raw)
    objs = objects(STREAMS, raw.decode("utf-8-sig"))
    edits, _ = manifest_edits(field_writes(read_consumers(objs, objs), pinned(objs)))
    assert write_edits(tmp_path, edits) == ["f1.yaml"]
    written = (tmp_path / "f1.yaml").read_bytes()
    assert written.startswith(b"\xef\xbb\xbf") and written.count(b"\r\n") == raw.count(b"\r\n")
    assert write_edits(tmp_path, edits) == []  # same bytes: nothing written
    (tmp_path / "link.yaml").symlink_to(tmp_path / "f1.yaml")
    moved = [type(e)("link.yaml", e.text + "# x\n", e.writes) for e in edits]
    assert write_edits(tmp_path, moved) == []  # a symlink is never written through


# ---------------------------------------------------------------- the repo setting


def test_write_back_is_a_repo_setting_off_by_default() -> None:
    assert parse_repo_config("", ".reconciler.yaml")[0].write_back is False
    assert parse_repo_config("writeBack: true\n", ".reconciler.yaml")[0].write_back is True
    config, [problem] = parse_repo_config("writeBack: yes please\n", ".reconciler.yaml")
    assert config.write_back is False and problem.message == "must be true or false"


def test_the_repo_config_schema_knows_every_setting() -> None:
    schema_file = Path(__file__).resolve().parents[2] / "schemas" / "repo-config.json"
    schema = json.loads(schema_file.read_text())
    assert set(schema["properties"]) == _KNOWN_KEYS
    assert schema["properties"]["writeBack"] == {
        "type": "boolean",
        "default": False,
        "description": schema["properties"]["writeBack"]["description"],
    }
