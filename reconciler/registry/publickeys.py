"""Public keys and signature checks, with the ``cryptography`` package: the key types a
cosign public key (a PEM ``PUBLIC KEY``, PKIX SubjectPublicKeyInfo) may hold, and the
schemes cosign signs with for each.

==================  =============================================================
key                 signature cosign makes, and what is accepted here
==================  =============================================================
ECDSA P-256         ASN.1 DER ECDSA over SHA-256 (cosign's default key)
ECDSA P-384, P-521  DER ECDSA over SHA-384 / SHA-512 (the curve's own hash, as
                    sigstore signs), or over SHA-256 (``cosign verify``'s default)
RSA, >= 2048 bits   PKCS #1 v1.5 over SHA-256
Ed25519             pure Ed25519 over the payload (how cosign signed with Ed25519
                    keys before 2.6); Ed25519ph, its default since, is not offered by
                    ``cryptography`` and is not accepted
==================  =============================================================

Owns: loading a key (refusing a private key before anything is parsed, other key types,
weak RSA), its fingerprint (SHA-256 of the DER SubjectPublicKeyInfo, as the lock records
it) and :func:`verify`. Must not fetch or read files: keys come in as text.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from reconciler.core.signatures import screen_public_key

__all__ = ["KeyLoadError", "PublicKey", "load_public_key", "verify"]

MIN_RSA_BITS = 2048
MAX_SIGNATURE_BYTES = 1024  # RSA 8192 is 1024 bytes; an ECDSA signature is ~140

_CURVE_HASHES: dict[str, tuple[type[hashes.HashAlgorithm], ...]] = {
    "secp256r1": (hashes.SHA256,),
    "secp384r1": (hashes.SHA384, hashes.SHA256),
    "secp521r1": (hashes.SHA512, hashes.SHA256),
}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


class KeyLoadError(ValueError):
    """The text is not a public key this module can use; the message says why (never
    quoting the text)."""


@dataclass(frozen=True)
class PublicKey:
    """A loaded public key: its configured ``name``, ``fingerprint`` (``sha256:`` of the
    DER SubjectPublicKeyInfo) and ``algorithm`` for people (``ECDSA P-256``)."""

    name: str
    fingerprint: str
    algorithm: str
    key: Any = field(compare=False, repr=False)


@functools.lru_cache(maxsize=256)
def _load(pem: str) -> tuple[Any, str, str]:
    problem = screen_public_key(pem)
    if problem is not None:
        raise KeyLoadError(problem)
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"not a public key cryptography can read ({exc})") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVE_HASHES:
            raise KeyLoadError(
                f"ECDSA on curve {key.curve.name} is not a cosign key type (P-256, P-384, P-521)"
            )
        algorithm = f"ECDSA {_CURVE_NAMES[key.curve.name]}"
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyLoadError(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS}")
        algorithm = f"RSA {key.key_size}"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = "Ed25519"
    else:
        raise KeyLoadError(
            f"a {type(key).__name__.removeprefix('_')} key is not a cosign key type "
            "(ECDSA P-256/P-384/P-521, RSA, Ed25519)"
        )
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, "sha256:" + hashlib.sha256(der).hexdigest(), algorithm


def load_public_key(name: str, pem: str) -> PublicKey:
    """The key ``pem`` holds, under ``name``; raises :class:`KeyLoadError`. Cached by text:
    a daemon's passes load each key once."""
    key, fingerprint, algorithm = _load(pem)
    return PublicKey(name, fingerprint, algorithm, key)


def verify(key: PublicKey, signature: bytes, payload: bytes) -> bool:
    """Whether ``signature`` is ``key``'s over ``payload`` (see the table above)."""
    if not signature or len(signature) > MAX_SIGNATURE_BYTES:
        return False
    native = key.key
    try:
        if isinstance(native, ec.EllipticCurvePublicKey):
            for algorithm in _CURVE_HASHES[native.curve.name]:
                try:
                    native.verify(signature, payload, ec.ECDSA(algorithm()))
                    return True
                except InvalidSignature:
                    continue
            return False
        if isinstance(native, rsa.RSAPublicKey):
            native.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
            return True
        if isinstance(native, ed25519.Ed25519PublicKey):
            native.verify(signature, payload)
            return True
    except (InvalidSignature, ValueError):
        return False
    return False
