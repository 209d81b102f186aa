"""What BuildConfigs and DeploymentConfigs consume and produce: their ImageChange
triggers (which image stream tag, automatic, containerNames, and the fields a write-back
sets), ConfigChange triggers, a BuildConfig's output tag, and a fingerprint of the
consumer's own spec for ConfigChange. Kubernetes workloads are read into the same
``Consumer`` by ``reconciler.core.workloads``.

Pure, lenient reading of validated objects: never raises. Must not decide which triggers
fire: that is ``reconciler.core.triggers``'s job.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.core.manifests import BUILD_CONFIG, DEPLOYMENT_CONFIG, ManifestObject, ObjectKey
from reconciler.core.memo import per_object, pickled_by_fields
from reconciler.core.streams import IMAGE_STREAM_TAG, TagRef, parse_istag_name
from reconciler.core.violations import Path

# The strategies whose ``from`` a BuildConfig's ImageChange trigger watches by default.
STRATEGY_KEYS = ("sourceStrategy", "dockerStrategy", "customStrategy")


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class ImageTrigger:
    """One ImageChange trigger: the tag it watches, whether it fires by itself
    (``automatic``; always True for a BuildConfig, which has no such switch), and the
    containers it updates (a DeploymentConfig's ``containerNames``; empty for a build)."""

    consumer: ObjectKey
    source: TagRef
    automatic: bool
    container_names: tuple[str, ...]
    path: Path  # where the ``from`` that names the tag stands in the object
    # The fields that hold the image as a pull spec, which a write-back sets to the
    # tag's pinned image (paths in the object): a container's ``image``, a build
    # strategy's DockerImage ``from.name``.
    targets: tuple[Path, ...] = ()


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Consumer:
    """A BuildConfig, DeploymentConfig or workload as trigger derivation sees it: its
    ImageChange triggers in manifest order, whether it has a ConfigChange trigger, the
    fingerprint of what that trigger watches, its output tag (builds) and its containers
    (deployments). A workload's paused triggers are kept apart: they open no record.
    ``in_lock`` False: the lock holds no fingerprint for it (a workload that only has
    paused triggers follows nothing yet)."""

    key: ObjectKey
    image_triggers: tuple[ImageTrigger, ...]
    config_change: bool
    spec_hash: str
    output: TagRef | None  # a BuildConfig's output.to ImageStreamTag
    containers: tuple[str, ...]  # a DeploymentConfig's container names
    paused: tuple[ImageTrigger, ...] = ()
    in_lock: bool = True
    # The fingerprint of the same spec with and without every image trigger's write-back
    # fields: what ``spec_hash`` was when writeBack or a trigger's ``automatic`` differed.
    equivalent_hashes: tuple[str, ...] = ()


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _trigger_type(trigger: dict[str, object]) -> str:
    # Old OpenShift 3 manifests spell BuildConfig trigger types in lower camel case.
    return str(trigger.get("type") or "").lower()


def strategy_from(obj: ManifestObject) -> tuple[dict[str, object], Path] | None:
    """A BuildConfig strategy's ``from`` and its path."""
    strategy = _dict(obj.spec.get("strategy"))
    for key in STRATEGY_KEYS:
        source = _dict(_dict(strategy.get(key)).get("from"))
        if source:
            return source, ("spec", "strategy", key, "from")
    return None


def _istag(source: dict[str, object], default_namespace: str) -> TagRef | None:
    # OpenShift converts the legacy kind ImageStream (name without a tag) to
    # ImageStreamTag name:latest; parse_istag_name applies the same default.
    if source.get("kind") not in (IMAGE_STREAM_TAG, "ImageStream"):
        return None
    name = source.get("name")
    namespace = source.get("namespace")
    if not isinstance(name, str):
        return None
    ns = namespace if isinstance(namespace, str) and namespace else default_namespace
    return parse_istag_name(name, ns)


def without(body: dict[str, object], paths: Iterable[Path]) -> dict[str, object]:
    """A copy of ``body`` with the fields at ``paths`` removed (those that exist)."""
    paths = list(paths)
    if not paths:
        return body
    out = copy.deepcopy(body)
    for path in paths:
        node: object = out
        for part in path[:-1]:
            if isinstance(node, dict) and isinstance(part, str):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                node = None
        if isinstance(node, dict):
            node.pop(str(path[-1]), None)
    return out


def fingerprint(watched: object) -> str:
    """``sha256:`` and the hash of ``watched`` as canonical JSON."""
    canonical = json.dumps(watched, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def spec_fingerprint(obj: ManifestObject, exclude: Iterable[Path] = ()) -> str:
    """A hash of what a ConfigChange trigger watches: a DeploymentConfig's pod template,
    a BuildConfig's spec. Fields the cluster writes back (``lastTriggered*``) are left
    out so that a manifest exported from a live cluster does not look changed, and so
    are the fields at ``exclude`` (those the reconciler's write-back sets)."""
    body = without(obj.body, exclude)
    spec = body.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    if obj.kind == DEPLOYMENT_CONFIG:
        watched: object = spec.get("template")
    else:
        spec = dict(spec)
        triggers = []
        for trigger in _list(spec.get("triggers")):
            t = dict(_dict(trigger))
            if "imageChange" in t:
                t["imageChange"] = {
                    k: v for k, v in _dict(t["imageChange"]).items() if k != "lastTriggeredImageID"
                }
            triggers.append(t)
        spec["triggers"] = triggers
        watched = spec
    return fingerprint(watched)


def _container_paths(obj: ManifestObject) -> dict[str, Path]:
    """A DeploymentConfig's containers by name: the path of each one."""
    pod = _dict(_dict(obj.spec.get("template")).get("spec"))
    found: dict[str, Path] = {}
    for key in ("initContainers", "containers"):
        for i, container in enumerate(_list(pod.get(key))):
            name = _dict(container).get("name")
            if isinstance(name, str) and name:
                found.setdefault(name, ("spec", "template", "spec", key, i))
    return found


def _build_targets(obj: ManifestObject, own_from: bool) -> tuple[Path, ...]:
    """A BuildConfig trigger with its own ``from`` feeds the strategy's image: the
    strategy's ``from.name`` when it is written as a DockerImage pull spec."""
    found = strategy_from(obj)
    if own_from and found is not None and found[0].get("kind") == "DockerImage":
        return ((*found[1], "name"),)
    return ()


def read_consumer(obj: ManifestObject, write_back: bool = False) -> Consumer:
    """What ``obj`` (a BuildConfig or DeploymentConfig) consumes and produces (read once
    per parsed object: a pass asks several times).

    Lenient, never raises: a malformed trigger or ``from`` is skipped. A BuildConfig's
    ImageChange trigger without its own ``from`` watches the strategy's ``from``; trigger
    types are matched case-insensitively (OpenShift 3 wrote ``imageChange``). With
    ``write_back``, the fields the write-back sets are left out of the fingerprint: they
    change with the tag, which is an ImageChange, not a ConfigChange."""
    return _read_consumer(obj, write_back)


@per_object
def _read_consumer(obj: ManifestObject, write_back: object) -> Consumer:
    key = obj.key
    triggers: list[ImageTrigger] = []
    config_change = False
    containers: tuple[str, ...] = ()
    output: TagRef | None = None
    for index, raw in enumerate(_list(obj.spec.get("triggers"))):
        trigger = _dict(raw)
        kind = _trigger_type(trigger)
        if kind == "configchange":
            config_change = True
        if kind != "imagechange":
            continue
        base: Path = ("spec", "triggers", index)
        if obj.kind == DEPLOYMENT_CONFIG:
            params = _dict(trigger.get("imageChangeParams"))
            ref = _istag(_dict(params.get("from")), obj.namespace)
            if ref is not None:
                names = tuple(str(n) for n in _list(params.get("containerNames")))
                automatic = params.get("automatic") is True
                paths = _container_paths(obj)
                targets = tuple((*paths[n], "image") for n in names if n in paths)
                triggers.append(
                    ImageTrigger(
                        key,
                        ref,
                        automatic,
                        names,
                        (*base, "imageChangeParams", "from"),
                        targets if automatic else (),
                    )
                )
        else:
            own = _dict(_dict(trigger.get("imageChange")).get("from"))
            if own:
                ref, path = _istag(own, obj.namespace), (*base, "imageChange", "from")
            else:
                found = strategy_from(obj)
                ref, path = (_istag(found[0], obj.namespace), found[1]) if found else (None, base)
            if ref is not None:
                triggers.append(
                    ImageTrigger(key, ref, True, (), path, _build_targets(obj, bool(own)))
                )
    if obj.kind == DEPLOYMENT_CONFIG:
        pod = _dict(_dict(obj.spec.get("template")).get("spec"))
        containers = tuple(
            str(_dict(c).get("name"))
            for c in (*_list(pod.get("containers")), *_list(pod.get("initContainers")))
            if _dict(c).get("name")
        )
    if obj.kind == BUILD_CONFIG:
        output = _istag(_dict(_dict(obj.spec.get("output")).get("to")), obj.namespace)
    written = tuple(p for t in triggers for p in t.targets) if write_back else ()
    spec_hash = spec_fingerprint(obj, written)
    equivalent: tuple[str, ...] = ()
    if config_change:
        # Each way of leaving fields out hashed once: most consumers have one way.
        hashes = {written: spec_hash}
        every_target = tuple(p for t in triggers for p in _write_back_fields(obj, t))
        for excluded in ((), every_target):
            if excluded not in hashes:
                hashes[excluded] = spec_fingerprint(obj, excluded)
        equivalent = tuple(h for h in dict.fromkeys(hashes.values()) if h != spec_hash)
    return Consumer(
        key=key,
        image_triggers=tuple(triggers),
        config_change=config_change,
        spec_hash=spec_hash,
        output=output,
        containers=containers,
        equivalent_hashes=equivalent,
    )


def _write_back_fields(obj: ManifestObject, trigger: ImageTrigger) -> tuple[Path, ...]:
    """The fields a write-back would set for ``trigger`` were it automatic."""
    if trigger.targets or obj.kind != DEPLOYMENT_CONFIG:
        return trigger.targets
    paths = _container_paths(obj)
    return tuple((*paths[n], "image") for n in trigger.container_names if n in paths)
