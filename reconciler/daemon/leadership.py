"""Which replica leads: the lease in the repository (``gitrepo.lease``) judged by the pure
state machine (``core.leases``), checked from a thread of its own so that a long pass
never lets the lease lapse, and asked by the loop before each pass and by the deliverer
before each POST.

Owns the lease's life in this process: look, take, renew, step down when renewals fail,
give the lease up on a clean stop (a follower then takes over at its next look rather
than after a whole lease period). Must not run passes or deliver (the runner does), nor
talk to git except through ``gitrepo.lease``.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from reconciler.core import leases
from reconciler.core.errors import ReconcilerError
from reconciler.core.times import rfc3339
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.logs import log
from reconciler.gitrepo.lease import LeaseRef


@dataclass(frozen=True)
class View:
    """The lease as this replica last judged it: ``known`` once it has looked at all
    (or the lease is off), ``leading`` while our term is valid, ``term`` ours when
    leading, the holder's otherwise."""

    known: bool
    leading: bool
    term: int | None = None
    holder: str | None = None


def default_id(config: DaemonConfig) -> str:
    """The host name and the state directory: unique per replica (two replicas cannot
    share a state directory), and the same after a restart, so a restarted leader
    resumes its own lease at once."""
    return f"{socket.gethostname()}:{config.state_dir}"


class Leadership:
    def __init__(
        self,
        lease: LeaseRef | None,
        me: str,
        seconds: float,
        *,
        on_change: Callable[[View], None] = lambda view: None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """``lease`` None: the lease is off, and this replica always leads."""
        self.lease = lease
        self.me = me
        self.seconds = seconds
        self.on_change = on_change
        self.monotonic = monotonic
        self.wall = wall
        self._lock = threading.Lock()
        self._nudge = threading.Event()
        self._seen: leases.Observation | None = None
        self._held: tuple[str, leases.LeaseRecord] | None = None  # (version, record): ours
        self._valid_until = 0.0
        self._next_check = 0.0
        self._error: str | None = None
        self._view = View(lease is None, lease is None, term=0 if lease is None else None)

    @classmethod
    def for_config(
        cls, config: DaemonConfig, on_change: Callable[[View], None] = lambda view: None
    ) -> Leadership:
        if not config.lease:
            return cls(None, config.replica_id or default_id(config), config.lease_seconds)
        scratch = config.work_dir.with_name(config.work_dir.name + ".lease.git")
        return cls(
            LeaseRef(config.repo_url, config.branch, scratch),
            config.replica_id or default_id(config),
            config.lease_seconds,
            on_change=on_change,
        )

    # -- what the loop and the deliverer ask ------------------------------------------------

    def leading(self) -> bool:
        """Our term is valid now: cheap (no git), safe to ask before every action."""
        if self.lease is None:
            return True
        return self._view.leading and self.monotonic() < self._valid_until

    def view(self) -> View:
        """The lease as last judged, with ``leading`` as of now."""
        view = self._view
        return replace(view, leading=view.leading and self.leading())

    def current(self) -> View:
        """The lease, looked at first when a look is due (the loop's first turn, or the
        lease thread is behind)."""
        if self.lease is not None and self.monotonic() >= self._next_check:
            self.check()
        return self.view()

    @property
    def error(self) -> str | None:
        """Why the last look at the lease failed (None when it did not)."""
        return self._error

    def following(self) -> bool:
        """We know someone else leads (not: we have not looked yet)."""
        view = self.view()
        return view.known and not view.leading

    def nudge(self) -> None:
        """Look soon (a webhook reached a follower: maybe the leader is gone)."""
        self._nudge.set()

    # -- the lease thread -------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        """Look at the lease whenever one is due, until ``stopping``."""
        if self.lease is None:
            return
        while not stopping.is_set():
            try:
                self.check()
            except Exception as exc:  # the thread must outlive anything one look throws
                log(logging.ERROR, "lease check failed", error=repr(exc)[:300])
                self._next_check = self.monotonic() + leases.period(self.seconds)
            wait = max(leases.MIN_RECHECK, self._next_check - self.monotonic())
            self._nudge.wait(wait)
            if self._nudge.is_set():
                self._nudge.clear()
                self._next_check = min(self._next_check, self.monotonic())

    def check(self) -> View:
        """One look: read the lease, decide, and take or renew it by compare-and-swap."""
        if self.lease is None:
            return self._view
        with self._lock:
            before = self._view
            try:
                self._check(self.lease)
                self._error = None
            except ReconcilerError as exc:
                if str(exc) != self._error:
                    log(logging.WARNING, "lease check failed", error=str(exc)[:300])
                self._error = str(exc)
                self._next_check = self.monotonic() + leases.period(self.seconds)
                if self._view.leading and self.monotonic() >= self._valid_until:
                    self._view = replace(self._view, leading=False)
            view = self._view
        if (view.leading, view.term, view.holder, view.known) != (
            before.leading,
            before.term,
            before.holder,
            before.known,
        ):
            log(
                logging.INFO,
                "leading" if view.leading else "following",
                replica=self.me,
                holder=view.holder or "",
                term=view.term or 0,
            )
            self.on_change(view)
        return view

    def _check(self, lease: LeaseRef) -> None:
        started = self.monotonic()
        read = lease.read()
        version, record = (None, None) if read is None else (read[0], leases.parse_record(read[1]))
        self._seen = leases.observe(self._seen, version, record, started)
        wall = rfc3339(dt.datetime.fromtimestamp(self.wall(), dt.UTC))
        move = leases.next_move(self.me, self._seen, started, self.seconds, wall)
        if move.action == leases.FOLLOW or move.record is None:
            self._held = None
            self._view = View(
                known=True, leading=False, holder=record.holder if record else None,
                term=record.term if record else None,
            )  # fmt: skip
            self._next_check = started + move.recheck_in
            return
        written = lease.replace(leases.render_record(move.record), move.expected)
        if written is None:
            # Another replica wrote first: look again right away, as a follower.
            self._held = None
            self._view = View(known=True, leading=False)
            self._next_check = self.monotonic()
            return
        self._seen = leases.Observation(written, move.record, started)
        self._held = (written, move.record)
        self._valid_until = leases.lead_until(started, self.seconds)
        self._view = View(known=True, leading=True, term=move.record.term, holder=self.me)
        self._next_check = started + move.recheck_in

    def release(self) -> None:
        """Give the lease up (a clean stop): followers take over at their next look."""
        if self.lease is None:
            return
        with self._lock:
            held, self._held = self._held, None
            self._view = View(known=True, leading=False)
            if held is None:
                return
            version, ours = held
            wall = rfc3339(dt.datetime.fromtimestamp(self.wall(), dt.UTC))
            record = replace(ours, renewed=wall, released=True, serial=ours.serial + 1)
            try:
                self.lease.replace(leases.render_record(record), version)
            except ReconcilerError as exc:
                log(logging.WARNING, "lease not released", error=str(exc)[:300])
                return
        log(logging.INFO, "lease released", replica=self.me, term=record.term)

    def status(self) -> dict[str, Any]:
        """For ``/status``: who holds the lease, in which term, and the last error."""
        view = self.view()
        data: dict[str, Any] = {
            "enabled": self.lease is not None,
            "id": self.me,
            "holder": view.holder,
            "term": view.term,
            "leaseSeconds": self.seconds,
        }
        if self._error:
            data["error"] = self._error
        return data
