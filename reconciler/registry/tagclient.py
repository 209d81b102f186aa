"""The tag-list half of the registry client: a repository's tags, listed over HTTP.

Owns: :class:`TagListClient`, the base of :class:`~reconciler.registry.client.RegistryClient`
that holds its tag-list surface (:meth:`~TagListClient.list_tags`,
:meth:`~TagListClient.list_tags_detail`, the pass boundary
:meth:`~TagListClient.begin_pass`, :meth:`~TagListClient.listing_notes`,
:meth:`~TagListClient.tag_list_status`, :meth:`~TagListClient.invalidate_tag_list`), and
the requests a listing makes: the first page (``n`` from the page size), one page
(conditional when the cached page has validators: a 304 renews it; at most
:data:`MAX_TAG_PAGE_BYTES`), which names in it are tags, and the next page (the ``Link``
header's, on the first page's scheme and host only, or, from a registry that sends no
``Link``, the spec's ``last``).

Must not: send except through the client's one authorized request (``_call``: auth,
limits, retries, size caps), decide which pages to ask or keep
(``reconciler.registry.taglists`` and ``reconciler.registry.tagcache`` do), or read the
clock except through ``wall_clock``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypedDict, Unpack

import httpx

from reconciler.core.references import ImageReference, registry_endpoint_host
from reconciler.registry import errors as e
from reconciler.registry import manifests
from reconciler.registry.tagcache import TagPage, header_safe, renewed
from reconciler.registry.taglists import TagLister, TagListing
from reconciler.registry.targets import Target, target_for
from reconciler.registry.transport import Reply

__all__ = ["MAX_TAG_PAGE_BYTES", "TagListClient"]

MAX_TAG_PAGE_BYTES = 8 * 1024 * 1024
_JSON_ACCEPT = "application/json"
_LINK_NEXT_RE = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)
_NOT_MODIFIED = frozenset({304})
# A tag as the distribution spec allows it; a name in a tag list that is not one cannot
# be pulled by reference, and is dropped.
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


class ListOptions(TypedDict, total=False):
    """The options of :meth:`TagListClient.list_tags_detail`, for the calls that pass
    them on."""

    insecure: bool
    limit: int | None
    page_size: int | None
    pull_secrets: tuple[str, ...]
    namespace: str | None
    logical_registry: str | None


class TagListClient:
    """Lists repositories through ``lister`` (once per pass, within a budget, cached),
    each page asked with :meth:`_call`; ``wall_clock`` (Unix time) says when a page was
    listed."""

    # The client's one authorized request (``RegistryClient._call``): method, target, URL
    # and keyword options; a 2xx reply (or one of ``also_accept``), or it raises.
    _call: Callable[..., Reply]

    def __init__(self, lister: TagLister, wall_clock: Callable[[], float]) -> None:
        self._lister = lister
        self._wall_clock = wall_clock

    def list_tags(self, reference: ImageReference, **options: Unpack[ListOptions]) -> list[str]:
        """The repository's tags, in the registry's order, each once (see
        :meth:`list_tags_detail`, which says how they were had, and takes the same
        options)."""
        return list(self.list_tags_detail(reference, **options).tags)

    def list_tags_detail(
        self,
        reference: ImageReference,
        *,
        insecure: bool = False,
        limit: int | None = None,
        page_size: int | None = None,
        pull_secrets: tuple[str, ...] = (),
        namespace: str | None = None,
        logical_registry: str | None = None,
    ) -> TagListing:
        """The repository's tags with how they were had (requests, 304s, stale pages).

        Listed at most once per pass (:meth:`begin_pass`); pages come from the cache while
        fresh, else from the registry within this pass's budget, else from the cache past
        their freshness (a note says so: :meth:`listing_notes`), else the listing fails
        ``RequestBudgetSpent``. ``page_size`` is sent as ``n``; the next page is the
        ``Link`` header's (same scheme and host only), or, when the registry sends none but
        answered exactly ``n`` tags, ``n`` tags after the last (the spec's ``last``).
        ``limit`` stops early (e.g. ``maxImagesBulkImportedPerRepository``).
        """
        target = target_for(
            reference,
            insecure,
            pull_secrets,
            namespace=namespace,
            logical_registry=logical_registry,
        )
        first = httpx.URL(target.repo_base + "tags/list")
        if page_size is not None:
            first = first.copy_merge_params({"n": str(page_size)})

        def fetch(url: str, cached: TagPage | None, via_link: bool) -> tuple[TagPage, bool]:
            return self._tag_page(target, httpx.URL(url), first, page_size, cached, via_link)

        return self._lister.listing(target, str(first), fetch, limit=limit)

    def begin_pass(self) -> None:
        """A new pass starts: each repository may be listed again (once), and each
        registry's tag-list budget is whole again."""
        self._lister.begin_pass()

    def listing_notes(self) -> list[str]:
        """For people, this pass: the tag lists taken from the cache because the budget
        was spent (for a plan's notes and the daemon's log)."""
        return self._lister.notes()

    def tag_list_status(self) -> dict[str, dict[str, int | None]]:
        """Per registry host this pass: the tag-list budget, what is left of it, and the
        pages fetched, renewed by a 304, taken fresh from the cache, or taken stale."""
        return self._lister.status()

    def invalidate_tag_list(self, registry: str, repository: str) -> int:
        """Forget the cached tag list of ``registry/repository`` (a push notification
        named it); returns the pages forgotten."""
        return self._lister.cache.invalidate(registry_endpoint_host(registry), repository)

    def _tag_page(
        self,
        target: Target,
        url: httpx.URL,
        origin: httpx.URL,
        page_size: int | None,
        cached: TagPage | None,
        via_link: bool,
    ) -> tuple[TagPage, bool]:
        """One page of a tag list: asked conditionally when ``cached`` has validators
        (a 304 renews it); its next page from ``Link`` or, from a registry that does not
        send one (no ``Link`` led here), ``last``."""
        headers = {}
        if cached is not None and cached.etag is not None:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified is not None:
            headers["If-Modified-Since"] = cached.last_modified
        reply = self._call(
            "GET",
            target,
            url,
            read_body=MAX_TAG_PAGE_BYTES,
            accept=_JSON_ACCEPT,
            verify=False,
            headers=headers,
            also_accept=_NOT_MODIFIED if headers else frozenset(),
        )
        now = self._wall_clock()
        etag = reply.headers.get("etag")
        last_modified = reply.headers.get("last-modified")
        if reply.status_code == 304:
            assert cached is not None  # only a conditional request accepts a 304
            return renewed(cached, now, etag, last_modified), True
        payload = manifests.load_json(reply.content, target, "tag list")
        page = payload.get("tags")
        if page is None:
            page = []
        if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
            raise target.fail(e.INVALID_RESPONSE, "tag list 'tags' is not a list of names")
        tags = tuple(t for t in page if _TAG_RE.fullmatch(t))
        link = _next_link(reply.headers.get_list("link"))
        nxt: httpx.URL | None = None
        if link is not None:
            try:
                nxt = url.join(link)
            except httpx.InvalidURL:
                raise target.fail(e.INVALID_RESPONSE, "tag list next link is invalid") from None
            if (nxt.scheme, nxt.host, nxt.port) != (origin.scheme, origin.host, origin.port):
                raise target.fail(
                    e.INVALID_RESPONSE,
                    f"refusing tag list next link to {nxt.scheme}://{nxt.host}: "
                    "pagination must stay on the registry's scheme and host",
                )
        elif page_size and len(page) == page_size and page and not via_link:
            # Exactly n and no Link from a registry that sends none: the spec's older
            # pagination, n tags after the last. (A registry that ignores both answers the
            # same again: the lister stops.) A registry that sends Links ends with none.
            nxt = url.copy_merge_params({"n": str(page_size), "last": page[-1]})
        return (
            TagPage(
                tags=tags,
                next_url=str(nxt) if nxt is not None else None,
                etag=header_safe(etag),
                last_modified=header_safe(last_modified),
                fetched_at=now,
                linked=link is not None,
            ),
            False,
        )


def _next_link(values: list[str]) -> str | None:
    for value in values:
        match = _LINK_NEXT_RE.search(value)
        if match:
            return match.group(1)
    return None
