"""Turns the plan's import requests into outcomes.

Owns: expanding unqualified names through the search registries, routing each qualified
name through registries.conf (mirrors first) and the import allow-list, asking the registry
client, keeping the first answer in order, and wording a failure in the lock's terms.

The lock records the logical name (``docker.io/bitnami/apache:2.4``), never the mirror or
rewritten location that answered: the digest is the same, and the lock stays portable
between machines with different registries.conf.

Must not: talk HTTP itself (the client does), move on to the next search registry after
any answer but "not found" (another registry's image of the same name would move the tag),
or put a mirror's name into an outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.core.allowlist import AllowedRegistry, check_import_allowed
from reconciler.core.platforms import Platform
from reconciler.core.references import ImageReference
from reconciler.core.registries import BlockedRegistry, RegistriesConf
from reconciler.core.resolution import Failure, ImportRequest, Outcome, Resolution
from reconciler.core.streams import TagRef
from reconciler.registry import errors as e
from reconciler.registry.client import RegistryClient
from reconciler.registry.models import ResolveRequest


@dataclass(frozen=True)
class _Attempt:
    logical: ImageReference
    request: ResolveRequest


NOT_ALLOWED = "NotAllowed"


def _attempts(
    req: ImportRequest,
    conf: RegistriesConf,
    platform: Platform,
    allowed: Sequence[AllowedRegistry] | None = None,
    pull_secrets: tuple[str, ...] = (),
) -> list[_Attempt] | Failure:
    attempts: list[_Attempt] = []
    blocked: list[str] = []
    refused: list[str] = []
    for logical in conf.expand(req.image):
        # The allow-list judges the name as written (qualified), never a mirror.
        reason = check_import_allowed(logical, req.insecure, allowed)
        if reason is not None:
            refused.append(reason)
            continue
        try:
            endpoints = conf.endpoints(logical, req.insecure)
        except BlockedRegistry as exc:
            blocked.append(str(exc))
            continue
        for endpoint in endpoints:
            attempts.append(
                _Attempt(
                    logical,
                    ResolveRequest(
                        reference=endpoint.reference,
                        insecure=endpoint.insecure,
                        import_mode=req.import_mode,
                        platform=platform,
                        pull_secrets=pull_secrets,
                        known_digest=req.known_digest,
                        namespace=req.ref.namespace,
                        logical_registry=logical.registry,
                    ),
                )
            )
    if not attempts:
        if refused and not blocked:
            return Failure(NOT_ALLOWED, "; ".join(refused))
        reasons = blocked + refused
        return Failure("Blocked", "; ".join(reasons) or f"no registry to ask for {req.image}")
    return attempts


def resolve_imports(
    requests: Sequence[ImportRequest],
    client: RegistryClient,
    conf: RegistriesConf,
    platform: Platform | None = None,
    *,
    allowed: Sequence[AllowedRegistry] | None = None,
    pull_secrets: Callable[[ImportRequest], tuple[str, ...]] | None = None,
    platform_for: Callable[[ImportRequest], Platform] | None = None,
) -> dict[TagRef, Outcome]:
    """Resolve every request; attempts for different tags run concurrently, a tag's own
    fallbacks (next mirror, next search registry) only after its earlier ones failed.

    ``allowed`` is ``allowedRegistriesForImport`` (``None``: no allow-list): a name outside
    it fails with reason ``NotAllowed`` and no request is made. ``pull_secrets`` gives the
    pull secrets a request's namespace uses; ``platform_for`` a per-request
    platform (e.g. from the stream's prefer-arch annotations), else ``platform``.
    """
    platform = platform or Platform()
    outcomes: dict[TagRef, Outcome] = {}
    plans: dict[TagRef, list[_Attempt]] = {}
    errors: dict[TagRef, list[tuple[_Attempt, e.ResolveError]]] = {}
    for req in requests:
        attempts = _attempts(
            req,
            conf,
            platform_for(req) if platform_for is not None else platform,
            allowed,
            pull_secrets(req) if pull_secrets is not None else (),
        )
        if isinstance(attempts, Failure):
            outcomes[req.ref] = attempts
        else:
            plans[req.ref] = attempts
            errors[req.ref] = []
    round_index = 0
    while plans:
        batch = {ref: attempts[round_index] for ref, attempts in plans.items()}
        answers = client.resolve_many(list({a.request for a in batch.values()}))
        stopped: set[TagRef] = set()
        for ref, attempt in batch.items():
            answer = answers[attempt.request]
            if isinstance(answer, e.ResolveError):
                errors[ref].append((attempt, answer))
                following = plans[ref][round_index + 1 : round_index + 2]
                moves_on = bool(following) and following[0].logical != attempt.logical
                if moves_on and answer.reason != e.NOT_FOUND:
                    # Only "not here" moves on to the next search registry: a registry that
                    # is down or refuses us may well hold the image, and taking another
                    # registry's image of the same name would move the tag.
                    stopped.add(ref)
                continue
            outcomes[ref] = Resolution(
                digest=answer.digest,
                source=str(attempt.logical),
                index_digest=answer.index_digest,
            )
        round_index += 1
        for ref in list(plans):
            if ref in outcomes:
                del plans[ref]
            elif ref in stopped or round_index >= len(plans[ref]):
                outcomes[ref] = _failure(errors[ref])
                del plans[ref]
    return outcomes


def _logical_message(attempt: _Attempt, error: e.ResolveError) -> str:
    """The error in the lock's terms: the logical name, not the mirror or rewritten
    location that answered (the lock must read the same on every machine)."""
    physical = attempt.request.reference
    message = error.message
    if physical.name != attempt.logical.name:
        message = message.replace(physical.name, attempt.logical.name)
    if (
        physical.registry
        and attempt.logical.registry
        and physical.registry != attempt.logical.registry
    ):
        message = message.replace(physical.registry, attempt.logical.registry)
    return message


def _failure(errors: Sequence[tuple[_Attempt, e.ResolveError]]) -> Failure:
    # A definite answer (unauthorized, bad digest) says more than "not found" from the
    # other search registries; "not found everywhere" lists where we looked.
    for attempt, error in errors:
        if error.reason != e.NOT_FOUND:
            return Failure(error.reason, _logical_message(attempt, error))
    if len(errors) == 1:
        attempt, error = errors[0]
        return Failure(error.reason, _logical_message(attempt, error))
    places = dict.fromkeys(_logical_message(a, err) for a, err in errors)
    return Failure(e.NOT_FOUND, "not found in any of: " + "; ".join(places))
