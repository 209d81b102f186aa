"""Table tests for reconciler.core.leases: what a replica does next from what it has seen
of the lease, and the record's text."""

from __future__ import annotations

import pytest

from reconciler.core.leases import (
    FOLLOW,
    RENEW,
    TAKE,
    LeaseRecord,
    Observation,
    lead_until,
    next_move,
    observe,
    parse_record,
    period,
    render_record,
)

WALL = "2026-01-01T00:00:00Z"
TTL = 30.0


def held(holder: str, term: int = 4, released: bool = False) -> LeaseRecord:
    return LeaseRecord(holder, term, "2025-12-31T23:59:00Z", TTL, released, serial=8)


@pytest.mark.parametrize(
    ("seen", "now", "action", "term", "expected", "recheck"),
    [
        # No lease yet: take term 1, expecting the ref not to exist.
        (Observation(None, None, 0.0), 0.0, TAKE, 1, None, 10.0),
        # Someone else's, just seen: follow, look again in a period.
        (Observation("v1", held("b"), 100.0), 100.0, FOLLOW, None, None, 10.0),
        # ...seen 25 s ago: look again right when it would expire.
        (Observation("v1", held("b"), 100.0), 125.0, FOLLOW, None, None, 5.0),
        # ...unchanged for a whole lease period: it is expired, take the next term.
        (Observation("v1", held("b"), 100.0), 130.0, TAKE, 5, "v1", 10.0),
        # Released (a clean stop): take it at once.
        (Observation("v1", held("b", released=True), 100.0), 100.0, TAKE, 5, "v1", 10.0),
        # Ours (a renewal, or a restart under the same id): renew, same term.
        (Observation("v1", held("me"), 100.0), 100.0, RENEW, 4, "v1", 10.0),
        # Ours but given up: a new term.
        (Observation("v1", held("me", released=True), 100.0), 100.0, TAKE, 5, "v1", 10.0),
        # Unreadable: someone else's, expiring by observation like any other.
        (Observation("v1", None, 100.0), 101.0, FOLLOW, None, None, 10.0),
        (Observation("v1", None, 100.0), 131.0, TAKE, 1, "v1", 10.0),
    ],
)
def test_next_move(seen, now, action, term, expected, recheck):
    move = next_move("me", seen, now, TTL, WALL)
    assert move.action == action
    assert move.recheck_in == pytest.approx(recheck)
    if action == FOLLOW:
        assert move.record is None
    else:
        serial = 9 if seen.record is not None else 1  # one more than the version replaced
        assert move.record == LeaseRecord("me", term, WALL, TTL, serial=serial)
        assert move.expected == expected


def test_a_follower_never_sees_expiry_soon_after_a_recheck():
    move = next_move("me", Observation("v1", held("b"), 100.0), 129.99, TTL, WALL)
    assert move.action == FOLLOW and move.recheck_in == pytest.approx(0.05)


def test_observe_counts_the_age_of_one_version_on_our_clock():
    first = observe(None, "v1", held("b"), 10.0)
    assert observe(first, "v1", held("b"), 20.0) is first  # the same version: still since 10
    assert observe(first, "v2", held("b"), 20.0) == Observation("v2", held("b"), 20.0)
    assert observe(first, None, None, 20.0) == Observation(None, None, 20.0)


@pytest.mark.parametrize("seconds", [0.5, 3.0, 30.0, 3600.0])
def test_a_leader_stops_before_any_follower_may_start(seconds):
    # The follower's count starts when it first sees the renewal: no earlier than the
    # renewal started.
    started = 1000.0
    assert lead_until(started, seconds) == pytest.approx(started + seconds - period(seconds))
    follower_may_take = started + seconds
    assert lead_until(started, seconds) < follower_may_take


def test_record_round_trip_and_garbage():
    record = LeaseRecord("host-a:/var/lib/state", 7, WALL, 30.0, serial=12)
    text = render_record(record)
    assert text.startswith("reconciler lease: held by host-a:/var/lib/state (term 7)\n\n")
    assert parse_record(text) == record
    released = LeaseRecord("a", 2, WALL, 5.0, released=True)
    assert "released by a" in render_record(released)
    assert parse_record(render_record(released)) == released
    for garbage in ["", "subject only", "s\n\nnot json", 's\n\n{"holder": "a"}',
                    's\n\n{"holder": 1, "term": 1, "renewed": "x", "leaseSeconds": 1, "released": false}',
                    's\n\n{"holder": "a", "term": true, "renewed": "x", "leaseSeconds": 1, "released": false}',
                    's\n\n{"holder": "a", "term": 1, "renewed": "x", "leaseSeconds": 1, "released": false, "serial": "2"}',
                    's\n\n[1, 2]']:  # fmt: skip
        assert parse_record(garbage) is None
