"""``set triggers`` as oc's triggers.go does it: flag checks, reading an object's
triggers (an annotation in any form, a DeploymentConfig), updating them, and writing
them back in oc's form."""

from __future__ import annotations

import copy
import json

import pytest
from ruamel.yaml.comments import CommentedMap

from reconciler.core import settriggers as st
from reconciler.core.editing import ManifestFile

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    image.openshift.io/triggers: >-
      [{"from": {"kind": "ImageStreamTag", "name": "web:prod", "namespace": "shop"},
        "fieldPath": "spec.template.spec.containers[0].image", "pause": "true"},
       {"from": {"kind": "ImageStreamTag", "name": "web:old"},
        "fieldPath": "spec.template.spec.containers[?(@.name==\\"gone\\")].image"}]
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: busybox
      containers:
        - name: web
          image: web
        - name: side
          image: envoy
"""


def node(text: str = WORKLOAD) -> tuple[ManifestFile, CommentedMap]:
    file = ManifestFile(text)
    return file, file.object_at(0, ())


def run(options: st.Options, text: str = WORKLOAD, kind: str = "Deployment") -> str:
    file, obj = node(text)
    warnings: list[str] = []
    previous = st.read_triggers(kind, obj, "shop", warnings)
    definition = copy.deepcopy(previous)
    st.update(definition, options)
    st.apply(kind, obj, definition, previous)
    return file.render()


def annotation(text: str) -> list[dict[str, object]]:
    _, obj = node(text)
    value = obj["metadata"]["annotations"]["image.openshift.io/triggers"]
    loaded: list[dict[str, object]] = json.loads(value)
    return loaded


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (st.Options(auto=True, manual=True), "at most one of --auto or --manual"),
        (st.Options(remove=True, remove_all=True), "either --remove or --remove-all"),
        (st.Options(remove_all=True, from_config=True), "--remove-all may not be used"),
        (st.Options(remove=True), "--remove requires a flag"),
        (st.Options(from_config=True, from_image="a:b"), "only set one trigger type"),
    ],
)
def test_oc_refuses_these_flag_combinations(options: st.Options, message: str) -> None:
    with pytest.raises(st.TriggersError, match=message):
        st.check_options(options)


def test_reading_an_annotation_in_any_form() -> None:
    _, obj = node()
    warnings: list[str] = []
    definition = st.read_triggers("Deployment", obj, "shop", warnings)
    assert definition.config_change is True
    (trigger,) = definition.image_change
    assert (trigger.auto, trigger.from_name, trigger.namespace, trigger.names) == (
        False,
        "web:prod",
        "",  # the object's own namespace
        ["web"],  # index form resolved to the container's name
    )
    assert len(warnings) == 1 and "entry 1" in warnings[0] and "left out" in warnings[0]


def test_a_change_rewrites_every_entry_in_oc_form() -> None:
    text = run(st.Options(auto=True, from_image="web:canary", containers=("side",)))
    assert annotation(text) == [
        {
            "from": {"kind": "ImageStreamTag", "name": "web:prod"},
            "fieldPath": 'spec.template.spec.containers[?(@.name=="web")].image',
            "paused": True,
        },
        {
            "from": {"kind": "ImageStreamTag", "name": "web:canary"},
            "fieldPath": 'spec.template.spec.containers[?(@.name=="side")].image',
        },
    ]
    # oc's one line of JSON, in the block style the annotation was written in.
    assert "image.openshift.io/triggers: |-\n      [{" in text
    start, end = WORKLOAD.index(">-"), WORKLOAD.index("spec:\n  template")
    one_line = WORKLOAD[:start] + "'[]'\n" + WORKLOAD[end:]  # no entry at all
    assert 'triggers: \'[{"from"' in run(
        st.Options(auto=True, from_image="web:canary", containers=("side",)), one_line
    )


def test_auto_alone_unpauses_every_trigger_and_the_deployment() -> None:
    paused = WORKLOAD.replace("spec:\n  template:", "spec:\n  paused: true\n  template:")
    text = run(st.Options(auto=True), paused)
    assert "paused: false" in text
    assert all("paused" not in entry for entry in annotation(text))


def test_manual_alone_pauses_the_deployment_and_every_trigger() -> None:
    unpaused = WORKLOAD.replace(', "pause": "true"', "")
    text = run(st.Options(manual=True), unpaused)
    assert text.rstrip().endswith("paused: true")
    assert [entry.get("paused") for entry in annotation(text)] == [True]


def test_an_annotation_that_already_says_it_keeps_its_text() -> None:
    """The entry oc would drop (no such container) and the "pause" spelling stay when
    nothing the flags name changes."""
    assert run(st.Options(manual=True)).count('"pause": "true"') == 1


def test_one_trigger_per_container() -> None:
    with pytest.raises(
        st.TriggersError, match="only one trigger may reference each container: web"
    ):
        run(st.Options(auto=True, from_image="web:canary", containers=("web",)))


def test_an_init_container_is_named_in_containers_as_oc_writes_it() -> None:
    text = run(st.Options(auto=True, from_image="web:canary", containers=("init",)))
    assert annotation(text)[1]["fieldPath"] == (
        'spec.template.spec.containers[?(@.name=="init")].image'
    )


def test_no_container_and_unknown_container() -> None:
    with pytest.raises(st.TriggersError, match="you must specify --containers"):
        run(st.Options(auto=True, from_image="web:canary"))
    with pytest.raises(
        st.TriggersError, match=r"not all container names exist: x \(accepts: init, side, web\)"
    ):
        run(st.Options(auto=True, from_image="web:canary", containers=("x",)))


def test_marshal_is_gos_json() -> None:
    assert (
        st.marshal([{"a": "<&>", "b": "\u2028"}]) == '[{"a":"\\u003c\\u0026\\u003e","b":"\\u2028"}]'
    )


def test_table_rows() -> None:
    _, obj = node()
    definition = st.read_triggers("Deployment", obj, "shop", [])
    assert st.table_rows("deployments/web", definition) == [
        ["deployments/web", "config", "", "true"],
        ["deployments/web", "image", "web:prod (web)", "false"],
    ]
