"""The replicas' lease: which of several daemons on one repository leads (runs passes
and delivers trigger records) and which stand by, as a pure state machine. The lease is
one record in the repository itself (the git shell keeps it in a ref and replaces it by
compare-and-swap); this module says what the record holds and, from what a replica has
seen of it, what that replica does next.

Time is judged by observation, never by comparing clocks across machines (as Kubernetes'
leader election does): a follower holds a lease to be expired once it has seen the very
same version of it, unchanged, for ``seconds`` on its own monotonic clock; a leader holds
itself leading until one renewal period before ``seconds`` have passed since it started
its last successful renewal. A follower first sees a version after it was written, so a
leader always stops before any follower may start. The wall-clock time in the record is
for people reading ``git log`` and ``/status``, and is never compared.

Pure: ``now`` (monotonic seconds) and the wall-clock text are passed in. Must not read
or write the ref (``reconciler.gitrepo.lease`` does) nor decide what a leader does with
its leadership (the daemon does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# A leader renews, and a follower looks, this many times per lease period.
CHECKS_PER_PERIOD = 3
# A follower whose expiry is due looks a little after it, never in a busy loop.
MIN_RECHECK = 0.05

TAKE = "take"  # write a new term of our own over what we saw (none, expired, released)
RENEW = "renew"  # write the next version of our own term
FOLLOW = "follow"  # someone else leads: look again later


@dataclass(frozen=True)
class LeaseRecord:
    """What the lease says: who holds it, in which term (1, 2, ... one more at every
    takeover), when it was last renewed (RFC 3339, for people), for how long the holder
    promised to renew it, whether the holder gave it up (a graceful stop), and ``serial``,
    one more at every write, so that each version differs from the last even when
    written within the same second (followers count time on a version's identity)."""

    holder: str
    term: int
    renewed: str
    seconds: float
    released: bool = False
    serial: int = 1

    def to_data(self) -> dict[str, Any]:
        """Plain data, in the field names the commit message and ``/status`` show."""
        return {
            "holder": self.holder,
            "term": self.term,
            "renewed": self.renewed,
            "leaseSeconds": self.seconds,
            "released": self.released,
            "serial": self.serial,
        }


def render_record(record: LeaseRecord) -> str:
    """The record as the lease commit's message: a subject for ``git log``, then JSON."""
    state = "released by" if record.released else "held by"
    subject = f"reconciler lease: {state} {record.holder} (term {record.term})"
    return f"{subject}\n\n{json.dumps(record.to_data(), sort_keys=True)}\n"


def parse_record(text: str) -> LeaseRecord | None:
    """The record in a lease commit's message; None when it is not one (then the lease
    is someone else's, and expires by observation like any other)."""
    _, _, body = text.partition("\n\n")
    try:
        data = json.loads(body)
        record = LeaseRecord(
            holder=data["holder"],
            term=data["term"],
            renewed=data["renewed"],
            seconds=float(data["leaseSeconds"]),
            released=data["released"],
            serial=data.get("serial", 1),
        )
    except (ValueError, KeyError, TypeError):
        return None
    valid = (
        isinstance(record.holder, str)
        and isinstance(record.term, int)
        and not isinstance(record.term, bool)
        and isinstance(record.renewed, str)
        and isinstance(record.released, bool)
        and isinstance(record.serial, int)
    )
    return record if valid else None


@dataclass(frozen=True)
class Observation:
    """What a replica has seen of the lease: its ``version`` (the ref's commit; None when
    there is no lease yet), the record in it (None: none, or unreadable), and ``since``,
    when this replica first saw that version (its own monotonic clock)."""

    version: str | None
    record: LeaseRecord | None
    since: float


def observe(
    previous: Observation | None, version: str | None, record: LeaseRecord | None, now: float
) -> Observation:
    """The observation after reading ``version`` at ``now``: the same version keeps the
    time it was first seen, so that its age counts on our clock."""
    if previous is not None and previous.version == version:
        return previous
    return Observation(version, record, now)


@dataclass(frozen=True)
class Move:
    """What to do next: ``action`` (TAKE, RENEW or FOLLOW); for TAKE and RENEW the record
    to write and the version it replaces (None: there is none); ``recheck_in``, seconds
    until this replica should look at the lease again."""

    action: str
    record: LeaseRecord | None = None
    expected: str | None = None
    recheck_in: float = 0.0


def period(seconds: float) -> float:
    """How often a leader renews and a follower looks."""
    return seconds / CHECKS_PER_PERIOD


def next_move(me: str, seen: Observation, now: float, seconds: float, wall: str) -> Move:
    """From what ``me`` has seen of the lease at ``now``: take it when there is none, it
    was released, or it is expired (the same version for ``seconds``); renew it when it is
    ours (a restarted replica with the same id resumes its term); else follow, looking
    again at the next period or right when it would expire, whichever comes first.
    ``wall`` is the wall-clock time to write into the record, for people."""
    record = seen.record
    serial = (record.serial if record is not None else 0) + 1
    if record is not None and record.holder == me and not record.released:
        renewed = LeaseRecord(me, record.term, wall, seconds, serial=serial)
        return Move(RENEW, renewed, seen.version, period(seconds))
    expired = now - seen.since >= seconds
    if seen.version is None or (record is not None and record.released) or expired:
        term = (record.term if record is not None else 0) + 1
        taken = LeaseRecord(me, term, wall, seconds, serial=serial)
        return Move(TAKE, taken, seen.version, period(seconds))
    expires_in = seen.since + seconds - now
    return Move(FOLLOW, recheck_in=max(MIN_RECHECK, min(period(seconds), expires_in)))


def lead_until(renewal_started: float, seconds: float) -> float:
    """Until when (monotonic) a leader whose last successful renewal started at
    ``renewal_started`` may act: one renewal period short of the lease, so that it stops
    before any follower, whose count starts when it sees that renewal, may take over."""
    return renewal_started + seconds - period(seconds)
