"""Manifest and blob media types of the OCI image spec and Docker schema 2.

Owns: the constant strings and the two questions the resolver asks of a media type
("is it an index?", "is it a single-platform manifest?").

Must not: do I/O or know about HTTP; the client decides what to do with the answers.
"""

from __future__ import annotations

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_MANIFEST_V2",
    "INDEX_TYPES",
    "MANIFEST_ACCEPT",
    "MANIFEST_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_MANIFEST",
    "is_index",
    "is_manifest",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST_V2})

# One fixed Accept header for every manifest request: a registry content-negotiates per
# request, so varying it would let the same tag answer with different digests (schema1
# is deliberately absent: it has no stable digest across registries).
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2))


def _bare(media_type: str) -> str:
    # Content-Type may carry parameters ("; charset=utf-8"); the type itself decides.
    return media_type.split(";", 1)[0].strip().lower()


def is_index(media_type: str) -> bool:
    """True for an OCI image index or a Docker manifest list."""
    return _bare(media_type) in INDEX_TYPES


def is_manifest(media_type: str) -> bool:
    """True for a single-platform OCI or Docker schema 2 manifest."""
    return _bare(media_type) in MANIFEST_TYPES
