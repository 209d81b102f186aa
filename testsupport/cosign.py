"""A small cosign-compatible signer, for tests: Debian's ``skopeo`` and ``podman`` are
built with sigstore disabled ("Debian-local change: sigstore disabled"), and cosign is
not packaged, so the tests sign images themselves.

Written from cosign's ``specs/SIGNATURE_SPEC.md`` (sigstore/cosign):

- the payload is a simplesigning document, ``{"critical": {"identity":
  {"docker-reference": REPO}, "image": {"docker-manifest-digest": DIGEST}, "type":
  "cosign container image signature"}, "optional": ...}``, serialised as cosign's Go code
  does (fields in that order, no spaces);
- it is uploaded as a blob and referenced as a layer of mediaType
  ``application/vnd.dev.cosign.simplesigning.v1+json`` of an OCI image manifest, with the
  base64 signature in the layer's ``dev.cosignproject.cosign/signature`` annotation;
- the signature is ECDSA P-256 over SHA-256 (ASN.1 DER), or for the other key types what
  sigstore signs with (P-384: SHA-384, Ed25519: pure, RSA: PKCS #1 v1.5 over SHA-256);
- the manifest is tagged ``sha256-<hex>.sig`` in the image's repository (tag-based
  discovery), or pushed by digest with ``artifactType``
  ``application/vnd.dev.cosign.artifact.sig.v1+json`` and a ``subject`` (an OCI 1.1
  referrer, cosign's ``--registry-referrers-mode=oci-1-1``).

Owns: keys, payloads, signatures and pushing them; also the deliberately broken forms the
refusal tests need (another digest, another repository, garbage, bad base64, no
annotation), all through :class:`SignatureLayer`. Must not: verify anything (the tests
check what the reconciler accepts with ``openssl``, independently).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from testsupport.images import _put_manifest, _upload_blob

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

KINDS = ("p256", "p384", "p521", "ed25519", "rsa2048")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Signer:
    """A key pair of one of :data:`KINDS`."""

    kind: str
    private_key: Any

    @classmethod
    def generate(cls, kind: str = "p256") -> Signer:
        if kind == "p256":
            key: Any = ec.generate_private_key(ec.SECP256R1())
        elif kind == "p384":
            key = ec.generate_private_key(ec.SECP384R1())
        elif kind == "p521":
            key = ec.generate_private_key(ec.SECP521R1())
        elif kind == "ed25519":
            key = ed25519.Ed25519PrivateKey.generate()
        elif kind == "rsa2048":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"kind must be one of {KINDS}")
        return cls(kind, key)

    def public_pem(self) -> str:
        """The public key as cosign writes ``cosign.pub``: PEM ``PUBLIC KEY`` (PKIX)."""
        pem: bytes = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()

    def private_pem(self) -> str:
        """The private key, unencrypted PKCS #8: what must never be accepted as a key."""
        return self.private_key.private_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def sign(self, payload: bytes) -> bytes:
        """The raw signature over ``payload``, as sigstore signs with this key type."""
        key = self.private_key
        if self.kind == "p256":
            return key.sign(payload, ec.ECDSA(hashes.SHA256()))  # type: ignore[no-any-return]
        if self.kind == "p384":
            return key.sign(payload, ec.ECDSA(hashes.SHA384()))  # type: ignore[no-any-return]
        if self.kind == "p521":
            return key.sign(payload, ec.ECDSA(hashes.SHA512()))  # type: ignore[no-any-return]
        if self.kind == "ed25519":
            return key.sign(payload)  # type: ignore[no-any-return]
        return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[no-any-return]


def payload(
    docker_reference: str, digest: str, optional: Mapping[str, object] | None = None
) -> bytes:
    """The simplesigning payload cosign signs, byte for byte as its Go code writes it
    (``{"critical":{"identity":...,"image":...,"type":...},"optional":null}``)."""
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": dict(optional) if optional is not None else None,
    }
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class SignatureLayer:
    """One signature as a layer: the payload blob and the annotation's text (None: no
    annotation at all)."""

    payload: bytes
    signature: str | None
    media_type: str = SIMPLESIGNING

    @property
    def signature_bytes(self) -> bytes:
        assert self.signature is not None
        return base64.b64decode(self.signature)


def signed_layer(signer: Signer, docker_reference: str, digest: str) -> SignatureLayer:
    """A proper signature of ``digest`` in ``docker_reference`` by ``signer``."""
    body = payload(docker_reference, digest)
    return SignatureLayer(body, base64.b64encode(signer.sign(body)).decode())


def signature_tag(digest: str) -> str:
    """``sha256:<hex>`` -> ``sha256-<hex>.sig``."""
    return digest.replace(":", "-", 1) + ".sig"


def _manifest(
    layers: Sequence[SignatureLayer], subject: Mapping[str, object] | None
) -> tuple[list[bytes], bytes]:
    diff_ids = [_sha256(layer.payload) for layer in layers]
    config = json.dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    descriptors: list[dict[str, object]] = []
    for layer in layers:
        descriptor: dict[str, object] = {
            "mediaType": layer.media_type,
            "size": len(layer.payload),
            "digest": _sha256(layer.payload),
        }
        if layer.signature is not None:
            descriptor["annotations"] = {SIGNATURE_ANNOTATION: layer.signature}
        descriptors.append(descriptor)
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": _sha256(config)},
        "layers": descriptors,
    }
    if subject is not None:
        document["artifactType"] = ARTIFACT_TYPE
        document["subject"] = dict(subject)
    return [config, *(layer.payload for layer in layers)], json.dumps(
        document, separators=(",", ":")
    ).encode()


def push_signatures(
    registry_url: str,
    repository: str,
    digest: str,
    layers: Sequence[SignatureLayer],
    *,
    referrer: bool = False,
    subject_media_type: str = OCI_MANIFEST,
    subject_size: int = 0,
) -> str:
    """Push a signature manifest holding ``layers`` for ``digest``: tagged
    ``sha256-<hex>.sig``, or with ``referrer`` as an OCI 1.1 referrer (by digest, with a
    ``subject``). Returns the signature manifest's digest."""
    subject = (
        {"mediaType": subject_media_type, "digest": digest, "size": subject_size}
        if referrer
        else None
    )
    blobs, body = _manifest(layers, subject)
    with httpx.Client(timeout=30.0) as client:
        for blob in blobs:
            _upload_blob(client, registry_url, repository, blob)
        reference = _sha256(body) if referrer else signature_tag(digest)
        return _put_manifest(client, registry_url, repository, reference, body, OCI_MANIFEST)


def push_referrers_tag(
    registry_url: str, repository: str, digest: str, referrers: Sequence[str]
) -> str:
    """The OCI 1.1 referrers tag schema, for registries without the referrers API: an
    index tagged ``sha256-<hex>`` listing ``referrers`` (signature manifests)."""
    entries = []
    with httpx.Client(timeout=30.0) as client:
        for child in referrers:
            body = client.get(
                f"{registry_url}/v2/{repository}/manifests/{child}",
                headers={"Accept": OCI_MANIFEST},
            ).content
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child,
                    "size": len(body),
                    "artifactType": ARTIFACT_TYPE,
                }
            )
        index = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries},
            separators=(",", ":"),
        ).encode()
        tag = digest.replace(":", "-", 1)
        return _put_manifest(client, registry_url, repository, tag, index, OCI_INDEX)


def sign_image(
    registry_url: str,
    repository: str,
    digest: str,
    signer: Signer,
    *,
    docker_reference: str | None = None,
    referrer: bool = False,
) -> SignatureLayer:
    """Sign ``digest`` of ``repository`` as ``cosign sign --key`` does (the payload names
    ``docker_reference``, by default the registry's host and the repository) and push the
    signature. Returns the layer, for an independent check."""
    host = httpx.URL(registry_url).netloc.decode()
    layer = signed_layer(signer, docker_reference or f"{host}/{repository}", digest)
    push_signatures(registry_url, repository, digest, [layer], referrer=referrer)
    return layer
