"""What the daemon's loop has been told and not yet acted on: the events it wakes on.

Owns: :class:`Events`, thread-safe (the HTTP server's threads add, the loop takes): the
git webhooks since the last pass started, the tags registry notifications named (and
what named each), the pushes notified before the first pass (kept until there is an
index to match them against), the index itself (``notifications.index``: which tags a
push re-checks, and where each is asked), and which notified tags wait for their
registry's backoff to end: a tag is held while every place it is asked at is backed off,
and a tag whose check failed because its registry went into backoff is queued again.

Must not: decide whether a pass runs (the loop and ``faults`` do: :meth:`Events.take`
asks), wake the loop, ask a registry (the backoff comes as a function), or log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Container

from reconciler.core.streams import TagRef
from reconciler.daemon import notifications
from reconciler.daemon.notifications import Index
from reconciler.daemon.webhooks import PushedRepository

__all__ = ["BackedOff", "Events"]

# Registry hosts that may not be asked now, and for how many more seconds.
BackedOff = Callable[[], dict[str, float]]


class Events:
    """The events since the last pass, kept under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._webhooks: list[str] = []  # the git webhooks since the last pass started
        self._new_event = False  # an event arrived since the last pass started
        self._forced: set[TagRef] = set()
        self._notified: dict[TagRef, set[str]] = {}  # forced tag -> what notified it
        self._hosts: dict[TagRef, set[str]] = {}  # where each recheckable tag is asked
        self._early_pushes: list[PushedRepository] = []
        self._index: Index = {}

    def webhook(self, delivery: str) -> None:
        """A git push webhook (``causes.webhook_delivery``) arrived."""
        with self._lock:
            self._webhooks.append(delivery)
            self._new_event = True

    def pushed(
        self, pushes: list[PushedRepository], before_first_pass: Callable[[], bool]
    ) -> set[TagRef]:
        """Queue a re-check of every tag whose repository was pushed; the tags matched."""
        with self._lock:
            if before_first_pass():
                # Before the first pass there is no index to match against, and these are
                # exactly the events the registry queued while we were down: keep them.
                self._early_pushes.extend(pushes)
            matched = set()
            for push in pushes:
                found = notifications.matching(self._index, [push])
                for ref in found:
                    self._notified.setdefault(ref, set()).add(notifications.named(push))
                matched |= found
            self._forced |= matched
            self._new_event = self._new_event or bool(matched)
        return matched

    def forced(self) -> set[TagRef]:
        """The notified tags queued now."""
        with self._lock:
            return set(self._forced)

    def held_for(self, ref: TagRef, backed_off: dict[str, float]) -> float:
        """Seconds until ``ref`` may be asked: 0 unless every place it is asked at is
        backed off (then until the first of them is free)."""
        hosts = self._hosts.get(ref)
        if not hosts or not hosts <= backed_off.keys():
            return 0.0
        return min(backed_off[h] for h in hosts)

    def take(
        self, may_run: Callable[[bool], bool], backed_off_now: BackedOff
    ) -> tuple[set[TagRef], list[str], set[str]] | None:
        """For a pass, if ``may_run`` (told whether an event arrived since the last pass
        started) allows one: the notified tags not held by a backoff, the webhooks, and
        what notified those tags. None, and everything kept, when it does not."""
        with self._lock:
            if not may_run(self._new_event):
                return None  # stalled or backing off: the events wait, kept
            backed_off = backed_off_now() if self._forced else {}
            held = {r for r in self._forced if self.held_for(r, backed_off) > 0}
            forced, self._forced = self._forced - held, held
            webhooks, self._webhooks = self._webhooks, []
            notified = {n for r in forced for n in self._notified.get(r, ())}
            self._new_event = False
        return forced, webhooks, notified

    def hold_unanswered(
        self, forced: set[TagRef], failures: Container[TagRef], backed_off_now: BackedOff
    ) -> None:
        """Notified tags whose check failed because their registry is backed off (it
        went into backoff during this pass) stay queued for when it is out; what notified
        the others is done with."""
        failed = {r for r in forced if r in failures}
        backed_off = backed_off_now() if failed else {}
        again = {r for r in failed if self.held_for(r, backed_off) > 0}
        with self._lock:
            self._forced |= again
            self._notified = {r: n for r, n in self._notified.items() if r in self._forced}

    def requeue(self, forced: set[TagRef], webhooks: list[str]) -> None:
        """A pass that took these failed: they are not lost."""
        with self._lock:
            self._forced |= forced
            self._webhooks[:0] = webhooks

    def take_early(self) -> list[PushedRepository]:
        """The pushes notified before the first pass, now that there is an index."""
        with self._lock:
            early, self._early_pushes = self._early_pushes, []
        return early

    def set_index(self, index: Index, hosts: dict[TagRef, set[str]]) -> None:
        """What a push re-checks, and where each re-checkable tag is asked (a new lock)."""
        with self._lock:
            self._index = index
            self._hosts = hosts
