"""Tag-list pages kept between passes: in memory, and for the CLI in one JSON file.

Owns: :class:`TagPage` (one page of a repository's tag list as the registry last vouched
for it: its tags, the next page, its validators and when; :func:`renewed`: as a 304
renewed it), :class:`TagListCache` (pages by URL and by whose credentials asked, in
memory; for the CLI also in one JSON file under the cache dir, :data:`FILE_NAME`): its
bounds (:meth:`TagListCache.sweep`), the round-robin memory of the hosts whose budget ran
out in the last pass, and reading and writing that file.

The cache file is the machine's own, but whoever can write the cache dir can write it:
it is plain JSON (never unpickled), read only if it is a regular file under
:data:`MAX_FILE_BYTES` (no symlink, no FIFO: opened non-blocking), checked entry by entry
(tag grammar, header-safe validators, URLs of a tag list, finite times, no time in the
future), and ignored as a whole when anything in it is off. A page is used only for the
URL and credentials it was stored under, and a ``next`` link from it must stay on the
first page's scheme and host. What it can do at worst is make a policy choose among
wrong or stale names; a digest is still only what the registry answers for a tag.

Must not: import httpx or send anything; decide when a page is fresh, what a pass may
spend or how a list is walked (``reconciler.registry.taglists`` does).
"""

from __future__ import annotations

import contextlib
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

__all__ = [
    "FILE_NAME",
    "FORMAT",
    "FUTURE_SLACK",
    "MAX_FILE_BYTES",
    "PageKey",
    "TagListCache",
    "TagPage",
    "header_safe",
    "renewed",
    "url_origin",
]

FORMAT = 1  # bump when the file's shape changes: a file of another format is ignored
FILE_NAME = f"taglists-v{FORMAT}.json"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PAGES_KEPT = 20_000  # pages in the cache (memory or file); the least recently used go
MAX_TAGS_KEPT = 2_000_000
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


def url_origin(url: str) -> tuple[str, str]:
    """Where ``url`` leads: its scheme and ``host:port``, in lower case."""
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
    if nxt is not None and url_origin(nxt) != url_origin(url):
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


def renewed(page: TagPage, now: float, etag: str | None, last_modified: str | None) -> TagPage:
    """``page`` as a 304 renewed it at ``now`` (a 304 may bring new validators)."""
    return replace(
        page,
        fetched_at=now,
        etag=header_safe(etag) or page.etag,
        last_modified=header_safe(last_modified) or page.last_modified,
    )
