"""The daemon's durable state, in SQLite under the state directory: when each scheduled
tag was last checked, and the trigger delivery outbox. Everything else (the lock, the
trigger records) lives in git; this is only what a restarted daemon needs to avoid
re-checking too early or delivering too rarely.

Every write is its own transaction, so a daemon killed at any point restarts from a
consistent state: at worst a check is repeated or a delivery is sent again (deliveries
are at least once, with an idempotency key).

A file SQLite cannot read (overwritten, truncated, a disk fault) is a cache lost, not a
reason to stop: ``State.open_or_rebuild`` moves it aside as
``state.sqlite3.corrupt-<UTC time>`` and starts empty. What that loses, and how it comes
back, is in ``REBUILT``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import PermanentError
from reconciler.core.streams import TagRef

SCHEMA = """
CREATE TABLE IF NOT EXISTS tag_checks (
    tag TEXT PRIMARY KEY,
    last_checked REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at REAL,
    PRIMARY KEY (id, url)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"  # gave up after max_attempts
SKIPPED = "skipped"  # no longer worth sending: acknowledged, or superseded by a newer record


# What a state rebuilt from nothing loses, said in the warning: the repository holds the
# rest (the lock, the records), and the first pass re-derives the outbox from it.
REBUILT = (
    "check times are lost, so scheduled tags are re-checked at once (within "
    "MaxScheduledImageImportsPerMinute); the delivery outbox is re-derived from the open "
    "records in the repository (the newest open record per consumer is sent), so a record "
    "already delivered may be sent again under the same Idempotency-Key, and the history "
    "of abandoned and skipped deliveries is gone"
)
_UNREADABLE = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


class CorruptState(PermanentError):
    """The state file is not a database SQLite can read."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"the state database {path} is corrupt: {detail}")
        self.path = path
        self.detail = detail


@dataclass(frozen=True)
class Delivery:
    id: str
    url: str
    body: str
    state: str
    attempts: int
    max_attempts: int
    next_attempt: float
    last_error: str | None
    delivered_at: float | None


def _tag_key(ref: TagRef) -> str:
    return f"{ref.namespace}/{ref.stream}:{ref.tag}"


def _tag_from_key(key: str) -> TagRef:
    namespace, _, rest = key.partition("/")
    stream, _, tag = rest.partition(":")
    return TagRef(namespace, stream, tag)


class State:
    """One SQLite file; safe to share between the loop, the HTTP server and the delivery
    worker threads (one connection, serialised by a lock)."""

    def __init__(self, directory: Path) -> None:
        """Open (or create) the state in ``directory``; CorruptState when the file is there
        and SQLite cannot read it. OSError and other sqlite3 errors (permissions, a full
        disk) are not corruption and go to the caller as they are."""
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "state.sqlite3"
        self.moved_aside: Path | None = None  # set by open_or_rebuild
        self.corruption = ""
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            verdict = [str(row[0]) for row in self._db.execute("PRAGMA quick_check")]
            if verdict != ["ok"]:
                raise CorruptState(self.path, "; ".join(verdict[:3]))
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if getattr(exc, "sqlite_errorcode", None) in _UNREADABLE:
                raise CorruptState(self.path, str(exc)) from exc
            raise
        except CorruptState:
            self._db.close()
            raise
        self._lock = threading.Lock()

    @classmethod
    def open_or_rebuild(cls, directory: Path, now: float | None = None) -> State:
        """The state in ``directory``; when its file is corrupt, that file (with its WAL
        and shared-memory files) is moved aside as ``state.sqlite3.corrupt-<UTC time>``
        and an empty state is opened. The caller says what that loses (``REBUILT``); the
        path moved to is ``moved_aside``."""
        try:
            return cls(directory)
        except CorruptState as exc:
            stamp = time.strftime(
                "%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now)
            )
            aside = exc.path.with_name(f"{exc.path.name}.corrupt-{stamp}")
            for suffix in ("", "-wal", "-shm"):
                source = exc.path.with_name(exc.path.name + suffix)
                if source.exists():
                    source.rename(aside.with_name(aside.name + suffix))
            state = cls(directory)
            state.moved_aside = aside
            state.corruption = exc.detail
            return state

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- scheduled checks ---------------------------------------------------------------

    def last_checked(self) -> dict[TagRef, float]:
        with self._lock:
            rows = self._db.execute("SELECT tag, last_checked FROM tag_checks").fetchall()
        return {_tag_from_key(tag): float(when) for tag, when in rows}

    def record_checks(self, refs: Iterable[TagRef], when: float) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT INTO tag_checks(tag, last_checked) VALUES (?, ?) "
                "ON CONFLICT(tag) DO UPDATE SET last_checked = excluded.last_checked",
                [(_tag_key(ref), when) for ref in refs],
            )

    # -- meta ------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- outbox ----------------------------------------------------------------------------

    def enqueue(self, record_id: str, url: str, body: str, max_attempts: int) -> bool:
        """Add a delivery unless this (record, url) is already known; True when added."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO outbox(id, url, body, max_attempts) VALUES (?, ?, ?, ?)",
                (record_id, url, body, max_attempts),
            )
            return cursor.rowcount == 1

    def due_deliveries(self, now: float, limit: int = 32) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, url, body, state, attempts, max_attempts, next_attempt, last_error, "
                "delivered_at FROM outbox WHERE state = ? AND next_attempt <= ? "
                "ORDER BY next_attempt, id LIMIT ?",
                (PENDING, now, limit),
            ).fetchall()
        return [Delivery(*row) for row in rows]

    def next_delivery_time(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_attempt) FROM outbox WHERE state = ?", (PENDING,)
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def mark_delivered(self, record_id: str, url: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, delivered_at = ?, "
                "last_error = NULL WHERE id = ? AND url = ?",
                (DELIVERED, now, record_id, url),
            )

    def mark_failed_attempt(
        self, record_id: str, url: str, error: str, next_attempt: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt = ?, "
                "state = CASE WHEN attempts + 1 >= max_attempts THEN ? ELSE state END "
                "WHERE id = ? AND url = ?",
                (error[:500], next_attempt, FAILED, record_id, url),
            )

    def mark_skipped(self, record_id: str, url: str, reason: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = ?, last_error = ? WHERE id = ? AND url = ?",
                (SKIPPED, reason[:500], record_id, url),
            )

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, url, body, state, attempts, max_attempts, next_attempt, last_error, "
                "delivered_at FROM outbox ORDER BY id, url"
            ).fetchall()
        return [Delivery(*row) for row in rows]

    def pending_count(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE state = ?", (PENDING,)
            ).fetchone()
        return int(row[0])
