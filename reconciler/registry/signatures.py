"""Finding and verifying the cosign signatures of a digest, over the same client (auth,
transport, deadlines, caps) as every other registry request.

Where signatures are looked for, in the repository the image came from:

1. the tag ``sha256-<hex>.sig`` (cosign's tag-based discovery, specs/SIGNATURE_SPEC.md);
2. when none of those passes, the OCI 1.1 referrers API,
   ``GET /v2/<name>/referrers/<digest>``, for manifests of
   artifactType ``application/vnd.dev.cosign.artifact.sig.v1+json`` (cosign's
   ``--registry-referrers-mode=oci-1-1``); where the registry has no such API (a 404), the
   referrers tag schema's ``sha256-<hex>`` index instead.

Each signature manifest's layers are simplesigning payloads (a blob, read and checked
against its digest) with the base64 signature in the ``dev.cosignproject.cosign/signature``
annotation. A signature counts when a configured key verifies it
(``reconciler.registry.publickeys``) and its payload names the digest and the repository
(``reconciler.core.signatures``). With registries.conf mirrors, the places are asked in
the same order as for the image (mirrors first; one that has no signatures gives way to
the next), but the payload must name the logical repository, the one the lock records.

Owns: the discovery above, the caps on what it reads, turning what is found into a
verdict, and :class:`SignatureCache`, the verified verdicts of this process by digest.
Must not: decide which tags need a signature or what a refusal does to the lock.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from reconciler.core.allowlist import AllowedRegistry
from reconciler.core.cosignpayload import (
    COSIGN_ARTIFACT_TYPE,
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE,
    PayloadError,
    parse_payload,
)
from reconciler.core.lockfile import SignatureRecord
from reconciler.core.references import ImageReference
from reconciler.core.registries import RegistriesConf
from reconciler.core.signatures import (
    MALFORMED,
    SIGNATURES_UNAVAILABLE,
    UNSIGNED,
    UNTRUSTED,
    Refused,
    Verdict,
    judge_claims,
    short,
    strongest,
)
from reconciler.registry import errors as e
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from reconciler.registry.media_types import is_index
from reconciler.registry.places import Located, first_answer, locations
from reconciler.registry.publickeys import PublicKey, verify

__all__ = ["PROCESS_CACHE", "SignatureCache", "SignatureCheck", "check_signatures"]

# What one digest's signatures may cost, whatever a registry serves: at most
# MAX_SIGNATURES payloads of MAX_PAYLOAD_BYTES each are read from the .sig manifest, and
# as many from at most MAX_REFERRERS referrer manifests.
MAX_PAYLOAD_BYTES = 64 * 1024  # a simplesigning payload is a few hundred bytes
MAX_LAYERS = 32  # signatures in one signature manifest
MAX_REFERRERS = 16  # signature manifests read from the referrers of one digest
MAX_SIGNATURES = 32  # signatures judged from one place of discovery
MAX_SIGNATURE_TEXT = 8 * 1024  # base64 characters of one signature

K = TypeVar("K")


@dataclass(frozen=True)
class SignatureCheck:
    """One digest to verify: ``repository`` is the logical, qualified repository the lock
    records (``quay.io/org/app``), ``index_digest`` the index a ``Legacy`` platform image
    was chosen from (a signature of the index counts), ``keys`` the keys that may have
    signed it."""

    repository: str
    digest: str
    keys: tuple[PublicKey, ...]
    index_digest: str | None = None
    insecure: bool = False
    pull_secrets: tuple[str, ...] = ()


class SignatureCache:
    """Verified verdicts by (repository, digest, index digest, key fingerprint), in
    memory, least recently used first out. Only verifications are kept: a digest refused
    now may be signed a minute later (cosign signs after the push)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str, str | None, str], str | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, check: SignatureCheck) -> SignatureRecord | None:
        """A key of ``check`` that verified this digest before, as a record."""
        with self._lock:
            for key in check.keys:
                found = (check.repository, check.digest, check.index_digest, key.fingerprint)
                if found in self._entries:
                    self._entries.move_to_end(found)
                    return SignatureRecord(key.name, key.fingerprint, self._entries[found])
        return None

    def put(self, check: SignatureCheck, record: SignatureRecord) -> None:
        entry = (check.repository, check.digest, check.index_digest, record.public_key)
        with self._lock:
            self._entries[entry] = record.signed_digest
            self._entries.move_to_end(entry)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


# The verdicts of this process: a daemon's passes share them.
PROCESS_CACHE = SignatureCache()


def check_signatures(
    checks: Mapping[K, SignatureCheck],
    client: RegistryClient,
    registries: RegistriesConf,
    *,
    allowed: Sequence[AllowedRegistry] | None = None,
    cache: SignatureCache | None = None,
    max_workers: int = 8,
) -> dict[K, Verdict]:
    """A verdict for every check: a :class:`SignatureRecord` (which key verified it) or a
    :class:`Refused`. Checks run concurrently; the client bounds the requests."""
    cache = cache if cache is not None else PROCESS_CACHE
    verdicts: dict[K, Verdict] = {}
    todo: dict[SignatureCheck, list[K]] = {}
    for name, check in checks.items():
        known = cache.get(check)
        if known is not None:
            verdicts[name] = known
        else:
            todo.setdefault(check, []).append(name)
    if not todo:
        return verdicts

    def one(check: SignatureCheck) -> Verdict:
        verdict = _check(check, client, registries, allowed)
        if isinstance(verdict, SignatureRecord):
            cache.put(check, verdict)
        return verdict

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(todo)))) as pool:
        answers = dict(zip(todo, pool.map(one, todo), strict=True))
    for check, names in todo.items():
        for name in names:
            verdicts[name] = answers[check]
    return verdicts


@dataclass(frozen=True)
class _Layer:
    """One signature (a layer of a signature manifest) and where it was found."""

    where: str  # "the .sig tag" or "referrer sha256:…", for messages
    index: int
    descriptor: Mapping[str, Any]


def _check(
    check: SignatureCheck,
    client: RegistryClient,
    registries: RegistriesConf,
    allowed: Sequence[AllowedRegistry] | None,
) -> Verdict:
    try:
        places = locations(check.repository, registries, check.insecure, allowed)
    except ResolveError as error:
        return Refused(SIGNATURES_UNAVAILABLE, f"signatures cannot be read: {error.message}")
    refusals: list[Refused] = []
    for signed in dict.fromkeys(d for d in (check.digest, check.index_digest) if d):
        try:
            _, verdict = first_answer(places, _asker(client, signed, check, places))
        except ResolveError as error:
            if error.reason == e.NOT_FOUND:
                continue
            message = _logical(error.message, places)
            refusals.append(
                Refused(SIGNATURES_UNAVAILABLE, f"signatures cannot be read: {message}")
            )
            continue
        if isinstance(verdict, SignatureRecord):
            return verdict
        refusals.append(verdict)
    if not refusals:
        what = (
            "it" if check.index_digest is None else f"it or its index {short(check.index_digest)}"
        )
        return Refused(
            UNSIGNED,
            f"no cosign signature for {what} in {check.repository} "
            "(no sha256-<hex>.sig tag, no signature referrer)",
        )
    best = strongest(refusals)
    assert best is not None
    return best


def _asker(
    client: RegistryClient, digest: str, check: SignatureCheck, places: Sequence[Located]
) -> Callable[[Located], Verdict]:
    def ask(place: Located) -> Verdict:
        return _verdict_at(client, place, digest, check, places)

    return ask


def _tag(place: Located, tag: str) -> ImageReference:
    return ImageReference(place.endpoint.registry, place.endpoint.repository, tag=tag)


def _verdict_at(
    client: RegistryClient,
    place: Located,
    digest: str,
    check: SignatureCheck,
    places: Sequence[Located],
) -> Verdict:
    """The verdict on ``digest``'s signatures at ``place``: those of the ``.sig`` tag
    first, and only when none of them passes, its referrers. Raises ResolveError NotFound
    when there are none, so that the next place is asked, or the first other error when
    nothing could be read."""
    errors: list[ResolveError] = []
    refusals: list[Refused] = []

    def read(reference: ImageReference, where: str) -> list[_Layer | Refused]:
        try:
            body, media_type = client.manifest(
                reference, insecure=place.insecure, pull_secrets=check.pull_secrets
            )
        except ResolveError as error:
            if error.reason in (e.INVALID_RESPONSE, e.UNSUPPORTED_MEDIA_TYPE, e.DIGEST_MISMATCH):
                return [Refused(MALFORMED, f"{where}: {_tail(error.message)}")]
            if error.reason != e.NOT_FOUND:
                errors.append(error)
            return []
        return _layers(body, media_type, where)

    def tagged() -> list[_Layer | Refused]:
        return read(
            _tag(place, digest.replace(":", "-", 1) + ".sig"), "the .sig signature manifest"
        )

    def referred() -> list[_Layer | Refused]:
        found: list[_Layer | Refused] = []
        for child in _referrers(client, place, digest, check, errors)[:MAX_REFERRERS]:
            found += read(place.endpoint.with_digest(child), f"signature referrer {short(child)}")
        return found

    for discover in (tagged, referred):
        found = discover()
        if not found:
            continue
        verdict = _judge(found, place, check, client, places)
        if isinstance(verdict, SignatureRecord):
            return verdict
        refusals.append(verdict)
    best = strongest(refusals)
    if best is not None:
        return best
    if errors:
        raise errors[0]
    raise ResolveError(e.NOT_FOUND, "no signatures", registry=place.endpoint.registry or "")


def _referrers(
    client: RegistryClient,
    place: Located,
    digest: str,
    check: SignatureCheck,
    errors: list[ResolveError],
) -> list[str]:
    """The digests of ``digest``'s cosign signature referrers: from the referrers API, or
    where the registry has none, from the referrers tag schema's ``sha256-<hex>`` index."""
    try:
        descriptors = client.referrers(
            place.endpoint,
            digest,
            artifact_type=COSIGN_ARTIFACT_TYPE,
            insecure=place.insecure,
            pull_secrets=check.pull_secrets,
        )
        if descriptors is None:
            body, media_type = client.manifest(
                _tag(place, digest.replace(":", "-", 1)),
                insecure=place.insecure,
                pull_secrets=check.pull_secrets,
            )
            if not is_index(media_type):
                return []
            descriptors = _of_type(body, COSIGN_ARTIFACT_TYPE)
    except ResolveError as error:
        if error.reason != e.NOT_FOUND:
            errors.append(error)
        return []
    return [str(d["digest"]) for d in descriptors if isinstance(d.get("digest"), str)]


def _of_type(body: bytes, artifact_type: str) -> list[dict[str, Any]]:
    """The descriptors of ``artifact_type`` in an index already parsed as one."""
    manifests = json.loads(body).get("manifests", [])
    return [m for m in manifests if isinstance(m, dict) and m.get("artifactType") == artifact_type]


def _layers(body: bytes, media_type: str, where: str) -> list[_Layer | Refused]:
    """The signatures a signature manifest holds: its layers (a manifest already parsed
    and checked by the client, so layers are valid descriptors)."""
    if is_index(media_type):
        return [Refused(MALFORMED, f"{where} is an index, not a signature manifest")]
    layers = json.loads(body).get("layers", [])
    if not layers:
        return [Refused(MALFORMED, f"{where} has no layers (no signatures)")]
    if len(layers) > MAX_LAYERS:
        return [Refused(MALFORMED, f"{where} has {len(layers)} layers, over {MAX_LAYERS}")]
    return [_Layer(where, i, layer) for i, layer in enumerate(layers)]


def _judge(
    found: Iterable[_Layer | Refused],
    place: Located,
    check: SignatureCheck,
    client: RegistryClient,
    places: Sequence[Located],
) -> Verdict:
    """The first signature a key verifies and whose payload names the digest and the
    repository wins; else the refusal that says the most."""
    refusals: list[Refused] = []
    judged = 0
    for item in found:
        if isinstance(item, Refused):
            refusals.append(item)
            continue
        judged += 1
        if judged > MAX_SIGNATURES:
            refusals.append(Refused(MALFORMED, f"more than {MAX_SIGNATURES} signatures"))
            break
        verdict = _judge_layer(item, place, check, client, places)
        if isinstance(verdict, SignatureRecord):
            return verdict
        refusals.append(verdict)
    best = strongest(refusals)
    assert best is not None  # found is never empty
    return best


def _judge_layer(
    layer: _Layer,
    place: Located,
    check: SignatureCheck,
    client: RegistryClient,
    places: Sequence[Located],
) -> Verdict:
    where = f"layer {layer.index} of {layer.where}"
    descriptor = layer.descriptor
    if descriptor.get("mediaType") != SIMPLESIGNING_MEDIA_TYPE:
        return Refused(
            MALFORMED,
            f"{where} is {descriptor.get('mediaType')!r}, not a simplesigning payload "
            f"({SIMPLESIGNING_MEDIA_TYPE})",
        )
    annotations = descriptor.get("annotations")
    text = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(text, str) or not text:
        return Refused(MALFORMED, f"{where} has no {SIGNATURE_ANNOTATION} annotation")
    if len(text) > MAX_SIGNATURE_TEXT:
        return Refused(MALFORMED, f"{where}: the signature is over {MAX_SIGNATURE_TEXT} characters")
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return Refused(MALFORMED, f"{where}: the signature annotation is not base64")
    size = descriptor.get("size")
    if not isinstance(size, int) or size > MAX_PAYLOAD_BYTES:
        return Refused(MALFORMED, f"{where}: a payload of {size} bytes, over {MAX_PAYLOAD_BYTES}")
    try:
        payload = client.blob(
            place.endpoint,
            str(descriptor.get("digest")),
            max_bytes=MAX_PAYLOAD_BYTES,
            insecure=place.insecure,
            pull_secrets=check.pull_secrets,
        )
    except ResolveError as error:
        message = _logical(error.message, places)
        if error.reason in (e.NOT_FOUND, e.DIGEST_MISMATCH, e.INVALID_RESPONSE):
            return Refused(MALFORMED, f"{where}: its payload cannot be read: {_tail(message)}")
        return Refused(SIGNATURES_UNAVAILABLE, f"{where}: its payload cannot be read: {message}")
    try:
        claims = parse_payload(payload)
    except PayloadError as error:
        return Refused(
            MALFORMED, f"{where}: the payload is not a cosign simplesigning payload: {error}"
        )
    for key in check.keys:
        if verify(key, signature, payload):
            return judge_claims(
                claims,
                key=key.name,
                public_key=key.fingerprint,
                digest=check.digest,
                index_digest=check.index_digest,
                repository=check.repository,
            )
    names = ", ".join(f"{k.name} ({short(k.fingerprint)})" for k in check.keys)
    return Refused(UNTRUSTED, f"the signature in {where} is not by key {names}")


def _tail(message: str) -> str:
    """A registry error without its ``registry/repository:`` prefix (the condition's
    message names the repository once)."""
    return message.split(": ", 1)[1] if ": " in message else message


def _logical(message: str, places: Sequence[Located]) -> str:
    """A registry error in the lock's terms: the logical repository, never a mirror's."""
    for place in places:
        if place.endpoint.name != place.logical.name:
            message = message.replace(place.endpoint.name, place.logical.name)
    return message
