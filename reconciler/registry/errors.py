"""Why a registry lookup failed, in a form the reconcile pass can record as a condition.

Owns: :class:`ResolveError` and the reason constants (CamelCase, like OpenShift's condition
reasons) plus which of them are worth retrying. ``ResolveError`` sits in the program's one
exception tree (``reconciler.core.errors``) as a :class:`ReconcilerError` whose branch is
decided by its reason: ``retryable`` is true for the transient ones (unreachable, 5xx,
timeouts, 429, our own tag-list budget spent) and false for the permanent ones (not found,
unauthorized, forbidden, a bad manifest or digest, no matching platform, a bad request, an
untrusted certificate).

Must not: carry secrets. Messages name the registry and repository, never a token, a
password or a URL query string (token realms put credentials-adjacent state there).
"""

from __future__ import annotations

from reconciler.core.errors import ReconcilerError

__all__ = [
    "BAD_REQUEST",
    "DIGEST_MISMATCH",
    "FORBIDDEN",
    "INVALID_RESPONSE",
    "NOT_FOUND",
    "NO_MATCHING_PLATFORM",
    "REGISTRY_UNAVAILABLE",
    "REQUEST_BUDGET_SPENT",
    "RETRYABLE_REASONS",
    "TIMEOUT",
    "TLS_VERIFICATION_FAILED",
    "TOO_MANY_REQUESTS",
    "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE",
    "ResolveError",
]

NOT_FOUND = "NotFound"
UNAUTHORIZED = "Unauthorized"
FORBIDDEN = "Forbidden"
REGISTRY_UNAVAILABLE = "RegistryUnavailable"
TIMEOUT = "Timeout"
TOO_MANY_REQUESTS = "TooManyRequests"
DIGEST_MISMATCH = "DigestMismatch"
INVALID_RESPONSE = "InvalidResponse"
UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"
NO_MATCHING_PLATFORM = "NoMatchingPlatform"
BAD_REQUEST = "BadRequest"
TLS_VERIFICATION_FAILED = "TLSVerificationFailed"
# Our own limit, not the registry's: this pass may send no more tag-list requests there.
REQUEST_BUDGET_SPENT = "RequestBudgetSpent"

# Transient by nature: the same request may well succeed later. Everything else needs a
# change (to the manifest, the registry content or the credentials) before a retry helps.
RETRYABLE_REASONS = frozenset(
    {REGISTRY_UNAVAILABLE, TIMEOUT, TOO_MANY_REQUESTS, REQUEST_BUDGET_SPENT}
)


class ResolveError(ReconcilerError):
    """A tag or digest could not be resolved.

    ``reason`` is a CamelCase constant from this module, ``message`` a human sentence naming
    the registry and repository, ``registry`` the registry name as requested and
    ``retryable`` whether trying again later without changes may help (from ``reason``:
    :data:`RETRYABLE_REASONS`). ``str()`` is ``"<reason>: <message>"``.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        registry: str,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self._message = message
        self.registry = registry
        self.retryable = reason in RETRYABLE_REASONS if retryable is None else retryable

    @property
    def message(self) -> str:
        """The sentence without the reason (``str()`` carries both)."""
        return self._message

    def __repr__(self) -> str:
        return (
            f"ResolveError(reason={self.reason!r}, message={self.message!r}, "
            f"registry={self.registry!r}, retryable={self.retryable!r})"
        )

    def __eq__(self, other: object) -> bool:
        # Value equality lets callers compare outcomes of two passes (and tests compare
        # results) without caring which exception instance carried them.
        if not isinstance(other, ResolveError):
            return NotImplemented
        return (self.reason, self.message, self.registry, self.retryable) == (
            other.reason,
            other.message,
            other.registry,
            other.retryable,
        )

    def __hash__(self) -> int:
        return hash((self.reason, self.message, self.registry, self.retryable))
