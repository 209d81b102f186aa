"""What ``reconciler set triggers`` does to a workload or a DeploymentConfig, as ``oc set
triggers`` does it (openshift/oc ``pkg/cli/set/triggers.go``): the object's triggers are
read into one definition (a config-change flag and image-change triggers), the flags
update it (``updateTriggers``), and it is written back (``TriggerDefinition.Apply``).

- A workload (Deployment, StatefulSet, DaemonSet, CronJob; Job too, which oc refuses)
  keeps its image triggers in the ``image.openshift.io/triggers`` annotation. oc rewrites
  the whole annotation: one entry per container, ``{"from": {"kind": "ImageStreamTag",
  "name": ..., "namespace": ...}, "fieldPath": "<pod spec>.containers[?(@.name==\\"C\\")]
  .image", "paused": true}``, compact JSON as Go's ``json.Marshal`` writes it, the
  namespace left out when it is the object's own, ``paused`` only when true. For a
  Deployment, the config-change trigger is ``spec.paused`` (off = paused).
- A DeploymentConfig's triggers are ``spec.triggers``: ``ConfigChange`` and
  ``ImageChange`` with ``imageChangeParams`` (``automatic``, ``containerNames``, ``from``).

Where oc re-serialises the whole object, this edits in place: an unchanged annotation
keeps its YAML form, DeploymentConfig triggers keep their order (a new one is appended,
a new ConfigChange goes first), and an annotation left with no entries is removed
(oc writes ``null``).

Pure: the round-trip YAML node of the object in, edited in place; problems raise
:class:`TriggersError` with oc's own words.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString, SingleQuotedScalarString

from reconciler.core.editing import child_map, set_value
from reconciler.core.errors import EXIT_PROBLEMS, PermanentError
from reconciler.core.fieldpaths import (
    FieldPathError,
    container_of,
    parse_field_path,
    pod_spec_path,
)
from reconciler.core.triggerannotation import ANNOTATION
from reconciler.core.violations import render_path

DEPLOYMENT_CONFIG = "DeploymentConfig"
# The kinds and the resource names oc prints them with (``deployment.apps/web``).
RESOURCES = {
    "Deployment": "deployment.apps",
    "StatefulSet": "statefulset.apps",
    "DaemonSet": "daemonset.apps",
    "CronJob": "cronjob.batch",
    "Job": "job.batch",
    DEPLOYMENT_CONFIG: "deploymentconfig.apps.openshift.io",
}
_TRUE = ("1", "t", "T", "TRUE", "true", "True")


class TriggersError(PermanentError):
    """What oc would refuse (exit 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_PROBLEMS)


@dataclass
class ImageChange:
    """One image trigger: ``from_name`` is ``stream:tag``; ``namespace`` is "" for the
    object's own; ``origin`` is the index of the DeploymentConfig trigger it was read from
    (None: new, or read from an annotation)."""

    auto: bool
    from_name: str
    namespace: str
    names: list[str]
    origin: int | None = None


@dataclass
class TriggerDefinition:
    """An object's triggers as oc models them: the config-change trigger (for a
    Deployment, not ``spec.paused``) and the image triggers, in order."""

    config_change: bool
    image_change: list[ImageChange] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """The flags, as oc's ``TriggersOptions`` after ``Complete``."""

    remove_all: bool = False
    remove: bool = False
    auto: bool = False
    manual: bool = False
    from_config: bool = False
    from_image: str = ""  # stream:tag
    from_image_namespace: str = ""  # "" when it is the current namespace
    containers: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """How many trigger types the flags name (oc allows one)."""
        return int(self.from_config) + int(bool(self.from_image))

    @property
    def print_table(self) -> bool:
        """No flag that changes anything: print the triggers."""
        return not (self.count or self.remove or self.remove_all or self.auto or self.manual)

    @property
    def reset(self) -> bool:
        """``--auto`` or ``--manual`` alone: switch every trigger."""
        return self.count == 0 and (self.auto or self.manual)


def check_options(options: Options) -> None:
    """oc's ``Validate``."""
    if options.auto and options.manual:
        raise TriggersError("you must specify at most one of --auto or --manual")
    if options.remove and options.remove_all:
        raise TriggersError("you must specify either --remove or --remove-all")
    if options.remove_all and (options.count or options.auto or options.manual):
        raise TriggersError("--remove-all may not be used with any other flag")
    if options.remove and options.count < 1:
        raise TriggersError("--remove requires a flag defining a trigger type to be specified")
    if options.count > 1:
        raise TriggersError("you may only set one trigger type at a time")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _own(namespace: object, object_namespace: str) -> str:
    """oc's ``defaultNamespace``: "" when ``namespace`` is the object's own."""
    text = namespace if isinstance(namespace, str) else ""
    return "" if text == object_namespace else text


def container_names(kind: str, node: CommentedMap) -> list[str]:
    """The names of the pod template's containers and init containers."""
    spec: Any = node
    for part in pod_spec_path(kind):
        spec = _dict(spec).get(str(part))
    names: list[str] = []
    for key in ("containers", "initContainers"):
        items = _dict(spec).get(key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("name"):
                names.append(str(item["name"]))
    return names


def read_triggers(
    kind: str, node: CommentedMap, namespace: str, warnings: list[str]
) -> TriggerDefinition:
    """The object's triggers (oc's ``NewAnnotationTriggers`` and
    ``NewDeploymentConfigTriggers``). An annotation entry whose fieldPath names no
    container is left out, as oc leaves it out; ``warnings`` says so."""
    if kind == DEPLOYMENT_CONFIG:
        return _read_deployment_config(node, namespace)
    definition = TriggerDefinition(config_change=True)
    if kind == "Deployment":
        definition.config_change = _dict(node.get("spec")).get("paused") is not True
    text = _dict(_dict(node.get("metadata")).get("annotations")).get(ANNOTATION)
    if text is None:
        return definition
    try:
        entries = json.loads(str(text))
    except ValueError as exc:
        raise TriggersError(f"the {ANNOTATION} annotation is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise TriggersError(f"the {ANNOTATION} annotation is not a JSON array")
    for index, entry in enumerate(entries):
        entry = _dict(entry)
        source = _dict(entry.get("from"))
        paused = entry.get("paused", entry.get("pause", False))
        paused = paused is True or (isinstance(paused, str) and paused in _TRUE)
        name = _container_name(kind, node, entry.get("fieldPath"))
        if name is None or not isinstance(source.get("name"), str):
            warnings.append(
                f"annotation entry {index} (fieldPath {entry.get('fieldPath')!r}) names no "
                "container of the pod template: left out, as oc set triggers leaves it out"
            )
            continue
        definition.image_change.append(
            ImageChange(
                auto=not paused,
                from_name=source["name"],
                namespace=_own(source.get("namespace"), namespace),
                names=[name],
            )
        )
    return definition


def _container_name(kind: str, node: CommentedMap, text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        path = parse_field_path(text, kind)
    except FieldPathError:
        return None
    where = container_of(node, kind, path)
    if where is None:
        return None
    container: Any = node
    for part in where:
        container = container[part]
    name = _dict(container).get("name")
    return str(name) if name else None


def _read_deployment_config(node: CommentedMap, namespace: str) -> TriggerDefinition:
    definition = TriggerDefinition(config_change=False)
    triggers = _dict(node.get("spec")).get("triggers")
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        trigger = _dict(trigger)
        if trigger.get("type") == "ConfigChange":
            definition.config_change = True
        elif trigger.get("type") == "ImageChange":
            params = _dict(trigger.get("imageChangeParams"))
            source = _dict(params.get("from"))
            names = params.get("containerNames")
            definition.image_change.append(
                ImageChange(
                    auto=params.get("automatic") is True,
                    from_name=str(source.get("name", "")),
                    namespace=_own(source.get("namespace"), namespace),
                    names=[str(n) for n in names] if isinstance(names, list) else [],
                    origin=index,
                )
            )
    return definition


def update(definition: TriggerDefinition, options: Options) -> None:
    """oc's ``updateTriggers``: only what the flags name changes."""
    if options.remove_all:
        definition.config_change = False
        definition.image_change = []
        return
    if options.remove:
        if options.from_config:
            definition.config_change = False
        if options.from_image:
            definition.image_change = [
                t for t in definition.image_change if t.from_name != options.from_image
            ]
        return
    if options.reset:
        definition.config_change = options.auto
        for trigger in definition.image_change:
            trigger.auto = options.auto
        return
    if options.from_config:
        definition.config_change = True
    if options.from_image:
        names = list(options.containers)
        for trigger in definition.image_change:
            if (trigger.from_name, trigger.namespace) == (
                options.from_image,
                options.from_image_namespace,
            ):
                trigger.auto, trigger.names = not options.manual, names
                break
        else:
            definition.image_change.append(
                ImageChange(
                    not options.manual, options.from_image, options.from_image_namespace, names
                )
            )


def _check_names(trigger: ImageChange, known: Sequence[str]) -> None:
    if not trigger.names:
        raise TriggersError("you must specify --containers when setting --from-image")
    missing = sorted(set(trigger.names) - set(known))
    if missing:
        raise TriggersError(
            f"not all container names exist: {', '.join(missing)} "
            f"(accepts: {', '.join(sorted(set(known)))})"
        )


def marshal(entries: Sequence[dict[str, Any]]) -> str:
    """``entries`` as Go's ``json.Marshal`` writes them: compact, HTML characters
    escaped."""
    text = json.dumps(list(entries), separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def annotation_entry(
    kind: str, from_name: str, namespace: str, container: str, paused: bool
) -> dict[str, Any]:
    """One ``ObjectFieldTrigger`` as oc writes it (``namespace`` "" is left out)."""
    source = {"kind": "ImageStreamTag", "name": from_name}
    if namespace:
        source["namespace"] = namespace
    path = render_path((*pod_spec_path(kind), "containers"))
    entry: dict[str, Any] = {
        "from": source,
        "fieldPath": f'{path}[?(@.name=="{container}")].image',
    }
    if paused:
        entry["paused"] = True
    return entry


def apply(
    kind: str,
    node: CommentedMap,
    definition: TriggerDefinition,
    previous: TriggerDefinition,
) -> None:
    """Write ``definition`` into ``node`` (``previous``: as it was read)."""
    if kind == DEPLOYMENT_CONFIG:
        _apply_deployment_config(node, definition)
    else:
        _apply_annotation(kind, node, definition, previous)


def _apply_annotation(
    kind: str, node: CommentedMap, definition: TriggerDefinition, previous: TriggerDefinition
) -> None:
    known = container_names(kind, node)
    seen: set[str] = set()
    entries: list[dict[str, Any]] = []
    for trigger in definition.image_change:
        _check_names(trigger, known)
        twice = sorted(seen & set(trigger.names))
        if twice:
            raise TriggersError(
                f"only one trigger may reference each container: {', '.join(twice)}"
            )
        seen.update(trigger.names)
        entries += [
            annotation_entry(kind, trigger.from_name, trigger.namespace, name, not trigger.auto)
            for name in trigger.names
        ]
    if kind == "Deployment" and definition.config_change != previous.config_change:
        spec = child_map(node, "spec")
        if definition.config_change and "paused" in spec:
            set_value(spec, "paused", False)
        elif not definition.config_change:
            set_value(spec, "paused", True)
    if _same(definition, previous):
        return  # the annotation already says this: keep its text and YAML form
    metadata = child_map(node, "metadata")
    annotations = metadata.get("annotations")
    if not entries:
        if isinstance(annotations, dict) and ANNOTATION in annotations:
            del annotations[ANNOTATION]
            if not annotations:
                del metadata["annotations"]
        return
    annotations = child_map(metadata, "annotations")
    text = marshal(entries)
    old = annotations.get(ANNOTATION)
    annotations[ANNOTATION] = (
        LiteralScalarString(text)
        if isinstance(old, LiteralScalarString) or (isinstance(old, str) and "\n" in old)
        else SingleQuotedScalarString(text)
    )


def _same(a: TriggerDefinition, b: TriggerDefinition) -> bool:
    def key(d: TriggerDefinition) -> list[tuple[bool, str, str, tuple[str, ...]]]:
        return [(t.auto, t.from_name, t.namespace, tuple(t.names)) for t in d.image_change]

    return key(a) == key(b)


def _apply_deployment_config(node: CommentedMap, definition: TriggerDefinition) -> None:
    known = container_names(DEPLOYMENT_CONFIG, node)
    for trigger in definition.image_change:
        _check_names(trigger, known)
    spec = child_map(node, "spec")
    triggers = spec.get("triggers")
    if not isinstance(triggers, CommentedSeq):
        triggers = CommentedSeq()
        spec["triggers"] = triggers
    kept = {t.origin: t for t in definition.image_change if t.origin is not None}
    has_config_change = False
    for index in reversed(range(len(triggers))):
        item = _dict(triggers[index])
        if item.get("type") == "ConfigChange":
            if definition.config_change and not has_config_change:
                has_config_change = True
            else:
                del triggers[index]
        elif item.get("type") == "ImageChange":
            kept_trigger = kept.get(index)
            if kept_trigger is None:
                del triggers[index]
            else:
                _update_params(child_map(triggers[index], "imageChangeParams"), kept_trigger)
    if definition.config_change and not has_config_change:
        config = CommentedMap()
        config["type"] = "ConfigChange"
        triggers.insert(0, config)
    for trigger in definition.image_change:
        if trigger.origin is None:
            triggers.append(_new_image_change(trigger))


def _update_params(params: CommentedMap, trigger: ImageChange) -> None:
    if params.get("automatic") is not None or trigger.auto:
        set_value(params, "automatic", trigger.auto)
    names = params.get("containerNames")
    if not isinstance(names, list) or [str(n) for n in names] != trigger.names:
        seq = CommentedSeq(trigger.names)
        if isinstance(names, CommentedSeq) and names.fa.flow_style():
            seq.fa.set_flow_style()
        params["containerNames"] = seq


def _new_image_change(trigger: ImageChange) -> CommentedMap:
    source = CommentedMap()
    source["kind"] = "ImageStreamTag"
    if trigger.namespace:
        source["namespace"] = trigger.namespace
    source["name"] = trigger.from_name
    params = CommentedMap()
    params["automatic"] = trigger.auto  # oc leaves a false one out (omitempty)
    params["containerNames"] = CommentedSeq(trigger.names)
    params["from"] = source
    item = CommentedMap()
    item["type"] = "ImageChange"
    item["imageChangeParams"] = params
    return item


def table_rows(resource: str, definition: TriggerDefinition) -> list[list[str]]:
    """oc's ``printTriggers`` rows: NAME, TYPE, VALUE, AUTO."""
    rows = [[resource, "config", "", str(definition.config_change).lower()]]
    for trigger in definition.image_change:
        value = (
            f"{trigger.namespace}/{trigger.from_name}" if trigger.namespace else trigger.from_name
        )
        if trigger.names:
            value += f" ({', '.join(trigger.names)})"
        rows.append([resource, "image", value, str(trigger.auto).lower()])
    return rows
