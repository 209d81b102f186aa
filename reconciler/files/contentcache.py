"""What is a function of a file's bytes, kept between passes in one process: parsed
manifest files (with their positions), schema verdicts per parsed object, and the last
lock read or written. A daemon and ``watch`` hold one for their lifetime; a one-shot
command makes a fresh one. Never module state: two daemons, threads or tests in one
process never share one by accident.

It only remembers; it never decides. Every entry is keyed by content, so a stale entry
cannot be returned for changed bytes.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Callable

from reconciler.core.lockfile import Lock, parse_lock
from reconciler.core.manifests import ManifestObject, ParsedFile, parse_manifests
from reconciler.core.violations import Violation

MAX_PARSED_FILES = 4096  # bounded: a repo that churns files cannot grow it forever


class ContentCache:
    """Parsed files, schema verdicts and the last lock, each keyed by content."""

    def __init__(self) -> None:
        self._parsed: OrderedDict[tuple[str, str, str], ParsedFile] = OrderedDict()
        # Unchanged files give back the same (never mutated) objects, so a verdict keyed
        # by the object is a verdict for its bytes; it goes when the object goes.
        self._verdicts: weakref.WeakKeyDictionary[ManifestObject, list[Violation]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock: tuple[bytes, Lock] | None = None

    def parsed_file(
        self, raw: bytes, text: str, display: str, default_namespace: str
    ) -> ParsedFile:
        """``text`` (the decoded ``raw``) parsed as the manifests of file ``display``."""
        key = (display, default_namespace, hashlib.sha256(raw).hexdigest())
        cached = self._parsed.get(key)
        if cached is not None:
            self._parsed.move_to_end(key)
            return cached
        parsed = parse_manifests(text, display, default_namespace)
        self._parsed[key] = parsed
        if len(self._parsed) > MAX_PARSED_FILES:
            self._parsed.popitem(last=False)
        return parsed

    def schema_verdict(
        self, obj: ManifestObject, check: Callable[[ManifestObject], list[Violation]]
    ) -> list[Violation]:
        """``check(obj)``, run once per parsed object."""
        found = self._verdicts.get(obj)
        if found is None:
            found = check(obj)
            self._verdicts[obj] = found
        return found

    def lock(self, raw: bytes) -> Lock:
        """``raw`` parsed as a lockfile (LockfileError when it is not one); the lock a
        daemon wrote last pass is not parsed again."""
        if self._lock is not None and self._lock[0] == raw:
            return self._lock[1]
        lock = parse_lock(raw)
        self._lock = (raw, lock)
        return lock

    def remember_lock(self, raw: bytes, lock: Lock) -> None:
        """``lock`` is what ``raw`` parses to (it was just rendered from it)."""
        self._lock = (raw, lock)
