"""What the bodies a registry sends mean: manifests, indexes and image config blobs.

Owns: the size caps for manifest and config bodies; the media type of a manifest body (its
own ``mediaType``, else ``Content-Type``, else its shape) and the check that the body is
what that type says (``schemaVersion`` 2, a config descriptor and a list of layers for a
manifest, a list of descriptors for an index): a digest is only pinned once its body has
passed it; choosing the child of an index for
a :class:`Platform` (the ``Legacy`` import mode); every digest check of a body against the
digest it should have (one place); the config descriptor of a manifest and the parsing of
an image config blob into :class:`ImageConfig`.

Must not: do I/O or import httpx (it takes bytes and header values, and returns data or
raises :class:`ResolveError` through :meth:`Target.fail`); decide which requests to make
(``reconciler.registry.client`` does).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from reconciler.core.platforms import Platform
from reconciler.registry import errors as e
from reconciler.registry.media_types import OCI_INDEX, OCI_MANIFEST, is_index, is_manifest
from reconciler.registry.models import ImageConfig
from reconciler.registry.targets import Target

__all__ = [
    "DIGEST_RE",
    "MAX_CONFIG_BYTES",
    "MAX_MANIFEST_BYTES",
    "bare_type",
    "check_digest",
    "choose_platform",
    "config_digest",
    "image_config",
    "load_json",
    "manifest_media_type",
    "referrer_descriptors",
    "sha256_digest",
    "verify_digest_header",
]

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 8 * 1024 * 1024
DIGEST_RE = re.compile(r"(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")
_SHA256_RE = re.compile(r"sha256:[a-f0-9]{64}")


def bare_type(content_type: str) -> str:
    """A media type without parameters (``; charset=utf-8``), lower case."""
    return content_type.split(";", 1)[0].strip().lower()


def sha256_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _digest_of(body: bytes, like: str) -> str:
    algorithm = like.partition(":")[0]
    if algorithm not in ("sha256", "sha512"):
        algorithm = "sha256"
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def check_digest(target: Target, body: bytes, expected: str, what: str) -> None:
    """Every body we read is checked against the digest it should have: one place."""
    actual = _digest_of(body, expected)
    if actual != expected:
        raise target.fail(e.DIGEST_MISMATCH, f"{what} has content with digest {actual}")


def verify_digest_header(target: Target, body: bytes, claimed: str | None) -> None:
    """Check a ``Docker-Content-Digest`` header (``claimed``; ``None``: absent) against
    the body it came with."""
    if claimed is None:
        return
    if not DIGEST_RE.fullmatch(claimed):
        raise target.fail(e.INVALID_RESPONSE, "malformed Docker-Content-Digest header")
    check_digest(target, body, claimed, f"content the registry claims is {claimed}")


def load_json(body: bytes, target: Target, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise target.fail(e.INVALID_RESPONSE, f"{what} is not JSON") from None
    if not isinstance(payload, dict):
        raise target.fail(e.INVALID_RESPONSE, f"{what} is not a JSON object")
    return payload


def manifest_media_type(content_type: str, body: bytes, target: Target, selector: str) -> str:
    """The media type of a manifest body: its own ``mediaType``, else Content-Type, else shape."""
    payload = load_json(body, target, f"manifest {selector}")
    declared = payload.get("mediaType")
    if isinstance(declared, str) and declared:
        media_type = bare_type(declared)
    elif is_index(content_type) or is_manifest(content_type):
        media_type = content_type
    elif payload.get("schemaVersion") == 2 and isinstance(payload.get("manifests"), list):
        media_type = OCI_INDEX  # OCI allows omitting mediaType
    elif payload.get("schemaVersion") == 2 and isinstance(payload.get("layers"), list):
        media_type = OCI_MANIFEST
    else:
        media_type = content_type or "unknown"
    if not (is_index(media_type) or is_manifest(media_type)):
        raise target.fail(
            e.UNSUPPORTED_MEDIA_TYPE, f"{selector}: unsupported manifest type {media_type!r}"
        )
    problem = _index_problem(payload) if is_index(media_type) else _manifest_problem(payload)
    if problem is not None:
        raise target.fail(e.INVALID_RESPONSE, f"{selector}: not a valid {media_type}: {problem}")
    return media_type


def _descriptor_problem(value: object, what: str) -> str | None:
    if not isinstance(value, dict):
        return f"{what} is not an object"
    if not isinstance(value.get("mediaType"), str):
        return f"{what} has no mediaType"
    digest = value.get("digest")
    if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
        return f"{what} has no valid digest"
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"{what} has no valid size"
    return None


def _manifest_problem(payload: dict[str, Any]) -> str | None:
    if payload.get("schemaVersion") != 2:
        return "schemaVersion is not 2"
    problem = _descriptor_problem(payload.get("config"), "config")
    if problem is not None:
        return problem
    layers = payload.get("layers")
    if not isinstance(layers, list):
        return "layers is not a list"
    for i, layer in enumerate(layers):
        problem = _descriptor_problem(layer, f"layers[{i}]")
        if problem is not None:
            return problem
    return None


def _index_problem(payload: dict[str, Any]) -> str | None:
    if payload.get("schemaVersion") != 2:
        return "schemaVersion is not 2"
    entries = payload.get("manifests")
    if not isinstance(entries, list):
        return "manifests is not a list"
    for i, entry in enumerate(entries):
        problem = _descriptor_problem(entry, f"manifests[{i}]")
        if problem is not None:
            return problem
    return None


def referrer_descriptors(
    body: bytes, target: Target, artifact_type: str | None
) -> list[dict[str, Any]]:
    """The descriptors of a referrers answer (an OCI image index), of ``artifact_type``
    only when given; a body that is not an index of valid descriptors is refused."""
    payload = load_json(body, target, "referrers index")
    problem = _index_problem(payload)
    if problem is not None:
        raise target.fail(e.INVALID_RESPONSE, f"referrers answer is not an index: {problem}")
    entries: list[dict[str, Any]] = payload["manifests"]
    if artifact_type is None:
        return entries
    return [d for d in entries if d.get("artifactType") == artifact_type]


def choose_platform(body: bytes, want: Platform, target: Target) -> tuple[str, str]:
    """Pick the child manifest of an index for ``want``: (digest, media type)."""
    payload = load_json(body, target, "index")
    manifests = payload.get("manifests")
    if not isinstance(manifests, list):
        raise target.fail(e.INVALID_RESPONSE, "index without a manifests list")
    matches: list[tuple[str, str, str | None]] = []
    available: list[str] = []
    for entry in manifests:
        if not isinstance(entry, dict):
            raise target.fail(e.INVALID_RESPONSE, "index entry is not an object")
        platform = entry.get("platform")
        if not isinstance(platform, dict):
            continue
        os_, arch, variant = (
            platform.get("os"),
            platform.get("architecture"),
            platform.get("variant"),
        )
        available.append("/".join(str(p) for p in (os_, arch, variant) if p))
        if os_ != want.os or arch != want.architecture:
            continue
        if want.variant is not None and variant != want.variant:
            continue
        digest, media_type = entry.get("digest"), entry.get("mediaType")
        if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            raise target.fail(e.INVALID_RESPONSE, "index entry with an invalid digest")
        if not isinstance(media_type, str) or not is_manifest(media_type):
            continue  # nested indexes and artifacts cannot be pinned as a platform image
        matches.append(
            (digest, bare_type(media_type), variant if isinstance(variant, str) else None)
        )
    if not matches:
        raise target.fail(
            e.NO_MATCHING_PLATFORM,
            f"no manifest for {want} in the index (available: {', '.join(available) or 'none'})",
        )
    # Without a requested variant, an entry that names none is the generic build; prefer it.
    plain = [m for m in matches if m[2] is None]
    digest, media_type, _ = (plain or matches)[0]
    return digest, media_type


def config_digest(body: bytes, target: Target) -> str:
    """The digest of a single-platform manifest's config blob (its size checked against
    :data:`MAX_CONFIG_BYTES` before anything is fetched)."""
    manifest = load_json(body, target, "manifest")
    descriptor = manifest.get("config")
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("digest"), str):
        raise target.fail(e.INVALID_RESPONSE, "manifest without a config descriptor")
    digest: str = descriptor["digest"]
    if not DIGEST_RE.fullmatch(digest):
        raise target.fail(e.INVALID_RESPONSE, "config descriptor with an invalid digest")
    size = descriptor.get("size")
    if isinstance(size, int) and size > MAX_CONFIG_BYTES:
        raise target.fail(
            e.INVALID_RESPONSE,
            f"config blob of {size} bytes exceeds the {MAX_CONFIG_BYTES}-byte limit",
        )
    return digest


def image_config(digest: str, config_digest: str, body: bytes, target: Target) -> ImageConfig:
    """Parse a config blob; ``digest`` is the manifest's, ``config_digest`` the blob's."""
    payload = load_json(body, target, "image config")
    inner = payload.get("config")
    config: dict[str, Any] = inner if isinstance(inner, dict) else {}

    def text(value: object) -> str | None:
        return value if isinstance(value, str) and value else None

    def strings(value: object) -> tuple[str, ...]:
        if isinstance(value, list):
            return tuple(v for v in value if isinstance(v, str))
        return ()

    labels_raw = config.get("Labels")
    labels = {str(k): str(v) for k, v in labels_raw.items()} if isinstance(labels_raw, dict) else {}
    ports_raw = config.get("ExposedPorts")
    ports = tuple(sorted(str(p) for p in ports_raw)) if isinstance(ports_raw, dict) else ()
    volumes_raw = config.get("Volumes")
    return ImageConfig(
        digest=digest,
        config_digest=config_digest,
        created=text(payload.get("created")),
        os=text(payload.get("os")),
        architecture=text(payload.get("architecture")),
        variant=text(payload.get("variant")),
        labels=labels,
        exposed_ports=ports,
        env=strings(config.get("Env")),
        user=text(config.get("User")),
        working_dir=text(config.get("WorkingDir")),
        entrypoint=strings(config.get("Entrypoint")),
        cmd=strings(config.get("Cmd")),
        volumes=tuple(sorted(str(v) for v in volumes_raw)) if isinstance(volumes_raw, dict) else (),
    )
