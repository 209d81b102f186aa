"""Why a registry lookup failed, in a form the reconcile pass can record as a condition.

Owns: :class:`ResolveError` and the reason constants (CamelCase, like OpenShift's condition
reasons) plus which of them are worth retrying.

Must not: carry secrets. Messages name the registry and repository, never a token, a
password or a URL query string (token realms put credentials-adjacent state there).
"""

from __future__ import annotations

__all__ = [
    "BAD_REQUEST",
    "DIGEST_MISMATCH",
    "FORBIDDEN",
    "INVALID_RESPONSE",
    "NOT_FOUND",
    "NO_MATCHING_PLATFORM",
    "REGISTRY_UNAVAILABLE",
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

# Transient by nature: the same request may well succeed later. Everything else needs a
# change (to the manifest, the registry content or the credentials) before a retry helps.
RETRYABLE_REASONS = frozenset({REGISTRY_UNAVAILABLE, TIMEOUT, TOO_MANY_REQUESTS})


class ResolveError(Exception):
    """A tag or digest could not be resolved.

    ``reason`` is a CamelCase constant from this module, ``message`` a human sentence naming
    the registry and repository, ``registry`` the registry name as requested and
    ``retryable`` whether trying again later without changes may help.
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
        self.message = message
        self.registry = registry
        self.retryable = reason in RETRYABLE_REASONS if retryable is None else retryable

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
