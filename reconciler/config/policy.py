"""Checks that depend on the machine's settings rather than on the manifests alone:
OpenShift's ``allowedRegistriesForImport`` (a tag from a registry outside the list is a
validation error, never a request) and the ``importer.image.openshift.io/prefer-arch`` /
``prefer-os`` annotations (a malformed one is a validation error)."""

from __future__ import annotations

from collections.abc import Callable

from reconciler.config.settings import Settings
from reconciler.core.allowlist import allowed_candidates
from reconciler.core.manifests import IMAGE_STREAM, ManifestObject
from reconciler.core.platforms import (
    PREFER_ARCH_ANNOTATION,
    PREFER_OS_ANNOTATION,
    Platform,
    platform_for,
)
from reconciler.core.references import InvalidReference, parse_image_reference
from reconciler.core.streams import DOCKER_IMAGE, stream_tags
from reconciler.core.violations import Violation


def stream_annotations(obj: ManifestObject) -> dict[str, str]:
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


def policy_check(settings: Settings) -> Callable[[ManifestObject], list[Violation]]:
    def check(obj: ManifestObject) -> list[Violation]:
        if obj.kind != IMAGE_STREAM or obj.in_template:
            return []
        found: list[Violation] = []
        annotations = stream_annotations(obj)
        try:
            platform_for(annotations, settings.platform)
        except ValueError as exc:
            key = (
                PREFER_ARCH_ANNOTATION
                if PREFER_ARCH_ANNOTATION in annotations
                else PREFER_OS_ANNOTATION
            )
            found.append(obj.violation(("metadata", "annotations", key), str(exc)))
        if settings.allowed is None:
            return found
        for tag in stream_tags(obj):
            if tag.from_kind != DOCKER_IMAGE:
                continue
            try:
                image = parse_image_reference(tag.from_name)
            except InvalidReference:
                continue  # the schema and the plan report a bad reference
            ok, refused = allowed_candidates(
                settings.registries, image, tag.insecure, settings.allowed
            )
            if not ok:
                found.append(
                    obj.violation(
                        (*tag.from_path, "name"),
                        "not allowed for import: " + "; ".join(refused),
                    )
                )
        return found

    return check
