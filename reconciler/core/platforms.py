"""Which platform (os/architecture/variant) an image is pinned for.

Owns: :class:`Platform` (``linux/amd64`` by default) and :func:`platform_for`, which reads
the ``importer.image.openshift.io/prefer-arch`` / ``prefer-os`` annotations of an object
into the platform that ``Legacy`` imports pick from an index.

Must not: do I/O or import anything outside ``reconciler.core`` (no httpx: settings, the
policy checks and the registry client all share this model without loading the client);
choosing an index entry for a platform is the registry shell's job
(``reconciler.registry.manifests``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "PREFER_ARCH_ANNOTATION",
    "PREFER_OS_ANNOTATION",
    "Platform",
    "platform_for",
]

PREFER_ARCH_ANNOTATION = "importer.image.openshift.io/prefer-arch"
PREFER_OS_ANNOTATION = "importer.image.openshift.io/prefer-os"
_PLATFORM_WORD_RE = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class Platform:
    """Target platform for ``Legacy`` imports of an index (``linux/amd64`` by default)."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


def platform_for(annotations: Mapping[str, str] | None, default: Platform) -> Platform:
    """The platform ``Legacy`` pins for an object with ``annotations``.

    ``importer.image.openshift.io/prefer-arch`` (``arm64``, ``arm/v7``) and ``prefer-os``
    override the configured ``default``; raise ``ValueError`` for a malformed value (a
    validation error for the manifest that carries it).
    """
    if not annotations:
        return default
    arch_text = annotations.get(PREFER_ARCH_ANNOTATION)
    os_text = annotations.get(PREFER_OS_ANNOTATION)
    os_ = default.os
    if os_text is not None:
        if not _PLATFORM_WORD_RE.fullmatch(os_text.strip().lower()):
            raise ValueError(f"{PREFER_OS_ANNOTATION}: {os_text!r} is not an OS name")
        os_ = os_text.strip().lower()
    if arch_text is None:
        return Platform(os_, default.architecture, default.variant)
    parts = arch_text.strip().lower().split("/")
    if len(parts) > 2 or not all(_PLATFORM_WORD_RE.fullmatch(p) for p in parts):
        raise ValueError(
            f"{PREFER_ARCH_ANNOTATION}: {arch_text!r} is not an architecture (e.g. arm64, arm/v7)"
        )
    return Platform(os_, parts[0], parts[1] if len(parts) == 2 else None)
