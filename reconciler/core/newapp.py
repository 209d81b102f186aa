"""What ``new-app --image-stream`` writes, as ``oc new-app`` builds it: a DeploymentConfig
that runs the image stream tag's image, redeployed by an ``ImageChange`` trigger, and a
Service for the ports the image exposes.

Pure: the image config (as the registry returns it) and names in, objects out. Fetching
the config and writing the files are the ``new-app`` verb's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.settriggers import annotation_entry
from reconciler.core.settriggers import marshal as marshal_triggers
from reconciler.core.streams import TagRef

# The annotation oc new-app puts on what it generates.
GENERATED_BY = {"openshift.io/generated-by": "OpenShiftNewApp"}
TRIGGERS = "image.openshift.io/triggers"
# The image label that names exposed ports ("8080:http,8443:https").
EXPOSE_SERVICES = "io.openshift.expose-services"
_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True, order=True)
class Port:
    """A port the image exposes, with the name the image's label gives it (or "").
    Sorts by number, then protocol."""

    port: int
    protocol: str = "TCP"
    name: str = ""

    @property
    def service_name(self) -> str:
        """The Service port's name: the label's name, else ``<port>-<protocol>`` as oc
        names it (``8080-tcp``)."""
        return self.name or f"{self.port}-{self.protocol.lower()}"


@dataclass(frozen=True)
class ImageConfig:
    """What new-app reads from an image config: exposed ports and volumes (sorted),
    labels, and the creation time and user (None when the image does not say)."""

    ports: tuple[Port, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    created: str | None = None
    user: str | None = None


def parse_image_config(data: Mapping[str, Any]) -> ImageConfig:
    """The parts of an OCI/Docker image config blob that new-app uses. Ports come from
    ``config.ExposedPorts`` ("8080/tcp"); the ``io.openshift.expose-services`` label
    ("8080:http,8443:https") names them, as oc reads it."""
    config = data.get("config")
    config = config if isinstance(config, Mapping) else {}
    labels_raw = config.get("Labels")
    labels = (
        {str(k): str(v) for k, v in labels_raw.items()} if isinstance(labels_raw, Mapping) else {}
    )
    names: dict[int, str] = {}
    for part in labels.get(EXPOSE_SERVICES, "").split(","):
        number, _, name = part.strip().partition(":")
        if number.isdigit() and name:
            names[int(number)] = name
    ports: set[Port] = set()
    exposed = config.get("ExposedPorts")
    for key in exposed if isinstance(exposed, Mapping) else {}:
        number, _, proto = str(key).partition("/")
        if not number.isdigit():
            continue
        protocol = (proto or "tcp").upper()
        ports.add(Port(int(number), protocol, names.get(int(number), "")))
    volumes_raw = config.get("Volumes")
    volumes = tuple(sorted(str(v) for v in volumes_raw)) if isinstance(volumes_raw, Mapping) else ()
    created = data.get("created")
    user = config.get("User")
    return ImageConfig(
        ports=tuple(sorted(ports)),
        labels=labels,
        volumes=volumes,
        created=str(created) if created else None,
        user=str(user) if user else None,
    )


def app_name(stream: str) -> str:
    """A DNS-1035 label from a stream name (a Service name must be one)."""
    name = re.sub(r"[^a-z0-9-]+", "-", stream.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"app-{name}".rstrip("-")
    return name[:63].rstrip("-")


def valid_name(name: str) -> bool:
    """Whether ``name`` is a DNS-1035 label (at most 63 characters), as a Service
    name must be."""
    return len(name) <= 63 and _DNS_1035.fullmatch(name) is not None


def build_objects(
    name: str,
    source: TagRef,
    image: str,
    config: ImageConfig,
    *,
    namespace: str | None,
    deployment_config: bool = False,
) -> list[dict[str, Any]]:
    """A Deployment that follows the tag through the ``image.openshift.io/triggers``
    annotation, as ``oc new-app`` 4.x writes it, or with ``deployment_config`` the
    DeploymentConfig with an ImageChange trigger (``--as-deployment-config``); and a
    Service when the image exposes ports. ``namespace`` is written only when not the
    repo's default; a DeploymentConfig's trigger names the tag's namespace only when it
    differs from the app's."""
    labels = {
        "app": name,
        "app.kubernetes.io/component": name,
        "app.kubernetes.io/instance": name,
    }
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(labels)
    metadata["annotations"] = dict(GENERATED_BY)
    selector = {"deploymentconfig": name}
    container: dict[str, Any] = {"name": name, "image": image}
    if config.ports:
        container["ports"] = [
            {"containerPort": p.port, "protocol": p.protocol} for p in config.ports
        ]
    pod_spec: dict[str, Any] = {"containers": [container]}
    if config.volumes:
        container["volumeMounts"] = [
            {"name": f"{name}-volume-{i}", "mountPath": path}
            for i, path in enumerate(config.volumes, start=1)
        ]
        pod_spec["volumes"] = [
            {"name": f"{name}-volume-{i}", "emptyDir": {}}
            for i in range(1, len(config.volumes) + 1)
        ]
    if not deployment_config:
        return _with_service(
            _deployment(name, source, metadata, container, pod_spec), metadata, config
        )
    source_from: dict[str, Any] = {"kind": "ImageStreamTag"}
    if namespace is not None and source.namespace != namespace:
        source_from["namespace"] = source.namespace
    source_from["name"] = f"{source.stream}:{source.tag}"
    deployment = {
        "apiVersion": "apps.openshift.io/v1",
        "kind": "DeploymentConfig",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "selector": dict(selector),
            "template": {
                "metadata": {"labels": dict(selector), "annotations": dict(GENERATED_BY)},
                "spec": pod_spec,
            },
            "triggers": [
                {"type": "ConfigChange"},
                {
                    "type": "ImageChange",
                    "imageChangeParams": {
                        "automatic": True,
                        "containerNames": [name],
                        "from": source_from,
                    },
                },
            ],
        },
    }
    return _with_service(deployment, metadata, config)


def _deployment(
    name: str,
    source: TagRef,
    metadata: dict[str, Any],
    container: dict[str, Any],
    pod_spec: dict[str, Any],
) -> dict[str, Any]:
    """oc new-app's Deployment (openshift/oc pkg/helpers/newapp/app/app.go,
    ``DeploymentRef.Deployment``): selector and pod labels ``deployment: NAME``, and the
    image trigger as an annotation entry per container, naming the stream's namespace.
    oc writes ``image: " "`` for the trigger controller to fill in on the cluster; here
    the container gets the tag's pinned image, what that controller would set, so the
    manifest also runs where no controller fills it in (and write-back keeps it current)."""
    selector = {"deployment": name}
    trigger = annotation_entry(
        "Deployment", f"{source.stream}:{source.tag}", source.namespace, name, paused=False
    )
    meta = {k: (dict(v) if isinstance(v, dict) else v) for k, v in metadata.items()}
    # Map keys in the order oc's YAML prints them (sorted).
    meta["annotations"] = {TRIGGERS: marshal_triggers([trigger]), **meta["annotations"]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(selector)},
            "template": {
                "metadata": {"labels": dict(selector), "annotations": dict(GENERATED_BY)},
                "spec": pod_spec,
            },
        },
    }


def _with_service(
    workload: dict[str, Any], metadata: dict[str, Any], config: ImageConfig
) -> list[dict[str, Any]]:
    """``workload`` and a Service selecting its pods when the image exposes ports."""
    objects: list[dict[str, Any]] = [workload]
    selector = dict(workload["spec"]["template"]["metadata"]["labels"])
    if config.ports:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    k: (dict(v) if isinstance(v, dict) else v) for k, v in metadata.items()
                },
                "spec": {
                    "ports": [
                        {
                            "name": p.service_name,
                            "port": p.port,
                            "protocol": p.protocol,
                            "targetPort": p.port,
                        }
                        for p in config.ports
                    ],
                    "selector": dict(selector),
                },
            }
        )
    return objects


def summary(name: str, config: ImageConfig, objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lines telling the user what new-app writes: the exposed ports, volumes and a
    root user worth knowing about, then ``Kind/name`` of each of ``objects``."""
    lines = []
    if config.ports:
        lines.append("exposes " + ", ".join(f"{p.port}/{p.protocol.lower()}" for p in config.ports))
    else:
        lines.append("the image exposes no ports: no Service is created")
    if config.volumes:
        lines.append(
            "declares volumes "
            + ", ".join(config.volumes)
            + " (mounted as emptyDir; not persistent)"
        )
    if config.user in ("root", "0"):
        lines.append("runs as root: OpenShift's restricted policy may refuse it")
    for obj in objects:
        lines.append(f"{obj['kind']}/{name}")
    return lines
