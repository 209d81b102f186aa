"""Resolve image tags to content digests over the OCI distribution protocol.

Owns: the HTTP conversation with registries (HEAD/GET of manifests, anonymous Bearer token
flow, redirects, size caps, digest verification), choosing the child of an index for the
``Legacy`` import mode, and mapping every failure to a :class:`ResolveError` with a reason.
One shared ``httpx.Client`` (keep-alive pool) is used by a bounded thread pool.

Must not: decide *which* tags to resolve or what to do with a failure (the reconcile pass
does), parse reference text (``reconciler.core.references`` does), log or raise anything
containing a token or credential, or send ``Authorization`` to a host other than the one it
was obtained for.

Scheme policy: ``https`` always, except when the request is ``insecure``; then plain ``http``
is used (no https attempt first). That is what a loopback or lab registry serves, and it keeps
one request per resolve instead of a failing TLS handshake first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import httpx

from reconciler.core.references import ImageReference, registry_endpoint_host
from reconciler.registry import errors as e
from reconciler.registry.errors import ResolveError
from reconciler.registry.media_types import (
    MANIFEST_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    is_index,
    is_manifest,
)

__all__ = [
    "IMPORT_MODES",
    "MAX_MANIFEST_BYTES",
    "CredentialsProvider",
    "Platform",
    "RegistryClient",
    "ResolveError",
    "ResolveRequest",
    "Resolved",
]

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_REDIRECTS = 3
IMPORT_MODES = frozenset({"Legacy", "PreserveOriginal"})
# The token spec says a token lives at least 60 s when expires_in is absent or smaller.
_MIN_TOKEN_LIFETIME = 60.0
# Renew a little early so a token does not expire between our check and the registry's.
_TOKEN_EXPIRY_MARGIN = 5.0
_DIGEST_RE = re.compile(r"(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")
_CHALLENGE_PARAM_RE = re.compile(
    r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))'
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Platform:
    """Target platform for ``Legacy`` imports of an index (``linux/amd64`` by default)."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


@dataclass(frozen=True)
class ResolveRequest:
    """One thing to resolve: a qualified reference with a tag or a digest."""

    reference: ImageReference
    insecure: bool = False
    import_mode: str = "Legacy"
    platform: Platform = field(default_factory=Platform)


@dataclass(frozen=True)
class Resolved:
    """The outcome of a successful resolve.

    ``digest`` is what gets pinned; ``index_digest`` is set when ``Legacy`` picked a child of
    an index (so a reviewer can see which list it came from).
    """

    digest: str
    media_type: str
    index_digest: str | None = None


class CredentialsProvider(Protocol):
    """Supplies ``(username, password)`` for a registry, or ``None`` for anonymous access.

    Credentials are only ever sent to the Bearer token realm the registry names, as Basic
    authentication, never to the registry itself (that is a later issue's business).
    """

    def __call__(self, registry: str) -> tuple[str, str] | None: ...


@dataclass
class _Token:
    value: str
    expires_at: float


@dataclass(frozen=True)
class _Target:
    """Where one resolve talks to; fixed for the life of the request."""

    registry: str
    repository: str
    insecure: bool
    base: str  # scheme://host/v2/<repo>/manifests/
    scope: str

    @property
    def token_key(self) -> tuple[str, str]:
        return (self.registry, self.scope)


class RegistryClient:
    """Resolves :class:`ResolveRequest` objects to :class:`Resolved` digests.

    Thread-safe: :meth:`resolve` may be called from several threads; :meth:`resolve_many`
    fans out over an internal pool of ``max_concurrency`` threads sharing one keep-alive
    connection pool of the same size.
    """

    def __init__(
        self,
        *,
        max_concurrency: int = 16,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
        credentials: CredentialsProvider | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            ),
            # Redirects are followed by hand so Authorization never leaks to another host.
            follow_redirects=False,
            transport=transport,
            verify=_ssl_verify(verify),
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="registry-resolve"
        )
        self._credentials = credentials
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._token_locks: dict[tuple[str, str], threading.Lock] = {}
        self._tokens_guard = threading.Lock()
        # Replaceable in tests to exercise token expiry without sleeping.
        self._clock: Callable[[], float] = time.monotonic
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        self._client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------

    def resolve(self, request: ResolveRequest) -> Resolved:
        """Resolve one request; raise :class:`ResolveError` on any failure."""
        target = self._target(request)
        ref = request.reference
        selector = ref.digest or ref.tag
        assert selector is not None  # _target checked

        head = self._request("HEAD", target, target.base + selector)
        digest: str | None = head.headers.get("docker-content-digest")
        media_type = _bare_type(head.headers.get("content-type", ""))
        body: bytes | None = None
        if digest is not None and not _DIGEST_RE.fullmatch(digest):
            raise _fail(
                e.INVALID_RESPONSE, target, f"{selector}: malformed Docker-Content-Digest header"
            )
        if (
            digest is None
            or not digest.startswith("sha256:")
            or not (is_index(media_type) or is_manifest(media_type))
        ):
            # HEAD did not tell us enough; the body is the authority (and is verified).
            get = self._request("GET", target, target.base + selector, read_body=True)
            body = get.content
            digest = get.digest
            media_type = _manifest_media_type(get.content_type, body, target, selector)

        if ref.digest is not None and digest != ref.digest:
            raise _fail(
                e.DIGEST_MISMATCH,
                target,
                f"asked for {ref.digest} but the registry answered {digest}",
            )

        if not is_index(media_type) or request.import_mode == "PreserveOriginal":
            return Resolved(digest=digest, media_type=media_type)

        if body is None:
            get = self._request("GET", target, target.base + digest, read_body=True)
            if get.digest != digest:
                raise _fail(
                    e.DIGEST_MISMATCH,
                    target,
                    f"index {digest} has content with digest {get.digest}",
                )
            body = get.content
        child_digest, child_type = _choose_platform(body, request.platform, target)
        return Resolved(digest=child_digest, media_type=child_type, index_digest=digest)

    def resolve_many(
        self, requests: Sequence[ResolveRequest]
    ) -> dict[ResolveRequest, Resolved | ResolveError]:
        """Resolve all requests concurrently (bounded); duplicates are resolved once."""
        unique = list(dict.fromkeys(requests))
        if len(unique) <= 1:
            return {request: self._resolve_or_error(request) for request in unique}
        futures = {
            request: self._pool.submit(self._resolve_or_error, request) for request in unique
        }
        return {request: future.result() for request, future in futures.items()}

    # -- internals ---------------------------------------------------------------------

    def _resolve_or_error(self, request: ResolveRequest) -> Resolved | ResolveError:
        try:
            return self.resolve(request)
        except ResolveError as error:
            return error

    def _target(self, request: ResolveRequest) -> _Target:
        ref = request.reference
        registry = ref.registry or ""
        if ref.registry is None:
            raise ResolveError(
                e.BAD_REQUEST,
                f"{ref}: unqualified reference; qualify it with a search registry first",
                registry="",
            )
        if ref.tag is None and ref.digest is None:
            raise ResolveError(e.BAD_REQUEST, f"{ref}: neither tag nor digest", registry=registry)
        if request.import_mode not in IMPORT_MODES:
            raise ResolveError(
                e.BAD_REQUEST,
                f"{ref}: unknown importMode {request.import_mode!r} "
                f"(expected one of {sorted(IMPORT_MODES)})",
                registry=registry,
            )
        scheme = "http" if request.insecure else "https"
        host = registry_endpoint_host(registry)
        return _Target(
            registry=registry,
            repository=ref.repository,
            insecure=request.insecure,
            base=f"{scheme}://{host}/v2/{ref.repository}/manifests/",
            scope=f"repository:{ref.repository}:pull",
        )

    def _request(
        self, method: str, target: _Target, url: str, *, read_body: bool = False
    ) -> _Reply:
        """One manifest request with auth, redirects and error mapping; 2xx or raise."""
        token = self._cached_token(target)
        authorization = f"Bearer {token}" if token else None
        retried_auth = False
        origin = httpx.URL(url)
        current = origin
        redirects = 0
        while True:
            headers = {"Accept": MANIFEST_ACCEPT}
            if authorization is not None and _same_origin(current, origin):
                headers["Authorization"] = authorization
            try:
                response = self._client.send(
                    self._client.build_request(method, current, headers=headers),
                    stream=read_body,
                )
            except httpx.TimeoutException as exc:
                raise _fail(
                    e.TIMEOUT, target, f"{method} timed out ({type(exc).__name__})"
                ) from None
            except httpx.TransportError as exc:
                raise _transport_failure(target, method, exc) from None
            try:
                status = response.status_code
                if status in _REDIRECT_STATUSES:
                    redirects += 1
                    current = self._redirect_target(target, current, response, redirects)
                    continue
                if status == 401 and not retried_auth:
                    retried_auth = True
                    token = self._fresh_token(target, response, stale=token)
                    authorization = f"Bearer {token}"
                    current = origin
                    continue
                if 200 <= status < 300:
                    if not read_body:
                        return _Reply(response.headers, b"", "", "")
                    return self._read_verified(target, response)
                raise self._status_error(target, method, response, read_body)
            finally:
                response.close()

    def _redirect_target(
        self, target: _Target, current: httpx.URL, response: httpx.Response, count: int
    ) -> httpx.URL:
        if count > MAX_REDIRECTS:
            raise _fail(e.INVALID_RESPONSE, target, f"more than {MAX_REDIRECTS} redirects")
        location: str | None = response.headers.get("location")
        if not location:
            raise _fail(e.INVALID_RESPONSE, target, "redirect without Location")
        try:
            nxt = current.join(location)
        except httpx.InvalidURL:
            raise _fail(e.INVALID_RESPONSE, target, "redirect to an invalid URL") from None
        if nxt.scheme not in ("https", "http") or (nxt.scheme == "http" and not target.insecure):
            raise _fail(
                e.INVALID_RESPONSE, target, f"refusing redirect to a {nxt.scheme} URL on {nxt.host}"
            )
        return nxt

    def _read_verified(self, target: _Target, response: httpx.Response) -> _Reply:
        length: str | None = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_MANIFEST_BYTES:
            raise _fail(
                e.INVALID_RESPONSE,
                target,
                f"manifest of {length} bytes exceeds the {MAX_MANIFEST_BYTES}-byte limit",
            )
        buf = bytearray()
        try:
            for chunk in response.iter_bytes():
                buf += chunk
                if len(buf) > MAX_MANIFEST_BYTES:
                    raise _fail(
                        e.INVALID_RESPONSE,
                        target,
                        f"manifest exceeds the {MAX_MANIFEST_BYTES}-byte limit",
                    )
        except httpx.TimeoutException:
            raise _fail(e.TIMEOUT, target, "timed out reading the manifest") from None
        except httpx.TransportError as exc:
            raise _fail(
                e.REGISTRY_UNAVAILABLE,
                target,
                f"reading the manifest failed: {_transport_detail(exc)}",
            ) from None
        body = bytes(buf)
        computed = "sha256:" + hashlib.sha256(body).hexdigest()
        claimed: str | None = response.headers.get("docker-content-digest")
        if claimed is not None:
            if not _DIGEST_RE.fullmatch(claimed):
                raise _fail(e.INVALID_RESPONSE, target, "malformed Docker-Content-Digest header")
            algorithm = claimed.partition(":")[0]
            actual = (
                computed
                if algorithm == "sha256"
                else f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
            )
            if actual != claimed:
                raise _fail(
                    e.DIGEST_MISMATCH,
                    target,
                    f"registry claims {claimed} but the content hashes to {actual}",
                )
        return _Reply(
            response.headers, body, computed, _bare_type(response.headers.get("content-type", ""))
        )

    def _status_error(
        self, target: _Target, method: str, response: httpx.Response, has_body: bool
    ) -> ResolveError:
        status = response.status_code
        codes: list[str] = []
        if has_body:
            codes = _error_codes(response)
        what = f"HTTP {status} on {method}" + (f" ({', '.join(codes)})" if codes else "")
        if status == 404 or "MANIFEST_UNKNOWN" in codes or "NAME_UNKNOWN" in codes:
            return _fail(e.NOT_FOUND, target, f"manifest unknown: {what}")
        if status == 401:
            return _fail(e.UNAUTHORIZED, target, f"not authorized: {what}")
        if status == 403:
            return _fail(e.FORBIDDEN, target, f"access denied: {what}")
        if status == 429 or "TOOMANYREQUESTS" in codes:
            return _fail(e.TOO_MANY_REQUESTS, target, f"rate limited: {what}")
        if status >= 500:
            return _fail(e.REGISTRY_UNAVAILABLE, target, f"registry error: {what}")
        if status == 400 and "NAME_INVALID" in codes:
            return _fail(e.BAD_REQUEST, target, f"invalid repository name: {what}")
        return _fail(e.INVALID_RESPONSE, target, f"unexpected {what}")

    # -- Bearer tokens -----------------------------------------------------------------

    def _cached_token(self, target: _Target) -> str | None:
        token = self._tokens.get(target.token_key)
        if token is not None and token.expires_at > self._clock():
            return token.value
        return None

    def _fresh_token(self, target: _Target, challenge: httpx.Response, *, stale: str | None) -> str:
        header: str = challenge.headers.get("www-authenticate", "")
        scheme, params = _parse_challenge(header)
        if scheme != "bearer":
            # Basic auth against the registry needs credentials: a later issue.
            raise _fail(
                e.UNAUTHORIZED,
                target,
                f"registry requires {scheme or 'unknown'} authentication; only anonymous Bearer "
                "tokens are supported",
            )
        key = target.token_key
        with self._tokens_guard:
            lock = self._token_locks.setdefault(key, threading.Lock())
        # One fetch per (registry, scope) even when many threads hit 401 together.
        with lock:
            current = self._cached_token(target)
            if current is not None and current != stale:
                return current
            token = self._fetch_token(target, params)
            self._tokens[key] = token
            return token.value

    def _fetch_token(self, target: _Target, params: dict[str, str]) -> _Token:
        realm_text = params.get("realm")
        if not realm_text:
            raise _fail(e.UNAUTHORIZED, target, "Bearer challenge without a realm")
        try:
            realm = httpx.URL(realm_text)
        except httpx.InvalidURL:
            raise _fail(e.UNAUTHORIZED, target, "Bearer challenge with an invalid realm") from None
        allowed = ("https", "http") if target.insecure else ("https",)
        if realm.scheme not in allowed or not realm.host:
            raise _fail(
                e.UNAUTHORIZED,
                target,
                f"refusing token realm {realm.scheme}://{realm.host}: "
                "it must be https for a secure registry",
            )
        query: dict[str, str] = {"scope": params.get("scope") or target.scope}
        if params.get("service"):
            query["service"] = params["service"]
        auth: httpx.BasicAuth | None = None
        if self._credentials is not None:
            creds = self._credentials(target.registry)
            if creds is not None:
                auth = httpx.BasicAuth(*creds)
        where = f"token service {realm.host}"
        try:
            response = self._client.get(realm, params=query, auth=auth)
        except httpx.TimeoutException:
            raise _fail(e.TIMEOUT, target, f"{where} timed out") from None
        except httpx.TransportError as exc:
            raise _transport_failure(target, where, exc) from None
        status = response.status_code
        if status in (401, 403):
            raise _fail(e.UNAUTHORIZED, target, f"{where} refused a token (HTTP {status})")
        if status == 429:
            raise _fail(e.TOO_MANY_REQUESTS, target, f"{where} rate limited (HTTP 429)")
        if status >= 500:
            raise _fail(e.REGISTRY_UNAVAILABLE, target, f"{where} failed (HTTP {status})")
        if status != 200:
            raise _fail(e.INVALID_RESPONSE, target, f"{where} answered HTTP {status}")
        if len(response.content) > MAX_MANIFEST_BYTES:
            raise _fail(e.INVALID_RESPONSE, target, f"{where} answer too large")
        try:
            payload = json.loads(response.content)
        except ValueError:
            raise _fail(e.INVALID_RESPONSE, target, f"{where} answered non-JSON") from None
        value = (
            payload.get("token") or payload.get("access_token")
            if isinstance(payload, dict)
            else None
        )
        if not isinstance(value, str) or not value:
            raise _fail(e.INVALID_RESPONSE, target, f"{where} answered without a token")
        expires_in = payload.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 0.0
        lifetime = max(lifetime, _MIN_TOKEN_LIFETIME)
        log.debug(
            "fetched a pull token for %s/%s from %s", target.registry, target.repository, realm.host
        )
        return _Token(value=value, expires_at=self._clock() + lifetime - _TOKEN_EXPIRY_MARGIN)


@dataclass(frozen=True)
class _Reply:
    headers: httpx.Headers
    content: bytes
    digest: str  # sha256 of content, computed by us ("" for HEAD)
    content_type: str


def _ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """``verify`` as httpx 0.28 wants it: a CA bundle path becomes an SSLContext."""
    if isinstance(verify, str):
        path = Path(verify)
        if path.is_dir():
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return verify


def _fail(reason: str, target: _Target, detail: str) -> ResolveError:
    return ResolveError(
        reason, f"{target.registry}/{target.repository}: {detail}", registry=target.registry
    )


def _bare_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return a.scheme == b.scheme and a.host == b.host and a.port == b.port


def _transport_failure(target: _Target, what: str, exc: httpx.TransportError) -> ResolveError:
    # A certificate that does not verify will not fix itself: not RegistryUnavailable.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return ResolveError(
                e.TLS_VERIFICATION_FAILED,
                f"{target.registry}/{target.repository}: {what}: TLS certificate not trusted "
                f"({cause.verify_message}); set importPolicy.insecure or configure a CA bundle",
                registry=target.registry,
            )
        cause = cause.__cause__ or cause.__context__
    return _fail(e.REGISTRY_UNAVAILABLE, target, f"{what} failed: {_transport_detail(exc)}")


def _transport_detail(exc: httpx.TransportError) -> str:
    # The class name is informative ("ConnectError") and cannot carry a secret; the message
    # is kept short because some carry the whole URL.
    text = str(exc).split("\n", 1)[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split ``Bearer realm="...",service="..."`` into ("bearer", {realm:..., ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for match in _CHALLENGE_PARAM_RE.finditer(rest):
        name, quoted, bare = match.groups()
        value = bare if quoted is None else re.sub(r"\\(.)", r"\1", quoted)
        params[name.lower()] = value
    return scheme.lower(), params


def _error_codes(response: httpx.Response) -> list[str]:
    """The distribution error codes in an error body, if it is small JSON."""
    try:
        raw = b""
        for chunk in response.iter_bytes():
            raw += chunk
            if len(raw) > 64 * 1024:
                return []
        payload = json.loads(raw)
    except (ValueError, httpx.HTTPError):
        return []
    if not isinstance(payload, dict) or not isinstance(payload.get("errors"), list):
        return []
    return [
        str(item["code"])
        for item in payload["errors"]
        if isinstance(item, dict) and isinstance(item.get("code"), str)
    ]


def _load_json(body: bytes, target: _Target, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise _fail(e.INVALID_RESPONSE, target, f"{what} is not JSON") from None
    if not isinstance(payload, dict):
        raise _fail(e.INVALID_RESPONSE, target, f"{what} is not a JSON object")
    return payload


def _manifest_media_type(content_type: str, body: bytes, target: _Target, selector: str) -> str:
    """The media type of a manifest body: its own ``mediaType``, else Content-Type, else shape."""
    payload = _load_json(body, target, f"manifest {selector}")
    declared = payload.get("mediaType")
    if isinstance(declared, str) and declared:
        media_type = _bare_type(declared)
    elif is_index(content_type) or is_manifest(content_type):
        media_type = content_type
    elif payload.get("schemaVersion") == 2 and isinstance(payload.get("manifests"), list):
        media_type = OCI_INDEX  # OCI allows omitting mediaType
    elif payload.get("schemaVersion") == 2 and isinstance(payload.get("layers"), list):
        media_type = OCI_MANIFEST
    else:
        media_type = content_type or "unknown"
    if not (is_index(media_type) or is_manifest(media_type)):
        raise _fail(
            e.UNSUPPORTED_MEDIA_TYPE,
            target,
            f"{selector}: unsupported manifest type {media_type!r}",
        )
    return media_type


def _choose_platform(body: bytes, want: Platform, target: _Target) -> tuple[str, str]:
    """Pick the child manifest of an index for ``want``: (digest, media type)."""
    payload = _load_json(body, target, "index")
    manifests = payload.get("manifests")
    if not isinstance(manifests, list):
        raise _fail(e.INVALID_RESPONSE, target, "index without a manifests list")
    matches: list[tuple[str, str, str | None]] = []
    available: list[str] = []
    for entry in manifests:
        if not isinstance(entry, dict):
            raise _fail(e.INVALID_RESPONSE, target, "index entry is not an object")
        platform = entry.get("platform")
        if not isinstance(platform, dict):
            continue
        os_, arch, variant = (
            platform.get("os"),
            platform.get("architecture"),
            platform.get("variant"),
        )
        available.append("/".join(str(p) for p in (os_, arch, variant) if p))
        if os_ != want.os or arch != want.architecture:
            continue
        if want.variant is not None and variant != want.variant:
            continue
        digest, media_type = entry.get("digest"), entry.get("mediaType")
        if not isinstance(digest, str) or not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
            raise _fail(e.INVALID_RESPONSE, target, "index entry with an invalid digest")
        if not isinstance(media_type, str) or not is_manifest(media_type):
            continue  # nested indexes and artifacts cannot be pinned as a platform image
        matches.append(
            (digest, _bare_type(media_type), variant if isinstance(variant, str) else None)
        )
    if not matches:
        raise _fail(
            e.NO_MATCHING_PLATFORM,
            target,
            f"no manifest for {want} in the index (available: {', '.join(available) or 'none'})",
        )
    # Without a requested variant, an entry that names none is the generic build; prefer it.
    plain = [m for m in matches if m[2] is None]
    digest, media_type, _ = (plain or matches)[0]
    return digest, media_type
