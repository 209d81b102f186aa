"""Tag lists: what is kept of them between passes, and what one pass may spend on them.

Owns: :class:`TagPage` (one page of a repository's tag list as the registry last vouched
for it: its tags, the next page, its validators and when), :class:`TagListCache` (pages
by URL and by whose credentials asked, in memory; for the CLI also in one JSON file under
the cache dir, :data:`FILE_NAME`), and :class:`TagLister`, which lists a repository
through them:

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

The cache file is the machine's own, but whoever can write the cache dir can write it:
it is plain JSON (never unpickled), read only if it is a regular file under
:data:`MAX_FILE_BYTES` (no symlink, no FIFO: opened non-blocking), checked entry by entry
(tag grammar, header-safe validators, URLs of a tag list, finite times, no time in the
future), and ignored as a whole when anything in it is off. A page is used only for the
URL and credentials it was stored under, and a ``next`` link from it must stay on the
first page's scheme and host. What it can do at worst is make a policy choose among
wrong or stale names; a digest is still only what the registry answers for a tag.

Must not: import httpx or send anything (the client hands :meth:`TagLister.listing` a
function that fetches one page); decide which repositories to list (policies do).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.core import yamlguard
from reconciler.registry import errors as e
from reconciler.registry.errors import ResolveError
from reconciler.registry.targets import Target

__all__ = [
    "FILE_NAME",
    "FORMAT",
    "MAX_FILE_BYTES",
    "MAX_TAG_PAGES",
    "Fetch",
    "TagListCache",
    "TagLister",
    "TagListing",
    "TagPage",
    "header_safe",
    "renewed",
]

FORMAT = 1  # bump when the file's shape changes: a file of another format is ignored
FILE_NAME = f"taglists-v{FORMAT}.json"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PAGES_KEPT = 20_000  # pages in the cache (memory or file); the least recently used go
MAX_TAGS_KEPT = 2_000_000
MAX_TAG_PAGES = 10_000  # pages in one listing
# Tags in one listing (node has 9,036): a registry's pages of 8 MiB each hold ~1,000,000
# names, so pages alone would let one listing take gigabytes.
MAX_LISTING_TAGS = 500_000
RETAIN_SECONDS = 7 * 24 * 3600.0  # a page no listing used for this long is dropped
FUTURE_SLACK = 300.0  # clocks differ a little; a page listed further ahead is a lie

# A tag, as the distribution spec allows it; anything else in the file is corruption.
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_HEADER_RE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,511}")
_URL_RE = re.compile(r"https?://[\x21-\x7e]{1,2040}")

PageKey = tuple[str, str]  # (page URL, whose credentials: the pull secrets' names)


def header_safe(value: str | None) -> str | None:
    """``value`` if it can be sent back as a header (a validator), else None."""
    if value is None or not _HEADER_RE.fullmatch(value):
        return None
    return value


@dataclass(frozen=True, slots=True)
class TagPage:
    """One page of a tag list as the registry last vouched for it (a 200, or a 304 that
    renewed it): ``fetched_at`` is that moment, in Unix time."""

    tags: tuple[str, ...]
    next_url: str | None  # absolute; checked against the first page's origin when followed
    etag: str | None
    last_modified: str | None
    fetched_at: float
    linked: bool = False  # next_url came from a ``Link`` header (not from ``last``)

    @property
    def validators(self) -> bool:
        return self.etag is not None or self.last_modified is not None


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


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class TagListCache:
    """Tag-list pages by URL and credentials; thread-safe. With ``path``, the file is read
    on first use and written by :meth:`save` (atomically, only when something changed)."""

    def __init__(self, path: Path | None = None, *, clock: Callable[[], float] = time.time):
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._pages: dict[PageKey, TagPage] = {}
        self._used: dict[PageKey, float] = {}
        # Per registry host: when the last pass whose budget ran out there started.
        self._short: dict[str, float] = {}
        self._loaded = path is None
        self._changed = False

    # -- pages ------------------------------------------------------------------------

    def get(self, key: PageKey) -> TagPage | None:
        with self._lock:
            self._load_once()
            page = self._pages.get(key)
            if page is not None:
                self._used[key] = self._clock()
            return page

    def put(self, key: PageKey, page: TagPage) -> None:
        with self._lock:
            self._load_once()
            self._pages[key] = page
            self._used[key] = self._clock()
            self._changed = True

    def invalidate(self, host: str, repository: str) -> int:
        """Forget the pages of ``repository`` at ``host`` (``host:port`` as asked): it was
        pushed, so its list is known to have changed. Returns how many went."""
        path = f"/v2/{repository}/tags/list"
        with self._lock:
            self._load_once()
            gone = [
                k
                for k in self._pages
                if urlsplit(k[0]).netloc.lower() == host.lower() and urlsplit(k[0]).path == path
            ]
            for key in gone:
                del self._pages[key]
                self._used.pop(key, None)
            self._changed = self._changed or bool(gone)
            return len(gone)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pages)

    # -- the round-robin memory ---------------------------------------------------------

    def short_since(self, host: str) -> float | None:
        with self._lock:
            self._load_once()
            return self._short.get(host)

    def set_short(self, short: Mapping[str, float]) -> None:
        with self._lock:
            self._load_once()
            if short != self._short:
                self._short = dict(short)
                self._changed = True

    # -- bounds and persistence -----------------------------------------------------------

    def sweep(self) -> None:
        """Drop pages no listing used for :data:`RETAIN_SECONDS`, then the least recently
        used beyond :data:`MAX_PAGES_KEPT` pages or :data:`MAX_TAGS_KEPT` tags."""
        with self._lock:
            self._load_once()
            now = self._clock()
            order = sorted(self._pages, key=lambda k: self._used.get(k, 0.0), reverse=True)
            kept: dict[PageKey, TagPage] = {}
            tags = 0
            for key in order:
                page = self._pages[key]
                if now - self._used.get(key, 0.0) > RETAIN_SECONDS:
                    continue
                if len(kept) >= MAX_PAGES_KEPT or tags + len(page.tags) > MAX_TAGS_KEPT:
                    continue
                kept[key] = page
                tags += len(page.tags)
            if len(kept) != len(self._pages):
                self._changed = True
            self._pages = kept
            self._used = {k: v for k, v in self._used.items() if k in kept}

    def save(self) -> None:
        """Write the cache to its file (atomically: a reader sees the old file or the new
        one), when it has one and something changed. Best effort: a cache that cannot be
        written is no error."""
        if self.path is None or not self._loaded:
            return  # no file, or no listing used it: nothing to write (and nothing read)
        self.sweep()
        with self._lock:
            if not self._changed:
                return
            state = {
                "format": FORMAT,
                "short": self._short,
                "pages": [
                    {
                        "url": url,
                        "identity": identity,
                        "tags": list(page.tags),
                        "next": page.next_url,
                        "etag": page.etag,
                        "lastModified": page.last_modified,
                        "fetchedAt": page.fetched_at,
                        "linked": page.linked,
                        "usedAt": self._used.get((url, identity), page.fetched_at),
                    }
                    for (url, identity), page in self._pages.items()
                ],
            }
            self._changed = False
        data = json.dumps(state, separators=(",", ":")).encode()
        path = self.path
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()

    def _load_once(self) -> None:
        """Read the file the first time the cache is used (lock held). Anything wrong
        with it (missing, not a regular file, too big, not ours, one bad entry) leaves the
        cache empty: it is only ever a shortcut."""
        if self._loaded:
            return
        self._loaded = True
        assert self.path is not None
        try:
            pages, used, short = _read_file(self.path, self._clock())
        except Exception:  # a cache is only ever a shortcut: start empty
            return
        self._pages, self._used, self._short = pages, used, short


def _read_file(
    path: Path, now: float
) -> tuple[dict[PageKey, TagPage], dict[PageKey, float], dict[str, float]]:
    # Non-blocking and without following a symlink: a FIFO or a link planted in the
    # cache dir must neither hang us nor lead us elsewhere.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            raise ValueError("not a regular file of a sane size")
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError("too big")
    text = raw.decode("utf-8")
    if yamlguard.check_json(text) is not None:
        raise ValueError("nested too deep")
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("another format")
    entries = data.get("pages")
    short = data.get("short", {})
    if not isinstance(entries, list) or len(entries) > MAX_PAGES_KEPT:
        raise ValueError("pages")
    if not isinstance(short, dict) or not all(
        isinstance(h, str) and _time_ok(t, now) for h, t in short.items()
    ):
        raise ValueError("short")
    pages: dict[PageKey, TagPage] = {}
    used: dict[PageKey, float] = {}
    total = 0
    for entry in entries:
        key, page, used_at = _entry(entry, now)
        total += len(page.tags)
        if total > MAX_TAGS_KEPT:
            raise ValueError("too many tags")
        pages[key] = page
        used[key] = used_at
    return pages, used, {str(h): float(t) for h, t in short.items()}


def _time_ok(value: object, now: float) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= now + FUTURE_SLACK
    )


def _entry(entry: Any, now: float) -> tuple[PageKey, TagPage, float]:
    """One page of the file, checked; ValueError for anything that is not what we write."""
    if not isinstance(entry, dict):
        raise ValueError("entry")
    url, identity, tags = entry.get("url"), entry.get("identity"), entry.get("tags")
    nxt, etag, modified = entry.get("next"), entry.get("etag"), entry.get("lastModified")
    fetched, used = entry.get("fetchedAt"), entry.get("usedAt")
    linked = entry.get("linked", False)
    if not isinstance(linked, bool):
        raise ValueError("linked")
    if not isinstance(url, str) or not _URL_RE.fullmatch(url) or "/tags/list" not in url:
        raise ValueError("url")
    if nxt is not None and (not isinstance(nxt, str) or not _URL_RE.fullmatch(nxt)):
        raise ValueError("next")
    if nxt is not None and _origin(nxt) != _origin(url):
        raise ValueError("next elsewhere")
    if not isinstance(identity, str) or len(identity) > 4096 or not identity.isprintable():
        raise ValueError("identity")
    if not isinstance(tags, list) or not all(
        isinstance(t, str) and _TAG_RE.fullmatch(t) for t in tags
    ):
        raise ValueError("tags")
    for validator in (etag, modified):
        if validator is not None and (
            not isinstance(validator, str) or header_safe(validator) is None
        ):
            raise ValueError("validator")
    if not _time_ok(fetched, now) or not _time_ok(used, now):
        raise ValueError("time")
    assert isinstance(fetched, (int, float)) and isinstance(used, (int, float))
    page = TagPage(tuple(tags), nxt, etag, modified, float(fetched), linked)
    return (url, identity), page, float(used)


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
        origin = _origin(first_url)
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
        origin = _origin(first_url)
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
            if _origin(page.next_url) != origin:
                raise target.fail(
                    e.INVALID_RESPONSE,
                    f"refusing tag list next link to {_origin(page.next_url)[1]}: pagination "
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


def renewed(page: TagPage, now: float, etag: str | None, last_modified: str | None) -> TagPage:
    """``page`` as a 304 renewed it at ``now`` (a 304 may bring new validators)."""
    return replace(
        page,
        fetched_at=now,
        etag=header_safe(etag) or page.etag,
        last_modified=header_safe(last_modified) or page.last_modified,
    )
