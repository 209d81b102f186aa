"""What ``new-app`` builds by default, as ``oc new-app`` 4.x does (openshift/oc
pkg/helpers/newapp/app/app.go, ``DeploymentRef.Deployment``): a Deployment that follows
the stream tag through the ``image.openshift.io/triggers`` annotation."""

from __future__ import annotations

import json

from reconciler.core.newapp import build_objects, parse_image_config
from reconciler.core.streams import TagRef

DIGEST = "sha256:" + "d" * 64


def test_build_objects_deployment_follows_through_the_annotation() -> None:
    """oc new-app 4.x: a Deployment, its trigger an annotation entry naming the stream's
    namespace; pods and the Service select ``deployment: NAME``."""
    config = parse_image_config({"config": {"ExposedPorts": {"8080/tcp": {}}}})
    objects = build_objects(
        "web", TagRef("shared", "nginx", "1.25"), "r/nginx@" + DIGEST, config, namespace=None
    )
    assert [o["kind"] for o in objects] == ["Deployment", "Service"]
    deployment, service = objects
    assert json.loads(deployment["metadata"]["annotations"]["image.openshift.io/triggers"]) == [
        {
            "from": {"kind": "ImageStreamTag", "name": "nginx:1.25", "namespace": "shared"},
            "fieldPath": 'spec.template.spec.containers[?(@.name=="web")].image',
        }
    ]
    assert deployment["spec"]["selector"] == {"matchLabels": {"deployment": "web"}}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "r/nginx@" + DIGEST
    assert service["spec"]["selector"] == {"deployment": "web"}
    assert "namespace" not in deployment["metadata"]
