"""Resolve image tags to content digests over the OCI distribution protocol: the facade.

Owns: :class:`RegistryClient`, the small public surface the rest of the program uses
(:meth:`~RegistryClient.resolve`, :meth:`~RegistryClient.resolve_many`,
:meth:`~RegistryClient.list_tags`, :meth:`~RegistryClient.image_config`,
:meth:`~RegistryClient.rate_limit`, :meth:`~RegistryClient.registry_status`, and for
what is stored beside an image, such as its signatures, :meth:`~RegistryClient.manifest`,
:meth:`~RegistryClient.blob` and :meth:`~RegistryClient.referrers`): which
requests one operation makes (HEAD, then GET of the manifest by digest unless HEAD names
the digest already pinned; the index child for ``Legacy``; the config blob), the
bounded thread pool of ``resolve_many``, and the wiring of the parts, each in its own
module:

- ``reconciler.registry.transport``: sending (limits, retries, redirects, size caps);
- ``reconciler.registry.auth``: challenges, tokens and Basic as an ``httpx.Auth`` flow;
- ``reconciler.registry.manifests``: what bodies mean (media types, platforms, digests);
- ``reconciler.registry.models``: the request and answer values;
- ``reconciler.registry.tagclient``: the tag-list methods (the client's base class) and
  the page requests a listing makes;
- ``reconciler.registry.taglists``: tag lists once per pass, within a budget;
- ``reconciler.registry.tagcache``: the tag-list pages kept between passes;
- ``reconciler.core.platforms``: :class:`~reconciler.core.platforms.Platform`.

Must not: decide *which* tags to resolve or what to do with a failure (the reconcile pass
does), parse reference text (``reconciler.core.references`` does), log or raise anything
containing a token or credential, or read the clock or sleep except through the functions
it was given.
"""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

import httpx

from reconciler.core.references import ImageReference
from reconciler.registry import errors as e
from reconciler.registry import manifests
from reconciler.registry.auth import CredentialLookup, CredentialsProvider, RegistryAuth, TokenCache
from reconciler.registry.deadlines import DeadlineTransport
from reconciler.registry.errors import ResolveError
from reconciler.registry.limits import RateLimitInfo, RegistryLimits
from reconciler.registry.media_types import (
    DOCKER_CONFIG,
    MANIFEST_ACCEPT,
    OCI_CONFIG,
    OCI_INDEX,
    is_index,
    is_manifest,
)
from reconciler.registry.models import IMPORT_MODES, ImageConfig, Resolved, ResolveRequest
from reconciler.registry.tagcache import TagListCache
from reconciler.registry.tagclient import TagListClient
from reconciler.registry.taglists import TagLister
from reconciler.registry.targets import Target, target_for
from reconciler.registry.transport import Reply, Transport, ssl_verify

__all__ = ["USER_AGENT", "RegistryClient"]

USER_AGENT = "imagestream-reconciler"
_BLOB_ACCEPT = f"{OCI_CONFIG}, {DOCKER_CONFIG}, application/json, */*"


class RegistryClient(TagListClient):
    """Resolves :class:`ResolveRequest` objects to :class:`Resolved` digests.

    Thread-safe: :meth:`resolve` may be called from several threads; :meth:`resolve_many`
    fans out over an internal pool of ``max_concurrency`` threads sharing one keep-alive
    connection pool. ``limits`` maps a registry (``quay.io``, ``127.0.0.1:5000``; ``docker.io``
    means its API host) to :class:`RegistryLimits`; ``default_limits`` applies elsewhere.
    ``credentials`` is a :class:`CredentialLookup` (or an older :class:`CredentialsProvider`);
    ``tokens`` the cache of ``Authorization`` values (a new, empty one by default).
    ``timeout`` is the total deadline of one request in seconds: connect, headers and body,
    across the token request and redirects (each retry has its own; see
    :mod:`reconciler.registry.deadlines`).

    ``clock`` (monotonic: token expiry, pauses, circuit), ``wall_clock`` (Unix time: HTTP-date
    ``Retry-After``, when a tag list page was listed), ``sleep`` and ``jitter`` (backoff
    randomness in [0, 1)) default to the real ones; tests pass fakes.

    Tag lists (:meth:`list_tags`) go through ``tag_lists`` (a :class:`TagListCache`; a new
    in-memory one by default: a daemon keeps its client, and so its cache, across passes),
    at most ``tag_list_budget`` page requests per registry per pass (None: no limit), a
    page without validators asked again once it is ``tag_list_max_age`` seconds old (see
    :mod:`reconciler.registry.taglists`). :meth:`begin_pass` starts a pass; :meth:`close`
    writes a file-backed cache.
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
        tokens: TokenCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        tag_lists: TagListCache | None = None,
        tag_list_budget: int | None = None,
        tag_list_max_age: float = 900.0,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._default_limits = default_limits or RegistryLimits()
        self._transport = Transport(
            transport
            or DeadlineTransport(
                verify=ssl_verify(verify),
                limits=httpx.Limits(
                    max_connections=max_concurrency + 4,
                    max_keepalive_connections=max_concurrency + 4,
                ),
            ),
            concurrency=max_concurrency,
            limits=limits or {},
            default_limits=self._default_limits,
            deadline=timeout,
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            jitter=jitter,
        )
        self._timeout_ext = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._user_agent = user_agent
        self._pool = ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="registry-resolve"
        )
        self._credentials = credentials
        self._tokens = tokens if tokens is not None else TokenCache()
        self._clock = clock
        lister = TagLister(
            tag_lists if tag_lists is not None else TagListCache(clock=wall_clock),
            budget=tag_list_budget,
            max_age=tag_list_max_age,
            clock=wall_clock,
        )
        super().__init__(lister, wall_clock)
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        self._transport.close()
        self._lister.finish()

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
        """Resolve one request; raise :class:`ResolveError` on any failure.

        A digest is read before it is pinned: unless it is ``request.known_digest`` (pinned
        already, so read when it was pinned), the manifest is fetched by that digest, its
        bytes checked against it and parsed as a manifest or index of a known media type.
        A HEAD that names the known digest is the whole answer (one request per tag when
        nothing changed); a HEAD that names another one is only a pointer to what to read.
        """
        target = self._target(request)
        ref = request.reference
        selector = ref.digest or ref.tag
        assert selector is not None  # _target checked
        legacy = request.import_mode == "Legacy"

        head = self._call("HEAD", target, target.base + selector)
        digest: str | None = head.headers.get("docker-content-digest")
        media_type = manifests.bare_type(head.headers.get("content-type", ""))
        if digest is not None and not manifests.DIGEST_RE.fullmatch(digest):
            raise target.fail(
                e.INVALID_RESPONSE, f"{selector}: malformed Docker-Content-Digest header"
            )
        body: bytes | None = None
        if (
            digest is None
            or not digest.startswith("sha256:")
            or not (is_index(media_type) or is_manifest(media_type))
        ):
            # HEAD did not tell us enough; the body is the authority (and is verified).
            body, media_type = self._read_manifest(target, selector)
            digest = manifests.sha256_digest(body)
        elif digest != request.known_digest or (legacy and is_index(media_type)):
            # New (or an index whose platform child we must choose): read what we pin.
            body, media_type = self._read_manifest(target, digest)

        if ref.digest is not None and digest != ref.digest:
            raise target.fail(
                e.DIGEST_MISMATCH, f"asked for {ref.digest} but the registry answered {digest}"
            )

        if not is_index(media_type) or not legacy:
            return Resolved(digest=digest, media_type=media_type)

        assert body is not None  # an index is always read in Legacy mode
        child_digest, child_type = manifests.choose_platform(body, request.platform, target)
        if child_digest != request.known_digest:
            _, child_type = self._read_manifest(target, child_digest)
            if not is_manifest(child_type):
                raise target.fail(
                    e.INVALID_RESPONSE,
                    f"index entry {child_digest} for {request.platform} is not a "
                    f"single-platform manifest ({child_type})",
                )
        return Resolved(digest=child_digest, media_type=child_type, index_digest=digest)

    def resolve_many(
        self, requests: Sequence[ResolveRequest]
    ) -> dict[ResolveRequest, Resolved | ResolveError]:
        """Resolve all requests concurrently (bounded); duplicates are resolved once."""
        unique = list(dict.fromkeys(requests))
        if len(unique) <= 1:
            return {request: self._resolve_or_error(request) for request in unique}
        # Each worker runs in the caller's context (its context variables: a log line's
        # pass id).
        futures = {
            request: self._pool.submit(
                contextvars.copy_context().run, self._resolve_or_error, request
            )
            for request in unique
        }
        return {request: future.result() for request, future in futures.items()}

    def image_config(self, request: ResolveRequest) -> ImageConfig:
        """The config blob of the image ``request`` pins (``Legacy``: its platform child)."""
        legacy = ResolveRequest(
            request.reference,
            insecure=request.insecure,
            import_mode="Legacy",
            platform=request.platform,
            pull_secrets=request.pull_secrets,
            namespace=request.namespace,
            logical_registry=request.logical_registry,
        )
        resolved = self.resolve(legacy)
        target = self._target(legacy)
        body = self._manifest_by_digest(target, resolved.digest, "manifest")
        config_digest = manifests.config_digest(body, target)
        blob = self._call(
            "GET",
            target,
            target.repo_base + "blobs/" + config_digest,
            read_body=manifests.MAX_CONFIG_BYTES,
            accept=_BLOB_ACCEPT,
            verify=False,
        )
        manifests.check_digest(target, blob.content, config_digest, f"config blob {config_digest}")
        return manifests.image_config(resolved.digest, config_digest, blob.content, target)

    def manifest(
        self,
        reference: ImageReference,
        *,
        insecure: bool = False,
        pull_secrets: tuple[str, ...] = (),
    ) -> tuple[bytes, str]:
        """The manifest ``reference`` names by tag or digest: its bytes (checked against
        the digest asked for, and against a ``Docker-Content-Digest`` header) and its media
        type (a manifest or index of a known type, parsed; else raise)."""
        target = target_for(reference, insecure, pull_secrets)
        selector = reference.digest or reference.tag
        if selector is None:
            raise target.fail(e.BAD_REQUEST, f"{reference}: neither tag nor digest")
        return self._read_manifest(target, selector)

    def blob(
        self,
        reference: ImageReference,
        digest: str,
        *,
        max_bytes: int,
        insecure: bool = False,
        pull_secrets: tuple[str, ...] = (),
    ) -> bytes:
        """The blob ``digest`` of ``reference``'s repository, at most ``max_bytes``, its
        bytes checked against the digest."""
        target = target_for(reference, insecure, pull_secrets)
        if not manifests.DIGEST_RE.fullmatch(digest):
            raise target.fail(e.INVALID_RESPONSE, f"blob digest {digest!r} is malformed")
        reply = self._call(
            "GET",
            target,
            target.repo_base + "blobs/" + digest,
            read_body=max_bytes,
            accept="*/*",
            verify=False,
        )
        manifests.check_digest(target, reply.content, digest, f"blob {digest}")
        return reply.content

    def referrers(
        self,
        reference: ImageReference,
        digest: str,
        *,
        artifact_type: str | None = None,
        insecure: bool = False,
        pull_secrets: tuple[str, ...] = (),
    ) -> list[dict[str, object]] | None:
        """The OCI 1.1 referrers of ``digest`` (``GET /v2/<name>/referrers/<digest>``):
        their descriptors, of ``artifact_type`` only when given (filtered here too, since a
        registry may ignore the filter). None when the registry has no referrers API (a
        404, as registries before distribution 3 answer)."""
        target = target_for(reference, insecure, pull_secrets)
        if not manifests.DIGEST_RE.fullmatch(digest):
            raise target.fail(e.INVALID_RESPONSE, f"digest {digest!r} is malformed")
        url = httpx.URL(target.repo_base + "referrers/" + digest)
        if artifact_type:
            url = url.copy_merge_params({"artifactType": artifact_type})
        try:
            reply = self._call(
                "GET",
                target,
                url,
                read_body=manifests.MAX_MANIFEST_BYTES,
                accept=OCI_INDEX,
                verify=False,
            )
        except ResolveError as error:
            if error.reason == e.NOT_FOUND:
                return None
            raise
        return manifests.referrer_descriptors(reply.content, target, artifact_type)

    def rate_limit(self, registry: str) -> RateLimitInfo | None:
        """The last ``RateLimit-*`` headers ``registry`` sent (``None`` if it never did)."""
        return self._transport.rate_limit(registry)

    def registry_status(self) -> dict[str, dict[str, object]]:
        """Per host: requests, failures, circuit state, pause, last rate-limit headers."""
        return self._transport.status()

    def observe_responses(self, callback: Callable[[str, str], None] | None) -> None:
        """Call ``callback(host, code)`` for every request sent (each retry too): the
        status code as text, or ``"error"`` when no answer came (timeout, connection or
        TLS failure). It runs in the requesting thread and must be quick."""
        self._transport.on_response = callback

    # -- targets and calls ---------------------------------------------------------------

    def _resolve_or_error(self, request: ResolveRequest) -> Resolved | ResolveError:
        try:
            return self.resolve(request)
        except ResolveError as error:
            return error

    def _target(self, request: ResolveRequest) -> Target:
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
        return target_for(
            ref,
            request.insecure,
            request.pull_secrets,
            namespace=request.namespace,
            logical_registry=request.logical_registry,
        )

    def _read_manifest(self, target: Target, reference: str) -> tuple[bytes, str]:
        """GET a manifest by tag or digest: its bytes (checked against the digest asked
        for, and against a ``Docker-Content-Digest`` header) and its media type (parsed:
        a manifest or index of a known type, or raise)."""
        get = self._call(
            "GET", target, target.base + reference, read_body=manifests.MAX_MANIFEST_BYTES
        )
        body = get.content
        if manifests.DIGEST_RE.fullmatch(reference):
            manifests.check_digest(target, body, reference, f"manifest {reference}")
        content_type = manifests.bare_type(get.headers.get("content-type", ""))
        return body, manifests.manifest_media_type(content_type, body, target, reference)

    def _manifest_by_digest(self, target: Target, digest: str, what: str) -> bytes:
        get = self._call(
            "GET", target, target.base + digest, read_body=manifests.MAX_MANIFEST_BYTES
        )
        manifests.check_digest(target, get.content, digest, f"{what} {digest}")
        return get.content

    def _call(
        self,
        method: str,
        target: Target,
        url: httpx.URL | str,
        *,
        read_body: int = 0,
        accept: str = MANIFEST_ACCEPT,
        verify: bool = True,
        headers: Mapping[str, str] | None = None,
        also_accept: frozenset[int] = frozenset(),
    ) -> Reply:
        """One authorized request (redirects followed); a 2xx reply (or one of
        ``also_accept``) or raise.

        ``read_body`` is the body size cap (0: no body wanted); ``verify`` checks a
        ``Docker-Content-Digest`` header against the body; ``headers`` are added.
        """
        request = httpx.Request(
            method,
            url,
            headers={"Accept": accept, "User-Agent": self._user_agent, **(headers or {})},
            extensions=self._timeout_ext,
        )
        auth = RegistryAuth(
            target,
            tokens=self._tokens,
            credentials=self._credentials,
            clock=self._clock,
            user_agent=self._user_agent,
        )
        response = self._transport.call(request, target, auth, read_body, also_accept)
        if read_body and verify:
            claimed = response.headers.get("docker-content-digest")
            manifests.verify_digest_header(target, response.content, claimed)
        return response
