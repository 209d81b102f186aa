"""Checks that depend on the machine's settings rather than on the manifests alone:
OpenShift's ``allowedRegistriesForImport`` (a tag from a registry outside the list is a
validation error, never a request) and the ``importer.image.openshift.io/prefer-arch`` /
``prefer-os`` annotations (a malformed one is a validation error).

Pure: the machine's settings come in as values (registries.conf, the allow-list, the
default platform)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reconciler.core.allowlist import AllowedRegistry, allowed_candidates
from reconciler.core.manifests import IMAGE_STREAM, ManifestObject
from reconciler.core.platforms import (
    PREFER_ARCH_ANNOTATION,
    PREFER_OS_ANNOTATION,
    Platform,
    platform_for,
)
from reconciler.core.references import InvalidReference, parse_image_reference
from reconciler.core.registries import RegistriesConf
from reconciler.core.streams import DOCKER_IMAGE, stream_tags
from reconciler.core.violations import Violation


def stream_annotations(obj: ManifestObject) -> dict[str, str]:
    """The stream's ``metadata.annotations`` with string values only ({} when absent)."""
    raw = obj.metadata.get("annotations")
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, str)}


def stream_platform(obj: ManifestObject, default: Platform) -> Platform:
    """The platform ``Legacy`` pins for this stream's tags (default when malformed: the
    policy check reports that)."""
    try:
        return platform_for(stream_annotations(obj), default)
    except ValueError:
        return default


def policy_check(
    registries: RegistriesConf,
    allowed: Sequence[AllowedRegistry] | None,
    default_platform: Platform,
) -> Callable[[ManifestObject], list[Violation]]:
    """A check for each object: a malformed platform annotation, and (when ``allowed`` is
    set) a DockerImage tag from a registry outside the allow-list, are violations."""

    def check(obj: ManifestObject) -> list[Violation]:
        if obj.kind != IMAGE_STREAM or obj.in_template:
            return []
        found: list[Violation] = []
        annotations = stream_annotations(obj)
        try:
            platform_for(annotations, default_platform)
        except ValueError as exc:
            key = (
                PREFER_ARCH_ANNOTATION
                if PREFER_ARCH_ANNOTATION in annotations
                else PREFER_OS_ANNOTATION
            )
            found.append(obj.violation(("metadata", "annotations", key), str(exc)))
        if allowed is None:
            return found
        for tag in stream_tags(obj):
            if tag.from_kind != DOCKER_IMAGE:
                continue
            try:
                image = parse_image_reference(tag.from_name)
            except InvalidReference:
                continue  # the schema and the plan report a bad reference
            ok, refused = allowed_candidates(registries, image, tag.insecure, allowed)
            if not ok:
                found.append(
                    obj.violation(
                        (*tag.from_path, "name"),
                        "not allowed for import: " + "; ".join(refused),
                    )
                )
        return found

    return check
