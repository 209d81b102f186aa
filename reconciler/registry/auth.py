"""Registry authentication as an ``httpx.Auth`` generator flow.

Owns: answering a registry's ``WWW-Authenticate`` challenge: Bearer tokens from the realm it
names (``GET`` with Basic credentials, or the OAuth2 refresh-token grant for an identity
token; ``expires_in`` with the spec's 60 s floor, renewed early), re-challenge on a revoked
token and on 403 ``insufficient_scope`` (asking for the scope the challenge names), Basic,
and anonymous access when no credential matches; the :class:`TokenCache` shared by every
thread (one credential lookup and one token fetch per key, however many threads hit 401);
and the wording of every authentication failure.

:class:`RegistryAuth` yields the request, receives the response, and when it is a challenge
yields the token request itself, then the request again with the new ``Authorization``: the
code that sends (``reconciler.registry.transport``) follows the flow without knowing what a
challenge is, and the flow never touches a socket.

Must not: send, sleep or retry (the transport does, within the host's limits); log or raise
anything containing a token or credential; put ``Authorization`` on a request to another
host (credentials go only to the registry that asked for Basic, or as Basic to the token
realm its Bearer challenge names; the transport keeps the header off redirects elsewhere);
send credentials in plain text to a realm on another host. A realm gets credentials over
https, or over plain HTTP only when it is on the registry's own host (an insecure registry
is asked in plain text anyway); otherwise the token request is refused before anything is
sent. A secure registry's realm must be https whoever asks. Anonymous token requests
carry nothing and go to any realm the registry's scheme allows.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from reconciler.core.secrets import Secret
from reconciler.registry import errors as e
from reconciler.registry.credentials import Credential, CredentialsError
from reconciler.registry.errors import ResolveError
from reconciler.registry.targets import Target

__all__ = [
    "MAX_TOKEN_BYTES",
    "TOKEN_FETCH",
    "CredentialLookup",
    "CredentialsProvider",
    "RegistryAuth",
    "TokenCache",
    "insufficient_scope",
    "parse_challenges",
    "token_service",
]

log = logging.getLogger(__name__)

MAX_TOKEN_BYTES = 1024 * 1024
# Marks the requests the flow adds (token fetches) in ``Request.extensions``: the transport
# sends them once, never redirected, with the token body cap.
TOKEN_FETCH = "reconciler.token_fetch"
# The token spec says a token lives at least 60 s when expires_in is absent or smaller.
_MIN_TOKEN_LIFETIME = 60.0
# Renew early (10% of the lifetime, at most 30 s) so a token does not expire in flight.
_TOKEN_EARLY_FRACTION = 0.1
_TOKEN_EARLY_MAX = 30.0
_JSON_ACCEPT = "application/json"
_CHALLENGE_PARAM_RE = re.compile(
    r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))'
)
_CHALLENGE_SPLIT_RE = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9_-]*\s+[A-Za-z_][A-Za-z0-9_-]*\s*=)")

AuthKey = tuple[str, str, tuple[str, ...]]


class CredentialsProvider(Protocol):
    """Supplies ``(username, password)`` for a registry, or ``None`` for anonymous access.

    The older, host-level shape; a :class:`CredentialLookup` (such as
    :class:`reconciler.registry.credentials.CredentialStore`) is preferred.
    """

    def __call__(self, registry: str) -> tuple[str, str] | None: ...


class CredentialLookup(Protocol):
    """Supplies the most specific :class:`Credential` for ``registry/repository``."""

    def lookup(
        self, registry: str, repository: str | None = None, *, secrets: Sequence[str] = ()
    ) -> Credential | None: ...


@dataclass
class _Entry:
    """A ready ``Authorization`` value (``Bearer ...`` or ``Basic ...``) and its expiry."""

    header: Secret
    expires_at: float


class TokenCache:
    """``Authorization`` values per (registry, scope, pull secrets), each with its expiry
    on the client's monotonic clock. Thread-safe; pass one to several clients to share."""

    def __init__(self) -> None:
        self._entries: dict[AuthKey, _Entry] = {}
        self._locks: dict[AuthKey, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: AuthKey, now: float) -> Secret | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at > now:
            return entry.header
        return None

    def put(self, key: AuthKey, header: Secret, expires_at: float) -> None:
        self._entries[key] = _Entry(header, expires_at)

    def drop(self, key: AuthKey) -> None:
        self._entries.pop(key, None)

    def lock(self, key: AuthKey) -> threading.Lock:
        """The lock held while one thread renews ``key`` (the others then reuse its answer)."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


class RegistryAuth(httpx.Auth):
    """Authentication for one :class:`Target`: the cached value first, then one answer to
    a challenge; a challenge after fresh credentials is a :class:`ResolveError`.

    The flow reads the body of a token answer, hence ``requires_response_body`` (as an
    ``httpx.Client`` would honour it). The registry transport drives the flow itself: it
    gives token answers with their body read (capped), and answers to the request itself
    without one, which the flow never reads (status and headers are enough).
    """

    requires_request_body = False
    requires_response_body = True

    def __init__(
        self,
        target: Target,
        *,
        tokens: TokenCache,
        credentials: CredentialLookup | CredentialsProvider | None,
        clock: Callable[[], float],
        user_agent: str,
    ) -> None:
        self._target = target
        self._tokens = tokens
        self._credentials = credentials
        self._clock = clock
        self._user_agent = user_agent

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = self._target
        header = self._tokens.get(target.auth_key, self._clock())
        if header is not None:
            request.headers["Authorization"] = header.reveal()
        response = yield request
        if not _challenged(request, response):
            return
        header = yield from self._authenticate(request, response.headers, stale=header)
        # A new request, not the sent one changed: what went out stays as it went out.
        again = httpx.Request(
            request.method, request.url, headers=request.headers, extensions=request.extensions
        )
        again.headers["Authorization"] = header.reveal()
        response = yield again
        if _challenged(again, response):
            raise self._rejected(request.method, response, header)

    # -- answering a challenge -------------------------------------------------------------

    def _authenticate(
        self, request: httpx.Request, headers: httpx.Headers, *, stale: Secret | None
    ) -> Generator[httpx.Request, httpx.Response, Secret]:
        """Answer a challenge: a new ``Authorization`` value for the target."""
        target = self._target
        challenges = parse_challenges(headers.get_list("www-authenticate"))
        bearer = next((p for s, p in challenges if s == "bearer"), None)
        basic = next((p for s, p in challenges if s == "basic"), None)
        if bearer is None and basic is None:
            schemes = ", ".join(s for s, _ in challenges) or "no"
            raise target.fail(
                e.UNAUTHORIZED,
                f"registry requires {schemes} authentication, which is not supported "
                "(Bearer and Basic are)",
            )
        key = target.auth_key
        # One credential lookup and one token fetch per key even when many threads hit 401.
        with self._tokens.lock(key):
            current = self._tokens.get(key, self._clock())
            if current is not None and current != stale:
                return current
            credential = self._credential()
            if bearer is not None:
                header, expires_at = yield from self._fetch_token(request, bearer, credential)
            else:
                if credential is None or not (credential.username or credential.password):
                    raise target.fail(
                        e.UNAUTHORIZED,
                        "registry requires basic authentication and no credentials are "
                        f"configured for {target.registry}/{target.repository}"
                        + self._sources_hint(),
                    )
                header, expires_at = _basic(credential), math.inf
            self._tokens.put(key, header, expires_at)
            return header

    def _fetch_token(
        self, request: httpx.Request, params: dict[str, str], credential: Credential | None
    ) -> Generator[httpx.Request, httpx.Response, tuple[Secret, float]]:
        target = self._target
        realm_text = params.get("realm")
        if not realm_text:
            raise target.fail(e.UNAUTHORIZED, "Bearer challenge without a realm")
        try:
            realm = httpx.URL(realm_text)
        except httpx.InvalidURL:
            raise target.fail(e.UNAUTHORIZED, "Bearer challenge with an invalid realm") from None
        allowed = ("https", "http") if target.insecure else ("https",)
        if realm.scheme not in allowed or not realm.host:
            raise target.fail(
                e.UNAUTHORIZED,
                f"refusing token realm {realm.scheme}://{realm.host}: "
                "it must be https for a secure registry",
            )
        if credential is not None and not _may_carry_credentials(realm, target):
            raise target.fail(
                e.UNAUTHORIZED,
                f"refusing to send the credentials from {credential.source} to token realm "
                f"{_origin(realm)}: plain HTTP to a host other than the registry's; the "
                "realm must be https, or on the registry's own host",
            )
        # insufficient_scope names the scope it wants; otherwise ask for pull on the repo.
        scope = params.get("scope") or target.scope
        service = params.get("service")
        where = token_service(realm)
        headers = {"Accept": _JSON_ACCEPT, "User-Agent": self._user_agent}
        extensions = {**request.extensions, TOKEN_FETCH: True}
        if credential is not None and credential.identity_token is not None:
            # OAuth2 refresh-token grant, as docker does with an identity token.
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.identity_token.reveal(),
                "scope": scope,
                "client_id": self._user_agent,
            }
            if service:
                form["service"] = service
            fetch = httpx.Request("POST", realm, headers=headers, data=form, extensions=extensions)
        else:
            query = {"scope": scope}
            if service:
                query["service"] = service
            if credential is not None:
                headers["Authorization"] = _basic(credential).reveal()
                query["account"] = credential.username
            fetch = httpx.Request(
                "GET", realm.copy_merge_params(query), headers=headers, extensions=extensions
            )
        reply = yield fetch
        status = reply.status_code
        if status in (401, 403):
            if credential is not None:
                raise target.fail(
                    e.UNAUTHORIZED,
                    f"{where} rejected the credentials from {credential.source} (HTTP {status})",
                )
            raise target.fail(
                e.UNAUTHORIZED,
                f"{where} refused an anonymous token (HTTP {status}); no credentials are "
                f"configured for {target.registry}/{target.repository}" + self._sources_hint(),
            )
        if 300 <= status < 400:
            raise target.fail(e.INVALID_RESPONSE, f"{where} redirected (HTTP {status})")
        if status != 200:
            raise target.fail(e.INVALID_RESPONSE, f"{where} answered HTTP {status}")
        try:
            payload = json.loads(reply.content)
        except ValueError:
            raise target.fail(e.INVALID_RESPONSE, f"{where} answered non-JSON") from None
        value = (
            payload.get("token") or payload.get("access_token")
            if isinstance(payload, dict)
            else None
        )
        if not isinstance(value, str) or not value:
            raise target.fail(e.INVALID_RESPONSE, f"{where} answered without a token")
        expires_in = payload.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 0.0
        lifetime = max(lifetime, _MIN_TOKEN_LIFETIME)
        early = min(lifetime * _TOKEN_EARLY_FRACTION, _TOKEN_EARLY_MAX)
        log.debug(
            "fetched a pull token for %s/%s from %s", target.registry, target.repository, realm.host
        )
        return Secret(f"Bearer {value}"), self._clock() + lifetime - early

    # -- credentials and failures ----------------------------------------------------------

    def _credential(self) -> Credential | None:
        provider = self._credentials
        if provider is None:
            return None
        target = self._target
        try:
            lookup = getattr(provider, "lookup", None)
            if lookup is not None:
                found: Credential | None = lookup(
                    target.registry, target.repository, secrets=target.pull_secrets
                )
                return found
            pair = provider(target.registry)  # type: ignore[operator]
        except CredentialsError as exc:
            raise target.fail(e.UNAUTHORIZED, f"credentials unavailable: {exc}") from None
        if pair is None:
            return None
        username, password = pair
        return Credential(str(username), Secret(str(password)), "credentials provider")

    def _sources_hint(self) -> str:
        """Where credentials were looked for, and why each pull secret did or did not
        apply to this request (names, namespaces and registry keys only)."""
        sources = getattr(self._credentials, "sources", None)
        files = (
            [s for s in sources if not str(s).startswith("pull secret ")]
            if isinstance(sources, list)
            else []
        )
        hint = " (looked in: " + ", ".join(str(s) for s in files) + ")" if files else ""
        return hint + self._secrets_hint()

    def _secrets_hint(self) -> str:
        explain = getattr(self._credentials, "explain", None)
        if explain is None:
            return ""
        target = self._target
        lines: list[str] = explain(
            target.registry,
            target.repository,
            secrets=target.pull_secrets,
            namespace=target.namespace,
            logical_registry=target.logical_registry,
        )
        return "; pull secrets looked at: " + "; ".join(lines) if lines else ""

    def _rejected(self, method: str, response: httpx.Response, auth: Secret) -> ResolveError:
        """A challenge again after fresh credentials: they are wrong or lack access."""
        target = self._target
        self._tokens.drop(target.auth_key)
        scheme = auth.reveal().split(" ", 1)[0]
        credential = self._credential()
        what = f"HTTP {response.status_code} on {method}"
        if insufficient_scope(response.headers):
            what += ", insufficient_scope"
        if credential is None:
            return target.fail(
                e.UNAUTHORIZED,
                f"not authorized ({what}) and no credentials are configured for "
                f"{target.registry}/{target.repository}" + self._sources_hint(),
            )
        if scheme == "Basic":
            return target.fail(
                e.UNAUTHORIZED,
                f"{target.registry} rejected the credentials from {credential.source} ({what})"
                + self._secrets_hint(),
            )
        return target.fail(
            e.UNAUTHORIZED,
            f"the token issued for the credentials from {credential.source} does not grant "
            f"pull on {target.repository} ({what})" + self._secrets_hint(),
        )


def _may_carry_credentials(realm: httpx.URL, target: Target) -> bool:
    """Credentials go to a realm over https, or over plain HTTP only on the registry's own
    host (an all-plain-HTTP local setup: the registry is asked in plain text anyway)."""
    if realm.scheme == "https":
        return True
    registry_host = httpx.URL(target.repo_base).host
    return realm.scheme == "http" and realm.host.lower() == registry_host.lower()


def _origin(url: httpx.URL) -> str:
    """``scheme://host[:port]``: no path or query (a realm may carry state there)."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}"


def token_service(realm: httpx.URL) -> str:
    """How errors name a token realm (its host only: realms carry state in the query)."""
    return f"token service {realm.host}"


def _basic(credential: Credential) -> Secret:
    raw = f"{credential.username}:{credential.password.reveal()}".encode()
    return Secret("Basic " + base64.b64encode(raw).decode("ascii"))


def _challenged(request: httpx.Request, response: httpx.Response) -> bool:
    """A challenge for us: 401 (or 403 ``insufficient_scope``) from the registry asked, not
    from a host a redirect led to."""
    status = response.status_code
    if status != 401 and not (status == 403 and insufficient_scope(response.headers)):
        return False
    sent = response.request.url
    url = request.url
    return sent.scheme == url.scheme and sent.host == url.host and sent.port == url.port


def insufficient_scope(headers: httpx.Headers) -> bool:
    return any(
        params.get("error") == "insufficient_scope"
        for _, params in parse_challenges(headers.get_list("www-authenticate"))
    )


def parse_challenges(values: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """``Bearer realm="...",service="..."`` (one or more per header) as
    [("bearer", {realm:..., ...})]."""
    out: list[tuple[str, dict[str, str]]] = []
    for value in values:
        for part in _CHALLENGE_SPLIT_RE.split(value):
            scheme, _, rest = part.strip().partition(" ")
            if not scheme:
                continue
            params: dict[str, str] = {}
            for match in _CHALLENGE_PARAM_RE.finditer(rest):
                name, quoted, bare = match.groups()
                params[name.lower()] = bare if quoted is None else re.sub(r"\\(.)", r"\1", quoted)
            out.append((scheme.lower(), params))
    return out
