"""The signed-image gate in a pass: between "the registry answered a digest" and "pin
it". A tag that requires a signature (``reconciler.core.signatures.requirements``) has its
new digest verified against the keys the requirement names (the repo's, from
``.reconciler.yaml``, and the machine's, from ``--signature-key``); a digest that is not
verified becomes a ``SignatureVerified=False`` failure, so the last good digest stays.

A digest the lock already records as verified by a key that still answers the
requirement is not verified again; verdicts are cached by digest for the life of the
process (``reconciler.registry.signatures.PROCESS_CACHE``: a daemon's passes share it).
A tag pinned before its requirement existed (or before its key changed) has its pinned
digest verified once, without asking for the tag again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from reconciler.config.settings import Settings
from reconciler.core import signatures
from reconciler.core.lockfile import SIGNATURE_VERIFIED, Lock
from reconciler.core.manifests import ManifestObject
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.resolution import DesiredTags, Failure, Outcome, Resolution, repository_of
from reconciler.core.signatures import Refused, Requirement
from reconciler.core.streams import TagRef
from reconciler.registry.client import RegistryClient
from reconciler.registry.publickeys import KeyLoadError, PublicKey, load_public_key
from reconciler.registry.signatures import SignatureCache, SignatureCheck, check_signatures


@dataclass
class Gate:
    """What the gate knows in one pass: the tags that require a signature, the keys that
    can be used by name, and why the others cannot."""

    required: dict[TagRef, Requirement] = field(default_factory=dict)
    keys: dict[str, PublicKey] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)  # name -> why
    notes: list[str] = field(default_factory=list)

    @property
    def fingerprints(self) -> dict[str, str]:
        return {name: key.fingerprint for name, key in self.keys.items()}

    def apply(
        self,
        outcomes: Mapping[TagRef, Outcome],
        old_lock: Lock,
        desired: DesiredTags,
        config: RepoConfig,
        settings: Settings,
        client: RegistryClient | None,
        cache: SignatureCache | None = None,
        scope: Collection[TagRef] | None = None,
    ) -> dict[TagRef, Outcome]:
        """``outcomes`` with every answer for a gated tag verified: a Resolution that
        carries the key that verified it, or a SignatureVerified failure. Gated tags whose
        pinned digest the lock does not record as verified get an outcome too (their
        pinned digest, verified). Offline (no client) an unverified answer is dropped:
        the tag stays as it was."""
        if not self.required:
            return dict(outcomes)
        out = dict(outcomes)
        fingerprints = self.fingerprints
        for ref in signatures.unverified_pins(old_lock, self.required, fingerprints):
            entry = old_lock.get(ref)
            if ref in out or (scope is not None and ref not in scope):
                continue
            if entry is not None and entry.digest and entry.resolved_from:
                out[ref] = Resolution(entry.digest, entry.resolved_from)
        checks: dict[TagRef, SignatureCheck] = {}
        for ref, outcome in sorted(out.items()):
            requirement = self.required.get(ref)
            if requirement is None or not isinstance(outcome, Resolution):
                continue
            keys = tuple(self.keys[n] for n in requirement.keys if n in self.keys)
            if not keys:
                out[ref] = self._no_key(outcome.digest, requirement)
                continue
            record = signatures.still_verified(
                old_lock.get(ref), outcome.digest, requirement, fingerprints
            )
            if record is not None:
                out[ref] = replace(outcome, signature=record)
                continue
            if client is None:
                del out[ref]
                continue
            checks[ref] = SignatureCheck(
                repository=repository_of(outcome.source),
                digest=outcome.digest,
                keys=keys,
                index_digest=outcome.index_digest,
                insecure=desired.sources[ref].insecure,
                pull_secrets=config.pull_secrets.for_namespace(ref.namespace),
            )
        if not checks or client is None:
            return out
        verdicts = check_signatures(
            checks, client, settings.registries, allowed=settings.allowed, cache=cache
        )
        for ref, verdict in verdicts.items():
            outcome = out[ref]
            assert isinstance(outcome, Resolution)
            if isinstance(verdict, Refused):
                out[ref] = Failure(
                    verdict.reason,
                    signatures.refusal_message(verdict, outcome.digest, self.required[ref]),
                    SIGNATURE_VERIFIED,
                )
            else:
                out[ref] = replace(outcome, signature=verdict)
        return out

    def _no_key(self, digest: str, requirement: Requirement) -> Failure:
        why = "; ".join(
            f"{name}: {self.unusable.get(name, 'not configured')}" for name in requirement.keys
        )
        refused = Refused(signatures.KEY_UNAVAILABLE, f"no key it names can be used ({why})")
        return Failure(
            refused.reason,
            signatures.refusal_message(refused, digest, requirement),
            SIGNATURE_VERIFIED,
        )


NOT_CONFIGURED = (
    "not configured: define it in .reconciler.yaml signatures.keys, or on this machine "
    "with --signature-key NAME=FILE (RECONCILER_SIGNATURE_KEYS, the daemon's signatures.keys)"
)


def prepare(
    config: RepoConfig,
    settings: Settings,
    streams: Sequence[ManifestObject],
    desired: DesiredTags,
) -> Gate:
    """The gate for this pass: which tags require a signature, and the keys, loaded."""
    required = signatures.requirements(streams, desired.sources, config.signatures)
    if not required:
        return Gate()
    texts, notes = signatures.key_texts(config.signatures, settings.signature_keys)
    gate = Gate(required=required, notes=notes)
    named = {name for requirement in required.values() for name in requirement.keys}
    for name in sorted(named):
        text = texts.get(name)
        if text is None:
            gate.unusable[name] = NOT_CONFIGURED
            continue
        if text.pem is None:
            gate.unusable[name] = f"{text.origin}: {text.problem or 'cannot be read'}"
            continue
        try:
            gate.keys[name] = load_public_key(name, text.pem)
        except KeyLoadError as exc:
            gate.unusable[name] = f"{text.origin}: {exc}"
    return gate
