"""Checks that need more than one object: duplicate objects and tags, ImageStreamTag
references that point nowhere (workloads' trigger annotations included), alias cycles,
``containerNames`` that name no container, ``scheduled`` on a tag that is not imported
from a registry, and workload images that look like a stream whose lookup is off.

Templates are left out: their names are parameters, resolved only when processed.

Pure: problems come back as violations, never as exceptions. Must not check one object's
own shape: that is the schema's (``reconciler.files.schemas``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from reconciler.core.consumers import read_consumer
from reconciler.core.manifests import (
    BUILD_CONFIG,
    DEPLOYMENT_CONFIG,
    IMAGE_STREAM,
    ManifestObject,
    ObjectKey,
)
from reconciler.core.references import InvalidReference, parse_image_reference
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.streams import (
    DOCKER_IMAGE,
    IMAGE_STREAM_IMAGE,
    IMAGE_STREAM_TAG,
    TagRef,
    TagSpec,
    parse_isimage_name,
    stream_tags,
)
from reconciler.core.violations import Violation
from reconciler.core.workloads import lookup_table, workload_findings, workloads_of

# An object and a problem that makes it invalid.
Finding = tuple[ManifestObject, Violation]


def cross_check(objects: Sequence[ManifestObject], config: RepoConfig) -> list[Finding]:
    """Every cross-object problem, paired with the object it makes invalid."""
    live = [o for o in objects if not o.in_template]
    findings: list[Finding] = []
    findings += _duplicate_objects(live)
    streams = [o for o in live if o.kind == IMAGE_STREAM and o.name]
    tags_by_stream: dict[ManifestObject, list[TagSpec]] = {}
    for stream in streams:
        tags_by_stream[stream] = stream_tags(stream)
        findings += _duplicate_tags(stream, tags_by_stream[stream])
        findings += _scheduled_without_import(stream, tags_by_stream[stream])
        findings += _repository_not_imported(stream)

    known_streams = {(s.namespace, s.name) for s in streams}
    known_tags: set[TagRef] = {t.ref for tags in tags_by_stream.values() for t in tags}
    consumers = [o for o in live if o.kind in (BUILD_CONFIG, DEPLOYMENT_CONFIG) and o.name]
    # A build's output tag exists once the build pushes: it is a tag like any other.
    for obj in consumers:
        output = read_consumer(obj).output
        if output is None:
            continue
        if (output.namespace, output.stream) in known_streams:
            known_tags.add(output)
        elif not config.is_external(output.namespace, output.stream, output.tag):
            findings.append(
                (
                    obj,
                    obj.violation(
                        ("spec", "output", "to", "name"),
                        f"output image stream {output.namespace}/{output.stream} is not defined "
                        "in the repo: the registry creates it on the first push, but the "
                        "reconciler cannot pin or trigger on it (add an ImageStream for it, or "
                        "list it under 'external' in .reconciler.yaml)",
                        "warning",
                    ),
                )
            )

    def missing(ref: TagRef) -> bool:
        return ref not in known_tags and not config.is_external(ref.namespace, ref.stream, ref.tag)

    for stream, tags in tags_by_stream.items():
        for tag in tags:
            findings += _tag_reference(stream, tag, missing, known_streams, config)
    findings += _alias_cycles(tags_by_stream)
    for obj in consumers:
        consumer = read_consumer(obj)
        for trigger in consumer.image_triggers:
            if missing(trigger.source):
                findings.append(
                    (
                        obj,
                        obj.violation(
                            (*trigger.path, "name"),
                            f"ImageStreamTag {trigger.source} is not defined in the repo (add "
                            "the tag to an ImageStream, or list it under 'external' in "
                            ".reconciler.yaml)",
                        ),
                    )
                )
            if obj.kind == DEPLOYMENT_CONFIG:
                findings += _container_names(obj, trigger.path, consumer.containers)
    lookups = lookup_table(streams)
    for obj in workloads_of(live):
        findings += [(obj, v) for v in workload_findings(obj, missing, lookups)]
    return findings


def _duplicate_objects(objects: Sequence[ManifestObject]) -> list[Finding]:
    seen: dict[ObjectKey, list[ManifestObject]] = defaultdict(list)
    for obj in objects:
        if obj.name:
            seen[obj.key].append(obj)
    findings: list[Finding] = []
    for group in seen.values():
        if len(group) < 2:
            continue
        for obj in group:
            others = ", ".join(f"{o.file}:{o.locate(())[0]}" for o in group if o is not obj)
            findings.append(
                (
                    obj,
                    obj.violation(
                        ("metadata", "name"), f"duplicate object: also defined at {others}"
                    ),
                )
            )
    return findings


def _duplicate_tags(stream: ManifestObject, tags: Sequence[TagSpec]) -> list[Finding]:
    first: dict[str, TagSpec] = {}
    findings: list[Finding] = []
    for tag in tags:
        if tag.ref.tag in first:
            earlier = first[tag.ref.tag]
            line, _ = stream.locate(earlier.path)
            findings.append(
                (
                    stream,
                    stream.violation(
                        (*tag.path, "name"),
                        f"duplicate tag {tag.ref.tag!r}: also spec.tags[{earlier.index}] at line {line}",
                    ),
                )
            )
        else:
            first[tag.ref.tag] = tag
    return findings


def _repository_not_imported(stream: ManifestObject) -> list[Finding]:
    """``spec.dockerImageRepository`` asks OpenShift to import the repository's tags into
    the stream's status. The reconciler does not: its tags are spec tags, each reviewed
    in the lock. Rather than ignore the field (a silent no-op), refuse it and say how to
    get the same tags. OpenShift itself deprecated it (openshift/api image/v1/types.go,
    ImageStreamSpec: "deprecated as of v3.7 ... Specify the source for the tags to be
    imported in each tag via the spec.tags.from reference instead")."""
    spec = stream.body.get("spec")
    repository = spec.get("dockerImageRepository") if isinstance(spec, dict) else None
    if not isinstance(repository, str) or not repository.strip():
        return []
    return [
        (
            stream,
            stream.violation(
                ("spec", "dockerImageRepository"),
                f"not imported: the reconciler pins spec.tags only (OpenShift deprecated this "
                f"field in 3.7 for spec.tags[].from); to import the repository's tags run "
                f"`reconciler import-image {stream.name} --all --confirm`, which writes them "
                "into spec.tags (up to maxImagesBulkImportedPerRepository, in OpenShift's "
                "order) and removes this field",
            ),
        )
    ]


def _scheduled_without_import(stream: ManifestObject, tags: Sequence[TagSpec]) -> list[Finding]:
    return [
        (
            stream,
            stream.violation(
                (*tag.path, "importPolicy", "scheduled"),
                f"scheduled import needs a DockerImage source, not {tag.from_kind or 'no from'}"
                " (OpenShift refuses it)",
            ),
        )
        for tag in tags
        if tag.scheduled and tag.from_kind != DOCKER_IMAGE
    ]


def _tag_reference(
    stream: ManifestObject,
    tag: TagSpec,
    missing: Callable[[TagRef], bool],
    known_streams: set[tuple[str, str]],
    config: RepoConfig,
) -> list[Finding]:
    if tag.from_kind == IMAGE_STREAM_TAG:
        target = tag.target()
        if target is None:
            return [
                (
                    stream,
                    stream.violation(
                        (*tag.from_path, "name"),
                        f"ImageStreamTag name must be stream:tag, got {tag.from_name!r}",
                    ),
                )
            ]
        if missing(target):
            return [
                (
                    stream,
                    stream.violation(
                        (*tag.from_path, "name"),
                        f"ImageStreamTag {target} is not defined in the repo (add the tag, or "
                        "list it under 'external' in .reconciler.yaml)",
                    ),
                )
            ]
    if tag.from_kind == DOCKER_IMAGE:
        try:
            parse_image_reference(tag.from_name)
        except InvalidReference as exc:
            return [(stream, stream.violation((*tag.from_path, "name"), str(exc)))]
    if tag.from_kind == IMAGE_STREAM_IMAGE:
        parsed = parse_isimage_name(tag.from_name)
        if parsed is None:
            return [
                (
                    stream,
                    stream.violation(
                        (*tag.from_path, "name"),
                        f"ImageStreamImage name must be stream@sha256:<64 hex>, got {tag.from_name!r}",
                    ),
                )
            ]
        namespace = tag.from_namespace or tag.ref.namespace
        if (namespace, parsed[0]) not in known_streams and not config.is_external(
            namespace, parsed[0], "*"
        ):
            return [
                (
                    stream,
                    stream.violation(
                        (*tag.from_path, "name"),
                        f"image stream {namespace}/{parsed[0]} is not defined in the repo",
                    ),
                )
            ]
    return []


def _alias_cycles(tags_by_stream: dict[ManifestObject, list[TagSpec]]) -> list[Finding]:
    edges: dict[TagRef, TagRef] = {}
    owner: dict[TagRef, tuple[ManifestObject, TagSpec]] = {}
    for stream, tags in tags_by_stream.items():
        for tag in tags:
            target = tag.target()
            if target is not None:
                edges[tag.ref] = target
                owner[tag.ref] = (stream, tag)
    findings: list[Finding] = []
    # Each tag follows at most one other: walk from each start, never through a tag an
    # earlier walk has been through (its cycle, if any, is reported already). Linear in
    # the tags: a chain of thousands of aliases costs no more than thousands of tags.
    done: set[TagRef] = set()
    for start in sorted(edges):
        order: dict[TagRef, int] = {}
        node: TagRef | None = start
        while node is not None and node in edges and node not in order and node not in done:
            order[node] = len(order)
            node = edges.get(node)
        done.update(order)
        if node is None or node not in order:
            continue
        path = list(order)
        cycle = path[order[node] :]
        text = " -> ".join(str(ref) for ref in [*cycle, cycle[0]])
        for ref in cycle:
            stream, tag = owner[ref]
            findings.append(
                (stream, stream.violation((*tag.from_path, "name"), f"alias cycle: {text}"))
            )
    return findings


def _container_names(
    obj: ManifestObject, from_path: tuple[str | int, ...], containers: tuple[str, ...]
) -> list[Finding]:
    params_path = from_path[:-1]
    params = obj.body
    for part in params_path:
        params = params[part]  # type: ignore[index]
    names = params.get("containerNames") if isinstance(params, dict) else None
    if not isinstance(names, list):
        return []
    return [
        (
            obj,
            obj.violation(
                (*params_path, "containerNames", i),
                f"container {name!r} is not in the pod template (containers: "
                f"{', '.join(containers) or 'none'})",
            ),
        )
        for i, name in enumerate(names)
        if isinstance(name, str) and name not in containers
    ]
