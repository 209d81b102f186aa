"""Resolve image tags to content digests over the OCI distribution protocol.

Owns: the HTTP conversation with registries: HEAD/GET of manifests, tag listing with ``Link``
pagination, image config blobs; the ``WWW-Authenticate`` flows (Bearer tokens with
``expires_in`` and re-challenge on 401 / ``insufficient_scope``, Basic; anonymous when no
credential matches); redirects; size caps and digest verification; per-registry limits,
retries with backoff, ``Retry-After`` and the circuit breaker (``reconciler.registry.limits``);
choosing the child of an index for the ``Legacy`` import mode; and mapping every failure to a
:class:`ResolveError` with a reason.

Requests go straight to one shared ``httpx`` transport (a keep-alive pool) from a bounded
thread pool: skipping ``httpx.Client``'s per-request machinery roughly doubles throughput
against a local registry (see ``bench/resolve.py``), and redirects, auth and cookies are
handled here anyway.

Must not: decide *which* tags to resolve or what to do with a failure (the reconcile pass
does), parse reference text (``reconciler.core.references`` does), log or raise anything
containing a token or credential, or send ``Authorization`` to a host other than the one it
was obtained for (redirects included; credentials go only to the registry that asked for
Basic, or as Basic to the token realm its Bearer challenge names).

Scheme policy: ``https`` always, except when the request is ``insecure``; then plain ``http``
is used (no https attempt first, and never a silent fallback from one to the other).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import httpx

from reconciler.core.references import ImageReference, registry_endpoint_host
from reconciler.core.secrets import Secret
from reconciler.registry import errors as e
from reconciler.registry.credentials import Credential, CredentialsError
from reconciler.registry.errors import ResolveError
from reconciler.registry.limits import (
    GateClosed,
    HostGate,
    RateLimitInfo,
    RegistryLimits,
    backoff_delay,
    parse_retry_after,
)
from reconciler.registry.media_types import (
    DOCKER_CONFIG,
    MANIFEST_ACCEPT,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    is_index,
    is_manifest,
)

__all__ = [
    "IMPORT_MODES",
    "MAX_CONFIG_BYTES",
    "MAX_ERROR_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_TAG_PAGE_BYTES",
    "MAX_TOKEN_BYTES",
    "PREFER_ARCH_ANNOTATION",
    "PREFER_OS_ANNOTATION",
    "CredentialLookup",
    "CredentialsProvider",
    "ImageConfig",
    "Platform",
    "RegistryClient",
    "RegistryLimits",
    "ResolveError",
    "ResolveRequest",
    "Resolved",
    "platform_for",
]

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_TOKEN_BYTES = 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024
MAX_TAG_PAGE_BYTES = 8 * 1024 * 1024
MAX_TAG_PAGES = 10_000
MAX_REDIRECTS = 3
IMPORT_MODES = frozenset({"Legacy", "PreserveOriginal"})
PREFER_ARCH_ANNOTATION = "importer.image.openshift.io/prefer-arch"
PREFER_OS_ANNOTATION = "importer.image.openshift.io/prefer-os"
# The token spec says a token lives at least 60 s when expires_in is absent or smaller.
_MIN_TOKEN_LIFETIME = 60.0
# Renew early (10% of the lifetime, at most 30 s) so a token does not expire in flight.
_TOKEN_EARLY_FRACTION = 0.1
_TOKEN_EARLY_MAX = 30.0
_DIGEST_RE = re.compile(r"(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")
_CHALLENGE_PARAM_RE = re.compile(
    r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))'
)
_CHALLENGE_SPLIT_RE = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9_-]*\s+[A-Za-z_][A-Za-z0-9_-]*\s*=)")
_LINK_NEXT_RE = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)
_PLATFORM_WORD_RE = re.compile(r"[a-z0-9_]+")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
_JSON_ACCEPT = "application/json"
_BLOB_ACCEPT = f"{OCI_CONFIG}, {DOCKER_CONFIG}, application/json, */*"
USER_AGENT = "imagestream-reconciler"


@dataclass(frozen=True)
class Platform:
    """Target platform for ``Legacy`` imports of an index (``linux/amd64`` by default)."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


def platform_for(annotations: Mapping[str, str] | None, default: Platform) -> Platform:
    """The platform ``Legacy`` pins for an object with ``annotations``.

    ``importer.image.openshift.io/prefer-arch`` (``arm64``, ``arm/v7``) and ``prefer-os``
    override the configured ``default``; raise ``ValueError`` for a malformed value (a
    validation error for the manifest that carries it).
    """
    if not annotations:
        return default
    arch_text = annotations.get(PREFER_ARCH_ANNOTATION)
    os_text = annotations.get(PREFER_OS_ANNOTATION)
    os_ = default.os
    if os_text is not None:
        if not _PLATFORM_WORD_RE.fullmatch(os_text.strip().lower()):
            raise ValueError(f"{PREFER_OS_ANNOTATION}: {os_text!r} is not an OS name")
        os_ = os_text.strip().lower()
    if arch_text is None:
        return Platform(os_, default.architecture, default.variant)
    parts = arch_text.strip().lower().split("/")
    if len(parts) > 2 or not all(_PLATFORM_WORD_RE.fullmatch(p) for p in parts):
        raise ValueError(
            f"{PREFER_ARCH_ANNOTATION}: {arch_text!r} is not an architecture (e.g. arm64, arm/v7)"
        )
    return Platform(os_, parts[0], parts[1] if len(parts) == 2 else None)


@dataclass(frozen=True)
class ResolveRequest:
    """One thing to resolve: a qualified reference with a tag or a digest.

    ``pull_secrets`` names the pull secrets linked to the tag's namespace (the equivalent of
    ``oc secrets link``); they are consulted before the machine-wide auth files.
    """

    reference: ImageReference
    insecure: bool = False
    import_mode: str = "Legacy"
    platform: Platform = field(default_factory=Platform)
    pull_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolved:
    """The outcome of a successful resolve.

    ``digest`` is what gets pinned; ``index_digest`` is set when ``Legacy`` picked a child of
    an index (so a reviewer can see which list it came from).
    """

    digest: str
    media_type: str
    index_digest: str | None = None


@dataclass(frozen=True)
class ImageConfig:
    """What ``new-app`` wants from an image's config blob."""

    digest: str  # the single-platform manifest's digest
    config_digest: str
    created: str | None
    os: str | None
    architecture: str | None
    variant: str | None
    labels: dict[str, str]
    exposed_ports: tuple[str, ...]
    env: tuple[str, ...]
    user: str | None
    working_dir: str | None
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    volumes: tuple[str, ...] = ()


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
class _Auth:
    """A ready ``Authorization`` value (``Bearer ...`` or ``Basic ...``) and its expiry."""

    header: Secret
    expires_at: float


@dataclass(frozen=True)
class _Target:
    """Where one operation talks to; fixed for the life of the request."""

    registry: str
    repository: str
    insecure: bool
    repo_base: str  # scheme://host/v2/<repo>/
    scope: str
    pull_secrets: tuple[str, ...] = ()

    @property
    def base(self) -> str:
        return self.repo_base + "manifests/"

    @property
    def auth_key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.registry, self.scope, self.pull_secrets)


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: httpx.Headers
    content: bytes
    digest: str  # sha256 of content, computed by us ("" when no body was read)
    content_type: str


class RegistryClient:
    """Resolves :class:`ResolveRequest` objects to :class:`Resolved` digests.

    Thread-safe: :meth:`resolve` may be called from several threads; :meth:`resolve_many`
    fans out over an internal pool of ``max_concurrency`` threads sharing one keep-alive
    connection pool. ``limits`` maps a registry (``quay.io``, ``127.0.0.1:5000``; ``docker.io``
    means its API host) to :class:`RegistryLimits`; ``default_limits`` applies elsewhere.
    ``credentials`` is a :class:`CredentialLookup` (or an older :class:`CredentialsProvider`).
    """

    def __init__(
        self,
        *,
        max_concurrency: int = 16,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
        credentials: CredentialLookup | CredentialsProvider | None = None,
        limits: Mapping[str, RegistryLimits] | None = None,
        default_limits: RegistryLimits | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._max_concurrency = max_concurrency
        self._transport: httpx.BaseTransport = transport or httpx.HTTPTransport(
            verify=_ssl_verify(verify),
            limits=httpx.Limits(
                max_connections=max_concurrency + 4,
                max_keepalive_connections=max_concurrency + 4,
            ),
        )
        self._timeout_ext = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._user_agent = user_agent
        self._pool = ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="registry-resolve"
        )
        self._credentials = credentials
        self._auth: dict[tuple[str, str, tuple[str, ...]], _Auth] = {}
        self._auth_locks: dict[tuple[str, str, tuple[str, ...]], threading.Lock] = {}
        self._guard = threading.Lock()
        self._default_limits = default_limits or RegistryLimits()
        self._limits = {registry_endpoint_host(k).lower(): v for k, v in (limits or {}).items()}
        self._gates: dict[str, HostGate] = {}
        # Replaceable in tests: monotonic clock, wall clock (HTTP-date), sleep, jitter.
        self._clock: Callable[[], float] = time.monotonic
        self._wall_clock: Callable[[], float] = time.time
        self._sleep: Callable[[float], None] = time.sleep
        self._random: Callable[[], float] = random.random
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        self._transport.close()

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

        head = self._call("HEAD", target, httpx.URL(target.base + selector))
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
            get = self._call(
                "GET", target, httpx.URL(target.base + selector), read_body=MAX_MANIFEST_BYTES
            )
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
            body = self._manifest_by_digest(target, digest, "index")
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

    def list_tags(
        self,
        reference: ImageReference,
        *,
        insecure: bool = False,
        limit: int | None = None,
        page_size: int | None = None,
        pull_secrets: tuple[str, ...] = (),
    ) -> list[str]:
        """The repository's tags, in the registry's order, following ``Link`` pagination.

        A ``next`` link must stay on the same scheme and host. ``limit`` stops early (e.g.
        ``maxImagesBulkImportedPerRepository``); ``page_size`` is sent as ``n``.
        """
        target = self._target_for(reference, insecure, pull_secrets)
        url = httpx.URL(target.repo_base + "tags/list")
        if page_size is not None:
            url = url.copy_merge_params({"n": str(page_size)})
        origin = url
        tags: list[str] = []
        for _ in range(MAX_TAG_PAGES):
            reply = self._call(
                "GET", target, url, read_body=MAX_TAG_PAGE_BYTES, accept=_JSON_ACCEPT, verify=False
            )
            payload = _load_json(reply.content, target, "tag list")
            page = payload.get("tags")
            if page is None:
                page = []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise _fail(e.INVALID_RESPONSE, target, "tag list 'tags' is not a list of names")
            tags.extend(page)
            if limit is not None and len(tags) >= limit:
                return tags[:limit]
            link = _next_link(reply.headers.get_list("link"))
            if link is None:
                return tags
            try:
                nxt = url.join(link)
            except httpx.InvalidURL:
                raise _fail(e.INVALID_RESPONSE, target, "tag list next link is invalid") from None
            if not _same_origin(nxt, origin):
                raise _fail(
                    e.INVALID_RESPONSE,
                    target,
                    f"refusing tag list next link to {nxt.scheme}://{nxt.host}: "
                    "pagination must stay on the registry's scheme and host",
                )
            url = nxt
        raise _fail(e.INVALID_RESPONSE, target, f"tag list longer than {MAX_TAG_PAGES} pages")

    def image_config(self, request: ResolveRequest) -> ImageConfig:
        """The config blob of the image ``request`` pins (``Legacy``: its platform child)."""
        legacy = ResolveRequest(
            request.reference,
            insecure=request.insecure,
            import_mode="Legacy",
            platform=request.platform,
            pull_secrets=request.pull_secrets,
        )
        resolved = self.resolve(legacy)
        target = self._target(legacy)
        body = self._manifest_by_digest(target, resolved.digest, "manifest")
        manifest = _load_json(body, target, "manifest")
        descriptor = manifest.get("config")
        if not isinstance(descriptor, dict) or not isinstance(descriptor.get("digest"), str):
            raise _fail(e.INVALID_RESPONSE, target, "manifest without a config descriptor")
        config_digest = descriptor["digest"]
        if not _DIGEST_RE.fullmatch(config_digest):
            raise _fail(e.INVALID_RESPONSE, target, "config descriptor with an invalid digest")
        size = descriptor.get("size")
        if isinstance(size, int) and size > MAX_CONFIG_BYTES:
            raise _fail(
                e.INVALID_RESPONSE,
                target,
                f"config blob of {size} bytes exceeds the {MAX_CONFIG_BYTES}-byte limit",
            )
        blob = self._call(
            "GET",
            target,
            httpx.URL(target.repo_base + "blobs/" + config_digest),
            read_body=MAX_CONFIG_BYTES,
            accept=_BLOB_ACCEPT,
            verify=False,
        )
        _check_digest(target, blob.content, config_digest, f"config blob {config_digest}")
        return _image_config(resolved.digest, config_digest, blob.content, target)

    def rate_limit(self, registry: str) -> RateLimitInfo | None:
        """The last ``RateLimit-*`` headers ``registry`` sent (``None`` if it never did)."""
        gate = self._gates.get(registry_endpoint_host(registry).lower())
        return gate.rate_limit if gate is not None else None

    def registry_status(self) -> dict[str, dict[str, object]]:
        """Per host: requests, failures, circuit state, pause, last rate-limit headers."""
        return {host: gate.snapshot() for host, gate in sorted(self._gates.items())}

    # -- targets -----------------------------------------------------------------------

    def _resolve_or_error(self, request: ResolveRequest) -> Resolved | ResolveError:
        try:
            return self.resolve(request)
        except ResolveError as error:
            return error

    def _target(self, request: ResolveRequest) -> _Target:
        ref = request.reference
        registry = ref.registry or ""
        if ref.registry is not None and ref.tag is None and ref.digest is None:
            raise ResolveError(e.BAD_REQUEST, f"{ref}: neither tag nor digest", registry=registry)
        if request.import_mode not in IMPORT_MODES:
            raise ResolveError(
                e.BAD_REQUEST,
                f"{ref}: unknown importMode {request.import_mode!r} "
                f"(expected one of {sorted(IMPORT_MODES)})",
                registry=registry,
            )
        return self._target_for(ref, request.insecure, request.pull_secrets)

    def _target_for(
        self, ref: ImageReference, insecure: bool, pull_secrets: tuple[str, ...]
    ) -> _Target:
        if ref.registry is None:
            raise ResolveError(
                e.BAD_REQUEST,
                f"{ref}: unqualified reference; qualify it with a search registry first",
                registry="",
            )
        scheme = "http" if insecure else "https"
        host = registry_endpoint_host(ref.registry)
        return _Target(
            registry=ref.registry,
            repository=ref.repository,
            insecure=insecure,
            repo_base=f"{scheme}://{host}/v2/{ref.repository}/",
            scope=f"repository:{ref.repository}:pull",
            pull_secrets=pull_secrets,
        )

    def _manifest_by_digest(self, target: _Target, digest: str, what: str) -> bytes:
        get = self._call(
            "GET", target, httpx.URL(target.base + digest), read_body=MAX_MANIFEST_BYTES
        )
        _check_digest(target, get.content, digest, f"{what} {digest}")
        return get.content

    # -- one authorized call (auth, redirects) -------------------------------------------

    def _call(
        self,
        method: str,
        target: _Target,
        url: httpx.URL,
        *,
        read_body: int = 0,
        accept: str = MANIFEST_ACCEPT,
        verify: bool = True,
    ) -> _Reply:
        """One request with auth and redirects; a 2xx :class:`_Reply` or raise.

        ``read_body`` is the body size cap (0: no body wanted); ``verify`` checks a
        ``Docker-Content-Digest`` header against the body.
        """
        auth = self._cached_auth(target)
        fresh = False
        origin = url
        current = url
        redirects = 0
        while True:
            headers = {"Accept": accept, "User-Agent": self._user_agent}
            if auth is not None and _same_origin(current, origin):
                headers["Authorization"] = auth.reveal()
            reply = self._send(method, current, headers, target, read_body)
            status = reply.status
            if status in _REDIRECT_STATUSES:
                redirects += 1
                current = self._redirect_target(target, current, reply, redirects)
                continue
            challenged = status == 401 or (status == 403 and _insufficient_scope(reply.headers))
            if challenged and _same_origin(current, origin):
                if fresh:
                    raise self._rejected(target, method, reply, auth)
                auth = self._authenticate(target, reply.headers, stale=auth)
                fresh = True
                current = origin
                redirects = 0
                continue
            if 200 <= status < 300:
                if read_body and verify:
                    _verify_digest_header(target, reply)
                return reply
            raise self._status_error(target, method, reply)

    def _redirect_target(
        self, target: _Target, current: httpx.URL, reply: _Reply, count: int
    ) -> httpx.URL:
        if count > MAX_REDIRECTS:
            raise _fail(e.INVALID_RESPONSE, target, f"more than {MAX_REDIRECTS} redirects")
        location: str | None = reply.headers.get("location")
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

    # -- one HTTP exchange (limits, retries) ----------------------------------------------

    def _gate(self, url: httpx.URL) -> HostGate:
        key = url.netloc.decode("ascii").lower()
        gate = self._gates.get(key)
        if gate is None:
            with self._guard:
                gate = self._gates.get(key)
                if gate is None:
                    limits = self._limits.get(key) or self._limits.get(url.host.lower())
                    gate = HostGate(
                        key,
                        limits or self._default_limits,
                        concurrency=self._max_concurrency,
                        clock=lambda: self._clock(),
                    )
                    self._gates[key] = gate
        return gate

    def _send(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        target: _Target,
        read_body: int,
        what: str | None = None,
        *,
        form: dict[str, str] | None = None,
    ) -> _Reply:
        """Send once, retrying 429/5xx/timeouts/connection errors within the host's limits.

        Returns any non-transient answer (the body read only for a 2xx with ``read_body``, or
        a small error body for 4xx); raises when the retries are used up or the host is
        backed off.
        """
        gate = self._gate(url)
        limits = gate.limits
        what = what or method
        attempt = 0
        while True:
            try:
                wait = gate.admit()
            except GateClosed as closed:
                raise _fail(closed.reason, target, closed.detail) from None
            if wait > 0:
                self._sleep(wait)
            if form is not None:
                request = httpx.Request(
                    method, url, headers=headers, data=form, extensions=self._timeout_ext
                )
            else:
                request = httpx.Request(method, url, headers=headers, extensions=self._timeout_ext)
            failure: ResolveError
            delay: float | None = None
            try:
                with gate.slot:
                    response = self._transport.handle_request(request)
                    try:
                        status = response.status_code
                        if status not in _TRANSIENT_STATUSES:
                            gate.record_success()
                            gate.note_headers(response.headers)
                            if 200 <= status < 300 and read_body:
                                body = _read_capped(response, read_body, target, what)
                            elif status >= 400:
                                body = _read_error_body(response)
                            else:
                                # Drain (HEAD: nothing) so the connection goes back to the pool.
                                _read_error_body(response)
                                body = b""
                            return _reply(response, body)
                        body = _read_error_body(response)
                    finally:
                        response.close()
            except httpx.TimeoutException as exc:
                gate.record_failure()
                failure = _fail(e.TIMEOUT, target, f"{what} timed out ({type(exc).__name__})")
            except httpx.TransportError as exc:
                failure = _transport_failure(target, what, exc)
                if failure.reason == e.TLS_VERIFICATION_FAILED:
                    gate.release_probe()  # says nothing about the host's health
                    raise failure from None
                gate.record_failure()
            except BaseException:
                gate.release_probe()
                raise
            else:
                reply = _reply(response, body)
                if status == 429:
                    retry_after = parse_retry_after(
                        response.headers.get("retry-after"), self._wall_clock()
                    )
                    pause = (
                        retry_after
                        if retry_after is not None
                        else backoff_delay(attempt, limits, self._random)
                    )
                    gate.pause(pause)
                    gate.note_headers(response.headers)
                    failure = self._status_error(target, what, reply)
                    if retry_after is not None and retry_after > limits.retry_after_cap:
                        raise _fail(
                            e.TOO_MANY_REQUESTS,
                            target,
                            f"rate limited: HTTP 429 on {what}, Retry-After {retry_after:.0f}s "
                            f"exceeds the {limits.retry_after_cap:g}s we wait",
                        )
                    delay = 0.0  # admit() waits out the pause, for every thread alike
                else:
                    gate.record_failure()
                    failure = self._status_error(target, what, reply)
            attempt += 1
            if attempt > limits.max_retries:
                raise failure
            if delay is None:
                delay = backoff_delay(attempt - 1, limits, self._random)
            log.debug(
                "%s %s: %s; retry %d/%d in %.2fs",
                what,
                gate.host,
                failure.reason,
                attempt,
                limits.max_retries,
                delay,
            )
            if delay > 0:
                self._sleep(delay)

    def _status_error(self, target: _Target, method: str, reply: _Reply) -> ResolveError:
        status = reply.status
        codes = _error_codes(reply.content)
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

    # -- authentication ------------------------------------------------------------------

    def _credential(self, target: _Target) -> Credential | None:
        provider = self._credentials
        if provider is None:
            return None
        try:
            lookup = getattr(provider, "lookup", None)
            if lookup is not None:
                found: Credential | None = lookup(
                    target.registry, target.repository, secrets=target.pull_secrets
                )
                return found
            pair = provider(target.registry)  # type: ignore[operator]
        except CredentialsError as exc:
            raise _fail(e.UNAUTHORIZED, target, f"credentials unavailable: {exc}") from None
        if pair is None:
            return None
        username, password = pair
        return Credential(str(username), Secret(str(password)), "credentials provider")

    def _cached_auth(self, target: _Target) -> Secret | None:
        auth = self._auth.get(target.auth_key)
        if auth is not None and auth.expires_at > self._clock():
            return auth.header
        return None

    def _authenticate(
        self, target: _Target, headers: httpx.Headers, *, stale: Secret | None
    ) -> Secret:
        """Answer a challenge: a new ``Authorization`` value for ``target``."""
        challenges = _parse_challenges(headers.get_list("www-authenticate"))
        bearer = next((p for s, p in challenges if s == "bearer"), None)
        basic = next((p for s, p in challenges if s == "basic"), None)
        if bearer is None and basic is None:
            schemes = ", ".join(s for s, _ in challenges) or "no"
            raise _fail(
                e.UNAUTHORIZED,
                target,
                f"registry requires {schemes} authentication, which is not supported "
                "(Bearer and Basic are)",
            )
        key = target.auth_key
        with self._guard:
            lock = self._auth_locks.setdefault(key, threading.Lock())
        # One credential lookup and one token fetch per key even when many threads hit 401.
        with lock:
            current = self._cached_auth(target)
            if current is not None and current != stale:
                return current
            credential = self._credential(target)
            if bearer is not None:
                auth = self._fetch_token(target, bearer, credential)
            else:
                if credential is None or not (credential.username or credential.password):
                    raise _fail(
                        e.UNAUTHORIZED,
                        target,
                        "registry requires basic authentication and no credentials are "
                        f"configured for {target.registry}/{target.repository}"
                        + self._sources_hint(),
                    )
                raw = f"{credential.username}:{credential.password.reveal()}".encode()
                header = Secret("Basic " + base64.b64encode(raw).decode("ascii"))
                auth = _Auth(header, math.inf)
            self._auth[key] = auth
            return auth.header

    def _sources_hint(self) -> str:
        sources = getattr(self._credentials, "sources", None)
        if isinstance(sources, list) and sources:
            return " (looked in: " + ", ".join(str(s) for s in sources) + ")"
        return ""

    def _rejected(
        self, target: _Target, method: str, reply: _Reply, auth: Secret | None
    ) -> ResolveError:
        """A challenge again after fresh credentials: they are wrong or lack access."""
        self._auth.pop(target.auth_key, None)
        scheme = auth.reveal().split(" ", 1)[0] if auth is not None else ""
        credential = self._credential(target)
        what = f"HTTP {reply.status} on {method}"
        if _insufficient_scope(reply.headers):
            what += ", insufficient_scope"
        if credential is None:
            return _fail(
                e.UNAUTHORIZED,
                target,
                f"not authorized ({what}) and no credentials are configured for "
                f"{target.registry}/{target.repository}" + self._sources_hint(),
            )
        if scheme == "Basic":
            return _fail(
                e.UNAUTHORIZED,
                target,
                f"{target.registry} rejected the credentials from {credential.source} ({what})",
            )
        return _fail(
            e.UNAUTHORIZED,
            target,
            f"the token issued for the credentials from {credential.source} does not grant "
            f"pull on {target.repository} ({what})",
        )

    def _fetch_token(
        self, target: _Target, params: dict[str, str], credential: Credential | None
    ) -> _Auth:
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
        # insufficient_scope names the scope it wants; otherwise ask for pull on the repo.
        scope = params.get("scope") or target.scope
        service = params.get("service")
        where = f"token service {realm.host}"
        headers = {"Accept": _JSON_ACCEPT, "User-Agent": self._user_agent}
        form: dict[str, str] | None = None
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
            method, url = "POST", realm
        else:
            query = {"scope": scope}
            if service:
                query["service"] = service
            if credential is not None:
                raw = f"{credential.username}:{credential.password.reveal()}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
                query["account"] = credential.username
            method, url = "GET", realm.copy_merge_params(query)
        reply = self._send(method, url, headers, target, MAX_TOKEN_BYTES, where, form=form)
        status = reply.status
        if status in (401, 403):
            if credential is not None:
                raise _fail(
                    e.UNAUTHORIZED,
                    target,
                    f"{where} rejected the credentials from {credential.source} (HTTP {status})",
                )
            raise _fail(
                e.UNAUTHORIZED,
                target,
                f"{where} refused an anonymous token (HTTP {status}); no credentials are "
                f"configured for {target.registry}/{target.repository}" + self._sources_hint(),
            )
        if 300 <= status < 400:
            raise _fail(e.INVALID_RESPONSE, target, f"{where} redirected (HTTP {status})")
        if status != 200:
            raise _fail(e.INVALID_RESPONSE, target, f"{where} answered HTTP {status}")
        try:
            payload = json.loads(reply.content)
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
        early = min(lifetime * _TOKEN_EARLY_FRACTION, _TOKEN_EARLY_MAX)
        log.debug(
            "fetched a pull token for %s/%s from %s", target.registry, target.repository, realm.host
        )
        return _Auth(Secret(f"Bearer {value}"), self._clock() + lifetime - early)


# -- helpers ------------------------------------------------------------------------------


def _reply(response: httpx.Response, body: bytes) -> _Reply:
    return _Reply(
        status=response.status_code,
        headers=response.headers,
        content=body,
        digest="sha256:" + hashlib.sha256(body).hexdigest() if body else "",
        content_type=_bare_type(response.headers.get("content-type", "")),
    )


def _read_capped(response: httpx.Response, cap: int, target: _Target, what: str) -> bytes:
    length: str | None = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap:
        raise _fail(
            e.INVALID_RESPONSE,
            target,
            f"{what}: body of {length} bytes exceeds the {cap}-byte limit",
        )
    buf = bytearray()
    for chunk in response.iter_bytes():
        buf += chunk
        if len(buf) > cap:
            raise _fail(e.INVALID_RESPONSE, target, f"{what}: body exceeds the {cap}-byte limit")
    return bytes(buf)


def _read_error_body(response: httpx.Response) -> bytes:
    buf = bytearray()
    try:
        for chunk in response.iter_bytes():
            buf += chunk
            if len(buf) > MAX_ERROR_BYTES:
                return b""  # too large to be a distribution error document
    except httpx.HTTPError:
        return b""
    return bytes(buf)


def _digest_of(body: bytes, like: str) -> str:
    algorithm = like.partition(":")[0]
    if algorithm not in ("sha256", "sha512"):
        algorithm = "sha256"
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def _check_digest(target: _Target, body: bytes, expected: str, what: str) -> None:
    """Every body we read is checked against the digest it should have: one place."""
    actual = _digest_of(body, expected)
    if actual != expected:
        raise _fail(e.DIGEST_MISMATCH, target, f"{what} has content with digest {actual}")


def _verify_digest_header(target: _Target, reply: _Reply) -> None:
    claimed: str | None = reply.headers.get("docker-content-digest")
    if claimed is None:
        return
    if not _DIGEST_RE.fullmatch(claimed):
        raise _fail(e.INVALID_RESPONSE, target, "malformed Docker-Content-Digest header")
    _check_digest(target, reply.content, claimed, f"content the registry claims is {claimed}")


def _insufficient_scope(headers: httpx.Headers) -> bool:
    return any(
        params.get("error") == "insufficient_scope"
        for _, params in _parse_challenges(headers.get_list("www-authenticate"))
    )


def _next_link(values: list[str]) -> str | None:
    for value in values:
        match = _LINK_NEXT_RE.search(value)
        if match:
            return match.group(1)
    return None


def _image_config(digest: str, config_digest: str, body: bytes, target: _Target) -> ImageConfig:
    payload = _load_json(body, target, "image config")
    inner = payload.get("config")
    config: dict[str, Any] = inner if isinstance(inner, dict) else {}

    def text(value: object) -> str | None:
        return value if isinstance(value, str) and value else None

    def strings(value: object) -> tuple[str, ...]:
        if isinstance(value, list):
            return tuple(v for v in value if isinstance(v, str))
        return ()

    labels_raw = config.get("Labels")
    labels = {str(k): str(v) for k, v in labels_raw.items()} if isinstance(labels_raw, dict) else {}
    ports_raw = config.get("ExposedPorts")
    ports = tuple(sorted(str(p) for p in ports_raw)) if isinstance(ports_raw, dict) else ()
    volumes_raw = config.get("Volumes")
    return ImageConfig(
        digest=digest,
        config_digest=config_digest,
        created=text(payload.get("created")),
        os=text(payload.get("os")),
        architecture=text(payload.get("architecture")),
        variant=text(payload.get("variant")),
        labels=labels,
        exposed_ports=ports,
        env=strings(config.get("Env")),
        user=text(config.get("User")),
        working_dir=text(config.get("WorkingDir")),
        entrypoint=strings(config.get("Entrypoint")),
        cmd=strings(config.get("Cmd")),
        volumes=tuple(sorted(str(v) for v in volumes_raw)) if isinstance(volumes_raw, dict) else (),
    )


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
                f"({cause.verify_message}); trust its CA with --ca-bundle (importPolicy.insecure "
                "means plain HTTP here, not unverified TLS)",
                registry=target.registry,
            )
        cause = cause.__cause__ or cause.__context__
    return _fail(e.REGISTRY_UNAVAILABLE, target, f"{what} failed: {_transport_detail(exc)}")


def _transport_detail(exc: httpx.TransportError) -> str:
    # The class name is informative ("ConnectError") and cannot carry a secret; the message
    # is kept short because some carry the whole URL.
    text = str(exc).split("\n", 1)[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parse_challenges(values: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
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


def _error_codes(body: bytes) -> list[str]:
    """The distribution error codes in an error body, if it is small JSON."""
    if not body:
        return []
    try:
        payload = json.loads(body)
    except ValueError:
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
