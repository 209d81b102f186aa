"""Tag lists: what one pass may spend on them, and how a repository is listed.

Owns: :class:`TagLister`, which lists a repository through a
:class:`~reconciler.registry.tagcache.TagListCache` (the pages kept between passes, and
the CLI's file), and :class:`TagListing`, what one listing found and how:


- **once per pass.** A repository (same first URL, page size and pull secrets) is listed
  at most once between two :meth:`TagLister.begin_pass` calls; every later caller, in any
  thread, gets that answer (or that failure).
- **fresh pages are not asked again.** A page the registry answered less than
  ``max_age`` seconds ago is used as it is: no request. An older one is asked again,
  conditionally (``If-None-Match``/``If-Modified-Since``) when the registry sent an
  ``ETag`` or ``Last-Modified`` with it: a 304 renews the page without a body. Distribution
  (the ``docker-registry`` package, 2.8) sends neither on ``/tags/list``, so ``max_age``
  is the refresh rule there.
- **a budget per registry per pass.** Each page request takes one from the registry's
  budget (its retries do not). A list the cache holds whole has its expired pages asked
  oldest first, as many as the budget has left; the others are used as cached, and
  :meth:`TagLister.notes` says the list was stale. A list the cache holds in part (a
  first listing the budget cut short) spends the budget on the pages it never had, and
  goes on in the next pass; until it is whole the listing fails ``RequestBudgetSpent``
  (retryable). When a refresh moves the pages (a new tag shifts every ``last`` after it)
  and the budget runs out before the new ones, the whole list as cached is the answer.
  A host whose budget ran out is refreshed round-robin: in the next pass, pages asked in
  the short pass count as fresh, so the budget goes to the pages (and repositories) that
  were not.


Must not: import httpx or send anything (the client hands :meth:`TagLister.listing` a
function that fetches one page, a :data:`Fetch`); decide which repositories to list
(policies do); read or write the cache file (``reconciler.registry.tagcache`` does).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.registry import errors as e
from reconciler.registry.errors import ResolveError
from reconciler.registry.tagcache import FUTURE_SLACK, PageKey, TagListCache, TagPage, url_origin
from reconciler.registry.targets import Target

__all__ = [
    "MAX_TAG_PAGES",
    "Fetch",
    "TagLister",
    "TagListing",
]

MAX_TAG_PAGES = 10_000  # pages in one listing
# Tags in one listing (node has 9,036): a registry's pages of 8 MiB each hold ~1,000,000
# names, so pages alone would let one listing take gigabytes.
MAX_LISTING_TAGS = 500_000


@dataclass(frozen=True, slots=True)
class TagListing:
    """A repository's tags as one listing found them: in the registry's order, each once.

    ``requests``: page requests this listing sent (0: every page fresh in the cache);
    ``not_modified``: how many of them the registry answered 304; ``stale_since``: when
    the oldest page used past its freshness (the budget was spent) was listed, else None.
    """

    tags: tuple[str, ...]
    pages: int
    requests: int
    not_modified: int
    stale_since: float | None


# Fetches one page: (url, the cached page when it has validators to send, whether a Link
# led here) -> (the page, whether the registry answered 304).
Fetch = Callable[[str, TagPage | None, bool], tuple[TagPage, bool]]


class TagLister:
    """Lists repositories through a :class:`TagListCache` within a per-pass budget.

    ``budget``: page requests per registry host per pass (None: no limit). ``max_age``:
    seconds a page stays fresh (0: every listing asks again). ``clock``: Unix time.
    """

    def __init__(
        self,
        cache: TagListCache,
        *,
        budget: int | None = None,
        max_age: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if budget is not None and budget < 1:
            raise ValueError("the tag list budget must be at least 1")
        if max_age < 0:
            raise ValueError("max_age must not be negative")
        self.cache = cache
        self.budget = budget
        self.max_age = max_age
        self._clock = clock
        self._guard = threading.Lock()
        self._inflight: dict[tuple[str, str, int | None], threading.Lock] = {}
        self._memo: dict[tuple[str, str, int | None], TagListing | ResolveError] = {}
        self._spent: dict[str, int] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._notes: dict[str, str] = {}
        self._short: dict[str, float] = {}  # hosts whose budget ran out this pass
        self._vouched: set[PageKey] = set()  # pages the registry answered this pass
        self._started = clock()

    # -- passes ---------------------------------------------------------------------------

    def begin_pass(self) -> None:
        """A new pass: every repository may be listed once more, each registry's budget is
        whole again, and the last pass's notes and counts go. Hosts whose budget ran out
        in the pass that ends are remembered for the round-robin."""
        self.cache.sweep()  # bounded: what no listing used for a week goes
        with self._guard:
            self._end_pass()
            self._memo.clear()
            self._inflight.clear()
            self._spent.clear()
            self._counts.clear()
            self._notes.clear()
            self._short.clear()
            self._vouched.clear()
            self._started = self._clock()

    def _end_pass(self) -> None:
        if self._short or self._memo:
            self.cache.set_short(self._short)

    def finish(self) -> None:
        """The last pass ended (the client closes): remember it, write the file if any."""
        with self._guard:
            self._end_pass()
        self.cache.save()

    def notes(self) -> list[str]:
        """For people: the lists this pass took from the cache past their freshness."""
        with self._guard:
            return [self._notes[k] for k in sorted(self._notes)]

    def status(self) -> dict[str, dict[str, int | None]]:
        """Per registry host this pass: the budget, what is left of it, and the pages by
        where they came from (``fetched``: a 200, ``not_modified``: a 304, ``cached``: fresh,
        no request, ``stale``: past freshness, the budget spent)."""
        with self._guard:
            out: dict[str, dict[str, int | None]] = {}
            for host in sorted(set(self._spent) | set(self._counts)):
                spent = self._spent.get(host, 0)
                counts = self._counts.get(host, {})
                out[host] = {
                    "budget": self.budget,
                    "spent": spent,
                    "remaining": None if self.budget is None else max(0, self.budget - spent),
                    **{k: counts.get(k, 0) for k in ("fetched", "not_modified", "cached", "stale")},
                }
            return out

    # -- one listing ----------------------------------------------------------------------

    def listing(
        self, target: Target, first_url: str, fetch: Fetch, *, limit: int | None = None
    ) -> TagListing:
        """The tags of ``target``'s repository from ``first_url`` on, at most ``limit``."""
        identity = ",".join(target.pull_secrets)
        key = (first_url, identity, limit)
        with self._guard:
            lock = self._inflight.setdefault(key, threading.Lock())
        with lock:  # one listing per repository per pass, however many threads ask
            found = self._memo.get(key)
            if found is None:
                try:
                    found = self._list(target, first_url, identity, fetch, limit)
                except ResolveError as error:
                    found = error
                self._memo[key] = found
        if isinstance(found, ResolveError):
            # A copy: the same instance raised in several threads would share a traceback.
            raise ResolveError(
                found.reason, found.message, registry=found.registry, retryable=found.retryable
            )
        return found

    def _list(
        self, target: Target, first_url: str, identity: str, fetch: Fetch, limit: int | None
    ) -> TagListing:
        origin = url_origin(first_url)
        host = origin[1]
        # Which expired pages this listing may ask again. A list the cache holds whole:
        # the oldest first, as many as the budget has left (the rest are used stale and
        # refreshed in a later pass). A list it holds in part (a first listing the budget
        # cut short): none, so the budget goes to the pages never listed.
        chain, complete = self._cached_chain(first_url, identity)
        left = self._left(host)
        if left is None:
            refresh: set[str] | None = None  # no budget: every expired page is asked
        elif complete:
            expired = sorted(
                (page.fetched_at, i, url)
                for i, (url, page) in enumerate(chain)
                if not self._fresh(page, host)
            )
            refresh = {url for _, _, url in expired[:left]}
        else:
            refresh = set()
        try:
            return self._walk(target, first_url, identity, fetch, limit, refresh)
        except ResolveError as error:
            if error.reason != e.REQUEST_BUDGET_SPENT or not complete:
                raise
        # Refreshing moved the pages (a new tag shifts every ``last`` after it) and the
        # budget ran out before the new ones: the whole list as the cache held it.
        tags = list(dict.fromkeys(t for _, page in chain for t in page.tags))
        oldest = min(page.fetched_at for _, page in chain)
        for _ in chain:
            self._count(host, "stale")
        self._note_stale(target, host, oldest)
        return TagListing(
            tags=tuple(tags[:limit] if limit is not None else tags),
            pages=len(chain),
            requests=0,
            not_modified=0,
            stale_since=oldest,
        )

    def _walk(
        self,
        target: Target,
        first_url: str,
        identity: str,
        fetch: Fetch,
        limit: int | None,
        refresh: set[str] | None,
    ) -> TagListing:
        """Follow the list page by page: fresh pages from the cache, ``refresh`` (None:
        all) and missing ones asked while the budget lasts, the rest stale."""
        origin = url_origin(first_url)
        host = origin[1]
        tags: list[str] = []
        seen: set[str] = set()
        visited: set[str] = set()
        requests = not_modified = 0
        stale_since: float | None = None
        url = first_url
        via_link = False
        while True:
            if url in visited:
                raise target.fail(
                    e.INVALID_RESPONSE, "tag list pagination leads back to a page it listed"
                )
            if len(visited) >= MAX_TAG_PAGES:
                raise target.fail(e.INVALID_RESPONSE, f"tag list longer than {MAX_TAG_PAGES} pages")
            visited.add(url)
            key = (url, identity)
            cached = self.cache.get(key)
            fresh = cached is not None and (key in self._vouched or self._fresh(cached, host))
            if cached is not None and fresh:
                page = cached
                self._count(host, "cached")
            elif (cached is None or refresh is None or url in refresh) and self._take(host):
                requests += 1
                page, was_304 = fetch(
                    url, cached if cached is not None and cached.validators else None, via_link
                )
                not_modified += was_304
                self._count(host, "not_modified" if was_304 else "fetched")
                self.cache.put(key, page)
                with self._guard:
                    self._vouched.add(key)
            elif cached is not None:
                page = cached
                self._count(host, "stale")
                stale_since = min(stale_since or cached.fetched_at, cached.fetched_at)
            else:
                raise target.fail(
                    e.REQUEST_BUDGET_SPENT,
                    f"tag list: this pass's budget of {self.budget} tag-list requests to "
                    f"{host} is spent and the rest of the list was never fetched; the "
                    "listing goes on in the next pass",
                )
            new = [t for t in page.tags if t not in seen]
            if len(visited) > 1 and not new:
                # A registry that ignores ``last`` (distribution 2.8 when the list is
                # exactly ``n`` long) repeats itself: the list is whole.
                break
            seen.update(new)
            tags.extend(new)
            if len(tags) > MAX_LISTING_TAGS:
                raise target.fail(
                    e.INVALID_RESPONSE, f"tag list longer than {MAX_LISTING_TAGS} tags"
                )
            if limit is not None and len(tags) >= limit:
                del tags[limit:]
                break
            if page.next_url is None:
                break
            if url_origin(page.next_url) != origin:
                raise target.fail(
                    e.INVALID_RESPONSE,
                    f"refusing tag list next link to {url_origin(page.next_url)[1]}: pagination "
                    "must stay on the registry's scheme and host",
                )
            url = page.next_url
            via_link = page.linked
        if stale_since is not None:
            self._note_stale(target, host, stale_since)
        return TagListing(
            tags=tuple(tags),
            pages=len(visited),
            requests=requests,
            not_modified=not_modified,
            stale_since=stale_since,
        )

    def _note_stale(self, target: Target, host: str, since: float) -> None:
        when = dt.datetime.fromtimestamp(since, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._guard:
            self._notes[f"{target.registry}/{target.repository}"] = (
                f"tag list of {target.registry}/{target.repository}: pages taken from the "
                f"cache (as listed at {when} or later) rather than asked again, to stay "
                f"within this pass's budget of {self.budget} tag-list requests to {host}"
            )

    def _cached_chain(
        self, first_url: str, identity: str
    ) -> tuple[list[tuple[str, TagPage]], bool]:
        """The pages of this list the cache holds, in order, and whether they are the whole
        list (the walk :meth:`_list` makes, without asking anyone)."""
        chain: list[tuple[str, TagPage]] = []
        seen: set[str] = set()
        visited: set[str] = set()
        url: str | None = first_url
        while url is not None and url not in visited and len(visited) < MAX_TAG_PAGES:
            visited.add(url)
            page = self.cache.get((url, identity))
            if page is None:
                return chain, False
            chain.append((url, page))
            new = [t for t in page.tags if t not in seen]
            if len(visited) > 1 and not new:
                break
            seen.update(new)
            url = page.next_url
        return chain, True

    def _left(self, host: str) -> int | None:
        with self._guard:
            if self.budget is None:
                return None
            return max(0, self.budget - self._spent.get(host, 0))

    def _fresh(self, page: TagPage, host: str) -> bool:
        """Usable without asking: listed less than ``max_age`` ago, or (round-robin) in
        the last pass, if that pass ran out of budget at ``host``. (A page asked in this
        pass is fresh too: :meth:`_list` knows it by key.)"""
        now = self._clock()
        if page.fetched_at > now + FUTURE_SLACK:
            return False
        if 0 <= now - page.fetched_at < self.max_age:
            return True
        short = self.cache.short_since(host)
        return short is not None and page.fetched_at >= short

    def _take(self, host: str) -> bool:
        with self._guard:
            spent = self._spent.get(host, 0)
            if self.budget is not None and spent >= self.budget:
                self._short.setdefault(host, self._started)
                return False
            self._spent[host] = spent + 1
            return True

    def _count(self, host: str, what: str) -> None:
        with self._guard:
            counts = self._counts.setdefault(host, {})
            counts[what] = counts.get(what, 0) + 1
