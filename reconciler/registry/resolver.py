"""Turns the plan's import requests into outcomes: expands unqualified names through the
search registries, routes each qualified name through registries.conf (mirrors first),
asks the registry client, and keeps the first answer in order.

The lock records the logical name (``docker.io/bitnami/apache:2.4``), never the mirror or
rewritten location that answered: the digest is the same, and the lock stays portable
between machines with different registries.conf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.core.plan import Failure, ImportRequest, Outcome, Resolution
from reconciler.core.references import ImageReference
from reconciler.core.registries import BlockedRegistry, RegistriesConf
from reconciler.core.streams import TagRef
from reconciler.registry import errors as e
from reconciler.registry.client import Platform, RegistryClient, ResolveRequest


@dataclass(frozen=True)
class _Attempt:
    logical: ImageReference
    request: ResolveRequest


def _attempts(
    req: ImportRequest, conf: RegistriesConf, platform: Platform
) -> list[_Attempt] | Failure:
    attempts: list[_Attempt] = []
    blocked: list[str] = []
    for logical in conf.expand(req.image):
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
                    ),
                )
            )
    if not attempts:
        return Failure("Blocked", "; ".join(blocked) or f"no registry to ask for {req.image}")
    return attempts


def resolve_imports(
    requests: Sequence[ImportRequest],
    client: RegistryClient,
    conf: RegistriesConf,
    platform: Platform | None = None,
) -> dict[TagRef, Outcome]:
    """Resolve every request; attempts for different tags run concurrently, a tag's own
    fallbacks (next mirror, next search registry) only after its earlier ones failed."""
    platform = platform or Platform()
    outcomes: dict[TagRef, Outcome] = {}
    plans: dict[TagRef, list[_Attempt]] = {}
    errors: dict[TagRef, list[e.ResolveError]] = {}
    for req in requests:
        attempts = _attempts(req, conf, platform)
        if isinstance(attempts, Failure):
            outcomes[req.ref] = attempts
        else:
            plans[req.ref] = attempts
            errors[req.ref] = []
    round_index = 0
    while plans:
        batch = {ref: attempts[round_index] for ref, attempts in plans.items()}
        answers = client.resolve_many(list({a.request for a in batch.values()}))
        for ref, attempt in batch.items():
            answer = answers[attempt.request]
            if isinstance(answer, e.ResolveError):
                errors[ref].append(answer)
                continue
            outcomes[ref] = Resolution(digest=answer.digest, source=str(attempt.logical))
        round_index += 1
        for ref in list(plans):
            if ref in outcomes:
                del plans[ref]
            elif round_index >= len(plans[ref]):
                outcomes[ref] = _failure(errors[ref])
                del plans[ref]
    return outcomes


def _failure(errors: Sequence[e.ResolveError]) -> Failure:
    # A definite answer (unauthorized, bad digest) says more than "not found" from the
    # other search registries; "not found everywhere" lists where we looked.
    for error in errors:
        if error.reason != e.NOT_FOUND:
            return Failure(error.reason, error.message)
    if len(errors) == 1:
        return Failure(errors[0].reason, errors[0].message)
    return Failure(e.NOT_FOUND, "not found in any of: " + "; ".join(err.message for err in errors))
