"""The signed-image gate, as data: which tags require a signature and by which keys, what
a cosign signature's signed payload says, and the verdicts a check returns.

Owns:
- the settings: ``.reconciler.yaml``'s ``signatures`` section (public keys in the repo by
  name, the repo-wide and per-namespace requirement) and the stream annotation
  ``imagestream-reconciler.io/require-signature`` (its syntax is checked by the
  ImageStream schema); the rule that the most specific one applies to a tag (stream,
  then namespace, then repo);
- the screening of a key's text: one PEM ``PUBLIC KEY`` block, and anything that looks
  like a private key refused;
- the simplesigning payload cosign signs (``critical.identity.docker-reference``,
  ``critical.image.docker-manifest-digest``, ``critical.type``), parsed strictly, and the
  check that it names the digest being pinned and the tag's repository;
- the verdicts (:class:`~reconciler.core.lockfile.SignatureRecord` when a key verified
  it, :class:`Refused` with a CamelCase reason when not), which refusal says the most
  when several signatures fail, and whether the lock already records a verification
  that still holds (a pass where nothing changed does not verify again).

Must not: do cryptography, fetch anything or read files: ``reconciler.registry.publickeys``
verifies, ``reconciler.registry.signatures`` fetches, ``reconciler.files.keyfiles`` reads
the repo's key files, and the pass (``reconciler.passes.signatures``) joins them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.core.cosignpayload import SignedClaims, signed_repository
from reconciler.core.lockfile import Lock, SignatureRecord, TagLock, TagSource
from reconciler.core.manifests import ManifestObject
from reconciler.core.streams import DOCKER_IMAGE, TagRef
from reconciler.core.violations import Violation

# The stream annotation: a comma-separated list of key names, any one of which suffices.
REQUIRE_ANNOTATION = "imagestream-reconciler.io/require-signature"

# Reasons of a SignatureVerified=False condition (CamelCase, like OpenShift's).
UNSIGNED = "Unsigned"  # no signature at all for the digest
UNTRUSTED = "UntrustedSignature"  # signatures, none verified by a required key
SIGNED_DIGEST_MISMATCH = "SignedDigestMismatch"  # a required key signed another digest
SIGNED_IDENTITY_MISMATCH = "SignedIdentityMismatch"  # ... another repository
MALFORMED = "MalformedSignature"  # the signature manifest, layer or payload is corrupt
KEY_UNAVAILABLE = "SignatureKeyUnavailable"  # no required key can be used
SIGNATURES_UNAVAILABLE = "SignaturesUnavailable"  # the registry would not say

# When several signatures of one digest all fail, the reason that says the most wins:
# a required key that signed something else beats a signature by an unknown key, which
# beats garbage, which beats a registry that would not answer, which beats nothing.
_RANK = {
    SIGNED_DIGEST_MISMATCH: 6,
    SIGNED_IDENTITY_MISMATCH: 5,
    UNTRUSTED: 4,
    MALFORMED: 3,
    SIGNATURES_UNAVAILABLE: 2,
    UNSIGNED: 1,
}

KEY_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_PEM_BLOCK_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_PEM_BEGIN_RE = re.compile(r"-----BEGIN ([^-\r\n]*)-----")
# "PRIVATE KEY" in any PEM label (PKCS#8, "EC PRIVATE KEY", "RSA PRIVATE KEY", cosign's
# "ENCRYPTED COSIGN PRIVATE KEY" and "ENCRYPTED SIGSTORE PRIVATE KEY", "OPENSSH PRIVATE
# KEY", PGP's "PRIVATE KEY BLOCK"), anywhere in the text.
_PRIVATE_RE = re.compile(r"PRIVATE\s+KEY", re.IGNORECASE)
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
MAX_KEY_BYTES = 64 * 1024


# -- settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyText:
    """A configured public key before any cryptography: its ``name``, its PEM text
    (None when it could not be read) and ``origin`` (where it was configured, for
    messages); ``problem`` says why it cannot be used."""

    name: str
    pem: str | None
    origin: str
    problem: str | None = None


@dataclass(frozen=True)
class RepoKey:
    """One entry of ``signatures.keys`` in ``.reconciler.yaml``: ``written`` is the value
    as written (a repo-relative path, or the PEM text itself); ``pem`` the key's text,
    filled in by ``reconciler.files.keyfiles`` for a path."""

    name: str
    written: str
    pem: str | None = None
    problem: str | None = None

    @property
    def inline(self) -> bool:
        """The value is the key itself rather than a path to it."""
        return self.written.lstrip().startswith("-----BEGIN")

    def text(self) -> KeyText:
        """The key as the pass uses it."""
        where = ".reconciler.yaml signatures.keys." + self.name
        origin = where if self.inline else f"{where} ({self.written})"
        return KeyText(self.name, self.pem, origin, self.problem)


@dataclass(frozen=True)
class SignatureConfig:
    """``.reconciler.yaml``'s ``signatures``: keys by name, the key names the whole repo
    requires, and per-namespace requirements (``namespaces``, sorted pairs)."""

    keys: tuple[RepoKey, ...] = ()
    require: tuple[str, ...] = ()
    namespaces: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def for_namespace(self, namespace: str) -> tuple[str, ...]:
        """The key names ``namespace``'s setting requires (empty: none set there)."""
        return dict(self.namespaces).get(namespace, ())


@dataclass(frozen=True)
class Requirement:
    """A tag must carry a signature by one of ``keys`` (names) before a digest is pinned;
    ``origin`` says which setting asked, for messages."""

    keys: tuple[str, ...]
    origin: str

    def describe(self) -> str:
        """``"a signature by release or partner (the stream's annotation ...)"``."""
        return f"a signature by {' or '.join(self.keys)} ({self.origin})"


def key_names(value: object) -> tuple[str, ...] | str:
    """Key names from a list, or from a comma-separated string (the annotation's form);
    a problem (str) when empty or when a name is not ``[A-Za-z0-9][A-Za-z0-9._-]*``."""
    if isinstance(value, str):
        items: list[object] = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        items = list(value)
    else:
        return "must be a key name or a list of key names"
    names: list[str] = []
    for item in items:
        if not isinstance(item, str) or not KEY_NAME_RE.fullmatch(item):
            return f"{item!r} is not a key name ([A-Za-z0-9][A-Za-z0-9._-]*, at most 63)"
        if item not in names:
            names.append(item)
    if not names:
        return "names no key"
    return tuple(names)


def _position(node: Any, path: Sequence[str | int]) -> tuple[int, int]:
    """Line and column (1-based) of ``path`` in a ruamel round-trip node, as far as it
    goes (the key of the last step found)."""
    line, column = 0, 0
    for step in path:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and step in node and lc is not None:
                line, column = lc.key(step)
                node = node[step]
            elif isinstance(node, list) and isinstance(step, int) and lc is not None:
                line, column = lc.item(step)
                node = node[step]
            else:
                break
        except Exception:  # positions are a courtesy; never fail on them
            break
    return int(line) + 1, int(column) + 1


def parse_signature_config(data: Any, file: str) -> tuple[SignatureConfig, list[Violation]]:
    """The ``signatures`` section of ``.reconciler.yaml`` (``data`` is the whole file's
    round-trip mapping). Problems are violations placed at the field; a setting that is
    wrong is left out, and a requirement that cannot be read requires a key no one has
    (``(invalid)``), so a typo fails closed: nothing is pinned unverified."""
    section = data.get("signatures") if isinstance(data, dict) else None
    if section is None:
        return SignatureConfig(), []
    problems: list[Violation] = []

    def bad(path: tuple[str | int, ...], message: str) -> None:
        line, column = _position(data, ("signatures", *path))
        where = ".".join(str(p) for p in ("signatures", *path))
        problems.append(Violation(file, line, column, "", where, message))

    if not isinstance(section, dict):
        bad((), "must be a mapping with keys, require and namespaces")
        return SignatureConfig(require=("(invalid)",)), problems
    for key in section:
        if key not in ("keys", "require", "namespaces"):
            bad((str(key),), "unknown setting (known: keys, namespaces, require)")

    keys: list[RepoKey] = []
    raw_keys = section.get("keys", {})
    if not isinstance(raw_keys, dict):
        bad(("keys",), "must map key names to public key files (or PEM text)")
        raw_keys = {}
    for name, value in raw_keys.items():
        if not isinstance(name, str) or not KEY_NAME_RE.fullmatch(name):
            bad(("keys", str(name)), f"{name!r} is not a key name ([A-Za-z0-9][A-Za-z0-9._-]*)")
            continue
        if not isinstance(value, str) or not value.strip():
            bad(("keys", name), "must be a repo-relative path to a PEM public key, or the PEM")
            continue
        key = RepoKey(name, value)
        if key.inline:
            pem, problem = value, screen_public_key(value)
            if problem is not None:
                bad(("keys", name), problem)
            key = RepoKey(name, value, pem if problem is None else None, problem)
        keys.append(key)

    def requirement(value: object, path: tuple[str | int, ...]) -> tuple[str, ...]:
        names = key_names(value)
        if isinstance(names, str):
            bad(path, names)
            return ("(invalid)",)
        return names

    require: tuple[str, ...] = ()
    if "require" in section:
        require = requirement(section["require"], ("require",))
    namespaces: dict[str, tuple[str, ...]] = {}
    raw_namespaces = section.get("namespaces", {})
    if not isinstance(raw_namespaces, dict):
        bad(("namespaces",), "must map namespaces to {require: [key names]}")
        raw_namespaces = {}
    for namespace, body in raw_namespaces.items():
        if not isinstance(body, dict) or set(body) != {"require"}:
            bad(("namespaces", str(namespace)), "must be {require: [key names]}")
            namespaces[str(namespace)] = ("(invalid)",)
            continue
        namespaces[str(namespace)] = requirement(
            body["require"], ("namespaces", str(namespace), "require")
        )
    return (
        SignatureConfig(tuple(keys), require, tuple(sorted(namespaces.items()))),
        problems,
    )


def _annotations(obj: ManifestObject) -> Mapping[str, object]:
    raw = obj.metadata.get("annotations")
    return raw if isinstance(raw, dict) else {}


def requirements(
    streams: Iterable[ManifestObject], sources: Mapping[TagRef, TagSource], config: SignatureConfig
) -> dict[TagRef, Requirement]:
    """Which tags require a signature, and by which keys: every tag imported from a
    registry (``DockerImage``, not ``reference``) whose stream carries the annotation,
    whose namespace has a ``signatures.namespaces`` entry, or, failing both, every such
    tag when the repo sets ``signatures.require``. The most specific setting applies
    alone: a stream may name other keys than its namespace, never none. Build outputs
    (tags a BuildConfig pushes) are not gated."""
    by_stream: dict[tuple[str, str], Requirement] = {}
    for stream in streams:
        value = _annotations(stream).get(REQUIRE_ANNOTATION)
        if value is None:
            continue
        names = key_names(value)
        by_stream[(stream.namespace, stream.name)] = Requirement(
            names if isinstance(names, tuple) else ("(invalid)",),
            f"annotation {REQUIRE_ANNOTATION} on the stream",
        )
    out: dict[TagRef, Requirement] = {}
    for ref, source in sources.items():
        if source.kind != DOCKER_IMAGE or source.reference:
            continue
        requirement = by_stream.get((ref.namespace, ref.stream))
        if requirement is None and config.for_namespace(ref.namespace):
            requirement = Requirement(
                config.for_namespace(ref.namespace),
                f".reconciler.yaml signatures.namespaces.{ref.namespace}",
            )
        if requirement is None and config.require:
            requirement = Requirement(config.require, ".reconciler.yaml signatures.require")
        if requirement is not None:
            out[ref] = requirement
    return out


# -- keys as text ----------------------------------------------------------------------


def looks_private(text: str) -> bool:
    """The text holds something that looks like a private key (any "PRIVATE KEY")."""
    return _PRIVATE_RE.search(text) is not None


def screen_public_key(text: str) -> str | None:
    """Why ``text`` is not usable as a public key (None when it is one PEM ``PUBLIC KEY``
    block whose body is base64). Anything that looks like a private key is refused, and
    the message never quotes the text."""
    if looks_private(text):
        return (
            "refused: this is a private key (a PRIVATE KEY block); only public keys may be "
            "configured (cosign public-key --key <key> prints the public half). A private "
            "key committed to a repository must be treated as compromised"
        )
    if len(text.encode()) > MAX_KEY_BYTES:
        return f"refused: over {MAX_KEY_BYTES} bytes, no public key is that long"
    labels = _PEM_BEGIN_RE.findall(text)
    if not labels:
        return "not a PEM public key (-----BEGIN PUBLIC KEY----- ... -----END PUBLIC KEY-----)"
    if len(labels) > 1:
        return f"holds {len(labels)} PEM blocks; give one public key per name"
    if labels[0] != "PUBLIC KEY":
        return f"a PEM {labels[0]!r} block; expected PUBLIC KEY (PKIX SubjectPublicKeyInfo)"
    match = _PEM_BLOCK_RE.search(text)
    if match is None:
        return "the PEM PUBLIC KEY block is not closed by -----END PUBLIC KEY-----"
    try:
        der = base64.b64decode("".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        return "the PEM PUBLIC KEY block is not base64"
    if not der:
        return "the PEM PUBLIC KEY block is empty"
    return None


def key_texts(
    repo: SignatureConfig, machine: Sequence[KeyText]
) -> tuple[dict[str, KeyText], list[str]]:
    """The keys by name: the machine's and the repo's; on a name both define, the
    machine's wins (a repository cannot replace a key the operator trusts), and a note
    says so."""
    keys: dict[str, KeyText] = {k.name: k.text() for k in repo.keys}
    notes: list[str] = []
    for key in machine:
        if key.name in keys:
            notes.append(
                f"signature key {key.name!r}: this machine's ({key.origin}) is used, not "
                f"{keys[key.name].origin}"
            )
        keys[key.name] = key
    return keys, notes


# -- the lock --------------------------------------------------------------------------


def still_verified(
    entry: TagLock | None,
    digest: str,
    requirement: Requirement,
    fingerprints: Mapping[str, str],
) -> SignatureRecord | None:
    """The lock's record for ``digest`` when it still answers ``requirement``: the tag is
    pinned to ``digest``, verified by a key the requirement names, and that name still
    means the same key (``fingerprints``: name -> sha256 of the key). Then nothing is
    fetched or verified again."""
    if entry is None or entry.digest != digest or entry.signature is None:
        return None
    record = entry.signature
    if record.key not in requirement.keys or fingerprints.get(record.key) != record.public_key:
        return None
    return record


def unverified_pins(
    lock: Lock, required: Mapping[TagRef, Requirement], fingerprints: Mapping[str, str]
) -> list[TagRef]:
    """Gated tags pinned to a digest the lock records no valid verification for, and not
    failing already (a requirement added to a stream, a key replaced): asked about this
    pass, so the pinned digest is verified, or flagged with a condition."""
    out = []
    for ref in sorted(required):
        entry = lock.get(ref)
        if entry is None or entry.digest is None or entry.condition is not None:
            continue
        if still_verified(entry, entry.digest, required[ref], fingerprints) is None:
            out.append(ref)
    return out


# -- the payload -----------------------------------------------------------------------


def short(digest: str | None) -> str:
    """``sha256:`` and the first 12 hex digits."""
    return digest[:19] if digest else "(none)"


@dataclass(frozen=True)
class Refused:
    """Why a digest may not be pinned: a CamelCase ``reason`` and a message for people."""

    reason: str
    message: str


Verdict = SignatureRecord | Refused


def judge_claims(
    claims: SignedClaims,
    *,
    key: str,
    public_key: str,
    digest: str,
    index_digest: str | None,
    repository: str,
) -> Verdict:
    """A payload that ``key`` verified: accepted when it names ``digest`` (or, for a
    platform image chosen from an index, that ``index_digest``) and ``repository``."""
    if claims.digest not in (digest, index_digest):
        wanted = short(digest) + (f" (or its index {short(index_digest)})" if index_digest else "")
        return Refused(
            SIGNED_DIGEST_MISMATCH,
            f"the signature by key {key} names {short(claims.digest)}, not {wanted}",
        )
    named = signed_repository(claims.docker_reference)
    if named != repository:
        return Refused(
            SIGNED_IDENTITY_MISMATCH,
            f"the signature by key {key} names repository {claims.docker_reference!r}, "
            f"not {repository}",
        )
    signed = claims.digest if claims.digest != digest else None
    return SignatureRecord(key=key, public_key=public_key, signed_digest=signed)


def strongest(refusals: Iterable[Refused]) -> Refused | None:
    """Of several refusals, the one that says the most (see ``_RANK``); the first of
    equals."""
    best: Refused | None = None
    for refusal in refusals:
        if best is None or _RANK.get(refusal.reason, 0) > _RANK.get(best.reason, 0):
            best = refusal
    return best


def refusal_message(refused: Refused, digest: str, requirement: Requirement) -> str:
    """The condition's message: what was refused, why, and what the tag requires."""
    return (
        f"{short(digest)} not pinned: {refused.message}; the tag requires {requirement.describe()}"
    )
