"""What a cosign signature's signed payload says: cosign's names for the signature
(the simplesigning media type, the annotation holding the signature, the referrer
artifactType) and the strict reading of the simplesigning payload
(``critical.identity.docker-reference``, ``critical.image.docker-manifest-digest``,
``critical.type``) into :class:`SignedClaims`.

Must not: verify anything (``reconciler.registry.publickeys`` does the cryptography) or
judge the claims against a tag (``reconciler.core.signatures.judge_claims``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.references import InvalidReference, parse_image_reference

# cosign's names (specs/SIGNATURE_SPEC.md in sigstore/cosign).
SIMPLESIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_SIGNATURE_TYPE = "cosign container image signature"
# The artifactType cosign gives a signature stored as an OCI 1.1 referrer.
COSIGN_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


class PayloadError(ValueError):
    """The signed payload is not a cosign simplesigning document; the message says why."""


@dataclass(frozen=True)
class SignedClaims:
    """What a simplesigning payload asserts: the image digest and the repository."""

    docker_reference: str
    digest: str
    optional: Mapping[str, Any] = field(default_factory=dict, compare=False)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        # Two values for one key: which one a verifier reads is up to its JSON library.
        raise PayloadError("a JSON object repeats a key")
    return dict(pairs)


def _object(value: Any, what: str, keys: Iterable[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{what} is not an object")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        # containers-signature(5): an unknown field in "critical" rejects the signature.
        raise PayloadError(f"{what} has unknown field {unknown[0]!r}")
    return value


def parse_payload(payload: bytes) -> SignedClaims:
    """Read a simplesigning payload strictly: JSON without repeated keys; ``critical``
    with exactly ``type`` (cosign's), ``image.docker-manifest-digest`` (a sha256 digest)
    and ``identity.docker-reference`` (a string); ``optional`` anything or null."""
    try:
        document = json.loads(payload.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except PayloadError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PayloadError("not JSON") from None
    top = _object(document, "the payload", ("critical", "optional"))
    critical = _object(top.get("critical"), "critical", ("type", "image", "identity"))
    if critical.get("type") != COSIGN_SIGNATURE_TYPE:
        raise PayloadError(f"critical.type is not {COSIGN_SIGNATURE_TYPE!r}")
    image = _object(critical.get("image"), "critical.image", ("docker-manifest-digest",))
    digest = image.get("docker-manifest-digest")
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise PayloadError("critical.image.docker-manifest-digest is not a sha256 digest")
    identity = _object(critical.get("identity"), "critical.identity", ("docker-reference",))
    reference = identity.get("docker-reference")
    if not isinstance(reference, str) or not reference:
        raise PayloadError("critical.identity.docker-reference is not a string")
    optional = top.get("optional")
    return SignedClaims(reference, digest, optional if isinstance(optional, dict) else {})


def signed_repository(docker_reference: str) -> str | None:
    """The repository a payload names, normalised as the lock writes names (Docker Hub
    as ``docker.io``, with ``library/``); a tag in it is ignored. None when it is not a
    reference."""
    try:
        ref = parse_image_reference(docker_reference)
    except InvalidReference:
        return None
    if ref.registry is None:
        ref = ref.qualified("docker.io")  # as go-containerregistry reads a bare name
    return ref.name
