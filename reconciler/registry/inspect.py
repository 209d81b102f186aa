"""Reading more than a digest from a registry, for the ``oc``-style verbs: the tags of a
repository (``import-image --all``), an image's config blob (``new-app``: exposed ports,
labels, volumes), and whether a manifest still exists (``prune``).

Written beside ``client.py`` rather than inside it (that module belongs to the digest
resolver); it follows the same rules: ``https`` unless the request is ``insecure`` (then
plain ``http``), Docker Hub's API host, the anonymous Bearer token flow with the realm
held to https for a secure registry, redirects followed by hand with ``Authorization``
only for the origin, size caps, blob digests verified, and every failure a
:class:`ResolveError` with a reason. Messages never carry a token.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from reconciler.core.references import (
    ImageReference,
    InvalidReference,
    parse_image_reference,
    registry_endpoint_host,
)
from reconciler.core.registries import BlockedRegistry, RegistriesConf
from reconciler.registry import errors as e
from reconciler.registry.client import MAX_MANIFEST_BYTES, Platform, _ssl_verify
from reconciler.registry.errors import ResolveError
from reconciler.registry.media_types import MANIFEST_ACCEPT, is_index

MAX_TAG_PAGES = 100
MAX_REDIRECTS = 3
_LINK_NEXT = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')

T = TypeVar("T")


@dataclass(frozen=True)
class Located:
    """Where one logical reference is asked: the logical name (what the lock records)
    and the rewritten place that answers."""

    logical: ImageReference
    endpoint: ImageReference
    insecure: bool


def locations(
    text: str | ImageReference, conf: RegistriesConf, insecure: bool = False
) -> list[Located]:
    """Every place to ask for ``text``: search registries for an unqualified name, then
    mirrors before the primary, as the resolver does. Raises ResolveError when blocked
    or not a reference."""
    try:
        ref = parse_image_reference(text) if isinstance(text, str) else text
    except InvalidReference as exc:
        raise ResolveError(e.BAD_REQUEST, str(exc), registry="") from None
    out: list[Located] = []
    blocked: list[str] = []
    for logical in conf.expand(ref):
        try:
            endpoints = conf.endpoints(logical, insecure)
        except BlockedRegistry as exc:
            blocked.append(str(exc))
            continue
        out.extend(Located(logical, ep.reference, ep.insecure) for ep in endpoints)
    if not out:
        raise ResolveError("Blocked", "; ".join(blocked) or f"no registry for {ref}", registry="")
    return out


def first_answer(places: list[Located], ask: Callable[[Located], T]) -> tuple[Located, T]:
    """Ask each place in turn; the first answer wins. A definite failure other than
    NotFound stops the search only if nothing else answers."""
    errors: list[ResolveError] = []
    for place in places:
        try:
            return place, ask(place)
        except ResolveError as failure:
            errors.append(failure)
    for known in errors:
        if known.reason != e.NOT_FOUND:
            raise known
    if len(errors) == 1:
        raise errors[0]
    raise ResolveError(
        e.NOT_FOUND,
        "not found in any of: " + "; ".join(err.message for err in errors),
        registry="",
    )


class Inspector:
    """A small registry reader over one ``httpx.Client``. Use as a context manager."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=transport,
            verify=_ssl_verify(verify),
        )
        self._tokens: dict[tuple[str, str], str] = {}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Inspector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public ------------------------------------------------------------------------

    def list_tags(
        self, ref: ImageReference, insecure: bool, limit: int | None = None, page_size: int = 100
    ) -> list[str]:
        """Tags of ``ref``'s repository in the registry's order, following ``Link`` pages;
        at most ``limit`` when given."""
        url: str | None = self._url(ref, insecure, "tags/list") + f"?n={page_size}"
        tags: list[str] = []
        pages = 0
        while url is not None and pages < MAX_TAG_PAGES:
            pages += 1
            response = self._get(ref, insecure, url, accept="application/json")
            payload = _json(response.content, ref, "tag list")
            page = payload.get("tags") or []
            if not isinstance(page, list):
                raise _fail(e.INVALID_RESPONSE, ref, "tag list without a tags array")
            tags.extend(str(t) for t in page)
            if limit is not None and len(tags) >= limit:
                return tags[:limit]
            link = response.headers.get("link", "")
            match = _LINK_NEXT.search(link)
            url = str(httpx.URL(url).join(match.group(1))) if match else None
        return tags

    def manifest(self, ref: ImageReference, insecure: bool) -> tuple[str, dict[str, Any]]:
        """The manifest (or index) ``ref`` names: (digest, parsed JSON)."""
        selector = ref.digest or ref.tag or "latest"
        response = self._get(
            ref, insecure, self._url(ref, insecure, f"manifests/{selector}"), MANIFEST_ACCEPT
        )
        digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        if ref.digest is not None and ref.digest != digest:
            raise _fail(
                e.DIGEST_MISMATCH, ref, f"asked for {ref.digest}, content hashes to {digest}"
            )
        return digest, _json(response.content, ref, "manifest")

    def image_config(
        self, ref: ImageReference, insecure: bool, platform: Platform | None = None
    ) -> dict[str, Any]:
        """The image config blob (``config.Labels``, ``config.ExposedPorts``, ``created``
        ...) of ``ref``; for an index, of the child for ``platform`` (linux/amd64)."""
        want = platform or Platform()
        digest, manifest = self.manifest(ref, insecure)
        media_type = str(manifest.get("mediaType") or "")
        if is_index(media_type) or isinstance(manifest.get("manifests"), list):
            child = _pick_child(manifest, want, ref)
            digest, manifest = self.manifest(
                ImageReference(ref.registry, ref.repository, None, child), insecure
            )
        config = manifest.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
            raise _fail(e.UNSUPPORTED_MEDIA_TYPE, ref, f"manifest {digest} has no config blob")
        blob_digest = str(config["digest"])
        response = self._get(ref, insecure, self._url(ref, insecure, f"blobs/{blob_digest}"), "*/*")
        actual = "sha256:" + hashlib.sha256(response.content).hexdigest()
        if actual != blob_digest:
            raise _fail(e.DIGEST_MISMATCH, ref, f"config {blob_digest} hashes to {actual}")
        return _json(response.content, ref, "image config")

    def exists(self, ref: ImageReference, insecure: bool) -> bool:
        """Whether the manifest ``ref`` names exists: False on 404 (NotFound), True on
        2xx; any other failure raises (the caller keeps what it cannot check)."""
        selector = ref.digest or ref.tag or "latest"
        try:
            self._request(
                "HEAD",
                ref,
                insecure,
                self._url(ref, insecure, f"manifests/{selector}"),
                MANIFEST_ACCEPT,
            )
        except ResolveError as error:
            if error.reason == e.NOT_FOUND:
                return False
            raise
        return True

    # -- internals ---------------------------------------------------------------------

    def _url(self, ref: ImageReference, insecure: bool, rest: str) -> str:
        if ref.registry is None:
            raise ResolveError(e.BAD_REQUEST, f"{ref}: unqualified reference", registry="")
        scheme = "http" if insecure else "https"
        return f"{scheme}://{registry_endpoint_host(ref.registry)}/v2/{ref.repository}/{rest}"

    def _get(self, ref: ImageReference, insecure: bool, url: str, accept: str) -> httpx.Response:
        return self._request("GET", ref, insecure, url, accept)

    def _request(
        self, method: str, ref: ImageReference, insecure: bool, url: str, accept: str
    ) -> httpx.Response:
        key = (ref.registry or "", ref.repository)
        origin = httpx.URL(url)
        current = origin
        retried = False
        redirects = 0
        while True:
            headers = {"Accept": accept}
            token = self._tokens.get(key)
            if token and _same_origin(current, origin):
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = self._client.request(method, current, headers=headers)
            except httpx.TimeoutException:
                raise _fail(e.TIMEOUT, ref, f"{method} timed out") from None
            except httpx.TransportError as exc:
                raise _fail(
                    e.REGISTRY_UNAVAILABLE, ref, f"{method} failed: {type(exc).__name__}"
                ) from None
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                redirects += 1
                location = response.headers.get("location")
                if redirects > MAX_REDIRECTS or not location:
                    raise _fail(e.INVALID_RESPONSE, ref, "too many redirects or no Location")
                nxt = current.join(location)
                if nxt.scheme not in ("http", "https") or (nxt.scheme == "http" and not insecure):
                    raise _fail(
                        e.INVALID_RESPONSE, ref, f"refusing redirect to {nxt.scheme}://{nxt.host}"
                    )
                current = nxt
                continue
            if status == 401 and not retried:
                retried = True
                self._tokens[key] = self._token(ref, insecure, response)
                current = origin
                continue
            if 200 <= status < 300:
                if len(response.content) > MAX_MANIFEST_BYTES:
                    raise _fail(e.INVALID_RESPONSE, ref, "answer exceeds the size limit")
                return response
            if status == 404:
                raise _fail(e.NOT_FOUND, ref, f"HTTP 404 on {method}")
            if status == 401:
                raise _fail(e.UNAUTHORIZED, ref, f"not authorized: HTTP 401 on {method}")
            if status == 403:
                raise _fail(e.FORBIDDEN, ref, f"access denied: HTTP 403 on {method}")
            if status == 429:
                raise _fail(e.TOO_MANY_REQUESTS, ref, "rate limited")
            if status >= 500:
                raise _fail(
                    e.REGISTRY_UNAVAILABLE, ref, f"registry error: HTTP {status} on {method}"
                )
            raise _fail(e.INVALID_RESPONSE, ref, f"unexpected HTTP {status} on {method}")

    def _token(self, ref: ImageReference, insecure: bool, challenge: httpx.Response) -> str:
        header = challenge.headers.get("www-authenticate", "")
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise _fail(
                e.UNAUTHORIZED, ref, f"registry requires {scheme or 'unknown'} authentication"
            )
        params = {
            m.group(1).lower(): (m.group(3) if m.group(2) is None else m.group(2))
            for m in _CHALLENGE_PARAM.finditer(rest)
        }
        realm_text = params.get("realm")
        if not realm_text:
            raise _fail(e.UNAUTHORIZED, ref, "Bearer challenge without a realm")
        realm = httpx.URL(realm_text)
        if realm.scheme not in (("http", "https") if insecure else ("https",)):
            raise _fail(e.UNAUTHORIZED, ref, f"refusing token realm {realm.scheme}://{realm.host}")
        query = {"scope": params.get("scope") or f"repository:{ref.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        try:
            response = self._client.get(realm, params=query)
        except httpx.HTTPError:
            raise _fail(e.REGISTRY_UNAVAILABLE, ref, f"token service {realm.host} failed") from None
        if response.status_code != 200:
            raise _fail(
                e.UNAUTHORIZED,
                ref,
                f"token service {realm.host} answered HTTP {response.status_code}",
            )
        payload = _json(response.content, ref, "token answer")
        value = payload.get("token") or payload.get("access_token")
        if not isinstance(value, str) or not value:
            raise _fail(e.INVALID_RESPONSE, ref, "token service answered without a token")
        return value


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return a.scheme == b.scheme and a.host == b.host and a.port == b.port


def _fail(reason: str, ref: ImageReference, detail: str) -> ResolveError:
    return ResolveError(reason, f"{ref.name}: {detail}", registry=ref.registry or "")


def _json(body: bytes, ref: ImageReference, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise _fail(e.INVALID_RESPONSE, ref, f"{what} is not JSON") from None
    if not isinstance(payload, dict):
        raise _fail(e.INVALID_RESPONSE, ref, f"{what} is not a JSON object")
    return payload


def _pick_child(index: dict[str, Any], want: Platform, ref: ImageReference) -> str:
    for entry in index.get("manifests") or []:
        if not isinstance(entry, dict):
            continue
        platform = entry.get("platform") or {}
        if (
            platform.get("os") == want.os
            and platform.get("architecture") == want.architecture
            and (want.variant is None or platform.get("variant") == want.variant)
            and isinstance(entry.get("digest"), str)
        ):
            return str(entry["digest"])
    raise _fail(e.NO_MATCHING_PLATFORM, ref, f"no manifest for {want} in the index")
