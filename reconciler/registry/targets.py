"""Where one registry operation talks to, and how its failures are worded.

Owns: :class:`Target` (registry, repository, scheme, pull scope and pull secrets, fixed for
the life of one operation), building one from a qualified reference, and :meth:`Target.fail`,
the one place a :class:`ResolveError` message gets its ``registry/repository:`` prefix.

Must not: import httpx or do I/O; parse reference text (``reconciler.core.references``
does); put a URL query, a token or a password into a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core.references import ImageReference, registry_endpoint_host
from reconciler.registry import errors as e
from reconciler.registry.errors import ResolveError

__all__ = ["Target", "target_for"]


@dataclass(frozen=True)
class Target:
    """Where one operation talks to; fixed for the life of the request."""

    registry: str
    repository: str
    insecure: bool
    repo_base: str  # scheme://host/v2/<repo>/
    scope: str
    pull_secrets: tuple[str, ...] = ()
    # For messages: whose request this is, and the name the manifest gave the registry.
    namespace: str | None = None
    logical_registry: str | None = None

    @property
    def base(self) -> str:
        return self.repo_base + "manifests/"

    @property
    def auth_key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.registry, self.scope, self.pull_secrets)

    def fail(self, reason: str, detail: str) -> ResolveError:
        """The error for ``detail`` about this repository (to raise)."""
        return ResolveError(
            reason, f"{self.registry}/{self.repository}: {detail}", registry=self.registry
        )


def target_for(
    ref: ImageReference,
    insecure: bool,
    pull_secrets: tuple[str, ...],
    *,
    namespace: str | None = None,
    logical_registry: str | None = None,
) -> Target:
    """The target for a qualified reference: ``https`` unless ``insecure`` (then plain
    ``http``: no https attempt first, never a silent fallback from one to the other)."""
    if ref.registry is None:
        raise ResolveError(
            e.BAD_REQUEST,
            f"{ref}: unqualified reference; qualify it with a search registry first",
            registry="",
        )
    scheme = "http" if insecure else "https"
    host = registry_endpoint_host(ref.registry)
    return Target(
        registry=ref.registry,
        repository=ref.repository,
        insecure=insecure,
        repo_base=f"{scheme}://{host}/v2/{ref.repository}/",
        scope=f"repository:{ref.repository}:pull",
        pull_secrets=pull_secrets,
        namespace=namespace,
        logical_registry=logical_registry,
    )
